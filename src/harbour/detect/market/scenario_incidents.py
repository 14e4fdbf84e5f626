"""Incidents for ``ScenarioMarket``, one function per typology, each returning its label.

Each injects the behaviour that defines the typology (see docs/detectors/market.md) with sizes and timings
drawn at random around the given scale, so tests do not depend on magic numbers.
"""

from __future__ import annotations

import datetime as dt

from harbour.detect.market.scenarios import ScenarioMarket

S = dt.timedelta(seconds=1)


def _v(m: ScenarioMarket, venue: str | None) -> str:
    return venue or sorted(m.venues)[0]


def self_trades(m: ScenarioMarket, accounts: list[str], at: dt.datetime, n: int = 6, venue: str | None = None,
                customer: str = "C-SELF") -> dict:
    """Accounts of one customer (or one account twice) trading with each other."""
    v = _v(m, venue)
    for a in accounts:
        m.link(v, a, customer)
    ids, ts = [], at
    for i in range(n):
        ts += S * float(m.rng.uniform(20, 120))
        b, s = (accounts[i % len(accounts)], accounts[(i + 1) % len(accounts)])
        ids.append(m.trade(v, ts, m.qty(), b, s, "buy" if i % 2 else "sell"))
    return m.label("wash_trade", v, accounts, at, ts, ids)


def wash_ring(m: ScenarioMarket, accounts: list[str], at: dt.datetime, rounds: int = 5,
              venue: str | None = None, dilution: float = 0.5) -> dict:
    """Accounts pass one lot around a ring (a pair: back and forth), ending where they started."""
    v = _v(m, venue)
    ids, ts = [], at
    k = len(accounts)
    for _ in range(rounds):
        q = m.qty(2.0)
        for j in range(k):
            ts += S * float(m.rng.uniform(5, 90))
            seller, buyer = accounts[j], accounts[(j + 1) % k]
            qj = q * float(m.rng.uniform(0.97, 1.03))
            ids.append(m.trade(v, ts, qj, buyer, seller, "buy" if m.rng.random() < 0.5 else "sell"))
    end = ts
    # Dilution: the colluders also trade honestly with the market makers around the incident.
    for _ in range(int(dilution * rounds * k)):
        t = at + (end - at) * float(m.rng.random())
        a, mk = accounts[int(m.rng.integers(k))], m.makers[int(m.rng.integers(len(m.makers)))]
        buy = m.rng.random() < 0.5
        m.trade(v, t, m.qty(), a if buy else mk, mk if buy else a, "buy" if buy else "sell")
    return m.label("wash_trade", v, accounts, at, end, ids)


def spoof(m: ScenarioMarket, account: str, at: dt.datetime, levels: int = 1, venue: str | None = None,
          bait_scale: float = 10.0, typology: str = "spoofing") -> dict:
    """Bait buy order(s) below the touch, a sell executed meanwhile, then the bait cancelled."""
    v = _v(m, venue)
    mid = m.mid(v, at)
    cancel = at + S * float(m.rng.uniform(5, 40))
    orders = []
    for lvl in range(levels):
        px = round(mid * (1 - 0.0003 * (lvl + 1)), 6)
        size = m.size * bait_scale / max(levels, 1) * 1.5 * float(m.rng.uniform(0.8, 1.2))
        orders.append(m.order(v, account, at + S * lvl * 0.3, "buy", px, size, cancel_at=cancel + S * lvl * 0.1))
    m.impact(v, at, 3, (cancel - at).total_seconds(), 30, 0.0008)
    buyer = m.traders[int(m.rng.integers(len(m.traders)))]
    fill_at = at + (cancel - at) * float(m.rng.uniform(0.3, 0.9))
    tid = m.trade(v, fill_at, m.qty(), buyer, account, "buy", passive_since=(fill_at - at).total_seconds())
    return m.label(typology, v, [account], at, cancel + S * levels, orders + [tid])


