"""marking_the_close leaves a book-day before building any leg when no owner could form a group there
(``_may_mark``): the test must be implied by the full reading's filters, so the alerts are the same with it and
without it — on a quiet close (where it is taken), on marked closes (where it is not), and under configurations
that move every threshold the test reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market.marking_the_close as mtc
from harbour.detect.framework import REGISTRY, Partition
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.frames import TRADE_COLUMNS, frame, owner_map, with_owner
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"


def _may_mark(part: Partition, config: mtc.MarkingTheCloseConfig) -> bool:
    """The test on a partition, with the trades and owners the kernel gives it."""
    trades = frame(part, "trades", TRADE_COLUMNS)
    owners = owner_map(part, VENUE)
    t = with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s")
    ref = dt.datetime.combine(part.key["date"], config.reference_time_utc, tzinfo=dt.UTC)
    return mtc._may_mark(t, ref, config)


def _both_ways(part: Partition, config: mtc.MarkingTheCloseConfig,
               monkeypatch: pytest.MonkeyPatch) -> tuple[pa.Table, pa.Table]:
    """The kernel's alerts with the test, and with the full reading forced."""
    d = REGISTRY.get("marking_the_close")
    fast = d.kernel(replace(part, shared={}), config)
    with monkeypatch.context() as patch:
        patch.setattr(mtc, "_may_mark", lambda *_: True)
        patch.setattr(mtc, "_arrow_may_mark", lambda *_: None)  # the screen read off the Arrow trades
        full = d.kernel(replace(part, shared={}), config)
    return fast, full


def test_a_quiet_close_is_left_before_any_leg_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    part = ScenarioMarket(seed=3, venues=(VENUE,), trades_per_day=3000).partition(VENUE)
    config = mtc.MarkingTheCloseConfig()
    assert not _may_mark(part, config)
    fast, full = _both_ways(part, config, monkeypatch)
    assert fast.num_rows == 0 and full.num_rows == 0


def test_a_marked_close_is_read_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    m = ScenarioMarket(seed=3, venues=(VENUE,), trades_per_day=3000)
    si.marking_the_close(m, "MARK1", m.at(8))
    part = m.partition(VENUE)
    config = mtc.MarkingTheCloseConfig()
    assert _may_mark(part, config)
    fast, full = _both_ways(part, config, monkeypatch)
    assert fast.to_pylist() == full.to_pylist()
    assert {a for accounts in fast["accounts"].to_pylist() for a in accounts} == {"MARK1"}


def _market(seed: int) -> Partition:
    """A close marked from one side or both, by one owner or two accounts of one customer, with some trades of
    unknown aggressor (they count for both sides), and a steady trader that keeps its pace through the close; the
    marking accounts' orders fill several trades each, and some trades of the day have no order ids."""
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=2000)
    rng = np.random.default_rng(seed)
    ref = m.at(8)
    si.marking_the_close(m, "MARK1", ref, move=float(rng.uniform(-0.01, 0.02)))
    if seed % 2:
        m.link(VENUE, "MARK2", "C-MARK")
        m.link(VENUE, "MARK1", "C-MARK")
    for i in range(int(rng.integers(2, 8))):
        start = ref - dt.timedelta(minutes=float(rng.uniform(0.2, 14)))
        side = str(rng.choice(["buy", "sell"]))
        buyer, seller = ("MARK2", m.makers[i % len(m.makers)]) if side == "buy" else \
            (m.makers[i % len(m.makers)], "MARK2")
        m.trade(VENUE, start, m.qty(4), buyer, seller, None if i % 3 == 0 else side)
    for i in range(40):
        m.trade(VENUE, ref - dt.timedelta(seconds=90 * i + 7), m.qty(2), "STEADY", m.makers[i % len(m.makers)],
                None if i % 4 == 0 else "buy")
    part = m.partition(VENUE)
    trades = pl.from_arrow(part.tables["trades"])
    assert isinstance(trades, pl.DataFrame)
    marking = pl.col("buyer").str.starts_with("MARK") | pl.col("seller").str.starts_with("MARK")
    gone = pl.lit(rng.random(trades.height) < 0.1)
    trades = trades.with_columns(
        *(pl.when(marking).then(pl.lit("F") + (marking.cum_sum() // 3).cast(pl.String)).otherwise(c).alias(c)
          for c in ("buy_order_id", "sell_order_id")))
    trades = trades.with_columns(pl.when(gone).then(None).otherwise(pl.col(c)).alias(c)
                                 for c in ("buy_order_id", "sell_order_id"))
    return replace(part, tables={**part.tables, "trades": trades.to_arrow()})


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_test_never_drops_an_alert_of_the_full_reading(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    part = _market(seed)
    exits = 0
    for _ in range(6):
        config = mtc.MarkingTheCloseConfig(
            windows_minutes=tuple(sorted(rng.choice([1.0, 2.0, 3.5, 5.0, 10.0, 15.0, 30.0], 3, replace=False))),
            min_share=float(rng.uniform(0.02, 0.5)), min_member_share=float(rng.uniform(0.01, 0.3)),
            max_group=int(rng.integers(1, 4)), min_orders=int(rng.integers(1, 6)),
            min_member_orders=int(rng.integers(1, 4)), min_intensity=float(rng.choice([0.0, 1.0, 5.0, 20.0])),
            lead_minutes=float(rng.choice([10.0, 60.0])), max_end_gap=float(rng.uniform(0.05, 1.0)),
            min_book_reach=float(rng.choice([0.0, 0.5])), max_coincidence=float(rng.choice([1e-4, 1.0])))
        fast, full = _both_ways(part, config, monkeypatch)
        assert fast.to_pylist() == full.to_pylist()
        exits += not _may_mark(part, config)
    assert exits < 6  # some configurations are read in full
