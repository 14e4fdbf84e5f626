"""Marking the close pushes the closing price through the book, into the close: a market maker whose many small
aggressive orders all fill one resting order is not pushing (that order's owner is the one trading), a burst that
ended early in the watched span left the close to others, and two groups pressing one close from opposite sides
are two alerts."""

from __future__ import annotations

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

from .marking_scenarios import VENUE, S
from .marking_scenarios import burst as _burst


def _alerts(m: ScenarioMarket) -> pa.Table:
    d = REGISTRY.get("marking_the_close")
    return d.kernel(m.partition(VENUE), d.default_config())


def _alerted(m: ScenarioMarket) -> set[str]:
    return {a for accounts in _alerts(m)["accounts"].to_pylist() for a in accounts}


def test_many_orders_into_one_resting_order_are_not_a_push() -> None:
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=3000)
    ref = m.at(8)
    m.impact(VENUE, ref - 100 * S, 60, 120, 600, -0.002)
    resting = None
    # a market maker's re-posted offers cross one large resting bid, fifteen times in the last 90 seconds
    for i in range(15):
        t = ref - 95 * S + S * (5 * i)
        tid = m.trade(VENUE, t, m.qty(2), "BIGBID", "MMX", "sell", price=m.mid(VENUE, ref - 100 * S))
        row = next(r for r in m.venues[VENUE].trades if r["trade_id"] == tid)
        resting = resting or row["buy_order_id"]
        row["buy_order_id"] = resting
    assert "MMX" not in _alerted(m.build())


def test_a_burst_that_ended_early_in_the_span_is_not_marking() -> None:
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=3000)
    ref = m.at(8)
    # another abuse's push, 15 to 13 minutes before the close, whose move holds through the close
    m.impact(VENUE, ref - 15 * 60 * S, 120, 3600, 600, 0.012)
    _burst(m, "EARLY1", ref - 15 * 60 * S + 5 * S, 110, 8, "buy")
    assert "EARLY1" not in _alerted(m.build())


def test_two_groups_marking_one_close_from_opposite_sides_are_both_alerted() -> None:
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=3000)
    ref = m.at(8)
    # a seller presses the price down over the last quarter hour ...
    m.impact(VENUE, ref - 14 * 60 * S, 13 * 60, 60, 900, -0.015)
    _burst(m, "SELLER1", ref - 14 * 60 * S, 13 * 60 + 20, 12, "sell")
    # ... while a buyer lifts it in the last two minutes
    m.impact(VENUE, ref - 115 * S, 110, 60, 900, 0.012)
    _burst(m, "BUYER1", ref - 115 * S, 110, 7, "buy")
    assert {"SELLER1", "BUYER1"} <= _alerted(m.build())
