"""The front-running scene the front-running tests share: a runner buys eight typical orders' worth two seconds
before a client's market buy of forty, and sells a multiple of that into the client's order as it fills."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
S = dt.timedelta(seconds=1)


def run_ahead(m: ScenarioMarket, runner: str, at: dt.datetime, unwind: float) -> None:
    """``runner``'s position ahead of CLIENT1's large order at ``at``, and ``unwind`` times it sold into it."""
    position = m.size * 8
    m.trade(VENUE, at - 2 * S, position, runner, m.makers[0], "buy")
    total = 40 * m.size
    big = m.order(VENUE, "CLIENT1", at, "buy", None, total, order_type="market")
    sold = position * unwind
    for i in range(6):
        seller, q = (runner, sold) if i == 2 else (m.makers[i % len(m.makers)], (total - sold) / 5)
        si._fill(m, VENUE, at + S * (3 * i + 1), q, "CLIENT1", seller, big, m.mid(VENUE, at) * 1.0005)


def runners(m: ScenarioMarket) -> set[str]:
    """The accounts front_running alerts on the venue's partition."""
    d = REGISTRY.get("front_running")
    alerts: pa.Table = d.kernel(m.partition(VENUE), d.default_config())
    return {a for accounts in alerts["accounts"].to_pylist() for a in accounts}


def client_order_market(seed: int, runner: bool, busy: int = 0) -> ScenarioMarket:
    """A day of ordinary trading and CLIENT1's large market buy; with ``runner``, RUN1 runs ahead of it, else
    the makers fill it; ``busy`` small round trips of RUN1's over the day beside."""
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=3000)
    at = m.at(11)
    for i in range(busy):
        ts = m.at(0, 10) + dt.timedelta(minutes=i * 23.0 % (23 * 60))
        m.trade(VENUE, ts, m.size * 2.5, "RUN1", m.makers[i % len(m.makers)], "buy")
        m.trade(VENUE, ts + 20 * S, m.size * 2.5, m.makers[(i + 1) % len(m.makers)], "RUN1", "sell")
    if runner:
        run_ahead(m, "RUN1", at, 1.0)
    else:
        total = 40 * m.size
        big = m.order(VENUE, "CLIENT1", at, "buy", None, total, order_type="market")
        for i in range(6):
            si._fill(m, VENUE, at + S * (3 * i + 1), total / 6, "CLIENT1", m.makers[i % len(m.makers)], big,
                     m.mid(VENUE, at) * 1.0005)
    return m.build()
