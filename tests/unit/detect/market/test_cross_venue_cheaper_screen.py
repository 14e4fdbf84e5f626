"""Cross-venue's Arrow screen codes each leg's owner by finding its account in its own venue's owner map
(``_venue_found``) instead of finding ``venue:account`` in the all-venue map byte by byte (``find_keys``), and stops a
partition of one venue before any owner is coded. Checked on random markets against the frame path's owner names
(``_pair_owners``), against the all-venue look-up, and against the full path's alerts: with accounts the accounts
table does not know, customers owning several accounts on one venue and on several, owners without a customer id,
an account named twice, owners named like keys, self-trades, ties in time, missing aggressors, and the colons that
make the two maps disagree (the all-venue look-up then decides)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market.cross_venue as cv
from harbour.detect.framework import REGISTRY, Partition
from harbour.detect.market.frames import owner_map
from harbour.detect.market.scenarios import ScenarioMarket

from .cross_scenarios import random_trades

S = dt.timedelta(seconds=1)
STRINGS = ("venue", "symbol", "trade_id", "buyer", "seller", "aggressor", "buy_order_id", "sell_order_id")


def _arrow(trades: pl.DataFrame) -> pa.Table:
    """The trades as the lake holds them: strings, float quantities, times in microseconds."""
    table = trades.to_arrow()
    fields = [pa.field(f.name, pa.string() if f.name in STRINGS else
                       pa.timestamp("us", "UTC") if f.name == "ts" else pa.float64() if f.name in ("price", "quantity")
                       else f.type) for f in table.schema]
    return table.cast(pa.schema(fields))


def _accounts(rng: np.random.Generator, venues: list[str], colons: bool) -> pa.Table:
    """An accounts table of some of the random trades' accounts (a0..a11 on each venue): a few customers owning
    several accounts on one venue and on several, some without a customer id, owners named like the keys of accounts
    the table leaves out, an account named twice (its first row counts), null rows, a venue the trades never use,
    and (``colons``) an account whose name holds a colon."""
    rows: list[tuple[str | None, str | None, str | None]] = []
    for v in [*venues, "ZZZ"]:
        for i in range(12):
            if rng.random() < 0.7:
                owner = rng.choice(["C0", "C1", "C2", "C3", f"solo-{v}-{i}", "HBX:a3", "KLN:a7", "none"])
                rows.append((v, f"a{i}", None if owner == "none" else str(owner)))
    if rows and rng.random() < 0.5:
        v, a, _ = rows[int(rng.integers(len(rows)))]
        rows.append((v, a, "C-second"))
    if rng.random() < 0.3:
        rows.append((None, "a1", "C0"))
        rows.append((str(rng.choice(venues)), None, "C1"))
    if colons:
        rows.append((str(rng.choice(venues)), "a2:x", "C2"))
    order = rng.permutation(len(rows))
    return pa.table({c: pa.array([rows[k][j] for k in order], pa.string())
                     for j, c in enumerate(("venue", "account", "customer_id"))})


def _partition(rng: np.random.Generator, n: int, venues: list[str], colons: bool = False) -> Partition:
    trades = random_trades(rng, n, venues).sort("ts", maintain_order=True)
    # a few self-trades
    trades = trades.with_columns(seller=pl.when(pl.int_range(pl.len()) % 17 == 3).then("buyer").otherwise("seller"))
    return Partition(key={"symbol": "GEN-ETH-USD", "date": dt.date(2026, 1, 5)}, tables={"trades": _arrow(trades)},
                     broadcast={"accounts": _accounts(rng, venues, colons)})


def _venues(rng: np.random.Generator) -> list[str]:
    picked = ["HBX", "KLN", "VCT"][:int(rng.integers(1, 4))]
    return ["HB:X", *picked[1:]] if rng.random() < 0.08 else picked


def _same_classes(a: list[Any], b: list[Any]) -> bool:
    """Whether two labellings of the same legs group them alike (equal in one exactly where equal in the other)."""
    return len(set(zip(a, b, strict=True))) == len(set(a)) == len(set(b))


def _codes(part: Partition) -> tuple[np.ndarray, np.ndarray] | None:
    found = cv._arrow_trades(part)
    assert found is not None
    table, lookup, venue, firsts, _, _ = found
    return cv._leg_owners(part, table, lookup, venue, firsts) if firsts.size > 1 else None


def test_owner_codes_group_the_legs_as_the_frame_paths_owner_names(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(41)
    paths = {"venue maps": 0, "all-venue map": 0}
    real = cv._venue_found

    def spy(*args: Any) -> np.ndarray | None:
        got = real(*args)
        paths["venue maps" if got is not None else "all-venue map"] += 1
        return got

    monkeypatch.setattr(cv, "_venue_found", spy)
    for case in range(300):
        part = _partition(rng, int(rng.integers(10, 300)), _venues(rng), colons=rng.random() < 0.1)
        coded = _codes(part)
        if coded is None:
            continue
        owner, multi = coded
        trades = pl.from_arrow(part.tables["trades"])
        assert isinstance(trades, pl.DataFrame)
        named = cv._pair_owners(trades, owner_map(part))
        assert named is not None
        names = named[0].to_list() + named[1].to_list()
        assert _same_classes(owner.tolist(), names), case
        assert multi.tolist() == named[2].tolist(), case
    assert min(paths.values()) >= 10, paths


def test_owner_codes_are_the_all_venue_look_ups(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(42)
    for case in range(200):
        part = _partition(rng, int(rng.integers(10, 200)), ["HBX", "KLN", "VCT"][:int(rng.integers(2, 4))])
        coded = _codes(part)
        assert coded is not None and cv._venue_found(part, *_venue_args(part)) is not None, case
        with monkeypatch.context() as m:
            m.setattr(cv, "_venue_found", lambda *_: None)
            looked_up = _codes(part)
        assert looked_up is not None
        assert _same_classes(coded[0].tolist(), looked_up[0].tolist()), case
        assert (coded[1] == looked_up[1]).all(), case


def _venue_args(part: Partition) -> tuple[dict[str, int], pa.Array, pa.Array, np.ndarray]:
    """``_venue_found``'s arguments for ``part``, made as ``_leg_owners`` makes them."""
    found = cv._arrow_trades(part)
    assert found is not None
    table, (_, _, ids), venue, firsts, _, _ = found
    accounts = cv.dictionary_codes(pa.chunked_array(table["buyer"].chunks + table["seller"].chunks, pa.string()))
    pair = accounts.indices.to_numpy().astype(np.int64) * firsts.size + np.concatenate([venue, venue])
    names = table["venue"].take(pa.array(firsts)).combine_chunks()
    return ids, names, accounts.dictionary, np.unique(pair)


