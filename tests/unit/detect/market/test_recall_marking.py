"""Marking recall: two groups pressing one close from opposite sides in the same span are both marking. The price
goes the stronger group's way; the weaker group's push is masked by it, not absent, so the price need only have
gone the way of one of them. A group alone whose span moved against it is still not marking."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.market.scenarios import ScenarioMarket

from .marking_scenarios import VENUE, S, alerted, burst


def _rising_close(m: ScenarioMarket) -> dt.datetime:
    """The price rises 3% over the last quarter hour before the close, 1.2% of it in the last two minutes."""
    ref = m.at(8)
    m.impact(VENUE, ref - 14 * 60 * S, 12 * 60, 60, 900, 0.018)
    m.impact(VENUE, ref - 115 * S, 110, 60, 900, 0.012)
    return ref


def test_two_groups_pressing_one_close_from_opposite_sides_in_the_same_span_are_both_alerted() -> None:
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=3000)
    # in the rise's last two minutes a buyer lifts the price while a seller presses against it: every span
    # before the close moved the buyer's way
    ref = _rising_close(m)
    burst(m, "BUYER1", ref - 115 * S, 110, 10, "buy")
    burst(m, "SELLER1", ref - 110 * S, 105, 7, "sell")
    assert {"BUYER1", "SELLER1"} <= alerted(m.build())


def test_a_group_alone_whose_span_moved_against_it_is_not_marking() -> None:
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=3000)
    ref = _rising_close(m)  # the same rise on its own, and the same seller selling into it
    burst(m, "SELLER1", ref - 110 * S, 105, 7, "sell")
    assert "SELLER1" not in alerted(m.build())
