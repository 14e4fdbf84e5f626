"""Market-abuse incidents that move prices: pump and dump, marking the close, insider buying before a
listing, front running, momentum ignition, quote stuffing and cross-venue manipulation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harbour.data.generate.accounts import name_variant
from harbour.data.generate.book import BUY, CANCEL, LIMIT, MARKET, NEW, SELL
from harbour.data.generate.config import CLOSE_UTC
from harbour.data.generate.flow import US, BookContext, Instructions
from harbour.data.generate.incidents import knobs, planner, rng_for
from harbour.data.generate.incidents.base import Incident, jitter
from harbour.data.generate.incidents.market import HOUR, MIN, _bump, _marketable, _ring, _where
from harbour.data.generate.world import World, extra_listing

CLOSE_US = (CLOSE_UTC.hour * 3600 + CLOSE_UTC.minute * 60) * US


def _typical(world: World, symbol: str) -> float:
    spec = next(s for s in world.symbols if s.name == symbol)
    return 2_500.0 * float(np.sqrt(spec.popularity))


def _aggress(ctx: BookContext, rng: np.random.Generator, ins: Instructions, tag: int, t: np.ndarray, side: int,
             usd: np.ndarray, accts: np.ndarray, market_share: float = 0.4,
             rest_s: tuple[float, float] = (5.0, 90.0)) -> None:
    """Aggressive orders: market orders or marketable limits. A marketable limit's unfilled rest stays a
    while as the best price on its side, for whoever comes to trade against it, before it is cancelled: in a
    thin book the far side is often empty when the order arrives, and pulling the rest at once would leave
    no trade at all of an intent to trade."""
    n = len(t)
    if n == 0:
        return
    keys = ins.keys(n, tag)
    is_mkt = rng.random(n) < market_share
    px = np.where(is_mkt, 0, _marketable(ctx, t, side, reach=rng.uniform(1.5, 4.0, n)))
    ins.add(t, NEW, keys, side, np.where(is_mkt, MARKET, LIMIT).astype(np.int8), px, ctx.usd_lots(usd, t), accts)
    lim = ~is_mkt
    ins.add(t[lim] + (rng.uniform(*rest_s, lim.sum()) * US).astype(np.int64), CANCEL, keys[lim], side, LIMIT, 0, 0,
            accts[lim])


# --- pump and dump ---------------------------------------------------------------------------------------------

@dataclass
class PumpAndDump(Incident):
    def overlay(self, venue: str, day: int, mid: np.ndarray) -> None:
        p = self.params
        _bump(mid, p["start_us"], p["build_us"] / US, p["dist_us"] / US, 3 * 3600, p["rise"], keep=0.15)

    def inject(self, ctx, rng, ins, tag) -> None:
        k, p = self.knobs, self.params
        ring = np.array(self.accounts)
        n_b = int(rng.integers(30, 120))
        # build-up: buying accelerates towards the top
        t_b = p["start_us"] + (np.sqrt(rng.random(n_b)) * p["build_us"]).astype(np.int64)
        usd_b = jitter(rng, p["usd"], k.noise, n_b)
        _aggress(ctx, rng, ins, tag, np.sort(t_b), BUY, usd_b, ring[rng.integers(0, len(ring), n_b)])
        # distribution: sell what was bought, in pieces, into the buyers attracted by the rise — mostly offers
        # priced to sell that wait minutes for those buyers (market sells into a thin book's empty bid side
        # would leave nothing sold, or crash the price through every level at once)
        n_d = int(rng.integers(20, 80))
        t_d = p["start_us"] + p["build_us"] + (rng.random(n_d) * p["dist_us"]).astype(np.int64)
        usd_d = usd_b.sum() * (1 + p["rise"] / 2) / n_d * rng.lognormal(0, k.noise, n_d)
        _aggress(ctx, rng, ins, tag, np.sort(t_d), SELL, usd_d, ring[rng.integers(0, len(ring), n_d)], 0.2,
                 rest_s=(30.0, 300.0))


@planner("pump_and_dump")
def plan_pump(world: World, n: int, typology: str) -> Incident | None:
    rng, k = rng_for(world, typology, n), knobs(world)
    where = _where(world, rng, minor=True)
    if where is None:
        return None
    venue, symbol, day = where
    ring = _ring(world, venue, rng, int(rng.integers(k.ring_min, k.ring_max + 1)), share_customer=True)
    build = int(rng.uniform(1, 5) * HOUR)
    dist = int(rng.uniform(0.5, 2) * HOUR)
    start = int(rng.uniform(0.5 * HOUR, max(0.6 * HOUR, 23 * HOUR - build - dist)))
    return PumpAndDump(f"INC-{typology}-{n:03d}", typology, venue, symbol, day, ring, k, {
        "start_us": start, "build_us": build, "dist_us": dist, "rise": float(rng.uniform(0.08, 0.35) * k.intensity),
        "usd": _typical(world, symbol) * rng.uniform(1.5, 5.0)})


# --- marking the close -----------------------------------------------------------------------------------------

@dataclass
class MarkingClose(Incident):
    def overlay(self, venue, day, mid) -> None:
        p = self.params
        _bump(mid, CLOSE_US - p["window_us"], p["window_us"] / US, 0, p["revert_s"], p["push"] * p["sign"])

    def inject(self, ctx, rng, ins, tag) -> None:
        k, p = self.knobs, self.params
        n = int(rng.integers(5, 25))
        # orders bunch up towards the reference time
        t = CLOSE_US - (p["window_us"] * rng.random(n) ** 2).astype(np.int64) - int(rng.uniform(0.05, 3) * US)
        ring = np.array(self.accounts)
        _aggress(ctx, rng, ins, tag, np.sort(t), BUY if p["sign"] > 0 else SELL, jitter(rng, p["usd"], k.noise, n),
                 ring[rng.integers(0, len(ring), n)], 0.3)


@planner("marking_the_close")
def plan_close(world: World, n: int, typology: str) -> Incident | None:
    rng, k = rng_for(world, typology, n), knobs(world)
    where = _where(world, rng)
    if where is None:
        return None
    venue, symbol, day = where
    return MarkingClose(f"INC-{typology}-{n:03d}", typology, venue, symbol, day,
                        _ring(world, venue, rng, int(rng.integers(1, 3))), k, {
                            "window_us": int(rng.uniform(2, 15) * MIN), "revert_s": float(rng.uniform(600, 1800)),
                            "push": float(rng.uniform(0.003, 0.015) * k.intensity),
                            "sign": 1 if rng.random() < 0.7 else -1,
                            "usd": _typical(world, symbol) * rng.uniform(1.5, 5.0)})


# --- insider buying before a listing announcement ------------------------------------------------------------

@dataclass
class InsiderPreListing(Incident):
    def inject(self, ctx, rng, ins, tag) -> None:
        k, p = self.knobs, self.params
        acct = self.accounts[0]
        n = int(rng.integers(3, 15))
        lead = p["lead_us"]
        t = p["announce_us"] - lead + (rng.random(n) * (lead - 5 * MIN)).astype(np.int64)
        t = np.sort(np.maximum(t, 0))
        usd = jitter(rng, p["usd"], k.noise, n)
        _aggress(ctx, rng, ins, tag, t, BUY, usd, np.full(n, acct), 0.3)
        m = int(rng.integers(2, 8))
        t_s = p["announce_us"] + int(10 * MIN) + (rng.random(m) * p["exit_us"]).astype(np.int64)
        _aggress(ctx, rng, ins, tag, np.sort(t_s), SELL, np.full(m, usd.sum() * 1.1 / m), np.full(m, acct), 0.5)


@planner("insider_pre_listing")
def plan_insider(world: World, n: int, typology: str) -> Incident | None:
    """Buying, on venue A where the token already trades, in the hours before venue B announces it."""
    rng, k = rng_for(world, typology, n), knobs(world)
    if len(world.venues) < 2:
        return None
    used = {li for li in world.listings if li.announce_us < 4 * HOUR}
    # The insider buys where the book is already open: a venue that lists the token itself that day opens later.
    candidates = [li for li in world.listings if li not in used
                  and any(v != li.venue for v in world.venues_open_all_day(li.symbol, li.day))]
    if n < len(candidates):
        li = candidates[n]
    else:
        minors = [s.name for s in world.symbols if not s.major]
        for _ in range(30):
            sym = minors[int(rng.integers(len(minors)))] if minors else None
            day = int(rng.integers(world.config.days))
            if sym is None:
                return None
            off = [v for v in world.venues if (v, sym) not in world.listed]
            on = world.venues_open_all_day(sym, day)
            if off and on:
                li = extra_listing(world, rng, sym, off[int(rng.integers(len(off)))], day)
                break
        else:
            return None
    trading = [v for v in world.venues_open_all_day(li.symbol, li.day) if v != li.venue]
    venue = trading[int(rng.integers(len(trading)))]
    lead = int(min(li.announce_us - 10 * MIN, rng.uniform(1, 12) * HOUR))
    return InsiderPreListing(f"INC-{typology}-{n:03d}", typology, venue, li.symbol, li.day,
                             _ring(world, venue, rng, 1), k, {
                                 "announce_us": li.announce_us, "lead_us": max(lead, 20 * MIN),
                                 "exit_us": int(rng.uniform(0.5, 5) * HOUR),
                                 "usd": _typical(world, li.symbol) * rng.uniform(2, 8) * k.intensity,
                                 "listing_venue": li.venue})


# --- front running ---------------------------------------------------------------------------------------------

@dataclass
class FrontRunning(Incident):
    """A runner that knows a client's large market order is coming trades ahead of it, then unwinds into the
    move the order makes: partly by resting an exit where the order's sweep will reach (it sells to the client
    at a price above its own entry), the rest once the price has moved.

    Sizes and prices are the book's: the order's lasting impact is drawn against the deepest book's spread and
    grows with this book's spread (a thin book that a large order walks far moves further), and the runner's
    resting exit is priced in this book's half-spreads. Until session 8 the impact was 0.2-1 % whatever the book
    and every exit crossed the spread: the runner paid a thin book's spread twice (6 half-spreads a side) plus
    its walk on a move of a few half-spreads, and 136 of 169 matched runners lost money.
    """

    def overlay(self, venue, day, mid) -> None:
        p = self.params
        _bump(mid, p["client_us"], 20, 600, 1800, p["impact"] * p["sign"], keep=0.4)

    def inject(self, ctx, rng, ins, tag) -> None:
        k, p = self.knobs, self.params
        side = BUY if p["sign"] > 0 else SELL
        other = SELL if side == BUY else BUY
        sign = 1 if side == BUY else -1
        runner, client = self.accounts[0], p["client"]
        t_c = p["client_us"]
        n = int(rng.integers(1, 4))
        t_f = np.sort(t_c - (rng.uniform(0.2, 10.0, n) * (1 + k.noise) * US).astype(np.int64))
        usd = jitter(rng, p["usd"], k.noise, n)
        # The runner must be filled before the client's order lands, so it takes liquidity at market: a
        # price-protected limit can miss a thin book and leave no position ahead at all (no front running).
        _aggress(ctx, rng, ins, tag, t_f, side, usd, np.full(n, runner), 1.0)
        held = float(ctx.usd_lots(usd, t_f).sum())  # lots ordered: market orders fill them unless the book is empty
        # the client's large order, which the runner saw coming (part of the evidence, not a colluder)
        ck = ins.keys(1, tag)
        ins.add(np.array([t_c]), NEW, ck, side, MARKET, 0, ctx.usd_lots(np.array([p["client_usd"]]), np.array([t_c])),
                client)
        # It unwinds a share of its position, not exactly what it took (a runner may keep some or overshoot a
        # little), in one to three orders.
        total = held * rng.uniform(0.6, 1.05)
        m = int(rng.integers(1, 4))
        into = rng.random() < 0.9
        if into:
            # Most runners rest part of the exit where the client's sweep will reach, just before it lands; the
            # rest goes after the move, so an exit the sweep falls short of does not leave the whole position.
            m = max(m, 2)
            w1 = rng.uniform(0.3, 0.7)
            w = np.concatenate([[w1], (1 - w1) * (rng.dirichlet(np.ones(m - 1)) if m > 2 else np.ones(1))])
        else:
            w = rng.dirichlet(np.ones(m)) if m > 1 else np.ones(1)
        lots = np.maximum(np.rint(total * w), 1).astype(np.int64)
        if into:
            t_r = np.array([max(int(t_f[-1]) + 20_000, t_c - int(rng.uniform(0.05, 1.0) * US))])
            # 3-5 touches beyond the mid: beyond what its own entry paid in most books, within the client's
            # sweep in most; left a few minutes, the move itself may reach it where the sweep did not.
            dist = ctx.spread_at(t_r) * ctx.touch * rng.uniform(3.0, 5.0)
            rk = ins.keys(1, tag)
            ins.add(t_r, NEW, rk, other, LIMIT, ctx.ticks(ctx.mid_at(t_r) * (1 + sign * dist)), lots[:1], runner)
            ins.add(t_c + int(rng.uniform(60, 400) * US), CANCEL, rk, other, LIMIT, 0, 0, runner)
            lots = lots[1:]
        # The rest once the move has come (the impact rises over 20 s), mostly with price-protected limits:
        # an exit at market into a thin book gives back what the move brought.
        t_u = np.sort(t_c + 20 * US + (rng.lognormal(np.log(60), 1.0, len(lots)) * US).astype(np.int64))
        _aggress(ctx, rng, ins, tag, t_u, other, lots * ctx.symbol.lot * ctx.mid_at(t_u), np.full(len(lots), runner),
                 0.3)


@planner("front_running")
def plan_front(world: World, n: int, typology: str) -> Incident | None:
    from harbour.data.generate.run import book_flow  # here: run imports the planners

    rng, k = rng_for(world, typology, n), knobs(world)
    where = _where(world, rng)
    if where is None:
        return None
    venue, symbol, day = where
    runner, client = _ring(world, venue, rng, 2)
    typical = _typical(world, symbol)
    spec = next(s for s in world.symbols if s.name == symbol)
    # The impact of an order 30-120 typical orders large is 0.2-1 % on the deepest book (2 bp half-spread) and
    # as many of this book's half-spreads (the book's own rule, run.book_flow).
    spread = book_flow(world, venue, spec)[1] / 2.0
    return FrontRunning(f"INC-{typology}-{n:03d}", typology, venue, symbol, day, [runner], k, {
        "client": client, "client_us": int(rng.uniform(1, 23) * HOUR), "sign": 1 if rng.random() < 0.6 else -1,
        "client_usd": typical * rng.uniform(30, 120), "usd": typical * rng.uniform(2, 10) * k.intensity,
        "impact": float(rng.uniform(0.002, 0.01) * spread)})


# --- momentum ignition -----------------------------------------------------------------------------------------

@dataclass
class MomentumIgnition(Incident):
    def overlay(self, venue, day, mid) -> None:
        p = self.params
        _bump(mid, p["start_us"] + p["burst_us"], p["follow_s"], 60, 900, p["move"] * p["sign"])

    def inject(self, ctx, rng, ins, tag) -> None:
        k, p = self.knobs, self.params
        acct = self.accounts[0]
        side = BUY if p["sign"] > 0 else SELL
        other = SELL if side == BUY else BUY
        n = int(rng.integers(6, 30))
        t = p["start_us"] + np.sort((rng.random(n) * p["burst_us"]).astype(np.int64))
        _aggress(ctx, rng, ins, tag, t, side, jitter(rng, p["usd"], k.noise, n), np.full(n, acct), 0.7)
        # exit: part rests on the other side where the move will reach, part goes out at market near the top
        m = int(rng.integers(2, 6))
        t_e = int(t[-1]) + int(rng.uniform(1, 10) * US) + np.arange(m) * int(rng.uniform(0.2, 2) * US)
        mid = ctx.mid_at(t_e)
        sign = 1 if side == BUY else -1
        px = ctx.ticks(mid * (1 + sign * p["move"] * rng.uniform(0.1, 0.4, m)))
        keys = ins.keys(m, tag)
        total = p["usd"] * n * rng.uniform(0.6, 1.0)
        ins.add(t_e, NEW, keys, other, LIMIT, px, ctx.usd_lots(np.full(m, total / 2 / m), t_e), acct)
        ins.add(t_e + int(rng.uniform(3, 12) * MIN), CANCEL, keys, other, LIMIT, 0, 0, acct)
        k_out = int(rng.integers(2, 6))
        peak = int(t[-1]) + int(p["follow_s"] * US)
        t_out = np.sort(peak + (rng.normal(0, 0.3, k_out) * p["follow_s"] * US).astype(np.int64))
        _aggress(ctx, rng, ins, tag, t_out, other, np.full(k_out, total / 2 / k_out), np.full(k_out, acct), 0.7)


@planner("momentum_ignition")
def plan_momentum(world: World, n: int, typology: str) -> Incident | None:
    rng, k = rng_for(world, typology, n), knobs(world)
    where = _where(world, rng)
    if where is None:
        return None
    venue, symbol, day = where
    return MomentumIgnition(f"INC-{typology}-{n:03d}", typology, venue, symbol, day, _ring(world, venue, rng, 1), k, {
        "start_us": int(rng.uniform(0.5, 23) * HOUR), "burst_us": int(rng.uniform(1, 20) * US),
        "follow_s": float(rng.uniform(30, 180)), "move": float(rng.uniform(0.003, 0.01) * k.intensity),
        "sign": 1 if rng.random() < 0.5 else -1, "usd": _typical(world, symbol) * rng.uniform(1.5, 4)})


# --- quote stuffing --------------------------------------------------------------------------------------------

@dataclass
class QuoteStuffing(Incident):
    def inject(self, ctx, rng, ins, tag) -> None:
        k, p = self.knobs, self.params
        acct = self.accounts[0]
        for b in range(p["bursts"]):
            t0 = p["start_us"] + b * int(rng.uniform(0.5, 20) * MIN)
            dur = rng.uniform(1, 10) * US
            rate = p["rate"] * rng.lognormal(0, k.noise)
            n = int(min(dur / US * rate, 6_000))
            t = t0 + np.sort((rng.random(n) * dur).astype(np.int64))
            side = (rng.random(n) < 0.5).astype(np.int8)
            mid = ctx.mid_at(t)
            off = ctx.spread_at(t) * (1.0 + rng.integers(0, 6, n) * 0.5)
            px = np.where(side == BUY, ctx.ticks(mid * (1 - off), "floor"), ctx.ticks(mid * (1 + off), "ceil"))
            keys = ins.keys(n, tag)
            ins.add(t, NEW, keys, side, LIMIT, px, ctx.usd_lots(np.full(n, p["usd"]), t), acct)
            life = (rng.lognormal(np.log(8_000), 0.8, n)).astype(np.int64) + 500  # µs: milliseconds
            ins.add(t + life, CANCEL, keys, side, LIMIT, 0, 0, acct)


@planner("quote_stuffing")
def plan_stuffing(world: World, n: int, typology: str) -> Incident | None:
    rng, k = rng_for(world, typology, n), knobs(world)
    where = _where(world, rng)
    if where is None:
        return None
    venue, symbol, day = where
    return QuoteStuffing(f"INC-{typology}-{n:03d}", typology, venue, symbol, day, _ring(world, venue, rng, 1), k, {
        "bursts": int(rng.integers(1, 5)), "start_us": int(rng.uniform(0.5, 22) * HOUR),
        "rate": float(rng.uniform(150, 900) * k.intensity), "usd": _typical(world, symbol) * rng.uniform(0.2, 1.0)})


# --- cross-venue manipulation ----------------------------------------------------------------------------------

@dataclass
class CrossVenue(Incident):
    """Push the price on a thin venue A (``venue``), whose price feeds the reference that venue B's market
    makers quote around; sell into the lifted prices on B. Labelled on A; accounts and evidence on both."""

    def books(self) -> list[tuple[str, str, int]]:
        symbol = str(self.symbol)
        return [(self.venue, symbol, self.day), (str(self.params["other"]), symbol, self.day)]

    def overlay(self, venue, day, mid) -> None:
        p = self.params
        follow = 1.0 if venue == self.venue else 0.45
        _bump(mid, p["start_us"], p["push_us"] / US, 120, 900, p["push"] * follow)

    def inject(self, ctx, rng, ins, tag) -> None:
        k, p = self.knobs, self.params
        if ctx.venue == self.venue:
            n = int(rng.integers(10, 40))
            t = p["start_us"] + np.sort((rng.random(n) * p["push_us"]).astype(np.int64))
            _aggress(ctx, rng, ins, tag, t, BUY, jitter(rng, p["usd"], k.noise, n), np.full(n, self.accounts[0]), 0.6)
        else:
            acct = self.extra_accounts[0][1]
            m = int(rng.integers(3, 12))
            t = p["start_us"] + int(p["push_us"] * 0.6) + np.sort((rng.random(m) * (p["push_us"] + 120 * US))
                                                                    .astype(np.int64))
            _aggress(ctx, rng, ins, tag, t, SELL, jitter(rng, p["usd"] * 3, k.noise, m), np.full(m, acct), 0.5)


@planner("cross_venue")
def plan_cross(world: World, n: int, typology: str) -> Incident | None:
    rng, k = rng_for(world, typology, n), knobs(world)
    if len(world.venues) < 2:
        return None
    thin = world.venues[-1 - int(rng.integers(max(1, len(world.venues) - 1)))]
    other = next(v for v in world.venues if v != thin)
    day = int(rng.integers(world.config.days))
    syms = [s.name for s in world.symbols if world.trades_on(thin, s.name, day) and world.trades_on(other, s.name, day)
            and world.listing_on(thin, s.name, day) is None and world.listing_on(other, s.name, day) is None]
    if not syms:
        return None
    symbol = syms[int(rng.integers(len(syms)))]
    a = _ring(world, thin, rng, 1)[0]
    b = _ring(world, other, rng, 1)[0]
    # the same person on both venues
    va, vb = world.accounts[thin], world.accounts[other]
    vb.customer[b] = va.customer[a]
    vb.country[b] = va.country[a]
    if va.customer[a] >= 0:  # B wrote the same person's name its own way
        vb.name[b] = name_variant(world.customers[va.customer[a]], rng)
        vb.account_type[b] = va.account_type[a]
    return CrossVenue(f"INC-{typology}-{n:03d}", typology, thin, symbol, day, [a], k, {
        "other": other, "start_us": int(rng.uniform(0.5, 22) * HOUR), "push_us": int(rng.uniform(1, 10) * MIN),
        "push": float(rng.uniform(0.004, 0.015) * k.intensity), "usd": _typical(world, symbol) * rng.uniform(1, 4)},
        extra_accounts=[(other, b)])
