"""Where the insider's position turns: an insider's accumulation is complete when the news breaks (it bought
ahead of it and sells into it), while a pump ring member buying ahead of the same news turns on its own run-up:
it keeps buying after the announcement, or its customer had begun selling before it."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)

from .insider_scenarios import VENUE, _buy, _insider_alerts, _market, _sell


def test_an_account_that_stops_buying_at_the_news_and_sells_into_it_is_an_insider() -> None:
    m, announce = _market()
    _buy(m, "IN1", announce - dt.timedelta(hours=4), 12, 4.0)
    _sell(m, "IN1", announce + dt.timedelta(minutes=10), 6, 8.0)
    assert [a["accounts"] for a in _insider_alerts(m)] == [["IN1"]]


def test_an_account_that_keeps_buying_after_the_news_is_not_an_insider() -> None:
    # The same accumulation before the news, but the buying goes on for an hour after it (a pump ring's
    # build-up that an announcement happened to fall into) before the position is sold.
    m, announce = _market()
    _buy(m, "P1", announce - dt.timedelta(hours=4), 12, 4.0)
    _buy(m, "P1", announce + dt.timedelta(minutes=2), 4, 4.0, every_min=15)
    _sell(m, "P1", announce + dt.timedelta(minutes=70), 8, 8.0)
    assert _insider_alerts(m) == []


def test_an_account_is_not_judged_apart_when_its_customer_had_begun_selling_before_the_news() -> None:
    # Two accounts of one customer accumulate together; one of them begins unloading an hour before the news
    # (the ring's turn at its own top), the other happens to sell only after it. The customer's position
    # turned before the news; the second account's own record alone would read as an insider's.
    m, announce = _market()
    m.link(VENUE, "P1", "C-RING")
    m.link(VENUE, "P2", "C-RING")
    _buy(m, "P1", announce - dt.timedelta(hours=5), 12, 4.0)
    _buy(m, "P2", announce - dt.timedelta(hours=5, minutes=-7), 12, 4.0)
    _sell(m, "P2", announce - dt.timedelta(minutes=70), 4, 4.0)
    _sell(m, "P1", announce + dt.timedelta(minutes=10), 6, 8.0)
    _sell(m, "P2", announce + dt.timedelta(minutes=12), 4, 8.0)
    assert _insider_alerts(m) == []


def test_buying_again_hours_after_taking_the_profit_does_not_undo_an_insiders_turn() -> None:
    # The insider's position peaked at the news and it sold into the reaction; six hours later it buys a
    # larger position again. Its turn was still at the news.
    m, announce = _market()
    _buy(m, "IN1", announce - dt.timedelta(hours=4), 12, 4.0)
    _sell(m, "IN1", announce + dt.timedelta(minutes=10), 6, 8.0)
    _buy(m, "IN1", announce + dt.timedelta(hours=6), 3, 20.0)
    assert [a["accounts"] for a in _insider_alerts(m)] == [["IN1"]]
