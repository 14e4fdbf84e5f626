"""Normal order flow of one book (venue, symbol, day): market makers and ordinary traders.

Everything is drawn vectorised with numpy into an :class:`Instructions` batch that the matching engine
(:mod:`book`) then plays in time order. Incidents add their own instructions to the same batch, so abusive
orders go through the same engine, ids and events as honest ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harbour.data.generate.book import AMEND, BUY, CANCEL, LIMIT, MARKET, NEW, SELL, Replenish
from harbour.data.generate.config import SymbolSpec
from harbour.data.generate.prices import MINUTES, SECONDS

US = 1_000_000
DAY_US = SECONDS * US
LAST_US = DAY_US - 2 * US  # instructions stop two seconds before midnight; resting orders expire at midnight
MM_LEVELS = 3


@dataclass
class BookContext:
    """What the flow and the incidents need to know about one book-day."""

    venue: str
    symbol: SymbolSpec
    day: int
    mid: np.ndarray  # per second, this venue's mid (fundamental x basis x overlays)
    activity: np.ndarray  # per minute
    orders_per_day: float  # expected honest new orders
    half_spread_bps: float
    mm_accounts: np.ndarray  # account indices within the venue
    trader_accounts: np.ndarray
    trader_weights: np.ndarray  # probabilities, heavy-tailed (few accounts do most)
    open_us: int = 0  # when the book opens (listing day: after the announcement)
    typical_usd: float = 2_500.0
    touch: float = 1.0  # the tightest market maker's quote distance, in units of spread_at()
    quote_rate: float = 0.25  # market-maker re-quotes a day per market maker per honest order (GenerateConfig)

    def mid_at(self, t_us: np.ndarray) -> np.ndarray:
        return self.mid[_bounded(np.asarray(t_us) // US, SECONDS - 1)]

    def ticks(self, price: np.ndarray, how: str = "round") -> np.ndarray:
        x = np.asarray(price) / self.symbol.tick
        f = {"round": np.rint, "floor": np.floor, "ceil": np.ceil}[how]
        return f(x).astype(np.int64)

    def lots(self, qty: np.ndarray) -> np.ndarray:
        return np.maximum(np.rint(np.asarray(qty) / self.symbol.lot), 1).astype(np.int64)

    def usd_lots(self, usd: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        return self.lots(np.asarray(usd) / self.mid_at(t_us))

    def spread_at(self, t_us: np.ndarray) -> np.ndarray:
        """Half-spread as a fraction of price; wider when the market is busy and volatile."""
        act = self.activity[_bounded(np.asarray(t_us) // (60 * US), MINUTES - 1)]
        return self.half_spread_bps * 1e-4 * np.sqrt(np.clip(act, 0.6, 3.0))


def _bounded(i: np.ndarray, last: int) -> np.ndarray:
    """``np.clip(i, 0, last)`` without its per-call overhead (called thousands of times a book)."""
    return np.minimum(np.maximum(i, 0), last)


_COLUMN_TYPES = (np.int64, np.int8, np.int64, np.int8, np.int8, np.int64, np.int64, np.int32)


@dataclass
class Instructions:
    """A growing batch of instructions for one book; order keys are 0..n_keys-1.

    A column given as a scalar is kept as one (most are: one kind, side or account for a whole call) and only
    spread out once, in :meth:`finish`; a book adds a few thousand batches, so per-call overhead counts."""

    parts: list[tuple[int, tuple]] = field(default_factory=list)  # (rows, the 8 columns: arrays or scalars)
    tags: list[tuple[int, int]] = field(default_factory=list)  # (keys, tag) per allocation
    n_keys: int = 0
    slots: list[tuple[np.ndarray, float, int, float]] = field(default_factory=list)  # market-maker quote slots

    def quote_slot(self, keys: np.ndarray, width: float, level: int, usd: float) -> None:
        """Mark ``keys`` as one market maker's quotes of one side and level (the engine replenishes them when
        they are filled): ``width`` half-spreads from the mid, ``usd`` median notional."""
        self.slots.append((keys, width, level, usd))

    def keys(self, n: int, tag: int = -1) -> np.ndarray:
        """Allocate ``n`` new order keys; ``tag`` is the incident they belong to (-1: honest)."""
        out = np.arange(self.n_keys, self.n_keys + n, dtype=np.int64)
        self.n_keys += n
        self.tags.append((n, tag))
        return out

    def add(self, ts, kind, key, side, otype, px, lots, acct) -> None:
        n = len(key)
        if n:
            self.parts.append((n, (ts, kind, key, side, otype, px, lots, acct)))

    def finish(self) -> tuple[np.ndarray, ...]:
        """Columns sorted by time (new before amend before cancel at equal times), times made strictly
        increasing so every (order, time, event) is unique."""
        cols = [self._column(i) for i in range(8)]
        ts = np.clip(cols[0], 0, LAST_US)
        # one sort key: time, then new < amend < cancel; a stable sort keeps the (deterministic) batch order
        rank = np.array([0, 2, 1], np.int64)[cols[1]]  # NEW=0, CANCEL=1, AMEND=2
        order = np.argsort(ts * 4 + rank, kind="stable")
        cols = [c[order] for c in cols]
        ts = cols[0]
        idx = np.arange(len(ts), dtype=np.int64)
        cols[0] = np.maximum.accumulate(ts - idx) + idx
        return tuple(cols)

    def _column(self, i: int) -> np.ndarray:
        out = np.empty(sum(n for n, _ in self.parts), _COLUMN_TYPES[i])
        at = 0
        for n, values in self.parts:
            out[at:at + n] = np.reshape(values[i], -1) if np.ndim(values[i]) else values[i]
            at += n
        return out

    def replenish(self, ctx: BookContext, rng: np.random.Generator) -> Replenish:
        """How the engine re-posts this book's market-maker quotes when they are filled."""
        slot = np.full(self.n_keys, -1, np.int32)
        for i, (keys, *_) in enumerate(self.slots):
            slot[keys] = i
        params = np.array([s[1:] for s in self.slots], np.float64).reshape(-1, 3)
        half = ctx.spread_at(np.arange(MINUTES, dtype=np.int64) * 60 * US)
        return Replenish(slot, params[:, 0].copy(), params[:, 1].copy(), params[:, 2].copy(),
                         np.ascontiguousarray(ctx.mid, np.float64), half, float(ctx.symbol.tick),
                         float(ctx.symbol.lot), int(rng.integers(1 << 62)), last_us=LAST_US)

    def tag_array(self) -> np.ndarray:
        if not self.tags:
            return np.empty(0, np.int32)
        counts, tags = zip(*self.tags, strict=True)
        return np.repeat(np.array(tags, np.int32), counts)


