"""Front running: the runner's habit on the unwind side is its pace of trading back positions of that size.

An owner that sells a few units many times a day is not, by that habit, likely to sell back forty times its usual
size in the seconds after a large buy it bought ahead of: its small sells do not make the unwind a coincidence,
on a day with a dozen large orders (each a chance to be "ahead" by luck) as on a quiet one. An owner that sells
positions of that size many times a day still does make it one.
"""

from __future__ import annotations

import datetime as dt

from harbour.detect.market.scenarios import ScenarioMarket

from .front_scenarios import VENUE, run_ahead
from .front_scenarios import runners as _runners


def _market(seed: int, runner: str, sells: int, sell_size: float) -> ScenarioMarket:
    """``runner`` runs ahead of a client's large buy (``run_ahead``); beside, ``sells`` sells of ``sell_size``
    typical orders spread over the day, and eleven large buys of other clients that nobody ran ahead of."""
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=3000)
    for i in range(sells):
        ts = m.at(0, 10) + dt.timedelta(minutes=(i * 17.0) % (23 * 60))
        m.trade(VENUE, ts, m.size * sell_size, m.makers[i % len(m.makers)], runner, "sell")
    for i in range(11):
        ts = m.at(1 + 2 * i, 41)
        m.trade(VENUE, ts, m.size * 40, f"CLIENT{i + 2}", m.makers[i % len(m.makers)], "buy")
    run_ahead(m, runner, m.at(11, 37), unwind=1.0)
    return m.build()


def test_small_sells_all_day_do_not_make_an_unwind_a_coincidence() -> None:
    assert "SMALL1" in _runners(_market(41, "SMALL1", sells=80, sell_size=0.3))


def test_selling_positions_of_that_size_all_day_does() -> None:
    assert "SIZED1" not in _runners(_market(42, "SIZED1", sells=80, sell_size=8.0))
