"""A pump and an insider told apart by what follows the buying: a pump ring sells from the top of its own
build-up, news or none; an owner that stopped buying before a listing announcement and began selling after
it turned on the news. Its accounts are the insider's, not a pump ring, however the price ran after it."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"


def _pump_alerts(m: ScenarioMarket) -> list[dict]:
    d = REGISTRY.get("pump_and_dump")
    return d.kernel(m.build().partition(VENUE), d.default_config()).to_pylist()


def _insider_customer(m: ScenarioMarket, announce: dt.datetime) -> None:
    """Two accounts of one customer buy in the hours before a listing announcement and sell after the jump."""
    si.insider(m, "IN1", announce)
    m.link(VENUE, "IN1", "C-IN")
    m.link(VENUE, "IN2", "C-IN")
    for i in range(8):
        m.trade(VENUE, announce - dt.timedelta(minutes=200 - 23 * i), m.qty(3), "IN2", m.makers[i % len(m.makers)],
                "buy")
    for i in range(5):
        m.trade(VENUE, announce + dt.timedelta(minutes=17 + 15 * i), m.qty(5), m.traders[i], "IN2", "buy")


def test_a_customer_that_bought_before_a_listing_and_sold_after_it_is_not_a_pump_ring() -> None:
    m = ScenarioMarket(seed=7, venues=(VENUE,), trades_per_day=3000)
    _insider_customer(m, m.at(14))
    assert _pump_alerts(m) == []


def test_a_pump_ring_selling_its_own_top_is_found_on_a_day_with_a_listing_announcement() -> None:
    m = ScenarioMarket(seed=7, venues=(VENUE,), trades_per_day=3000)
    m.announcements.append({"venue": "NEWX", "symbol": m.symbol, "ts": m.at(4), "kind": "listing",
                            "headline": f"NEWX lists {m.symbol}"})
    si.pump_and_dump(m, ["P1", "P2"], m.at(14), customer=None)
    assert [sorted(a["accounts"]) for a in _pump_alerts(m)] == [["P1", "P2"]]