def sample_times(rng: np.random.Generator, n: int, activity: np.ndarray, start_us: int = 0,
                 end_us: int = LAST_US) -> np.ndarray:
    """``n`` sorted times (µs from midnight) from the per-minute intensity, between start and end."""
    m0, m1 = start_us // (60 * US), min(MINUTES, end_us // (60 * US) + 1)
    cdf = np.cumsum(activity[m0:m1])
    minute = np.searchsorted(cdf, rng.random(n) * cdf[-1]) + m0
    t = minute * 60 * US + (rng.random(n) * 60 * US).astype(np.int64)
    return np.sort(np.clip(t, start_us, end_us))


def honest_flow(ctx: BookContext, rng: np.random.Generator, ins: Instructions) -> None:
    market_makers(ctx, rng, ins)
    traders(ctx, rng, ins)


def market_makers(ctx: BookContext, rng: np.random.Generator, ins: Instructions) -> None:
    """Two-sided quotes on a few levels. A market maker re-quotes whenever the mid has moved by a fraction of
    its half-spread since it last quoted (plus now and then anyway), after a short latency; a re-quote
    amends the resting order or pulls it and sends a new one. Busy, volatile markets get more messages."""
    n_mm = len(ctx.mm_accounts)
    if n_mm == 0:
        return
    log_mid = np.log(ctx.mid)
    first_s = ctx.open_us // US
    h = ctx.half_spread_bps * 1e-4
    target = max(50.0, ctx.quote_rate * ctx.orders_per_day / n_mm)  # re-quotes a day per market maker
    for m in range(n_mm):
        width = 1.0 + 0.6 * m + 0.2 * rng.random()  # the first market maker quotes tightest
        shift = rng.random()
        step = h * width * rng.uniform(0.5, 0.8)
        crossed = _crossings(log_mid, step, shift, first_s)
        if len(crossed) > target:  # a thinner book re-quotes less often, and quotes wider to stay safe
            step *= len(crossed) / target
            crossed = _crossings(log_mid, step, shift, first_s)
            width = min(max(width, 1.1 * step / h), 6.0)  # but not absurdly wide: stale quotes get hit
        ctx.touch = width if m == 0 else min(ctx.touch, width)
        extra = sample_times(rng, int(rng.poisson(0.2 * target)), ctx.activity, ctx.open_us)
        latency = (rng.lognormal(np.log(40_000), 0.8, len(crossed))).astype(np.int64)  # µs
        t = np.unique(np.concatenate([crossed * US + latency, extra]))
        if len(t) < 2:
            continue
        for side in (BUY, SELL):
            for level in range(MM_LEVELS):
                jitter = rng.integers(0, 400, len(t))  # µs between the slots of one re-quote
                _quote_slot(ctx, rng, ins, ctx.mm_accounts[m], side, level, width, t + jitter)


