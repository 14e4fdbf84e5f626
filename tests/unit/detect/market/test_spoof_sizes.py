"""Spoofing: the sizes that make an episode, each against the market or the owner's own habit.

- The trade the bait serves is a real trade: an honest account whose one big order stood while it traded a few
  units the other way is not a spoofer, however well the timing fits (``min_opposite_multiple``).
- The owner's usual size leaves out the pattern: a spoofer with no other trading is not measured against its own
  genuine orders (bait 2-3x them failed ``own_size_multiple`` when they were counted as its habit).
- Bait 6-8x the median order is real size (``min_order_multiple`` 6): repeated, it is found.
- Nor is the owner's usual size that of a big order it pulled after a small fill.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
S = dt.timedelta(seconds=1)


def _spoofers(m: ScenarioMarket) -> set[str]:
    d = REGISTRY.get("spoofing")
    alerts: pa.Table = d.kernel(m.partition(VENUE), d.default_config())
    return {a for accounts in alerts["accounts"].to_pylist() for a in accounts}


def _episode(m: ScenarioMarket, account: str, at: dt.datetime, bait: float, genuine: float) -> None:
    """A big buy resting below the mid; ``genuine`` units sold (taking liquidity) 3 s later; the buy pulled 4 s
    after that. Sizes in multiples of the market's typical order."""
    mid = m.mid(VENUE, at)
    m.order(VENUE, account, at, "buy", round(mid * 0.9995, 6), m.size * bait, cancel_at=at + 7 * S)
    m.trade(VENUE, at + 3 * S, m.size * genuine, m.makers[0], account, "sell")


def test_a_few_units_traded_under_a_big_order_are_not_what_it_served() -> None:
    m = ScenarioMarket(seed=21, venues=(VENUE,), trades_per_day=3000)
    _episode(m, "CRUMB1", m.at(9), bait=15, genuine=0.2)
    _episode(m, "REAL1", m.at(15), bait=15, genuine=2.0)
    found = _spoofers(m.build())
    assert "CRUMB1" not in found
    assert "REAL1" in found  # the same order and timing around a real trade: spoofing


def test_a_spoofer_is_not_measured_against_its_own_genuine_orders() -> None:
    m = ScenarioMarket(seed=22, venues=(VENUE,), trades_per_day=3000)
    # bait 2.4x the genuine order each time, and the account trades nothing else
    for hour in (8, 12, 16):
        _episode(m, "SPF1", m.at(hour, 20), bait=12, genuine=5.0)
    assert "SPF1" in _spoofers(m.build())


def test_repeated_bait_of_seven_median_orders_is_found() -> None:
    m = ScenarioMarket(seed=23, venues=(VENUE,), trades_per_day=3000)
    for hour in (7, 11, 17):
        _episode(m, "SPF2", m.at(hour, 40), bait=7, genuine=2.0)
    assert "SPF2" in _spoofers(m.build())


def test_a_big_order_pulled_after_a_small_fill_is_not_the_owners_usual_size() -> None:
    """Bait hit for a fifth of it (so not counted as bait) and then pulled is no measure of what its owner
    trades: measured by it, the spoofer's bait was no bigger than its 'usual' order."""
    m = ScenarioMarket(seed=24, venues=(VENUE,), trades_per_day=3000)
    for hour in (8, 12, 16):
        _episode(m, "SPF3", m.at(hour, 50), bait=12, genuine=5.0)
    at = m.at(20)
    px = round(m.mid(VENUE, at) * 1.0005, 6)
    hit = m.order(VENUE, "SPF3", at, "sell", px, m.size * 12, cancel_at=at + 9 * S)
    _hit(m, at + 4 * S, m.size * 2.4, m.makers[2], "SPF3", hit, px)
    assert "SPF3" in _spoofers(m.build())


def _hit(m: ScenarioMarket, ts: dt.datetime, q: float, buyer: str, seller: str, sell_oid: str, px: float) -> None:
    """A buyer's aggressive order takes ``q`` of a resting sell order."""
    take = m.order(VENUE, buyer, ts, "buy", px, q)
    for oid, acct, side in ((sell_oid, seller, "sell"), (take, buyer, "buy")):
        m.venues[VENUE].orders.append(m._orow(VENUE, oid, acct, ts, "fill", side, "limit", px, 0.0))
    m.venues[VENUE].trades.append({"venue": VENUE, "symbol": m.symbol, "trade_id": m._id("t"), "ts": ts,
                                   "price": px, "quantity": float(q), "buyer": buyer, "seller": seller,
                                   "aggressor": "buy", "buy_order_id": take, "sell_order_id": sell_oid})
