"""Spoofing and layering episodes: what counts as bait pulled, and how an owner's coincidences are judged.

- An order cancelled in the same instant that its owner's order on the other side arrived was cancelled by that
  order (the venue's self-trade prevention, or a reversal), not pulled after the trade it served.
- An owner whose bait episodes *all* coincided with its trades on the other side is judged by the repeat test
  (k of n); each episode is not judged again as "one of its n" — that made a layerer that also trades the other
  side now and then invisible exactly because it layered several times.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

import harbour.detect.market  # noqa: F401  (registers the detectors)
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
S = dt.timedelta(seconds=1)


def _alerts(m: ScenarioMarket, name: str) -> pa.Table:
    d = REGISTRY.get(name)
    return d.kernel(m.partition(VENUE), d.default_config())


def _accounts(alerts: pa.Table) -> set[str]:
    return {a for accounts in alerts["accounts"].to_pylist() for a in accounts}


def _reversal(m: ScenarioMarket, account: str, at: dt.datetime, pulled_after_s: float) -> None:
    """A big resting sell, then a buy of the same account that trades; the sell is cancelled ``pulled_after_s``
    after the buy arrived (0: in the same instant)."""
    mid = m.mid(VENUE, at)
    buy_at = at + 8 * S
    m.order(VENUE, account, at, "sell", round(mid * 1.0004, 6), m.size * 15,
            cancel_at=buy_at + pulled_after_s * S)
    m.trade(VENUE, buy_at, m.qty(), account, m.makers[0], "buy")


def test_an_order_cancelled_by_its_owners_opposite_order_is_not_bait() -> None:
    m = ScenarioMarket(seed=4, venues=(VENUE,), trades_per_day=3000)
    _reversal(m, "STP1", m.at(10), 0.0)
    _reversal(m, "PULL1", m.at(14), 3.0)
    alerts = _alerts(m.build(), "spoofing")
    assert "STP1" not in _accounts(alerts)
    assert "PULL1" in _accounts(alerts)  # the same orders, the bait pulled after the trade: spoofing


def test_a_layerer_whose_every_episode_coincided_is_found_despite_its_other_trading() -> None:
    m = ScenarioMarket(seed=6, venues=(VENUE,), trades_per_day=3000)
    # thirty ordinary sells over the day: a sell in an episode's span is ~1% likely, in one of four ~3%
    for i in range(30):
        m.trade(VENUE, m.at(1) + dt.timedelta(minutes=41 * i + 7), m.qty(), m.makers[1], "LAY1", "sell")
    hours = (3, 8, 13, 18)
    for h in hours:
        _layer(m, "LAY1", m.at(h, 30))
    alerts = _alerts(m.build(), "layering")
    assert alerts.num_rows == len(hours)
    assert _accounts(alerts) == {"LAY1"}


def _layer(m: ScenarioMarket, account: str, at: dt.datetime) -> None:
    """Four big buys stacked below the mid, a sale of a real size (1-3 typical orders: the trade the bait
    serves, not a few units) while they stand, then the buys pulled 5-20 s after they were placed."""
    mid = m.mid(VENUE, at)
    cancel = at + S * float(m.rng.uniform(5, 20))
    for lvl in range(4):
        m.order(VENUE, account, at + S * lvl * 0.3, "buy", round(mid * (1 - 0.0003 * (lvl + 1)), 6),
                m.size * 15 * float(m.rng.uniform(0.8, 1.2)), cancel_at=cancel + S * lvl * 0.1)
    fill_at = at + (cancel - at) * float(m.rng.uniform(0.3, 0.9))
    m.trade(VENUE, fill_at, m.size * float(m.rng.uniform(1, 3)), m.traders[0], account, "buy",
            passive_since=(fill_at - at).total_seconds())
