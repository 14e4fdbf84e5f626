"""Marking recall: two groups pressing one close from opposite sides in the same span are both marking. The price
goes the stronger group's way; the weaker group's push is masked by it, not absent, so the price need only have
gone the way of one of them. A group alone whose span moved against it is still not marking."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
S = dt.timedelta(seconds=1)


def _alerted(m: ScenarioMarket) -> set[str]:
    d = REGISTRY.get("marking_the_close")
    alerts = d.kernel(m.build().partition(VENUE), d.default_config())
    return {a for accounts in alerts["accounts"].to_pylist() for a in accounts}


def _burst(m: ScenarioMarket, account: str, start: dt.datetime, seconds: float, n: int, side: str) -> None:
    """``n`` aggressive orders of ``account`` spread over ``seconds`` from ``start``, each against its own resting
    order of one of the makers."""
    for i in range(n):
        t = start + S * (seconds * i / n)
        buyer, seller = (account, m.makers[i % len(m.makers)]) if side == "buy" else \
            (m.makers[i % len(m.makers)], account)
        m.trade(VENUE, t, m.qty(4), buyer, seller, side)


def test_two_groups_pressing_one_close_from_opposite_sides_in_the_same_span_are_both_alerted() -> None:
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=3000)
    ref = m.at(8)
    # the price rises 3% over the last quarter hour, 1.2% of it in the last two minutes, where a buyer lifts it
    # while a seller presses against it: every span before the close moved the buyer's way
    m.impact(VENUE, ref - 14 * 60 * S, 12 * 60, 60, 900, 0.018)
    m.impact(VENUE, ref - 115 * S, 110, 60, 900, 0.012)
    _burst(m, "BUYER1", ref - 115 * S, 110, 10, "buy")
    _burst(m, "SELLER1", ref - 110 * S, 105, 7, "sell")
    assert {"BUYER1", "SELLER1"} <= _alerted(m)


def test_a_group_alone_whose_span_moved_against_it_is_not_marking() -> None:
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=3000)
    ref = m.at(8)
    # the same rise on its own, and the same seller selling into it
    m.impact(VENUE, ref - 14 * 60 * S, 12 * 60, 60, 900, 0.018)
    m.impact(VENUE, ref - 115 * S, 110, 60, 900, 0.012)
    _burst(m, "SELLER1", ref - 110 * S, 105, 7, "sell")
    assert "SELLER1" not in _alerted(m)