def _crossings(log_mid: np.ndarray, step: float, shift: float, first_s: int) -> np.ndarray:
    """Seconds at which the mid crosses a line of a grid ``step`` apart (in log price)."""
    grid = np.floor(log_mid / step - shift)
    crossed = np.flatnonzero(np.diff(grid) != 0) + 1
    return crossed[crossed >= first_s]


def _quote_slot(ctx: BookContext, rng: np.random.Generator, ins: Instructions, acct: int, side: int, level: int,
                mm_spread: float, t: np.ndarray) -> None:
    n = len(t)
    start = rng.random(n) < 0.5  # a new order starts a chain of amends; else the chain's order is amended
    start[0] = True
    chain = np.cumsum(start) - 1
    keys = ins.keys(int(start.sum()))
    ins.quote_slot(keys, mm_spread, level, ctx.typical_usd * (1.0 + level))
    key = keys[chain]
    off = ctx.spread_at(t) * mm_spread * (1.0 + level * (1.5 + rng.random(n)))
    mid = ctx.mid_at(t)
    px = ctx.ticks(mid * (1.0 - off), "floor") if side == BUY else ctx.ticks(mid * (1.0 + off), "ceil")
    usd = ctx.typical_usd * (1.0 + level) * rng.lognormal(0.0, 0.5, n)
    lots = ctx.usd_lots(usd, t)
    kind = np.where(start, NEW, AMEND).astype(np.int8)
    ins.add(t, kind, key, side, LIMIT, px, lots, acct)
    # the previous chain's order is pulled just before its replacement arrives
    ends = np.flatnonzero(start)[1:]
    if len(ends):
        gap = np.maximum(1, (rng.random(len(ends)) * 900).astype(np.int64))
        ins.add(t[ends] - gap, CANCEL, keys[:-1], side, LIMIT, 0, 0, acct)


def traders(ctx: BookContext, rng: np.random.Generator, ins: Instructions) -> None:
    """Ordinary traders: limit and market orders, heavy-tailed sizes, most flow from few accounts."""
    n = int(rng.poisson(ctx.orders_per_day))
    if n == 0 or len(ctx.trader_accounts) == 0:
        return
    t = sample_times(rng, n, ctx.activity, ctx.open_us)
    acct = ctx.trader_accounts[np.searchsorted(np.cumsum(ctx.trader_weights), rng.random(n) * ctx.trader_weights.sum())
                               .clip(0, len(ctx.trader_accounts) - 1)]
    side = (rng.random(n) < 0.5).astype(np.int8)
    is_market = rng.random(n) < 0.3
    mid = ctx.mid_at(t)
    spread = ctx.spread_at(t)
    # limit orders: mostly passive behind the touch, sometimes marketable
    depth = rng.exponential(4.0, n) * spread
    marketable = rng.random(n) < 0.18
    off = np.where(marketable, -spread * (ctx.touch + 0.5 + 2.0 * rng.random(n)), spread * 2.5 + depth)
    sign = np.where(side == BUY, -1.0, 1.0)
    px = ctx.ticks(mid * (1.0 + sign * off))
    usd = ctx.typical_usd * 0.4 * (rng.pareto(1.5, n) + 0.2)
    usd = np.minimum(usd, ctx.typical_usd * 400)
    lots = ctx.usd_lots(usd, t)
    keys = ins.keys(n)
    ins.add(t, NEW, keys, side, np.where(is_market, MARKET, LIMIT).astype(np.int8), np.where(is_market, 0, px), lots,
            acct)
    # resting limit orders are cancelled after a heavy-tailed lifetime (or expire at the end of the day)
    life = (rng.lognormal(np.log(45.0), 1.8, n) * US).astype(np.int64)
    cancel = ~is_market & (t + life < LAST_US) & (rng.random(n) < 0.9)
    ins.add(t[cancel] + life[cancel], CANCEL, keys[cancel], side[cancel], LIMIT, 0, 0, acct[cancel])
