"""Pump recall: a pump distributed late in the day gives back only part of its rise before the day's partition
ends; the give-back asked for scales with the part of the dump window the partition can see (at least half of
``min_giveback``). A pump in mid-day with the whole dump window in view must still give back ``min_giveback``."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"


def _pump(peak: dt.datetime, decay_hours: float) -> list[dict]:
    """Two accounts buy a 90-minute run-up of 15% to ``peak`` and sell into it for a quarter of an hour; the price
    then slides back over ``decay_hours``."""
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=10000)
    ring = ["P1", "P2"]
    ramp = dt.timedelta(minutes=90)
    m.impact(VENUE, peak - ramp, ramp.total_seconds(), 10 * 60, decay_hours * 3600, 0.15)
    for i in range(40):
        m.trade(VENUE, peak - ramp * (1 - i / 40), m.qty(3), ring[i % 2], m.makers[i % len(m.makers)], "buy")
    for i in range(30):
        m.trade(VENUE, peak + dt.timedelta(seconds=30 * i + 5), m.qty(4), m.traders[i], ring[i % 2], "buy")
    d = REGISTRY.get("pump_and_dump")
    return d.kernel(m.build().partition(VENUE), d.default_config()).to_pylist()


def test_a_late_pump_whose_fall_the_day_cuts_short_is_found() -> None:
    # peak at 22:15; by midnight the six-hour slide has given back about a quarter of the rise
    m = ScenarioMarket(seed=21)
    assert [sorted(a["accounts"]) for a in _pump(m.at(22, 15), decay_hours=6.0)] == [["P1", "P2"]]


def test_a_mid_day_pump_must_still_give_back_its_share() -> None:
    # the same ring at noon, but the price gives back only about a fifth of the rise (22%: more than the late
    # pump's floor, less than min_giveback) in the six hours of the dump window, all of which the partition sees
    m = ScenarioMarket(seed=21)
    assert _pump(m.at(12), decay_hours=120.0) == []
