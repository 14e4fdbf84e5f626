"""Cross-venue: a push is a burst against the owner's own pace, also over the hour just before it (a pump's
distribution sold in bursts for hours is no push); a profit leg is more than what the customer's habit on the
other venue explains, and a customer seen nowhere else that day has an unknown habit, not none (one order there
is not a timed profit leg); and of one customer's two opposite runs the push is the one whose orders came first,
even when an ordinary trade of the customer minutes before joins the profit leg's run."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

S = dt.timedelta(seconds=1)
MOVED, OTHER = "HBX", "KLN"


def _alerts(m: ScenarioMarket) -> pa.Table:
    d = REGISTRY.get("cross_venue")
    return d.kernel(m.partition(by_symbol_only=True), d.default_config())


def _market(mover: str, profiteer: str) -> ScenarioMarket:
    m = ScenarioMarket(seed=3, venues=(MOVED, OTHER), trades_per_day=3000)
    m.link(MOVED, mover, "C-XV")
    m.link(OTHER, profiteer, "C-XV")
    return m


def _push(m: ScenarioMarket, mover: str, at: dt.datetime) -> None:
    """Eight aggressive buys on the moved venue over 160 seconds, lifting its price 3% against the other's."""
    m.impact(MOVED, at, 120, 300, 300, 0.03)
    for i in range(8):
        m.trade(MOVED, at + S * (i * 20 + float(m.rng.uniform(0, 10))), m.qty(4), mover, m.makers[i % len(m.makers)],
                "buy")


def _sell(m: ScenarioMarket, profiteer: str, t: dt.datetime, scale: float = 4.0) -> None:
    m.trade(OTHER, t, m.qty(scale), m.traders[int(m.rng.integers(len(m.traders)))], profiteer, "sell")


def test_a_push_with_a_profit_leg_is_found() -> None:
    m = _market("XV1", "XV2")
    at = m.at(13)
    _push(m, "XV1", at)
    for i in range(4):
        _sell(m, "XV2", at + S * (150 + 40 * i))
    assert "XV1" in {a for accs in _alerts(m.build())["accounts"].to_pylist() for a in accs}


def test_one_order_on_the_other_venue_is_not_a_profit_leg() -> None:
    m = _market("XV1", "XV2")
    at = m.at(13)
    _push(m, "XV1", at)
    _sell(m, "XV2", at + 150 * S, scale=16)  # the customer's only trade there that day
    assert _alerts(m.build()).num_rows == 0


def test_bursts_at_the_pace_kept_for_the_hour_before_are_not_a_push() -> None:
    m = _market("PD1", "PD2")
    at = m.at(13)
    # a distribution: three aggressive sells every six minutes for two hours ...
    for k in range(20):
        start = at - 90 * 60 * S + k * 360 * S
        for i in range(3):
            m.trade(MOVED, start + S * (15 * i), m.qty(4), m.makers[i % len(m.makers)], "PD1", "sell")
    # ... one of whose bursts dislocates the venue, while the customer buys on the other venue
    m.impact(MOVED, at - 5 * S, 30, 120, 300, -0.03)
    for i in range(5):
        m.trade(OTHER, at + S * (20 + 30 * i), m.qty(4), "PD2", m.makers[i % len(m.makers)], "buy")
    assert "PD1" not in {a for accs in _alerts(m.build())["accounts"].to_pylist() for a in accs}


def test_an_ordinary_trade_before_the_profit_leg_does_not_make_it_the_push() -> None:
    m = _market("XV1", "XV2")
    at = m.at(13)
    _push(m, "XV1", at)
    # the customer's ordinary sell on the other venue 100 s before the push joins its profit leg's run
    m.trade(OTHER, at - 100 * S, m.qty(1), m.traders[0], "XV2", "sell")
    for i in range(4):
        _sell(m, "XV2", at + S * (120 + 30 * i))
    assert MOVED in set(_alerts(m.build())["venue"].to_pylist())