def pump_and_dump(m: ScenarioMarket, accounts: list[str], peak_at: dt.datetime, venue: str | None = None,
                  rise: float = 0.15, customer: str | None = "C-PUMP") -> dict:
    """Linked accounts accumulate, the price is driven up, then they sell into the rise."""
    v = _v(m, venue)
    if customer:
        for a in accounts:
            m.link(v, a, customer)
    ramp = 20 * 60
    start = peak_at - dt.timedelta(seconds=ramp)
    m.impact(v, start, ramp, 10 * 60, 40 * 60, rise)
    ids = []
    acc0 = start - dt.timedelta(hours=1)
    for _ in range(15):  # quiet accumulation before the run-up
        t = acc0 + dt.timedelta(hours=1) * float(m.rng.random())
        mk = m.makers[int(m.rng.integers(len(m.makers)))]
        ids.append(m.trade(v, t, m.qty(3), accounts[int(m.rng.integers(len(accounts)))], mk, "buy"))
    for i in range(25):  # aggressive buying in the run-up
        t = start + dt.timedelta(seconds=ramp) * (i / 25)
        mk = m.makers[int(m.rng.integers(len(m.makers)))]
        ids.append(m.trade(v, t, m.qty(3), accounts[i % len(accounts)], mk, "buy"))
    end = peak_at
    for i in range(30):  # distribution at the top and on the way down
        end = peak_at + dt.timedelta(seconds=30 * i + float(m.rng.uniform(0, 20)))
        tr = m.traders[int(m.rng.integers(len(m.traders)))]
        ids.append(m.trade(v, end, m.qty(4), tr, accounts[i % len(accounts)], "buy"))
    return m.label("pump_and_dump", v, accounts, acc0, end, ids)


def marking_the_close(m: ScenarioMarket, account: str, ref: dt.datetime, venue: str | None = None,
                      move: float = 0.012) -> dict:
    """Aggressive buying in the minutes before the reference time lifts the closing price."""
    v = _v(m, venue)
    start = ref - dt.timedelta(minutes=8)
    m.impact(v, start, 8 * 60, 60, 15 * 60, move)
    ids = []
    for i in range(10):
        t = start + dt.timedelta(minutes=8) * (i / 10) + S * float(m.rng.uniform(0, 20))
        ids.append(m.trade(v, t, m.qty(4), account, m.makers[i % len(m.makers)], "buy"))
    return m.label("marking_the_close", v, [account], start, ref, ids)


def insider(m: ScenarioMarket, account: str, announce_at: dt.datetime, venue: str | None = None,
            listing_venue: str = "NEWX", jump: float = 0.12) -> dict:
    """Quiet account buys in the hours before a listing announcement, then sells after the jump."""
    v = _v(m, venue)
    m.announcements.append({"venue": listing_venue, "symbol": m.symbol, "ts": announce_at, "kind": "listing",
                            "headline": f"{listing_venue} lists {m.symbol}"})
    m.impact(v, announce_at, 120, 3 * 3600, 6 * 3600, jump)
    ids = []
    for _ in range(12):
        t = announce_at - dt.timedelta(hours=5) * float(m.rng.uniform(0.05, 1))
        ids.append(m.trade(v, t, m.qty(3), account, m.makers[int(m.rng.integers(len(m.makers)))], "buy"))
    end = announce_at
    for i in range(6):
        end = announce_at + dt.timedelta(minutes=10 + 15 * i)
        ids.append(m.trade(v, end, m.qty(5), m.traders[int(m.rng.integers(len(m.traders)))], account, "buy"))
    return m.label("insider_pre_listing", v, [account], announce_at - dt.timedelta(hours=5), end, ids)


