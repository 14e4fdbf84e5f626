"""Each transfer-graph typology on hand-built scenarios: found when present, silent on ordinary flow and
on the innocent look-alikes (payroll, an exchange hot wallet, friends paying each other)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from harbour.core.errors import Invalid
from harbour.detect.aml.miner import GRAPH_TYPOLOGIES
from harbour.detect.aml.scenarios import Scenario
from harbour.detect.builtin import load_detectors
from harbour.detect.framework import Partition, Window


def run_graph_detectors(transfers: pa.Table, accounts: pa.Table) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    for det in load_detectors().all():
        if det.typology in GRAPH_TYPOLOGIES:
            part = Partition({}, {"transfers": transfers}, Window(), {"accounts": accounts})
            alerts += det.kernel(part, det.default_config()).to_pylist()
    return alerts


def matches(alert: dict[str, Any], label: dict[str, Any]) -> bool:
    """DESIGN.md: same typology and venue, a shared account, overlapping spans."""
    return (alert["typology"] == label["typology"] and alert["venue"] == label["venue"]
            and bool(set(alert["accounts"]) & set(label["accounts"]))
            and alert["start"] <= label["end"] and label["start"] <= alert["end"])


def ordinary(seed: int) -> Scenario:
    sc = Scenario(seed=seed)
    sc.background(accounts=1500, transfers=2500)
    sc.payroll(staff=20)
    sc.hot_wallet(40)
    return sc


def test_clean_flow_and_lookalikes_raise_nothing() -> None:
    transfers, accounts, _ = ordinary(seed=11).tables()
    alerts = run_graph_detectors(transfers, accounts)
    assert alerts == [], [a["explanation"] for a in alerts]


@pytest.mark.parametrize("typology", GRAPH_TYPOLOGIES)
@pytest.mark.parametrize(("seed", "size", "day"), [(21, 5, 0.7), (22, 8, 2.2)])
def test_each_typology_is_found_and_only_it(typology: str, seed: int, size: int, day: float) -> None:
    sc = ordinary(seed)
    sc.inject(typology, day=day, size=size, venue="KLN")
    transfers, accounts, labels = sc.tables()
    label = labels.to_pylist()[0]
    alerts = run_graph_detectors(transfers, accounts)
    hits = [a for a in alerts if matches(a, label)]
    assert hits, f"{typology} not found; alerts: {[a['explanation'] for a in alerts]}"
    wrong = [a for a in alerts if not matches(a, label)]
    assert wrong == [], [a["explanation"] for a in wrong]
    hit = hits[0]
    assert hit["detector"].startswith("aml_") and 0 <= hit["score"] <= 1
    assert set(hit["evidence_ids"]) <= set(transfers["transfer_id"].to_pylist())
    assert hit["explanation"]


def test_accounts_of_one_customer_on_two_venues_close_a_cycle() -> None:
    sc = Scenario(seed=5)
    sc.background(accounts=300, transfers=400)
    a_hbx = sc.account("HBX", customer="CUST-1")
    a_kln = sc.account("KLN", customer="CUST-1")
    b, c = sc.account("HBX"), sc.account("KLN")
    ids = [sc.transfer(a_hbx, b, sc.when(1.0), 20_000), sc.transfer(b, c, sc.when(1.1), 19_500),
           sc.transfer(c, a_kln, sc.when(1.2), 19_000)]
    transfers, accounts, _ = sc.tables()
    cycles = [a for a in run_graph_detectors(transfers, accounts) if a["typology"] == "cycle"]
    assert len(cycles) == 1 and set(cycles[0]["evidence_ids"]) == set(ids)
    assert {a_hbx.split(":")[1], a_kln.split(":")[1]} <= set(cycles[0]["accounts"])
    # without the link (no accounts table) the loop does not close
    unlinked = [a for a in run_graph_detectors(transfers, accounts.slice(0, 0)) if a["typology"] == "cycle"]
    assert unlinked == []


def test_cycle_hops_must_go_forward_in_time() -> None:
    sc = Scenario(seed=6)
    a, b, c = sc.account("HBX"), sc.account("HBX"), sc.account("HBX")
    sc.transfer(a, b, sc.when(1.0), 10_000)
    sc.transfer(b, c, sc.when(0.8), 9_800)  # paid on before it was received: no rotation is a round trip
    sc.transfer(c, a, sc.when(1.2), 9_700)
    transfers, accounts, _ = sc.tables()
    assert [x for x in run_graph_detectors(transfers, accounts) if x["typology"] == "cycle"] == []
    sc.transfer(b, c, sc.when(1.1), 9_800)  # now b pays c after being paid: a -> b -> c -> a in time order
    transfers, accounts, _ = sc.tables()
    assert len([x for x in run_graph_detectors(transfers, accounts) if x["typology"] == "cycle"]) == 1


def test_window_start_drops_alerts_that_end_in_the_lookback() -> None:
    sc = ordinary(seed=8)
    sc.inject("fan_in", day=0.5, size=7, venue="HBX")
    transfers, accounts, _ = sc.tables()
    det = load_detectors().get("aml_fan_in")
    late = Window(start=sc.when(3.0))
    part = Partition({}, {"transfers": transfers}, late, {"accounts": accounts})
    assert det.kernel(part, det.default_config()).num_rows == 0
    part = Partition({}, {"transfers": transfers}, Window(), {"accounts": accounts})
    assert det.kernel(part, det.default_config()).num_rows == 1


def test_missing_column_is_a_clear_error() -> None:
    transfers, accounts, _ = ordinary(seed=9).tables()
    det = load_detectors().get("aml_fan_out")
    part = Partition({}, {"transfers": transfers.drop_columns(["to_party"])}, Window(), {"accounts": accounts})
    with pytest.raises(Invalid, match="to_party"):
        det.kernel(part, det.default_config())


def test_the_aml_detectors_are_registered() -> None:
    names = set(load_detectors().names())
    assert {"aml_fan_in", "aml_fan_out", "aml_cycle", "aml_scatter_gather", "aml_gather_scatter", "aml_bipartite",
            "aml_stack", "aml_structuring", "aml_peel_chain", "aml_rapid_movement", "aml_sanctions_exposure",
            "aml_travel_rule_gap"} <= names


def of(alerts: list[dict[str, Any]], typology: str) -> list[dict[str, Any]]:
    return [a for a in alerts if a["typology"] == typology]


def test_rapid_movement_of_interleaved_arrivals_and_a_kept_balance_is_not() -> None:
    sc = Scenario(seed=12)
    sc.background(accounts=300, transfers=400)
    mule, saver = sc.account("HBX"), sc.account("HBX")
    # two deposits passed on as two withdrawals: each withdrawal alone is far from either deposit's value
    ids = [sc.transfer(sc.address(), mule, sc.when(1.00), 61_000),
           sc.transfer(sc.address(), mule, sc.when(1.03), 83_000),
           sc.transfer(mule, sc.address(), sc.when(1.05), 60_200),
           sc.transfer(mule, sc.address(), sc.when(1.08), 82_100)]
    # a customer who keeps a fifth of what arrived is not passing money through
    sc.transfer(sc.address(), saver, sc.when(2.0), 9_000)
    sc.transfer(saver, sc.address(), sc.when(2.1), 7_200)
    transfers, accounts, _ = sc.tables()
    rapid = of(run_graph_detectors(transfers, accounts), "rapid_movement")
    assert [a["accounts"] for a in rapid] == [[mule.split(":")[1]]]
    assert set(rapid[0]["evidence_ids"]) == set(ids)


def test_a_pass_through_before_a_gathering_is_not_gathered() -> None:
    sc = Scenario(seed=13)
    sc.background(accounts=300, transfers=400)
    hub = sc.account("KLN")
    # in the morning the hub passes a large deposit straight through (rapid movement) ...
    passed = [sc.transfer(sc.address(), hub, sc.when(1.20), 90_000),
              sc.transfer(hub, sc.address(), sc.when(1.21), 89_000)]
    # ... and in the evening gathers from four senders and scatters to four receivers
    for k in range(4):
        sc.transfer(sc.account("KLN"), hub, sc.when(1.60 + 0.01 * k), 6_000 + 300 * k)
    for k in range(4):
        sc.transfer(hub, sc.account("KLN"), sc.when(1.70 + 0.01 * k), 6_100 + 200 * k)
    transfers, accounts, _ = sc.tables()
    alerts = run_graph_detectors(transfers, accounts)
    gather = of(alerts, "gather_scatter")
    assert len(gather) == 1 and not set(passed) & set(gather[0]["evidence_ids"])
    assert [set(a["evidence_ids"]) for a in of(alerts, "rapid_movement")] == [set(passed)]


def test_stack_and_bipartite_glued_by_a_shared_sender_are_both_found() -> None:
    sc = Scenario(seed=14)
    sc.background(accounts=300, transfers=400)
    shared = sc.account("HBX")
    senders, receivers = [shared, sc.account("HBX"), sc.account("HBX")], [sc.account("HBX") for _ in range(3)]
    for i, s in enumerate(senders):  # a dense bipartite group in the morning
        for j, r in enumerate(receivers):
            if (i + j) % 3 != 2:
                sc.transfer(s, r, sc.when(1.3 + 0.01 * (3 * i + j)), 4_000 + 100 * j)
    layers = [[shared, sc.account("HBX")], [sc.account("HBX") for _ in range(3)], [sc.account("HBX") for _ in range(2)]]
    t = 1.45  # and right after it, the shared account pays into a stack
    for a, b in zip(layers, layers[1:], strict=False):
        for i, s in enumerate(a):
            for j, r in enumerate(b):
                if (i + j) % 3 != 2:
                    sc.transfer(s, r, sc.when(t + 0.005 * (i + j)), 7_000 + 50 * j)
        t += 0.05
    transfers, accounts, _ = sc.tables()
    alerts = run_graph_detectors(transfers, accounts)
    stack, bip = of(alerts, "stack"), of(alerts, "bipartite")
    assert len(stack) == 1 and len(bip) == 1, [a["explanation"] for a in alerts]
    assert {r.split(":")[1] for r in receivers} <= set(bip[0]["accounts"])
    assert not {r.split(":")[1] for r in receivers} & set(stack[0]["accounts"])


def test_smurfs_with_one_repeating_account_are_structuring() -> None:
    sc = Scenario(seed=15)
    sc.background(accounts=300, transfers=400)
    smurfs = [sc.account("HBX") for _ in range(3)]
    line = 120_000 / 7.8
    for k, who in enumerate([smurfs[0], smurfs[1], smurfs[2], smurfs[0]]):
        sc.transfer(who, sc.address(), sc.when(1.1 + 0.08 * k), round(line * (0.92 + 0.01 * k), 2))
    # one account moving a single just-under amount is an ordinary customer near the line
    sc.transfer(sc.account("HBX"), sc.address(), sc.when(2.5), round(line * 0.95, 2))
    transfers, accounts, _ = sc.tables()
    found = of(run_graph_detectors(transfers, accounts), "structuring")
    assert len(found) == 1 and set(found[0]["accounts"]) == {s.split(":")[1] for s in smurfs}


def test_a_busy_trader_is_not_a_fan_but_a_sudden_crowd_is() -> None:
    sc = Scenario(seed=16)
    sc.background(accounts=300, transfers=400)
    busy, quiet = sc.account("HBX"), sc.account("HBX")
    for k in range(28):  # seven deposits a day from different wallets, every day
        sc.transfer(sc.address(), busy, sc.when(k / 7 + 0.05), 1_500 + 40 * k)
    sc.transfer(sc.address(), quiet, sc.when(0.5), 300)
    crowd = [sc.transfer(sc.address(), quiet, sc.when(2.0 + 0.01 * k), 1_200 + 50 * k) for k in range(7)]
    transfers, accounts, _ = sc.tables()
    fans = of(run_graph_detectors(transfers, accounts), "fan_in")
    assert [a["accounts"][0] for a in fans] == [quiet.split(":")[1]]
    assert set(fans[0]["evidence_ids"]) == set(crowd)


def test_an_arrival_passed_on_while_the_sender_is_also_repaid_is_no_rapid_movement() -> None:
    """Money leaving at once to a third party AND back to the sender is the account's own balance at work;
    the same arrival passed on alone is a rapid movement."""
    sc = Scenario(seed=41)
    sc.background(accounts=200, transfers=300)
    spender, mule, friend = sc.account("HBX"), sc.account("HBX"), sc.account("HBX")
    sc.transfer(friend, spender, sc.when(1.0), 5_800)
    sc.transfer(spender, sc.address(), sc.when(1.08), 5_900)
    sc.transfer(spender, friend, sc.when(1.15), 4_400)  # pays the friend back as well: 1.78x what arrived
    sc.transfer(sc.address(), mule, sc.when(2.0), 7_300)
    sc.transfer(mule, sc.address(), sc.when(2.05), 7_150)
    transfers, accounts, _ = sc.tables()
    found = of(run_graph_detectors(transfers, accounts), "rapid_movement")
    assert [a["accounts"] for a in found] == [[mule.split(":")[1]]]


def test_a_bipartite_group_is_found_though_a_member_pays_ordinary_friends_hours_before_and_after() -> None:
    """A member's own payments at the edges of the episode stretch the group's component past the window;
    the scheme is judged on its busiest window, not dropped with them."""
    sc = Scenario(seed=42)
    sc.background(accounts=300, transfers=400)
    senders = [sc.account("KLN") for _ in range(3)]
    receivers = [sc.account("KLN") for _ in range(3)]
    ids = [sc.transfer(s, r, sc.when(2.0 + 0.02 * k), 2_500 + 90 * k)
           for k, (s, r) in enumerate((s, r) for s in senders for r in receivers)]
    sc.label("bipartite", senders + receivers, ids)
    # about 11 hours before the first sender's first payment and after the last sender's last one
    for k, (who, day) in enumerate(((senders[0], 1.55), (senders[-1], 2.61))):
        sc.transfer(who, sc.account("KLN"), sc.when(day), 700 + 10 * k)
        sc.transfer(who, sc.account("KLN"), sc.when(day + 0.01), 650 + 10 * k)
    transfers, accounts, labels = sc.tables()
    found = of(run_graph_detectors(transfers, accounts), "bipartite")
    assert any(matches(a, labels.to_pylist()[0]) for a in found), found


def test_a_company_paid_by_a_crowd_after_its_payroll_run_is_a_fan_in() -> None:
    """A payroll run is one event of the company's routine (counted in active hours, not transfers): it
    does not make a sudden crowd paying the company the same day look usual."""
    sc = Scenario(seed=43)
    sc.background(accounts=300, transfers=400)
    company = sc.account("HBX", kind="corporate")
    for k in range(25):
        sc.transfer(company, sc.account("HBX"), sc.when(1.0 + k * 0.0005), 4_000 + 30 * k)
    crowd = [sc.transfer(sc.address(), company, sc.when(1.2 + 0.01 * k), 2_000 + 40 * k) for k in range(12)]
    transfers, accounts, _ = sc.tables()
    fans = of(run_graph_detectors(transfers, accounts), "fan_in")
    assert [a["accounts"][0] for a in fans] == [company.split(":")[1]]
    assert set(fans[0]["evidence_ids"]) == set(crowd)


def test_a_hub_whose_linked_account_pays_on_later_is_still_a_gather_scatter() -> None:
    """The scattering stops where new money arrives: payments after that arrival (here a linked account's
    hop in another scheme, hours later) are another flow and must not sink the gather-scatter."""
    sc = Scenario(seed=44)
    sc.background(accounts=300, transfers=400)
    hub = sc.account("HBX", customer="C-HUB")
    other = sc.account("HBX", customer="C-HUB")
    ids = [sc.transfer(sc.account("HBX"), hub, sc.when(1.0 + 0.03 * k), 3_000 + 100 * k) for k in range(5)]
    ids += [sc.transfer(hub, sc.account("HBX"), sc.when(1.25 + 0.03 * k), 2_700 + 80 * k) for k in range(5)]
    sc.label("gather_scatter", [hub], ids)
    sc.transfer(sc.account("HBX"), other, sc.when(1.6), 20_000)
    for k, usd in enumerate((20_100, 19_300, 26_000)):  # the linked account's own hop, passed straight on
        sc.transfer(other, sc.account("HBX"), sc.when(1.61 + 0.01 * k), usd)
    transfers, accounts, labels = sc.tables()
    found = of(run_graph_detectors(transfers, accounts), "gather_scatter")
    assert [set(a["evidence_ids"]) for a in found] == [set(ids)], [a["explanation"] for a in found]


def test_a_run_whose_first_sender_is_repaid_is_no_rapid_movement() -> None:
    """Two arrivals within the dwell time are one run; paying the first sender back is a refund, not money
    passed on, even though the second arrival is then tested alone as well."""
    sc = Scenario(seed=43)
    sc.background(accounts=200, transfers=300)
    borrower, lender = sc.account("HBX"), sc.account("HBX")
    sc.transfer(lender, borrower, sc.when(1.0), 11_900)
    sc.transfer(borrower, lender, sc.when(1.14), 11_600)  # repaid
    sc.transfer(sc.address(), borrower, sc.when(1.22), 130)  # a small deposit later the same run
    transfers, accounts, _ = sc.tables()
    assert of(run_graph_detectors(transfers, accounts), "rapid_movement") == []


def test_a_bipartite_group_with_edge_friends_and_a_settling_pair_is_found() -> None:
    """A sparse group (each sender pays two or three of the receivers): two senders' small payments to
    friends the same day add receivers paid by one sender (at the group's edge, not in its mesh; counted
    in, they would thin its density below the floor), and a receiver settling up with a friend (each paying
    the other) is an exchange beside the group, not a layer its money passes through."""
    sc = Scenario(seed=44)
    sc.background(accounts=300, transfers=400)
    s = [sc.account("VCT") for _ in range(4)]
    r = [sc.account("VCT") for _ in range(4)]
    pairs = [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 3), (3, 3), (3, 0), (3, 1)]
    ids = [sc.transfer(s[a], r[b], sc.when(2.0 + 0.02 * k), 3_100 + 70 * k) for k, (a, b) in enumerate(pairs)]
    sc.label("bipartite", s + r, ids)
    for who in s[:2]:
        sc.transfer(who, sc.account("VCT"), sc.when(2.05), 80)
    friend = sc.account("VCT")
    sc.transfer(r[0], friend, sc.when(2.1), 77)
    sc.transfer(r[0], sc.account("VCT"), sc.when(2.12), 60)
    sc.transfer(friend, r[0], sc.when(2.3), 75)
    transfers, accounts, labels = sc.tables()
    found = of(run_graph_detectors(transfers, accounts), "bipartite")
    assert any(matches(a, labels.to_pylist()[0]) for a in found), found


def _group_whose_receivers_pay_friends(onward_share: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A 4 x 4 group (each sender pays three receivers); two receivers each pay a friend of their own the
    same day (``onward_share`` of what they received), friends paid by nobody else in the group."""
    sc = Scenario(seed=45)
    sc.background(accounts=300, transfers=400)
    s = [sc.account("VCT") for _ in range(4)]
    r = [sc.account("VCT") for _ in range(4)]
    pairs = [(a, (a + k) % 4) for a in range(4) for k in range(3)]
    ids = [sc.transfer(s[a], r[b], sc.when(2.0 + 0.02 * k), 3_500 + 60 * k) for k, (a, b) in enumerate(pairs)]
    sc.label("bipartite", s + r, ids)
    for k, who in enumerate(r[:2]):
        friend = sc.account("VCT")
        sc.transfer(sc.address(), friend, sc.when(2.08), 1_200)  # the friend's own deposit that day
        sc.transfer(who, friend, sc.when(2.1 + 0.02 * k), onward_share * 3 * 3_600)
    transfers, accounts, labels = sc.tables()
    return of(run_graph_detectors(transfers, accounts), "bipartite"), labels.to_pylist()[0]


