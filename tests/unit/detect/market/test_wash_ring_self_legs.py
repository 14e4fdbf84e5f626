"""Wash rings: a member's trades between its own accounts are the ring's trades too.

A ring of three accounts, two of them one customer's, passes a lot around: P sells to Q (one owner), Q to R. The
legs back from R to P went to the market makers (R sold to them, P bought from them), as happens when others
take a ring's resting orders. Between the two owners the ring is then one-way, so its net change looked like a
transfer; counted with the owner's own legs, the lot went round and the ring's net change is half its volume.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
S = dt.timedelta(seconds=1)


def _wash_alerts(m: ScenarioMarket) -> pa.Table:
    d = REGISTRY.get("wash_trade")
    return d.kernel(m.partition(VENUE), d.default_config())


def test_a_ring_whose_legs_back_went_to_the_market_is_found_through_its_owners_own_legs() -> None:
    m = ScenarioMarket(seed=41, venues=(VENUE,), trades_per_day=3000)
    for a in ("P1", "Q1"):
        m.link(VENUE, a, "C-RING")
    ts = m.at(14)
    for _ in range(6):
        q = m.qty(2.0)
        ts += S * float(m.rng.uniform(30, 90))
        m.trade(VENUE, ts, q, "Q1", "P1", "buy")
        ts += S * float(m.rng.uniform(30, 90))
        m.trade(VENUE, ts, q, "R1", "Q1", "sell")
        ts += S * float(m.rng.uniform(30, 90))
        m.trade(VENUE, ts, q, m.makers[0], "R1", "sell")  # the leg back, taken by the market
        m.trade(VENUE, ts + 2 * S, q, "P1", m.makers[1], "buy")
    alerts = _wash_alerts(m.build()).to_pylist()
    assert any({"P1", "Q1", "R1"} <= set(a["accounts"]) for a in alerts)
