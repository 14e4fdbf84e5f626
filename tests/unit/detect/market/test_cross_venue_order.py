"""Cross-venue: the profit is taken once the reference has moved, so of one customer's two opposite runs on two
venues the earlier is the push. A profit leg larger than the push dislocates its own venue and, read alone, looks
like a push whose "profit" is the real push; it must not be alerted, even when the push's own venue barely moved."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.scenarios import ScenarioMarket

S = dt.timedelta(seconds=1)


def _alerts(m: ScenarioMarket) -> pa.Table:
    d = REGISTRY.get("cross_venue")
    return d.kernel(m.partition(by_symbol_only=True), d.default_config())


def test_the_later_profit_leg_is_not_read_as_a_push() -> None:
    m = ScenarioMarket(seed=3, venues=("HBX", "KLN"), trades_per_day=3000)
    at = m.at(13)
    # the push on KLN is a small part of that busy venue's trading while it lasts ...
    si.cross_venue(m, "XV1", "XV2", at, "KLN", "HBX", move=0.0)
    for i in range(10):
        m.trade("KLN", at + S * (5 + 15 * i), m.size * 30, m.traders[10 + i], m.makers[i % len(m.makers)], "sell")
    # ... while the profit leg on HBX, larger and aggressive, starts a minute later and drags HBX down
    m.impact("HBX", at + 60 * S, 120, 300, 300, -0.02)
    for i in range(6):
        m.trade("HBX", at + S * (60 + 25 * i), m.qty(8), m.traders[i], "XV2", "sell")
    assert "HBX" not in set(_alerts(m.build())["venue"].to_pylist())
