"""Front running (1.5): a runner profits from the large order's impact, and may unwind straight into the order.

- A runner trades ahead *because* the order will move the price and unwinds into the move: an owner that bought
  ahead of a large buy and sold back after the market fell (it lost, and the market went against it) did not run
  ahead of anything it knew. The move is read on the market's price, not only on the runner's own fills (in a
  thin book a runner pays the spread twice and can lose on a move that came).
- A runner that trades back part of its position with the large order itself, through an exit it placed after
  its entry (it put its exit where the order was coming), unwound into it even when the rest of that exit was
  not filled; the same share filled by the order through an old resting order is an ordinary trader's luck.
"""

from __future__ import annotations

import datetime as dt

from harbour.detect.market.scenarios import ScenarioMarket

from .front_scenarios import VENUE, S
from .front_scenarios import runners as _runners

POSITION = 8  # typical orders


def _ahead(m: ScenarioMarket, runner: str, at: dt.datetime) -> tuple[str, float]:
    """``runner`` buys a position two seconds before CLIENT1's market buy of forty typical orders, which makers
    fill over the next seconds; the large order's id and the position."""
    position = m.size * POSITION
    m.trade(VENUE, at - 2 * S, position, runner, m.makers[0], "buy")
    big = m.order(VENUE, "CLIENT1", at, "buy", None, 40 * m.size, order_type="market")
    return big, position


def _fill(m: ScenarioMarket, big: str, ts: dt.datetime, q: float, seller: str, placed: dt.datetime) -> None:
    """CLIENT1's order fills ``q`` against ``seller``'s resting sell placed at ``placed``."""
    px = m.mid(VENUE, ts) * 1.0005
    rest = m.order(VENUE, seller, placed, "sell", px, q)
    for oid, acct, side in ((rest, seller, "sell"), (big, "CLIENT1", "buy")):
        m.venues[VENUE].orders.append(m._orow(VENUE, oid, acct, ts, "fill", side, "limit", px, 0.0))
    m.venues[VENUE].trades.append({"venue": VENUE, "symbol": m.symbol, "trade_id": m._id("t"), "ts": ts,
                                   "price": px, "quantity": float(q), "buyer": "CLIENT1", "seller": seller,
                                   "aggressor": "buy", "buy_order_id": big, "sell_order_id": rest})


def _unwind_after(seed: int, move: float) -> ScenarioMarket:
    """The runner sells its whole position back a minute or two after the large order, at market; the market
    moves by ``move`` (its log price) from the order on."""
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=3000)
    at = m.at(11)
    m.impact(VENUE, at, 20, 600, 1800, move)
    big, position = _ahead(m, "RUN1", at)
    for i in range(5):
        _fill(m, big, at + S * (2 * i + 1), 8 * m.size, m.makers[i % len(m.makers)], at - 30 * S)
    for i in range(2):
        m.trade(VENUE, at + S * (60 + 40 * i), position / 2, m.makers[i % len(m.makers)], "RUN1", "sell")
    return m.build()


def test_a_runner_unwinds_into_the_move() -> None:
    assert "RUN1" in _runners(_unwind_after(31, move=0.006))


def test_trading_back_after_the_market_went_the_other_way_is_not_running_ahead() -> None:
    assert "RUN1" not in _runners(_unwind_after(31, move=-0.006))


def _unwind_into(seed: int, placed_after_entry: bool) -> ScenarioMarket:
    """The runner sells 0.3 of its position to CLIENT1's order as it fills (the order sweeps the book upwards),
    through a sell placed a second after its entry or an hour before it; the rest of the position is kept."""
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=3000)
    at = m.at(11)
    m.impact(VENUE, at, 20, 600, 1800, 0.004)
    big, position = _ahead(m, "RUN2", at)
    for i in range(5):
        seller, q = ("RUN2", 0.3 * position) if i == 2 else (m.makers[i % len(m.makers)], 7 * m.size)
        placed = (at - S if placed_after_entry else at - 3600 * S) if seller == "RUN2" else at - 30 * S
        _fill(m, big, at + S * (2 * i + 1), q, seller, placed)
    return m.build()


def test_an_exit_placed_for_the_order_is_an_unwind_into_it() -> None:
    assert "RUN2" in _runners(_unwind_into(32, placed_after_entry=True))


def test_an_old_resting_order_the_large_order_filled_is_not() -> None:
    assert "RUN2" not in _runners(_unwind_into(32, placed_after_entry=False))
