"""Cross-venue recall: a push that lifts a venue whose basis is drifting down is a push, though the basis ends
below the hour's median (the usual basis is the hour's trend carried on, not its flat median); and a profit leg
of a few large orders is timed to the push even when the customer's many small ordinary trades on the other
venue fall in the same hour (the habit is also judged on orders of the profit leg's size)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

S = dt.timedelta(seconds=1)
MOVED, OTHER = "HBX", "KLN"


def _alerts(m: ScenarioMarket) -> pa.Table:
    d = REGISTRY.get("cross_venue")
    return d.kernel(m.partition(by_symbol_only=True), d.default_config())


def _accounts(m: ScenarioMarket) -> set[str]:
    return {a for accs in _alerts(m.build())["accounts"].to_pylist() for a in accs}


def _market() -> ScenarioMarket:
    m = ScenarioMarket(seed=5, venues=(MOVED, OTHER), trades_per_day=3000)
    m.link(MOVED, "XV1", "C-XV")
    m.link(OTHER, "XV2", "C-XV")
    return m


def _push(m: ScenarioMarket, at: dt.datetime, size: float) -> None:
    """Eight aggressive buys on the moved venue over 160 seconds, lifting its price by ``size``."""
    m.impact(MOVED, at, 120, 300, 300, size)
    for i in range(8):
        m.trade(MOVED, at + S * (i * 20 + float(m.rng.uniform(0, 10))), m.qty(4), "XV1", m.makers[i % len(m.makers)],
                "buy")


def _profit(m: ScenarioMarket, at: dt.datetime, scale: float = 4.0) -> None:
    for i in range(4):
        m.trade(OTHER, at + S * (150 + 40 * i), m.qty(scale), m.traders[i], "XV2", "sell")


@pytest.mark.parametrize("push, alerted", [
    # the push lifts the moved venue by 1.2%: against the hour's median the basis is still lower, against its
    # trend higher
    (0.012, True),
    # no move of its own beyond the trend: the drift alone is no push
    (0.0, False),
])
def test_a_push_against_a_falling_basis_is_found_and_the_drift_alone_is_not(push: float, alerted: bool) -> None:
    m = _market()
    at = m.at(13)
    # the moved venue drifts 4% below the other over the 80 minutes before the push (and on through it)
    m.impact(MOVED, at - 60 * 60 * S, 80 * 60, 3600, 3600, -0.04)
    _push(m, at, push)
    _profit(m, at)
    assert ("XV1" in _accounts(m)) is alerted


def test_a_large_profit_leg_among_many_small_ordinary_trades_is_timed_to_the_push() -> None:
    m = _market()
    at = m.at(13)
    _push(m, at, 0.03)
    # the customer's ordinary account on the other venue sells small amounts every 20 minutes all day ...
    for k in range(72):
        t = m.t0 + S * (k * 1200 + 37)
        m.trade(OTHER, t, m.qty(0.5), m.traders[10 + k % 50], "XV2", "sell")
    # ... and takes the profit in four large sells (by count alone, 4 + 3 ordinary sells in the hour is its habit)
    _profit(m, at, scale=16.0)
    assert "XV1" in _accounts(m)
