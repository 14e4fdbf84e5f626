"""The span an insider's accumulation took: it starts at its first order of the size that counts, not at an
ordinary small buy hours earlier, and a run of such orders packed into the last hour before the news is no
coincidence for a trader that sends one a day, though the same count spread over the whole pre span might be."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)

from .insider_scenarios import VENUE, _buy, _insider_alerts, _market, _sell

MIN = dt.timedelta(minutes=1)


def test_an_ordinary_small_buy_hours_earlier_does_not_dilute_the_accumulation() -> None:
    # Four buys of 10 in the last hour before the news, and one small ordinary buy six hours before it. Weighed
    # from that small buy, the position is about 4 % of the market's volume (under the 5 % asked for here);
    # weighed from its first large order, about 20 %.
    m, announce = _market()
    m.trade(VENUE, announce - 355 * MIN, 0.3 * m.size, "IN1", m.makers[0], "buy")
    _buy(m, "IN1", announce - 56 * MIN, 4, 10.0, every_min=12)
    _sell(m, "IN1", announce + 20 * MIN, 6, 6.0)
    assert [a["accounts"] for a in _insider_alerts(m, min_share=0.05)] == [["IN1"]]


def test_large_orders_packed_before_the_news_are_unlikely_at_the_traders_own_pace() -> None:
    # One buy of the same size in the small hours, three in the half hour before the news. At one such order
    # in 18 hours, three in the 6-hour pre span are a 0.45 % chance (above max_coincidence); two more within
    # the half hour after its first are a 0.03 % chance.
    m, announce = _market()
    m.trade(VENUE, m.at(0, 30), 12.0 * m.size, "IN1", m.makers[0], "buy")
    _buy(m, "IN1", announce - 29 * MIN, 3, 12.0, every_min=9)
    _sell(m, "IN1", announce + 20 * MIN, 6, 6.0)
    assert [a["accounts"] for a in _insider_alerts(m)] == [["IN1"]]


def test_a_trader_that_sends_such_orders_all_day_is_still_no_insider() -> None:
    # Control: the same three orders before the news from a trader that sent eight like them over the rest of
    # the day are its habit, over the pre span and over the half hour alike.
    m, announce = _market()
    for i in range(8):
        m.trade(VENUE, m.at(0, 30) + 50 * i * MIN, 12.0 * m.size, "IN1", m.makers[0], "buy")
        m.trade(VENUE, m.at(0, 50) + 50 * i * MIN, 12.0 * m.size, m.makers[1], "IN1", "sell")
    _buy(m, "IN1", announce - 29 * MIN, 3, 12.0, every_min=9)
    _sell(m, "IN1", announce + 20 * MIN, 6, 6.0)
    assert _insider_alerts(m) == []
