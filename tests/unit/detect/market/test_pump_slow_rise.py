"""A pump's run-up measured against the day: a ring that lifts a volatile coin 10 % over four hours has not
moved it three of the day's standard moves over that span, yet its buying the rise and selling the top is
the campaign. The price test only nominates events (two standard moves); the actors decide."""

from __future__ import annotations

import datetime as dt

import pytest

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
DAILY_VOL = 0.06


def _alerts(m: ScenarioMarket) -> list[dict]:
    d = REGISTRY.get("pump_and_dump")
    return d.kernel(m.build().partition(VENUE), d.default_config()).to_pylist()


def test_a_slow_ten_percent_run_up_on_a_volatile_day_is_a_pump_when_a_ring_bought_it_and_sold_the_top() -> None:
    m = ScenarioMarket(seed=0, venues=(VENUE,), trades_per_day=4000, daily_vol=DAILY_VOL)
    ring = ["P1", "P2", "P3"]
    start, build = m.at(9), dt.timedelta(hours=4)
    m.impact(VENUE, start, build.total_seconds(), 20 * 60, 3 * 3600, 0.10)
    for i in range(60):  # buying that accelerates towards the top
        m.trade(VENUE, start + build * (i / 60) ** 0.5, m.qty(3), ring[i % 3], m.makers[i % len(m.makers)], "buy")
    for i in range(40):
        m.trade(VENUE, start + build + dt.timedelta(minutes=1.5 * i + 0.3), m.qty(4), m.traders[i], ring[i % 3], "buy")
    assert [sorted(a["accounts"]) for a in _alerts(m)] == [ring]


@pytest.mark.parametrize("seed", range(5))
def test_an_honest_volatile_day_raises_no_pump(seed: int) -> None:
    assert _alerts(ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=4000, daily_vol=DAILY_VOL)) == []
