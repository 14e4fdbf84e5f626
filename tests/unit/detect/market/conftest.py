"""Hand-built markets for the market-abuse detectors: one clean symbol-day on two venues, and one with an
incident of every typology at its own time of day (built once per test session; about two seconds each)."""

from __future__ import annotations

import pyarrow as pa
import pytest

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.data.schemas import MARKET_TYPOLOGIES
from harbour.detect.framework import REGISTRY
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.scenarios import ScenarioMarket

VENUES = ("HBX", "KLN")


def run_all(m: ScenarioMarket) -> dict[str, pa.Table]:
    """Every registered market detector over the market's partitions, alerts per detector. (AML detectors
    are registered too when the whole suite runs; they read transfers, which these markets do not have.)"""
    out: dict[str, pa.Table] = {}
    for d in REGISTRY.all():
        if d.typology not in MARKET_TYPOLOGIES:
            continue
        parts = [m.partition(by_symbol_only=True)] if d.name == "cross_venue" else [m.partition(v) for v in VENUES]
        out[d.name] = pa.concat_tables([d.kernel(p, d.default_config()) for p in parts])
    return out


@pytest.fixture(scope="session")
def clean_market() -> ScenarioMarket:
    return ScenarioMarket(seed=11, venues=VENUES, trades_per_day=3000).build()


@pytest.fixture(scope="session")
def incident_market() -> ScenarioMarket:
    m = ScenarioMarket(seed=2, venues=VENUES, trades_per_day=3000)
    si.wash_ring(m, ["W1", "W2", "W3"], m.at(3))
    si.self_trades(m, ["S1", "S2"], m.at(4))
    si.spoof(m, "SP1", m.at(5), bait_scale=20)
    si.spoof(m, "LY1", m.at(6), levels=4, bait_scale=60, typology="layering")
    si.pump_and_dump(m, ["P1", "P2"], m.at(14))
    si.marking_the_close(m, "MC1", m.at(8))
    si.insider(m, "IN1", m.at(20))
    si.front_run(m, "FR1", "CL1", m.at(10))
    si.momentum_ignition(m, "MI1", m.at(11))
    si.quote_stuffing(m, "QS1", m.at(12))
    si.cross_venue(m, "XV1", "XV2", m.at(17), "HBX", "KLN")
    return m.build()


@pytest.fixture(scope="session")
def clean_alerts(clean_market: ScenarioMarket) -> dict[str, pa.Table]:
    return run_all(clean_market)


@pytest.fixture(scope="session")
def incident_alerts(incident_market: ScenarioMarket) -> dict[str, pa.Table]:
    return run_all(incident_market)
