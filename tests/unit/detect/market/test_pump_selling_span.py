"""What a pump ring's selling is weighed against: the market's buying over the span the ring sold in, not the
whole slide after the peak, which may go on for hours after the ring has unloaded (and bring hours of ordinary
volume with it)."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"


def _pump(decay_hours: float) -> list[dict]:
    """Two accounts buy a run-up to a peak at 10:00 and sell into it within a quarter of an hour; the price
    then slides back over ``decay_hours`` on a busy book."""
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=10000)
    ring = ["P1", "P2"]
    peak = m.at(10)
    ramp = dt.timedelta(minutes=40)
    m.impact(VENUE, peak - ramp, ramp.total_seconds(), 10 * 60, decay_hours * 3600, 0.15)
    for i in range(40):
        t = peak - 2 * ramp + 2 * ramp * (i / 40)
        m.trade(VENUE, t, m.qty(3), ring[i % 2], m.makers[i % len(m.makers)], "buy")
    for i in range(30):
        t = peak + dt.timedelta(seconds=30 * i + 5)
        m.trade(VENUE, t, m.qty(4), m.traders[i], ring[i % 2], "buy")
    d = REGISTRY.get("pump_and_dump")
    return d.kernel(m.build().partition(VENUE), d.default_config()).to_pylist()


def test_a_ring_that_sold_into_the_top_is_found_however_long_the_slide_after_it() -> None:
    assert [sorted(a["accounts"]) for a in _pump(decay_hours=5.0)] == [["P1", "P2"]]
