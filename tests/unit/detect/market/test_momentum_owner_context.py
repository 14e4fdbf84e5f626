"""Momentum ignition: a burst starts something, so it is one-sided in what its owner sends and comes out of
the owner's quiet on the book.

- An owner whose buy quotes were hit in a row while it kept sending as many sell quotes (a quoting programme)
  pushed nothing, however one-sided its fills and however the price went after.
- An owner that had been buying on the book all the hour before (a pump's accumulation) continues a position;
  its burst did not start the move, and its selling afterwards is the distribution, not an exit.
- An owner's occasional small trade before the burst does not hide an ignition, nor does one earlier order as
  large as the burst, on the other side (no position being built order after order).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
S = dt.timedelta(seconds=1)
OWNER = "IGN1"


def _ignition(m: ScenarioMarket, at: dt.datetime) -> None:
    """OWNER buys eight orders of three typical sizes from the makers within twenty seconds, the price rises
    0.8% over the next two minutes, and OWNER sells about two thirds of it into the rise."""
    m.impact(VENUE, at, 20, 120, 900, 0.008)
    for i in range(8):
        m.trade(VENUE, at + S * (i * 2.5), 3 * m.size, OWNER, m.makers[i % len(m.makers)], "buy")
    for i in range(4):
        m.trade(VENUE, at + S * (40 + 15 * i), 4 * m.size, m.traders[i], OWNER, "buy")


def _quoting(m: ScenarioMarket, at: dt.datetime, seconds: float) -> None:
    """OWNER sends small buy and sell quotes alternately, ten a second, each cancelled within 50 ms."""
    for k in range(int(seconds * 10)):
        ts = at + S * (k / 10)
        side = "buy" if k % 2 == 0 else "sell"
        px = m.mid(VENUE, ts) * (0.9995 if side == "buy" else 1.0005)
        m.order(VENUE, OWNER, ts, side, round(px, 6), 0.2 * m.size, cancel_at=ts + S * 0.05)


def _accumulation(m: ScenarioMarket, at: dt.datetime, trades: int, scale: float, side: str) -> None:
    """OWNER takes ``trades`` orders of ``scale`` typical sizes on ``side``, evenly over the hour before ``at``."""
    for i in range(trades):
        ts = at - dt.timedelta(minutes=55) + dt.timedelta(minutes=50 * i / max(trades - 1, 1))
        maker = m.makers[i % len(m.makers)]
        buyer, seller = (OWNER, maker) if side == "buy" else (maker, OWNER)
        m.trade(VENUE, ts, scale * m.size, buyer, seller, side)


def _igniters(m: ScenarioMarket) -> set[str]:
    d = REGISTRY.get("momentum_ignition")
    alerts: pa.Table = d.kernel(m.partition(VENUE), d.default_config())
    return {a for accounts in alerts["accounts"].to_pylist() for a in accounts}


def _market(seed: int, quoting: bool = False, accumulation: tuple[int, float, str] = (0, 0.0, "buy")) -> ScenarioMarket:
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=3000)
    at = m.at(11, 20)
    if quoting:
        _quoting(m, at - S * 2, 24.0)
    if accumulation[0]:
        _accumulation(m, at, *accumulation)
    _ignition(m, at)
    return m.build()


def test_a_burst_sent_among_as_many_orders_the_other_way_is_quoting_not_ignition() -> None:
    assert OWNER in _igniters(_market(41))
    assert OWNER not in _igniters(_market(41, quoting=True))


def test_a_burst_after_an_hour_of_buying_continues_a_position_it_does_not_start_a_move() -> None:
    assert OWNER not in _igniters(_market(42, accumulation=(20, 3.0, "buy")))


def test_an_occasional_small_trade_before_the_burst_does_not_hide_an_ignition() -> None:
    assert OWNER in _igniters(_market(42, accumulation=(2, 0.5, "buy")))


def test_one_earlier_order_the_other_way_is_no_position_being_built() -> None:
    assert OWNER in _igniters(_market(42, accumulation=(1, 24.0, "sell")))