def test_a_bipartite_group_whose_two_receivers_pay_a_friend_is_found() -> None:
    """Two receivers paying someone are two accounts that both pay and are paid; a payment to a party joined
    to the group by it alone, small beside what the receiver got, is no layer the money passes through."""
    found, label = _group_whose_receivers_pay_friends(0.12)
    assert any(matches(a, label) for a in found), found


def test_receivers_passing_most_of_it_on_are_a_layer_not_a_bipartite_group() -> None:
    found, label = _group_whose_receivers_pay_friends(0.9)
    assert not any(matches(a, label) for a in found), found


@pytest.mark.parametrize(("chains", "is_fan_in"),
                         [(("eth",) * 6, True), (("eth", "eth", "eth", "btc", "btc", "eth"), False)])
def test_a_fan_in_is_a_crowd_on_one_chain_not_a_customer_funding_from_two(chains: tuple[str, ...],
                                                                          is_fan_in: bool) -> None:
    """Six deposits from six addresses onto an account new to the data: on one chain a crowd paying the
    address it was given; spread over two chains (three, and three on the other) a customer topping up
    several coins from its own places, no crowd of five."""
    sc = Scenario(seed=46)
    sc.background(accounts=300, transfers=400)
    target = sc.account("KLN")
    for k, chain in enumerate(chains):
        sc.transfer(sc.address(chain), target, sc.when(1.2 + 0.03 * k), 1_500 + 90 * k)
    transfers, accounts, _ = sc.tables()
    fans = [a for a in of(run_graph_detectors(transfers, accounts), "fan_in") if target.split(":")[1] in a["accounts"]]
    assert bool(fans) is is_fan_in, [a["explanation"] for a in fans]
