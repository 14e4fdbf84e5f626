"""Cross-venue's screen on the Arrow trades (``_may_alert``) against the frame path it stands in front of: the owners
found in the compiled table of the map's keys are ``_pair_owners``' (unknown accounts, customers without an id, keys
named like customers, an empty map); the screen never turns away a partition whose full push search finds a push
with a profit leg large enough, on random trades in no time order full of time ties, orders of several fills,
missing aggressors and customers on several venues; without the profit test it answers as ``_may_push``; and it
hands over to the frame path (None) on a null, another type, a missing column or a key the map holds twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market.cross_venue as cv
from harbour.data.arrow_strings import string_buffers
from harbour.detect.framework import REGISTRY, Partition
from harbour.detect.market.frames import frame, owner_map
from harbour.detect.market.owner_keys import owner_lookup, venue_codes
from harbour.detect.market.scenarios import ScenarioMarket

from .cross_scenarios import random_trades
from .spies import screened_and_full

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
VENUES = ["HBX", "KLN", "VCT"]
ACCOUNTS = pa.schema([("venue", pa.string()), ("account", pa.string()), ("customer_id", pa.string())])


def _strings(df: pl.DataFrame) -> pa.Table:
    """``df`` as the lake hands it: strings as Arrow's ``string``, times in microseconds in UTC."""
    table = df.to_arrow()
    return table.cast(pa.schema([pa.field(f.name, pa.string() if f.type in (pa.large_string(), pa.string_view())
                                          else f.type) for f in table.schema]))


def _trades(rng: np.random.Generator, n: int) -> pl.DataFrame:
    return random_trades(rng, n, VENUES)


def _accounts(rng: np.random.Generator) -> pa.Table:
    """Some accounts of each venue, owned by five customers on several venues, some without a customer id."""
    rows = [(v, f"a{i}", None if rng.random() < 0.1 else f"C{i % 5}") for v in VENUES for i in range(12)
            if rng.random() < 0.6]
    return pa.Table.from_pylist([dict(zip(ACCOUNTS.names, r, strict=True)) for r in rows], ACCOUNTS)


def _partition(trades: pl.DataFrame, accounts: pa.Table) -> Partition:
    return Partition({"symbol": "GEN-ETH-USD", "date": T0.date()}, {"trades": _strings(trades)},
                     broadcast={"accounts": accounts})


def _config(rng: np.random.Generator) -> cv.CrossVenueConfig:
    return cv.CrossVenueConfig(
        min_orders=int(rng.choice([1, 2, 3, 4])), min_share=float(rng.choice([0.02, 0.1, 0.3])),
        max_coincidence=float(rng.choice([1e-4, 0.01, 0.2, 0.6])), baseline_minutes=float(rng.choice([10, 60])),
        max_gap_seconds=float(rng.choice([30, 120, 300])), benefit_minutes=float(rng.choice([0, 5, 30])),
        min_benefit_ratio=float(rng.choice([0, 0.1, 0.5, 2.0])), require_benefit=bool(rng.random() < 0.8))


def _profitable(part: Partition, config: cv.CrossVenueConfig) -> tuple[bool, bool]:
    """The frame path: whether ``_pushes`` finds a push, and whether one of them has the profit leg ``_push`` asks
    for (the owner's opposite legs on the other venues around it, at least ``min_benefit_ratio`` of the push)."""
    trades = frame(part, "trades", cv.TRADE_COLUMNS)
    found = cv._pair_owners(trades, owner_map(part))
    legs = cv._legs(part, trades, found)
    pushes = cv._pushes(legs, trades, config)
    around = dt.timedelta(minutes=config.benefit_minutes)
    for p in pushes.iter_rows(named=True):
        elsewhere = legs.filter((pl.col("venue") != p["venue"]) & (pl.col("owner") == p["owner"])
                                & (pl.col("ts") >= p["start"] - around) & (pl.col("ts") <= p["end"] + around)
                                & (pl.col("sign") == -p["sign"]))
        if float(elsewhere["quantity"].sum()) >= max(config.min_benefit_ratio * p["q"], 1e-12):
            return True, True
    return pushes.height > 0, False