def _config(rng: np.random.Generator) -> cv.CrossVenueConfig:
    return cv.CrossVenueConfig(
        min_orders=int(rng.choice([1, 2, 3])), min_share=float(rng.choice([0.02, 0.1, 0.3])),
        max_coincidence=float(rng.choice([1e-4, 0.2, 1.0])), max_gap_seconds=float(rng.choice([30, 300])),
        min_sigmas=float(rng.choice([0.01, 0.5])), min_dislocation=float(rng.choice([0.0, 0.0005])),
        max_benefit_coincidence=float(rng.choice([0.01, 1.0])), require_benefit=bool(rng.random() < 0.8))


def test_the_screens_verdicts_are_the_all_venue_look_ups_and_never_lose_an_alert(
        monkeypatch: pytest.MonkeyPatch) -> None:
    d = REGISTRY.get("cross_venue")
    rng = np.random.default_rng(43)
    verdicts: dict[Any, int] = {False: 0, True: 0}
    alerts = 0
    for case in range(200):
        part = _partition(rng, int(rng.integers(10, 400)), _venues(rng), colons=rng.random() < 0.1)
        config = _config(rng)
        verdict = cv._may_alert(part, config)
        with monkeypatch.context() as m:
            m.setattr(cv, "_venue_found", lambda *_: None)
            assert cv._may_alert(part, config) == verdict, case
            m.setattr(cv, "_may_alert", lambda *_: None)
            m.setattr(cv, "_may_push", lambda *_: True)
            full = d.kernel(part, config)
        verdicts[verdict] += 1
        alerts += full.num_rows
        assert verdict or full.num_rows == 0, case
        assert d.kernel(part, config).equals(full), case
    assert min(verdicts.values()) >= 20 and alerts > 0, (verdicts, alerts)


