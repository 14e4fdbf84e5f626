"""Hand-built market scenarios: a plain, honest market for one symbol-day on one or more venues, into which
one incident of a chosen typology can be injected, with its label.

These are not the project's market generator (``harbour generate``); they exist so the detectors can be
tested on markets built *independently* of the generator — different order flow, different sizes,
different timings — and so every detector has a clean segment to stay quiet on. Deterministic for a seed.

Example::

    m = ScenarioMarket(seed=3)
    label = m.wash_ring(["A1", "A2", "A3"], at=m.at(10, 30))
    part = m.partition()          # a Partition for the venue-symbol-day, with accounts broadcast
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from harbour.data.schemas import ACCOUNTS, ANNOUNCEMENTS, LABELS, ORDERS, TRADES
from harbour.detect.framework import Partition

UTC = dt.UTC
DAY_S = 86_400


@dataclass
class _Venue:
    code: str
    path: np.ndarray  # log mid-price per second of the day
    trades: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)


class ScenarioMarket:
    """An honest symbol-day on ``venues``; incidents are injected by the methods named after typologies."""

    def __init__(self, seed: int = 0, venues: tuple[str, ...] = ("HBX",), symbol: str = "BTC/USD",
                 day: dt.date = dt.date(2026, 3, 2), trades_per_day: int = 4000, price: float = 100.0,
                 traders: int = 300, makers: int = 3, daily_vol: float = 0.03, size: float = 1.0) -> None:
        self.rng = np.random.default_rng(seed)
        self.symbol, self.day, self.size = symbol, day, size
        self.t0 = dt.datetime.combine(day, dt.time(0), tzinfo=UTC)
        self.trades_per_day, self.makers_n = trades_per_day, makers
        common = np.cumsum(self.rng.normal(0, daily_vol / np.sqrt(DAY_S), DAY_S)) + np.log(price)
        self.venues = {v: _Venue(v, common + self._basis()) for v in venues}
        self.traders = [f"U{self.rng.integers(10**6, 10**7)}" for _ in range(traders)]
        self.makers = [f"M{self.rng.integers(10**5, 10**6)}" for _ in range(makers)]
        self.customers: dict[tuple[str, str], str] = {}
        self.labels: list[dict] = []
        self.announcements: list[dict] = []
        self._seq = 0
        self._built = False

    # --- helpers -------------------------------------------------------------------------------------------

    def _basis(self) -> np.ndarray:
        # A small, slowly varying per-venue basis (a few basis points).
        steps = self.rng.normal(0, 0.00002, DAY_S)
        return np.cumsum(steps) - np.cumsum(steps).mean()

    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self.rng.integers(10**9, 10**10)}{self._seq}"

    def at(self, hour: int, minute: int = 0, second: float = 0.0) -> dt.datetime:
        return self.t0 + dt.timedelta(hours=hour, minutes=minute, seconds=second)

    def _sec(self, ts: dt.datetime) -> int:
        return int(min(DAY_S - 1, max(0, (ts - self.t0).total_seconds())))

    def mid(self, venue: str, ts: dt.datetime) -> float:
        return float(np.exp(self.venues[venue].path[self._sec(ts)]))

    def typical_size(self) -> float:
        return self.size

    def link(self, venue: str, account: str, customer: str) -> None:
        """Record that ``account`` on ``venue`` belongs to ``customer`` (accounts table)."""
        self.customers[(venue, account)] = customer

    def impact(self, venue: str | None, start: dt.datetime, ramp_s: float, hold_s: float, decay_s: float,
               size: float) -> None:
        """Shift the log mid by ``size`` (e.g. 0.05 = +5%): ramp up, hold, decay back. Whole market if no venue."""
        t = np.arange(DAY_S, dtype=float)
        s = (start - self.t0).total_seconds()
        up = np.clip((t - s) / max(ramp_s, 1), 0, 1)
        down = np.clip((t - s - ramp_s - hold_s) / max(decay_s, 1), 0, 1)
        bump = size * (up - down)
        for v in [venue] if venue else list(self.venues):
            self.venues[v].path = self.venues[v].path + bump

    def order(self, venue: str, account: str, ts: dt.datetime, side: str, price: float | None, qty: float,
              *, cancel_at: dt.datetime | None = None, order_type: str = "limit") -> str:
        oid = self._id("o")
        rows = self.venues[venue].orders
        rows.append(self._orow(venue, oid, account, ts, "new", side, order_type, price, qty))
        if cancel_at is not None:
            rows.append(self._orow(venue, oid, account, cancel_at, "cancel", side, order_type, price, 0.0))
        return oid

    def _orow(self, venue: str, oid: str, account: str, ts: dt.datetime, event: str, side: str, otype: str,
              price: float | None, qty: float) -> dict:
        return {"venue": venue, "symbol": self.symbol, "order_id": oid, "account": account, "ts": ts,
                "event": event, "side": side, "order_type": otype, "price": price, "quantity": qty}

    def trade(self, venue: str, ts: dt.datetime, qty: float, buyer: str, seller: str, aggressor: str | None,
              price: float | None = None, *, passive_since: float = 2.0) -> str:
        """One trade with the orders behind it (a resting limit order and an aggressive one)."""
        if price is None:
            half = self.mid(venue, ts) * 0.0002
            price = self.mid(venue, ts) + (half if aggressor == "buy" else -half)
        tid = self._id("t")
        passive_side = "sell" if aggressor == "buy" else "buy"
        rest = self.order(venue, seller if passive_side == "sell" else buyer,
                          ts - dt.timedelta(seconds=passive_since), passive_side, price, qty)
        take = self.order(venue, buyer if aggressor == "buy" else seller, ts, aggressor or "buy", price, qty,
                          order_type="limit")
        for oid, acct, side in ((rest, seller if passive_side == "sell" else buyer, passive_side),
                                (take, buyer if aggressor == "buy" else seller, aggressor or "buy")):
            self.venues[venue].orders.append(self._orow(venue, oid, acct, ts, "fill", side, "limit", price, 0.0))
        buy_oid, sell_oid = (take, rest) if aggressor == "buy" else (rest, take)
        self.venues[venue].trades.append({
            "venue": venue, "symbol": self.symbol, "trade_id": tid, "ts": ts, "price": float(price),
            "quantity": float(qty), "buyer": buyer, "seller": seller, "aggressor": aggressor,
            "buy_order_id": buy_oid, "sell_order_id": sell_oid})
        return tid

    def label(self, typology: str, venue: str, accounts: list[str], start: dt.datetime, end: dt.datetime,
              evidence: list[str]) -> dict:
        row = {"incident_id": f"inc-{len(self.labels) + 1}", "typology": typology, "venue": venue,
               "symbol": self.symbol, "accounts": sorted(set(accounts)), "start": start, "end": end,
               "evidence_ids": evidence}
        self.labels.append(row)
        return row

    def qty(self, scale: float = 1.0) -> float:
        """A heavy-tailed trade size around ``scale`` times the typical size."""
        return float(round(self.size * scale * self.rng.lognormal(0, 0.8), 6))

    # --- the honest market ---------------------------------------------------------------------------------

    def _background(self) -> None:
        weights = 1.0 / np.arange(1, len(self.traders) + 1) ** 0.8
        weights /= weights.sum()
        for venue in self.venues:
            n = int(self.rng.poisson(self.trades_per_day))
            secs = np.sort(self.rng.uniform(0, DAY_S - 1, n))
            for s in secs:
                ts = self.t0 + dt.timedelta(seconds=float(s))
                trader = self.traders[int(self.rng.choice(len(self.traders), p=weights))]
                other = (self.makers[int(self.rng.integers(len(self.makers)))] if self.rng.random() < 0.75
                         else self.traders[int(self.rng.choice(len(self.traders), p=weights))])
                if other == trader:
                    continue
                aggressor = "buy" if self.rng.random() < 0.5 else "sell"
                buyer, seller = (trader, other) if aggressor == "buy" else (other, trader)
                self.trade(venue, ts, self.qty(), buyer, seller, aggressor,
                           passive_since=float(self.rng.exponential(20)))
            self._quotes(venue, n * 3)

    def _quotes(self, venue: str, n: int) -> None:
        """Market makers' quote churn: two-sided quotes, cancelled after a few seconds, normal sizes."""
        secs = np.sort(self.rng.uniform(0, DAY_S - 60, n))
        for s in secs:
            ts = self.t0 + dt.timedelta(seconds=float(s))
            maker = self.makers[int(self.rng.integers(len(self.makers)))]
            side = "buy" if self.rng.random() < 0.5 else "sell"
            off = self.mid(venue, ts) * 0.0001 * (1 + int(self.rng.integers(0, 5)))
            px = self.mid(venue, ts) - off if side == "buy" else self.mid(venue, ts) + off
            life = dt.timedelta(seconds=float(self.rng.exponential(4)) + 0.05)
            self.order(venue, maker, ts, side, round(px, 6), self.qty(1.2), cancel_at=ts + life)

    # --- output --------------------------------------------------------------------------------------------

    def build(self) -> ScenarioMarket:
        if not self._built:
            self._background()
            self._built = True
        return self

    def table(self, name: str, venue: str | None = None) -> pa.Table:
        self.build()
        venues = [venue] if venue else sorted(self.venues)
        if name == "trades":
            rows = [r for v in venues for r in self.venues[v].trades]
            return pa.Table.from_pylist(sorted(rows, key=lambda r: (r["ts"], r["trade_id"])), schema=TRADES)
        if name == "orders":
            rows = [r for v in venues for r in self.venues[v].orders]
            return pa.Table.from_pylist(sorted(rows, key=lambda r: (r["ts"], r["order_id"])), schema=ORDERS)
        if name == "accounts":
            return self._accounts()
        if name == "announcements":
            return pa.Table.from_pylist(self.announcements, schema=ANNOUNCEMENTS)
        if name == "labels":
            return pa.Table.from_pylist(self.labels, schema=LABELS)
        raise KeyError(name)

    def _accounts(self) -> pa.Table:
        rows = []
        for v in sorted(self.venues):
            seen = {r["buyer"] for r in self.venues[v].trades} | {r["seller"] for r in self.venues[v].trades} \
                | {r["account"] for r in self.venues[v].orders}
            for a in sorted(seen):
                kind = "market_maker" if a in self.makers else "individual"
                rows.append({"venue": v, "account": a, "customer_id": self.customers.get((v, a), f"C-{v}-{a}"),
                             "name": a, "country": "HK", "account_type": kind,
                             "opened_at": self.t0 - dt.timedelta(days=90)})
        return pa.Table.from_pylist(rows, schema=ACCOUNTS)

    def partition(self, venue: str | None = None, *, by_symbol_only: bool = False) -> Partition:
        """The venue-symbol-day partition (or, with ``by_symbol_only``, the symbol-day across venues)."""
        self.build()
        venue = None if by_symbol_only else (venue or sorted(self.venues)[0])
        key: dict = {"symbol": self.symbol, "date": self.day}
        if venue:
            key["venue"] = venue
        return Partition(key=key, tables={"trades": self.table("trades", venue),
                                          "orders": self.table("orders", venue)},
                         broadcast={"accounts": self.table("accounts"),
                                    "announcements": self.table("announcements")})