def test_owner_codes_are_the_pair_owners() -> None:
    rng = np.random.default_rng(31)
    for case in range(200):
        n = int(rng.integers(1, 80))
        names = [f"A{i}" for i in range(int(rng.integers(1, 25)))]
        trades = pl.DataFrame({"venue": rng.choice(VENUES, n).tolist(), "buyer": rng.choice(names, n).tolist(),
                               "seller": rng.choice(names, n).tolist()})
        keys: list[str | None] = list(dict.fromkeys(f"{v}:{a}" for v in VENUES for a in names if rng.random() < 0.5))
        if rng.random() < 0.3:
            keys.append(None)
        owned = [None if rng.random() < 0.15 else str(rng.choice(["C1", "C2", "HBX:A1", "KLN:A2"])) for _ in keys]
        owners = pl.DataFrame({"account": keys, "owner": owned}, schema={"account": pl.String, "owner": pl.String})
        got = _owner_codes(_strings(trades), owners)
        want = cv._pair_owners(trades, owners)
        assert got is not None and want is not None
        venue, owner, multi = got
        names_of = want[0].to_list() + want[1].to_list()
        # the same owners: two legs share a code exactly when they share an owner's id
        assert len(set(owner.tolist())) == len(set(names_of)), case
        assert len(set(zip(owner.tolist(), names_of, strict=True))) == len(set(names_of)), case
        assert multi.tolist() == want[2].tolist(), case
        assert len(set(zip(venue.tolist(), trades["venue"].to_list(), strict=True))) == trades["venue"].n_unique()


def test_a_map_with_a_key_twice_leaves_the_owners_to_the_join() -> None:
    trades = _strings(pl.DataFrame({"venue": ["HBX", "KLN"], "buyer": ["A1", "A2"], "seller": ["A2", "A1"]}))
    twice = pl.DataFrame({"account": ["HBX:A1", "HBX:A1"], "owner": ["C1", "C2"]})
    assert _owner_codes(trades, twice) is None
    empty = _owner_codes(trades, pl.DataFrame(schema={"account": pl.String, "owner": pl.String}))
    assert empty is not None and len(set(empty[1].tolist())) == 4 and not empty[2].any()


def test_the_screen_never_turns_away_a_profitable_push() -> None:
    rng = np.random.default_rng(12)
    outcomes = {"screened out": 0, "a push without profit, screened out": 0, "a profitable push": 0}
    for case in range(300):
        trades = _trades(rng, int(rng.integers(30, 400)))
        part, config = _partition(trades, _accounts(rng)), _config(rng)
        verdict = cv._may_alert(part, config)
        assert verdict is not None, case
        pushed, profit = _profitable(part, config)
        assert verdict or not (profit if config.require_benefit else pushed), case
        # without the profit test it is the frame path's screen (read in another row order)
        sorted_trades = frame(part, "trades", cv.TRADE_COLUMNS)
        found = cv._pair_owners(sorted_trades, owner_map(part))
        assert found is not None
        loose = config.model_copy(update={"require_benefit": False})
        assert cv._may_alert(part, loose) == cv._may_push(sorted_trades, found, loose), case
        outcomes["a profitable push"] += profit
        outcomes["screened out"] += not verdict
        outcomes["a push without profit, screened out"] += pushed and not profit and not verdict
    assert min(outcomes.values()) >= 15, outcomes


@pytest.mark.parametrize("change", ["null order id", "millisecond times", "float32 quantity", "NaN quantity",
                                    "no order ids", "large strings", "null buyer"])
def test_an_odd_table_leaves_the_partition_to_the_frame_path(change: str) -> None:
    rng = np.random.default_rng(4)
    table = _strings(_trades(rng, 60))
    at = {"null order id": "sell_order_id", "null buyer": "buyer"}.get(change)
    if at is not None:
        values = table[at].to_pylist()
        values[7] = None
        table = table.set_column(table.schema.get_field_index(at), at, pa.array(values, pa.string()))
    elif change == "millisecond times":
        table = table.set_column(3, "ts", table["ts"].cast(pa.timestamp("ms", "UTC")))
    elif change in ("float32 quantity", "NaN quantity"):
        q = table["quantity"].to_numpy().copy()
        q[3] = np.nan if change == "NaN quantity" else q[3]
        table = table.set_column(5, "quantity", pa.array(q, pa.float32() if change == "float32 quantity"
                                                          else pa.float64()))
    elif change == "no order ids":
        table = table.drop_columns(["buy_order_id", "sell_order_id"])
    else:
        table = table.set_column(6, "buyer", table["buyer"].cast(pa.large_string()))
    part = Partition({"symbol": "GEN-ETH-USD"}, {"trades": table}, broadcast={"accounts": _accounts(rng)})
    assert cv._may_alert(part, cv.CrossVenueConfig()) is None


