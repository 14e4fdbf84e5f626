"""An insider's customer may trade from other accounts: a sibling account selling what it already held before
the news is no part of the accumulation, so it does not make the customer's position turn before the news
(a ring's accounts, which all bought, still do: test_insider_turn)."""

from __future__ import annotations

import datetime as dt

import harbour.detect.market  # noqa: F401  (registers the detectors)

from .insider_scenarios import VENUE, _buy, _insider_alerts, _market, _sell

HOUR = dt.timedelta(hours=1)


def test_a_sibling_account_selling_what_it_held_does_not_turn_the_insiders_position() -> None:
    # IN1 accumulates 48 over four hours and sells into the news. IN2, of the same customer, sells the 5 it has
    # held since the small hours ten minutes before the news: the customer's position then stands 10 % below
    # its peak, while the accumulation (IN1's) is whole.
    m, announce = _market()
    m.link(VENUE, "IN1", "C-IN")
    m.link(VENUE, "IN2", "C-IN")
    m.trade(VENUE, m.at(1), 5.0 * m.size, "IN2", m.makers[0], "buy")  # held since the small hours
    _buy(m, "IN1", announce - 4 * HOUR, 12, 4.0)
    m.trade(VENUE, announce - HOUR / 6, 5.0 * m.size, m.makers[1], "IN2", "sell")  # 10 minutes before the news
    _sell(m, "IN1", announce + HOUR / 4, 6, 8.0)
    assert [a["accounts"] for a in _insider_alerts(m)] == [["IN1"]]


def test_a_sibling_accounts_usual_small_buy_does_not_make_it_part_of_the_accumulation() -> None:
    # As above, and IN2 also bought a little before the news, as it might any day: 0.5 against IN1's orders of 4.
    m, announce = _market()
    m.link(VENUE, "IN1", "C-IN")
    m.link(VENUE, "IN2", "C-IN")
    m.trade(VENUE, m.at(1), 5.0 * m.size, "IN2", m.makers[0], "buy")
    _buy(m, "IN1", announce - 4 * HOUR, 12, 4.0)
    m.trade(VENUE, announce - 3 * HOUR, 0.5 * m.size, "IN2", m.makers[2], "buy")
    m.trade(VENUE, announce - HOUR / 6, 5.5 * m.size, m.makers[1], "IN2", "sell")
    _sell(m, "IN1", announce + HOUR / 4, 6, 8.0)
    # The customer is alerted; its evidence lists IN2's small buy among its buying before the news.
    assert [a["accounts"] for a in _insider_alerts(m)] == [["IN1", "IN2"]]
