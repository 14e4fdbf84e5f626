"""The wash trade kernel's screens (``_may_self_trade``, ``_may_group``) skip its Polars paths only where those
find nothing: the kernel's alerts equal the full paths' (both paths run whatever the screens say) on clean
partitions, on incidents, and on random small markets full of self-trades, pairs and rings, with tied times and
equal quantities."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.data.schemas import TRADES
from harbour.detect.framework import REGISTRY, AlertBuilder, Partition, Window
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market import wash_trade as w
from harbour.detect.market.frames import TRADE_COLUMNS, frame
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
DETECTOR = REGISTRY.get("wash_trade")
CONFIG = w.WashTradeConfig()
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def _owned(part: Partition) -> pl.DataFrame:
    return w._owner_trades(part, frame(part, "trades", TRADE_COLUMNS), VENUE)


def _full_path(part: Partition, config: w.WashTradeConfig = CONFIG) -> pa.Table:
    """Both Polars paths, whatever the screens would say."""
    out = AlertBuilder(DETECTOR)
    t = _owned(part)
    DETECTOR._self_trades(out, part, t, VENUE, str(part.key["symbol"]), config)
    DETECTOR._groups(out, part, t, VENUE, str(part.key["symbol"]), config)
    return out.to_table()


def _screens(part: Partition) -> tuple[bool, bool]:
    codes = w._codes(_owned(part))
    assert codes is not None
    return w._may_self_trade(codes, CONFIG), w._may_group(codes, CONFIG)


def test_a_clean_partition_skips_both_paths() -> None:
    part = ScenarioMarket(seed=3, venues=(VENUE,), trades_per_day=3000).partition(VENUE)
    assert _screens(part) == (False, False)
    assert DETECTOR.kernel(part, CONFIG).num_rows == 0 == _full_path(part).num_rows


def test_incidents_take_the_full_paths() -> None:
    m = ScenarioMarket(seed=5, venues=(VENUE,), trades_per_day=3000)
    si.self_trades(m, ["S1", "S2"], m.at(6), n=8, customer="C-SELF")
    si.wash_ring(m, ["R1", "R2", "R3"], m.at(12))
    part = m.partition(VENUE)
    assert _screens(part) == (True, True)
    alerts = DETECTOR.kernel(part, CONFIG)
    assert alerts.num_rows >= 2
    assert alerts.equals(_full_path(part))


def _random_part(rng: np.random.Generator, n: int) -> Partition:
    """A market of a few dozen accounts (some held by one customer) trading at random, and a few groups of 1 to 4 of
    them trading with each other in bursts: many self-trades, pairs and rings, times tied, quantities equal."""
    accounts = [f"A{i}" for i in range(int(rng.integers(2, 40)))]
    groups = [rng.choice(accounts, int(rng.integers(1, 5))) for _ in range(int(rng.integers(0, 4)))]
    buyer, seller = rng.choice(accounts, n), rng.choice(accounts, n)
    for i in range(n):
        if groups and rng.random() < 0.6:
            group = groups[int(rng.integers(len(groups)))]
            at = int(rng.integers(len(group)))
            buyer[i], seller[i] = group[at], group[(at + 1) % len(group)]
    seconds = rng.choice([0, 0, 1, 60, 300, 3000], n).cumsum()
    trades = pa.table({
        "venue": [VENUE] * n, "symbol": ["X/USD"] * n, "trade_id": [f"t{i:05d}" for i in range(n)],
        "ts": pa.array([T0 + dt.timedelta(seconds=int(x)) for x in seconds], pa.timestamp("us", "UTC")),
        "price": rng.choice([99.0, 100.0, 101.0], n), "quantity": rng.choice([0.1, 1.0, 2.5, 7.0], n),
        "buyer": buyer, "seller": seller, "aggressor": rng.choice(["buy", "sell"], n).tolist(),
        "buy_order_id": [None] * n, "sell_order_id": [None] * n,
    }, schema=TRADES)
    linked = [a for a in accounts if rng.random() < 0.4]
    acc = pa.table({"venue": [VENUE] * len(linked), "account": linked,
                    "customer_id": [f"C{int(rng.integers(2))}" for _ in linked]},
                   schema=pa.schema([(c, pa.string()) for c in ("venue", "account", "customer_id")]))
    return Partition({"venue": VENUE, "symbol": "X/USD", "date": T0.date()}, {"trades": trades},
                     Window(T0, T0 + dt.timedelta(days=1)), {"accounts": acc})


def test_random_markets_give_the_full_paths_alerts() -> None:
    rng = np.random.default_rng(11)
    kinds = {"self": 0, "group": 0}
    for case in range(200):
        part = _random_part(rng, int(rng.integers(1, 200)))
        alerts = DETECTOR.kernel(part, CONFIG)
        assert alerts.equals(_full_path(part)), case
        for text in alerts["explanation"].to_pylist():
            kinds["group" if "net position change" in text else "self"] += 1
    assert min(kinds.values()) >= 10, kinds  # the comparison saw alerts of both kinds, not only empty tables


def test_loose_configs_give_the_full_paths_alerts() -> None:
    """Thresholds at their edges: every link counts, every net change passes."""
    config = w.WashTradeConfig(min_self_trades=1, min_group_trades=2, min_edge_trades=1, min_edge_share=1e-9,
                               min_lift=1e-9, max_net_share=1.0, max_ring=2)
    rng = np.random.default_rng(12)
    for case in range(60):
        part = _random_part(rng, int(rng.integers(1, 80)))
        assert DETECTOR.kernel(part, config).equals(_full_path(part, config)), case


def test_values_the_screens_cannot_judge_take_the_full_paths() -> None:
    part = _random_part(np.random.default_rng(13), 40)
    trades = part.tables["trades"]
    zero = trades.set_column(trades.schema.get_field_index("quantity"), "quantity",
                             pa.array([0.0] * trades.num_rows))
    assert w._codes(_owned(Partition(part.key, {"trades": zero}, part.window, part.broadcast))) is None
