"""Front running: the runner is weighed against the market's trading from its own entry, and it closes its trade.

- A runner that bought two seconds before a large buy order is the main taker of those seconds, even when
  others traded more twenty seconds earlier in the ``pre_seconds`` span.
- Trading back a small part of the position ahead (minutes later, as an ordinary trader does) is not an unwind:
  a runner rides the order's impact and closes most of its position.
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


def _market(busy_before: bool, unwind: float) -> ScenarioMarket:
    m = ScenarioMarket(seed=12, venues=(VENUE,), trades_per_day=3000)
    at = m.at(11)
    if busy_before:  # others bought three times the runner's position 20-25 seconds before the order
        for i in range(3):
            m.trade(VENUE, at - S * (25 - 2 * i), m.size * 10, m.traders[i], m.makers[i % len(m.makers)], "buy")
    position = m.size * 8
    m.trade(VENUE, at - 2 * S, position, "RUN1", m.makers[0], "buy")
    total = 40 * m.size
    big = m.order(VENUE, "CLIENT1", at, "buy", None, total, order_type="market")
    sold = position * unwind
    for i in range(6):
        seller, q = ("RUN1", sold) if i == 2 else (m.makers[i % len(m.makers)], (total - sold) / 5)
        si._fill(m, VENUE, at + S * (3 * i + 1), q, "CLIENT1", seller, big, m.mid(VENUE, at) * 1.0005)
    return m.build()


def _runners(m: ScenarioMarket) -> set[str]:
    d = REGISTRY.get("front_running")
    alerts: pa.Table = d.kernel(m.partition(VENUE), d.default_config())
    return {a for accounts in alerts["accounts"].to_pylist() for a in accounts}


def test_a_runner_is_weighed_against_the_market_since_its_entry() -> None:
    assert "RUN1" in _runners(_market(busy_before=True, unwind=1.0))


def test_trading_back_a_small_part_is_not_an_unwind() -> None:
    assert "RUN1" in _runners(_market(busy_before=False, unwind=1.0))
    assert "RUN1" not in _runners(_market(busy_before=False, unwind=0.4))
