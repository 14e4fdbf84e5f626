"""What the insider's coincidence test counts: an insider's few large orders before the news stand out
from its own many small ones elsewhere by their size, and one large order is not an accumulation."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"


def _market(buys: list[float], small_buys_elsewhere: int) -> ScenarioMarket:
    """Account IN1 buys ``buys`` (units of the typical size) in the hours before a listing announced at
    12:00, sells them into the reaction, and makes ``small_buys_elsewhere`` small buys in the early hours."""
    m = ScenarioMarket(seed=11, venues=(VENUE,), trades_per_day=3000)
    announce = m.at(12)
    m.announcements.append({"venue": "NEWX", "symbol": m.symbol, "ts": announce, "kind": "listing",
                            "headline": f"NEWX lists {m.symbol}"})
    m.impact(VENUE, announce, 120, 3 * 3600, 6 * 3600, 0.12)
    for i in range(small_buys_elsewhere):
        m.trade(VENUE, m.at(1, 10 + 7 * i), 0.3 * m.size, "IN1", m.makers[i % len(m.makers)], "buy")
    for i, q in enumerate(buys):
        m.trade(VENUE, m.at(8, 20 + 50 * i), q * m.size, "IN1", m.makers[i % len(m.makers)], "buy")
    total = sum(buys)
    for i in range(6):
        m.trade(VENUE, announce + dt.timedelta(minutes=10 + 15 * i), total / 6 * m.size,
                m.traders[i], "IN1", "buy")
    return m.build()


def _insider_alerts(m: ScenarioMarket) -> list[dict]:
    d = REGISTRY.get("insider_pre_listing")
    config = d.default_config().model_copy(update={"pre_hours": 6.0})
    return d.kernel(m.partition(VENUE), config).to_pylist()


def test_few_large_buys_stand_out_from_the_accounts_many_small_ones() -> None:
    # Four buys of 15 units against six of 0.3 over the rest of the day: by count alone, six orders in the
    # 18 other hours make four in six a 14 % chance; by size, nothing like them happened elsewhere.
    alerts = _insider_alerts(_market([15.0, 15.0, 15.0, 15.0], small_buys_elsewhere=6))
    assert [a["accounts"] for a in alerts] == [["IN1"]]


def test_one_large_buy_before_the_news_is_not_an_accumulation() -> None:
    assert _insider_alerts(_market([60.0], small_buys_elsewhere=0)) == []


def test_a_position_one_large_order_built_is_not_an_accumulation() -> None:
    # Five buys, all of them "large" against the median (2 units), but one of 40 carries 83 % of the position:
    # one decision that happened to precede the news, with a few ordinary orders around it.
    assert _insider_alerts(_market([2.0, 2.0, 40.0, 2.0, 2.0], small_buys_elsewhere=0)) == []


def test_an_accumulation_of_similar_orders_is_one() -> None:
    alerts = _insider_alerts(_market([12.0, 9.0, 14.0, 10.0, 11.0], small_buys_elsewhere=0))
    assert [a["accounts"] for a in alerts] == [["IN1"]]
