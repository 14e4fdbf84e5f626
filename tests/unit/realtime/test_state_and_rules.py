"""The rolling-window state (bounded, evicting) and each real-time rule, without the web layer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbour.detect.realtime.scoring import RealtimeConfig, Transfer, score
from harbour.detect.realtime.state import TransferState

CONFIG = RealtimeConfig()
WALLET = "eth:0x" + "ab" * 20


def t(tid: str, ts: float, usd: float, src: str = "V:a", dst: str = WALLET, **extra: object) -> Transfer:
    return Transfer("V", tid, ts, usd, "withdrawal", src, dst, **extra)  # type: ignore[arg-type]


def feed(state: TransferState, *transfers: Transfer) -> None:
    for x in transfers:
        state.add(x.venue, x.transfer_id, x.ts, x.usd_value, x.from_party, x.to_party)


def rules(state: TransferState, transfer: Transfer) -> list[str]:
    return [r.rule for r in score(state, transfer, CONFIG).reasons]


def test_windows_expire_and_stay_bounded():
    state = TransferState(window=100.0, max_parties=3, max_events=5)
    feed(state, *(t(f"x{i}", float(i), 10.0) for i in range(20)))
    party = state.party("V:a")
    assert party is not None and len(party.events) == 5  # at most max_events
    assert party.out_count == 5 and party.out_usd == pytest.approx(50.0)
    feed(state, t("late", 500.0, 1.0))
    assert state.party("V:a").out_count == 1  # everything older than the window is gone
    feed(state, t("p1", 501.0, 1.0, src="V:b"), t("p2", 502.0, 1.0, src="V:c", dst="V:d"))
    assert list(state.parties) == [WALLET, "V:c", "V:d"]  # the least recently seen (V:a, V:b) evicted


@given(st.lists(st.tuples(st.floats(0, 1e5), st.floats(0, 1e6), st.booleans()), max_size=60))
def test_running_sums_equal_a_recount(events):
    state = TransferState(window=3600.0, max_events=16)
    ts = 0.0
    for i, (gap, usd, out) in enumerate(events):
        ts += gap / 100
        src, dst = ("V:a", WALLET) if out else (WALLET, "V:a")
        feed(state, t(f"e{i}", ts, usd, src=src, dst=dst))
    party = state.party("V:a")
    if party is None:
        return
    assert party.in_usd == pytest.approx(sum(e.usd for e in party.events if not e.outgoing), abs=1e-3)
    assert party.out_count == sum(e.outgoing for e in party.events)


def test_rapid_movement_and_its_floor():
    state = TransferState()
    feed(state, t("d", 0.0, 10_000.0, src=WALLET, dst="V:a"))
    assert rules(state, t("w", 600.0, 8_500.0)) == ["rapid_movement"]
    assert rules(state, t("w", 600.0, 5_000.0)) == []  # half of it: not rapid
    assert rules(state, t("w", 7200.0, 9_000.0)) == []  # after the look-back
    small = TransferState()
    feed(small, t("d", 0.0, 500.0, src=WALLET, dst="V:a"))
    assert rules(small, t("w", 60.0, 500.0)) == []  # below rapid_min_usd


def test_velocity_structuring_counterparties_and_large():
    state = TransferState()
    feed(state, *(t(f"v{i}", float(i), 5.0, dst=f"V:b{i}") for i in range(25)))
    assert "velocity" in rules(state, t("v", 30.0, 5.0))
    assert "many_counterparties" in rules(state, t("v", 30.0, 5.0, dst="V:new"))
    just_under = CONFIG.travel_rule_usd * 0.95
    s2 = TransferState()
    feed(s2, t("s1", 0.0, just_under), t("s2", 100.0, just_under))
    assert rules(s2, t("s3", 200.0, just_under)) == ["structuring"]
    assert rules(TransferState(), t("big", 0.0, 2_000_000.0)) == ["large_value"]


def test_travel_rule_and_listed_addresses():
    full = {"originator_name": "A", "originator_account": "1", "beneficiary_name": "B", "beneficiary_account": "2"}
    state = TransferState(listed={WALLET})
    over = CONFIG.travel_rule_usd + 1
    assert rules(TransferState(), t("a", 0.0, over, counterparty_vasp="X", **full)) == []
    gap = score(TransferState(), t("b", 0.0, over, counterparty_vasp="X", originator_name="A"), CONFIG)
    assert gap.decision == "review" and "beneficiary_account" in gap.reasons[0].detail
    blocked = score(state, t("c", 0.0, 10.0, dst="eth:0x" + "AB" * 20), CONFIG)
    assert blocked.decision == "block" and blocked.reasons[0].rule == "listed_address"
    feed(state, t("c", 0.0, 10.0))
    assert "listed_exposure" in rules(state, t("d", 10.0, 10.0, dst="V:z"))
