"""Insider recall: an order the insider sends in the minutes around the announcement is the tail of its
accumulation (its position "when the news breaks" is read a few minutes after it), while a pump ring member
caught by the news keeps buying for longer and is still no insider."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)

from .insider_scenarios import _buy, _insider_alerts, _market, _sell

MIN = dt.timedelta(minutes=1)


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
