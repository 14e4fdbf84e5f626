"""Front running: the runner's habit is its pace of taking positions of that size, and an unwind closes one.

- An owner that trades small amounts all day, both ways, is not by that habit likely to take forty times its
  usual size in the seconds before a large order and trade it back just after: its small orders do not make the
  run ahead a coincidence.
- Trading back twice the position taken ahead is not an unwind (which closes the position) but a reversal.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
S = dt.timedelta(seconds=1)


def _market(seed: int, runner: str, unwind: float, small_orders: int) -> ScenarioMarket:
    """``runner`` buys 8 typical orders' worth 2 s before a client's market buy of 40, and sells ``unwind`` times
    that into it; beside, ``small_orders`` buys and as many sells of 0.3 typical orders spread over the day."""
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=3000)
    for i in range(small_orders):
        for j, side in enumerate(("buy", "sell")):
            ts = m.at(0, 10) + dt.timedelta(minutes=(i * 23.0 + j * 11.0) % (23 * 60))
            maker = m.makers[(i + j) % len(m.makers)]
            buyer, seller = (runner, maker) if side == "buy" else (maker, runner)
            m.trade(VENUE, ts, m.size * 0.3, buyer, seller, side)
    at = m.at(11, 37)
    position = m.size * 8
    m.trade(VENUE, at - 2 * S, position, runner, m.makers[0], "buy")
    total = 40 * m.size
    big = m.order(VENUE, "CLIENT1", at, "buy", None, total, order_type="market")
    sold = position * unwind
    for i in range(6):
        seller, q = (runner, sold) if i == 2 else (m.makers[i % len(m.makers)], (total - sold) / 5)
        si._fill(m, VENUE, at + S * (3 * i + 1), q, "CLIENT1", seller, big, m.mid(VENUE, at) * 1.0005)
    return m.build()


def _runners(m: ScenarioMarket) -> set[str]:
    d = REGISTRY.get("front_running")
    alerts: pa.Table = d.kernel(m.partition(VENUE), d.default_config())
    return {a for accounts in alerts["accounts"].to_pylist() for a in accounts}


def test_small_orders_all_day_do_not_make_a_large_run_ahead_a_coincidence() -> None:
    assert "BUSY1" in _runners(_market(31, "BUSY1", unwind=1.0, small_orders=40))


def test_trading_back_twice_the_position_is_a_reversal_not_an_unwind() -> None:
    assert "FLIP1" in _runners(_market(32, "FLIP1", unwind=1.0, small_orders=0))
    assert "FLIP1" not in _runners(_market(32, "FLIP1", unwind=2.0, small_orders=0))
