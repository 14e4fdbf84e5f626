"""Marking the close is a burst timed to the reference time: an owner that kept the same aggressive pace over the
hour before the watched span (a pump's build-up that runs through the close, a long execution) is not marking,
while a burst that starts minutes before the close is."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"


def _alerted(m: ScenarioMarket) -> set[str]:
    d = REGISTRY.get("marking_the_close")
    alerts: pa.Table = d.kernel(m.partition(VENUE), d.default_config())
    return {a for accounts in alerts["accounts"].to_pylist() for a in accounts}


def _steady_buyer(m: ScenarioMarket, account: str, ref: dt.datetime) -> None:
    """Aggressive buys every 90 seconds from 75 minutes before the reference time to it, the price rising."""
    start = ref - dt.timedelta(minutes=75)
    m.impact(VENUE, start, 75 * 60, 60, 15 * 60, 0.03)
    for i in range(50):
        m.trade(VENUE, start + dt.timedelta(seconds=90 * i + 5), m.qty(4), account, m.makers[i % len(m.makers)], "buy")


def test_a_steady_buyer_through_the_close_is_not_marking() -> None:
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=3000)
    _steady_buyer(m, "STEADY1", m.at(8))
    assert "STEADY1" not in _alerted(m.build())


def test_a_burst_just_before_the_close_is_marking() -> None:
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=3000)
    si.marking_the_close(m, "MARK1", m.at(8))
    assert "MARK1" in _alerted(m.build())