def test_benefits_are_the_filtered_sums() -> None:
    rng = np.random.default_rng(9)
    for _ in range(30):
        n = int(rng.integers(1, 200))
        venue, ts = rng.integers(0, 3, n), rng.integers(0, 100, n)
        quantity, owner = rng.random(n), rng.integers(0, 5, 2 * n)
        k = int(rng.integers(1, 10))
        push = (rng.integers(0, 5, k), rng.integers(0, 3, k), rng.choice([1, -1], k))
        lo = rng.integers(0, 100, k)
        hi = lo + rng.integers(0, 30, k)
        got = cv._benefits(owner, venue, ts, quantity, *push, lo, hi)
        legs_venue, legs_ts = np.concatenate([venue, venue]), np.concatenate([ts, ts])
        sign, legs_q = np.repeat([1, -1], n), np.concatenate([quantity, quantity])
        for j in range(k):
            at = ((owner == push[0][j]) & (legs_venue != push[1][j]) & (sign == -push[2][j])
                  & (legs_ts >= lo[j]) & (legs_ts <= hi[j]))
            assert got[j] == pytest.approx(legs_q[at].sum(), rel=1e-12, abs=1e-12)


def _incident(push: bool) -> ScenarioMarket:
    """Two venues; the customer C-XV's XV1 buys eight orders on HBX as its price rises 3% while XV2 sells on KLN."""
    m = ScenarioMarket(seed=5, venues=("HBX", "KLN"), trades_per_day=3000)
    m.link("HBX", "XV1", "C-XV")
    m.link("KLN", "XV2", "C-XV")
    at = m.at(13)
    for h in (9, 15):
        m.trade("HBX", m.at(h), m.qty(1), "XV1", m.makers[0], "buy")
        m.trade("KLN", m.at(h, 30), m.qty(1), m.makers[1], "XV2", "sell")
    if push:
        m.impact("HBX", at, 120, 300, 300, 0.03)
        for i in range(8):
            m.trade("HBX", at + dt.timedelta(seconds=i * 20 + float(m.rng.uniform(0, 10))), m.qty(4), "XV1",
                    m.makers[i % len(m.makers)], "buy")
    for i in range(4):  # the customer's selling elsewhere, with or without the push
        m.trade("KLN", at + dt.timedelta(seconds=150 + 40 * i), m.qty(4), m.traders[i], "XV2", "sell")
    return m.build()


@pytest.mark.parametrize("push", [True, False])
def test_the_screened_kernel_gives_the_full_paths_alerts(monkeypatch: pytest.MonkeyPatch, push: bool) -> None:
    d = REGISTRY.get("cross_venue")
    market = _incident(push)

    def run() -> Any:
        return d.kernel(market.partition(by_symbol_only=True), d.default_config())

    seen, screened, full = screened_and_full(monkeypatch, cv, "_may_alert", run)
    assert seen == [push]
    assert screened.equals(full)
    assert screened.num_rows == int(push)


def _owner_codes(table: pa.Table, owners: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``_leg_owners`` of a table of trades (string venues and accounts, no nulls) under a map given without its
    partition (every pair found in the all-venue map), with each trade's venue code first; None when the map has a key
    twice."""
    lookup = owner_lookup(owners)
    if lookup is None:
        return None
    venue_offsets, venue_bytes, _ = string_buffers(table["venue"].combine_chunks())
    venue, firsts = venue_codes(venue_offsets, venue_bytes)
    return venue, *cv._leg_owners(None, table, lookup, venue, firsts)
