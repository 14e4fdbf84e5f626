"""Insider recall: an order the insider sends in the minutes around the announcement is the tail of its
accumulation (its position "when the news breaks" is read a few minutes after it), while a pump ring member
caught by the news keeps buying for longer and is still no insider."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
MIN = dt.timedelta(minutes=1)


def _market() -> tuple[ScenarioMarket, dt.datetime]:
    m = ScenarioMarket(seed=13, venues=(VENUE,), trades_per_day=3000)
    announce = m.at(14)
    m.announcements.append({"venue": "NEWX", "symbol": m.symbol, "ts": announce, "kind": "listing",
                            "headline": f"NEWX lists {m.symbol}"})
    m.impact(VENUE, announce, 120, 3 * 3600, 6 * 3600, 0.12)
    return m, announce


def _buy(m: ScenarioMarket, account: str, start: dt.datetime, n: int, qty: float, every_min: int = 20) -> None:
    for i in range(n):
        m.trade(VENUE, start + every_min * i * MIN + MIN, qty * m.size, account, m.makers[i % len(m.makers)], "buy")


def _sell(m: ScenarioMarket, account: str, start: dt.datetime, n: int, qty: float) -> None:
    for i in range(n):
        m.trade(VENUE, start + (15 * i + 2) * MIN, qty * m.size, m.traders[i], account, "buy")


def _insider_alerts(m: ScenarioMarket) -> list[dict]:
    d = REGISTRY.get("insider_pre_listing")
    config = d.default_config().model_copy(update={"pre_hours": 6.0})
    return d.kernel(m.build().partition(VENUE), config).to_pylist()


def test_an_order_filled_minutes_after_the_news_is_the_tail_of_the_accumulation() -> None:
    m, announce = _market()
    _buy(m, "IN1", announce - 4 * 60 * MIN, 12, 4.0)
    _buy(m, "IN1", announce + 2 * MIN, 1, 4.0)  # its last order, three minutes after the news
    _sell(m, "IN1", announce + 20 * MIN, 6, 8.0)
    assert [a["accounts"] for a in _insider_alerts(m)] == [["IN1"]]


def test_buying_on_for_most_of_an_hour_after_the_news_is_still_no_insider() -> None:
    m, announce = _market()
    _buy(m, "P1", announce - 4 * 60 * MIN, 12, 4.0)
    _buy(m, "P1", announce + 2 * MIN, 4, 4.0, every_min=12)  # 3, 15, 27 and 39 minutes after it
    _sell(m, "P1", announce + 60 * MIN, 8, 8.0)
    assert _insider_alerts(m) == []