def front_run(m: ScenarioMarket, runner: str, client: str, at: dt.datetime, venue: str | None = None,
              size: float = 40.0) -> dict:
    """The runner buys ahead of a client's large buy order, then sells into it."""
    v = _v(m, venue)
    m.impact(v, at, 40, 120, 600, 0.004)
    ids = []
    pos = 0.0
    for _ in range(3):
        t = at - S * float(m.rng.uniform(3, 25))
        q = m.qty(3)
        pos += q
        ids.append(m.trade(v, t, q, runner, m.makers[int(m.rng.integers(len(m.makers)))], "buy"))
    big = m.order(v, client, at, "buy", None, size * m.size, order_type="market")
    fills, end = [], at
    total = size * m.size
    chunks = 8
    for i in range(chunks):
        end = at + S * (4 * i + 1)
        seller = runner if i in (2, 4) else m.makers[i % len(m.makers)]
        q = pos / 2 if seller == runner else (total - pos) / (chunks - 2)
        px = m.mid(v, end) * 1.0004
        tid = _fill(m, v, end, q, client, seller, big, px)
        fills.append(tid)
        if seller == runner:
            ids.append(tid)
    return m.label("front_running", v, [runner], at - S * 25, end, ids + fills)


def _fill(m: ScenarioMarket, v: str, ts: dt.datetime, q: float, buyer: str, seller: str, buy_oid: str,
          px: float) -> str:
    """A fill of an existing aggressive buy order against a new resting sell order."""
    rest = m.order(v, seller, ts - S * 2, "sell", px, q)
    tid = m._id("t")
    for oid, acct, side in ((rest, seller, "sell"), (buy_oid, buyer, "buy")):
        m.venues[v].orders.append(m._orow(v, oid, acct, ts, "fill", side, "limit", px, 0.0))
    m.venues[v].trades.append({"venue": v, "symbol": m.symbol, "trade_id": tid, "ts": ts, "price": px,
                               "quantity": float(q), "buyer": buyer, "seller": seller, "aggressor": "buy",
                               "buy_order_id": buy_oid, "sell_order_id": rest})
    return tid


def momentum_ignition(m: ScenarioMarket, account: str, at: dt.datetime, venue: str | None = None,
                      move: float = 0.008) -> dict:
    """An aggressive buy burst ignites a rise; the account then sells into it."""
    v = _v(m, venue)
    m.impact(v, at, 20, 120, 900, move)
    ids = []
    for i in range(8):
        t = at + S * (i * 2.5 + float(m.rng.uniform(0, 1)))
        ids.append(m.trade(v, t, m.qty(3), account, m.makers[i % len(m.makers)], "buy"))
    end = at
    for i in range(5):
        end = at + S * (40 + 15 * i)
        tr = m.traders[int(m.rng.integers(len(m.traders)))]
        ids.append(m.trade(v, end, m.qty(4), tr, account, "buy"))
    return m.label("momentum_ignition", v, [account], at, end, ids)


def quote_stuffing(m: ScenarioMarket, account: str, at: dt.datetime, venue: str | None = None,
                   orders: int = 400, seconds: float = 6.0) -> dict:
    """Hundreds of orders placed and cancelled within milliseconds, in a few seconds."""
    v = _v(m, venue)
    ids = []
    for _ in range(orders):
        t = at + S * float(m.rng.uniform(0, seconds))
        side = "buy" if m.rng.random() < 0.5 else "sell"
        px = m.mid(v, t) * (1 + (-1 if side == "buy" else 1) * 0.0005)
        ids.append(m.order(v, account, t, side, round(px, 6), m.qty(), cancel_at=t + S * float(m.rng.uniform(0.001,
                                                                                                          0.05))))
    return m.label("quote_stuffing", v, [account], at, at + S * seconds, ids)


def cross_venue(m: ScenarioMarket, mover: str, profiteer: str, at: dt.datetime, moved: str, other: str,
                customer: str = "C-XV", move: float = 0.03) -> dict:
    """One customer pushes the price up on ``moved`` while selling on ``other``."""
    m.link(moved, mover, customer)
    m.link(other, profiteer, customer)
    m.impact(moved, at, 120, 300, 300, move)
    ids = []
    for i in range(8):
        t = at + S * (i * 20 + float(m.rng.uniform(0, 10)))
        ids.append(m.trade(moved, t, m.qty(4), mover, m.makers[i % len(m.makers)], "buy"))
    end = at
    for i in range(4):
        end = at + S * (150 + 40 * i)
        m.trade(other, end, m.qty(4), m.traders[int(m.rng.integers(len(m.traders)))], profiteer, "buy")
    return m.label("cross_venue", moved, [mover], at, end, ids)