def _market(seed: int) -> ScenarioMarket:
    """A generated day on three venues where the customer C-XV owns two accounts on the moved venue and one on each
    other: its accounts push the moved venue up in eight orders while the others sell elsewhere."""
    m = ScenarioMarket(seed=seed, venues=("HBX", "KLN", "VCT"), trades_per_day=2000)
    for venue, account in (("HBX", "XV1"), ("HBX", "XV3"), ("KLN", "XV2"), ("VCT", "XV4")):
        m.link(venue, account, "C-XV")
    at = m.at(13)
    m.impact("HBX", at, 120, 300, 300, 0.03)
    for i in range(8):
        m.trade("HBX", at + S * (i * 20 + float(m.rng.uniform(0, 10))), m.qty(4), ("XV1", "XV3")[i % 2],
                m.makers[i % len(m.makers)], "buy")
    for i in range(4):
        m.trade(("KLN", "VCT")[i % 2], at + S * (150 + 40 * i), m.qty(4), m.traders[i], ("XV2", "XV4")[i % 2], "sell")
    return m.build()


@pytest.mark.parametrize("seed", [1, 2])
def test_a_generated_push_by_a_customers_several_accounts_is_found_as_before(monkeypatch: pytest.MonkeyPatch,
                                                                           seed: int) -> None:
    d = REGISTRY.get("cross_venue")
    part = _market(seed).partition(by_symbol_only=True)
    config = d.default_config()
    assert cv._may_alert(part, config) is True
    got = d.kernel(part, config)
    monkeypatch.setattr(cv, "_may_alert", lambda *_: None)
    monkeypatch.setattr(cv, "_may_push", lambda *_: True)
    assert got.num_rows >= 1 and got.equals(d.kernel(part, config))


def test_one_venue_stops_before_any_owner_is_coded(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*_: Any) -> None:
        raise AssertionError("an owner was coded")

    monkeypatch.setattr(cv, "_leg_owners", unreachable)
    part = _partition(np.random.default_rng(4), 200, ["KLN"])
    assert cv._may_alert(part, cv.CrossVenueConfig()) is False


def test_a_missing_account_or_an_accounts_table_of_the_partition_keeps_todays_paths() -> None:
    part = _partition(np.random.default_rng(5), 100, ["HBX", "KLN"])
    buyer = part.tables["trades"]["buyer"].to_pylist()
    buyer[7] = None
    table = part.tables["trades"]
    nulls = table.set_column(table.schema.get_field_index("buyer"), "buyer", pa.array(buyer, pa.string()))
    assert cv._may_alert(Partition(part.key, {"trades": nulls}, broadcast=part.broadcast), cv.CrossVenueConfig()) \
        is None
    own = Partition(part.key, {"trades": table, "accounts": part.broadcast["accounts"]})
    assert cv._venue_found(own, *_venue_args(own)) is None
    assert cv._venue_found(part, *_venue_args(part)) is not None


def test_aggressive_legs_are_arrows_comparisons() -> None:
    """``_aggressive``'s compiled pass against Arrow's ``not_equal`` with missing aggressors filled as not aggressive,
    on aggressors missing, odd, empty and of other cases, in one chunk and in several."""
    rng = np.random.default_rng(44)
    values = np.array(["buy", "sell", None, "", "BUY", "sel", "sells", "buyer", "b"], dtype=object)
    for case in range(100):
        n = int(rng.integers(1, 60))
        column = rng.choice(values, n).tolist()
        cut = int(rng.integers(0, n + 1))
        chunks = pa.chunked_array([pa.array(column[:cut], pa.string()), pa.array(column[cut:], pa.string())])
        table = pa.table({"aggressor": chunks, "buy_order_id": pa.array(["b"] * n, pa.string()),
                          "sell_order_id": pa.array(["s"] * n, pa.string())})
        aggressive, _ = cv._aggressive_legs(table)
        want = [a is not None and a != "sell" for a in column] + [a is not None and a != "buy" for a in column]
        assert aggressive.tolist() == want, case
