"""Front running: the runner's habit is its pace of taking positions of that size, and an unwind closes one.

- An owner that trades small amounts all day, both ways, is not by that habit likely to take forty times its
  usual size in the seconds before a large order and trade it back just after: its small orders do not make the
  run ahead a coincidence.
- Trading back twice the position taken ahead is not an unwind (which closes the position) but a reversal.
"""

from __future__ import annotations

import datetime as dt

from harbour.detect.market.scenarios import ScenarioMarket

from .front_scenarios import VENUE, run_ahead
from .front_scenarios import runners as _runners


def _market(seed: int, runner: str, unwind: float, small_orders: int) -> ScenarioMarket:
    """``runner`` runs ahead of a client's large buy (``run_ahead``); beside, ``small_orders`` buys and as many
    sells of 0.3 typical orders spread over the day."""
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=3000)
    for i in range(small_orders):
        for j, side in enumerate(("buy", "sell")):
            ts = m.at(0, 10) + dt.timedelta(minutes=(i * 23.0 + j * 11.0) % (23 * 60))
            maker = m.makers[(i + j) % len(m.makers)]
            buyer, seller = (runner, maker) if side == "buy" else (maker, runner)
            m.trade(VENUE, ts, m.size * 0.3, buyer, seller, side)
    run_ahead(m, runner, m.at(11, 37), unwind)
    return m.build()


def test_small_orders_all_day_do_not_make_a_large_run_ahead_a_coincidence() -> None:
    assert "BUSY1" in _runners(_market(31, "BUSY1", unwind=1.0, small_orders=40))


def test_trading_back_twice_the_position_is_a_reversal_not_an_unwind() -> None:
    assert "FLIP1" in _runners(_market(32, "FLIP1", unwind=1.0, small_orders=0))
    assert "FLIP1" not in _runners(_market(32, "FLIP1", unwind=2.0, small_orders=0))
