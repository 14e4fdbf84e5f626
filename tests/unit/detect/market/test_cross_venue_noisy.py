"""Cross-venue: on a thin venue whose basis against the others wanders by half a percent a minute, a push lifts
the basis by less than one noise unit of the hour before (scaled to its length); with the customer's timed profit
leg elsewhere it is still the abuse."""

from __future__ import annotations

import datetime as dt

import numpy as np

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

S = dt.timedelta(seconds=1)


def test_a_push_within_a_noisy_basis_is_found() -> None:
    m = ScenarioMarket(seed=4, venues=("HBX", "KLN"), trades_per_day=6000)
    m.link("HBX", "XV1", "C-XV")
    m.link("KLN", "XV2", "C-XV")
    at = m.at(13)
    wander = np.random.default_rng(4)
    for k in range(-70, 10):  # the thin venue's price wanders minute by minute against the other's
        m.impact("HBX", at + S * (60 * k), 5, 50, 5, float(wander.normal(0, 0.005)))
    m.impact("HBX", at, 60, 300, 300, 0.002)
    for i in range(8):
        m.trade("HBX", at + S * (i * 20 + float(m.rng.uniform(0, 10))), m.qty(4), "XV1", m.makers[i % len(m.makers)],
                "buy")
    for i in range(4):
        m.trade("KLN", at + S * (150 + 40 * i), m.qty(4), m.traders[int(m.rng.integers(len(m.traders)))], "XV2", "buy")
    d = REGISTRY.get("cross_venue")
    alerts = d.kernel(m.build().partition(by_symbol_only=True), d.default_config())
    assert "XV1" in {a for accs in alerts["accounts"].to_pylist() for a in accs}
