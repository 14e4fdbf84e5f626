"""Market-abuse incidents: each injects orders into a book (through the real matching engine) and, where
the market would react, moves that venue's mid price. See docs/generator.md for each behaviour."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harbour.data.generate.book import BUY, CANCEL, LIMIT, MARKET, NEW, SELL
from harbour.data.generate.flow import US, BookContext, Instructions
from harbour.data.generate.incidents import knobs, planner, rng_for
from harbour.data.generate.incidents.base import Incident, jitter
from harbour.data.generate.world import World

HOUR = 3600 * US
MIN = 60 * US


def _ring(world: World, venue: str, rng: np.random.Generator, size: int, share_customer: bool = False) -> list[int]:
    """Colluding ordinary accounts, drawn from the middle of the activity ranking (not the busiest)."""
    va = world.accounts[venue]
    traders = va.traders()
    order = traders[np.argsort(-va.activity[traders], kind="stable")]
    pool = order[len(order) // 20:] if len(order) > 40 else order
    picked = [int(x) for x in rng.choice(pool, size=min(size, len(pool)), replace=False)]
    if share_customer and len(picked) >= 2:
        va.customer[picked[1]] = va.customer[picked[0]]  # two accounts of one person
        va.name[picked[1]] = va.name[picked[0]]
        va.country[picked[1]] = va.country[picked[0]]
    return picked


def _where(world: World, rng: np.random.Generator, minor: bool = False) -> tuple[str, str, int] | None:
    for _ in range(50):
        venue = world.venues[int(rng.integers(len(world.venues)))]
        day = int(rng.integers(world.config.days))
        syms = [s.name for s in world.symbols if world.trades_on(venue, s.name, day) and (s.major != minor or not minor)
                and world.listing_on(venue, s.name, day) is None]
        if minor:
            syms = [s for s in syms if not next(x for x in world.symbols if x.name == s).major] or syms
        if syms:
            return venue, syms[int(rng.integers(len(syms)))], day
    return None


def _bump(mid: np.ndarray, t0_us: int, rise_s: float, hold_s: float, decay_s: float, size: float,
          keep: float = 0.0) -> None:
    """Multiply the mid by a bump: rises over ``rise_s``, holds, then decays to ``keep`` of its size."""
    s0 = int(t0_us // US)
    n = len(mid) - s0
    if n <= 0:
        return
    x = np.arange(n, dtype=np.float64)
    up = np.clip(x / max(rise_s, 1.0), 0, 1)
    down = np.clip((x - rise_s - hold_s) / max(decay_s, 1.0), 0, 1)
    mid[s0:] *= 1.0 + size * (up - (1.0 - keep) * down * (x > rise_s + hold_s))


def _marketable(ctx: BookContext, t: np.ndarray, side: int, reach: float | np.ndarray = 3.0) -> np.ndarray:
    """A limit price that crosses the spread (an aggressive but price-protected order): ``reach`` spread
    units beyond where the best market maker's quote can be. A quote is placed ``touch`` spreads from the mid
    of its time and re-placed only once the mid has moved by about as much again, so the best quote may stand
    up to twice ``touch`` from the current mid: priced off the mid plus one touch, a thin book's stale quote
    is often out of reach and the "aggressive" order rests unfilled, leaving no trace of the behaviour."""
    off = ctx.spread_at(t) * (2.0 * ctx.touch + reach)
    mid = ctx.mid_at(t)
    return ctx.ticks(mid * (1 + off)) if side == BUY else ctx.ticks(mid * (1 - off))


# --- wash trades -------------------------------------------------------------------------------------------------

@dataclass
class WashTrade(Incident):
    def inject(self, ctx: BookContext, rng: np.random.Generator, ins: Instructions, tag: int) -> None:
        k, p = self.knobs, self.params
        n = p["rounds"]
        t = np.sort(p["start_us"] + (rng.random(n) * p["duration_us"]).astype(np.int64))
        ring = np.array(self.accounts)
        seller = ring[np.arange(n) % len(ring)]
        buyer = ring[(np.arange(n) + 1 + (rng.random(n) < 0.3)) % len(ring)]
        buyer = np.where(buyer == seller, ring[(np.arange(n) + 1) % len(ring)], buyer)
        flip = (np.arange(n) // 2) % 2 == 1  # pairs of rounds go back and forth: little net change
        seller, buyer = np.where(flip, buyer, seller), np.where(flip, seller, buyer)
        usd = jitter(rng, p["usd"], k.noise, n)
        lots = ctx.usd_lots(usd, t)
        px = ctx.ticks(ctx.mid_at(t) * (1 + rng.normal(0, 0.15, n) * ctx.spread_at(t)))
        maker_sells = rng.random(n) < 0.5
        delay = (rng.lognormal(np.log(0.8), 0.6 + k.noise * 2, n) * US).astype(np.int64) + 1000
        mk, tk = ins.keys(n, tag), ins.keys(n, tag)
        maker_acct = np.where(maker_sells, seller, buyer)
        taker_acct = np.where(maker_sells, buyer, seller)
        ins.add(t, NEW, mk, np.where(maker_sells, SELL, BUY), LIMIT, px, lots, maker_acct)
        ins.add(t + delay, NEW, tk, np.where(maker_sells, BUY, SELL), LIMIT, px, lots, taker_acct)
        # leftovers (when someone else got in between) are pulled independently by each account
        tidy_m = t + delay + (rng.lognormal(np.log(3.0), 1.0, n) * US).astype(np.int64)
        tidy_t = t + delay + (rng.lognormal(np.log(2.0), 1.0, n) * US).astype(np.int64)
        ins.add(tidy_m, CANCEL, mk, 0, LIMIT, 0, 0, maker_acct)
        ins.add(tidy_t, CANCEL, tk, 0, LIMIT, 0, 0, taker_acct)
        _dilute(ctx, rng, ins, ring, int(k.dilution * n), p["start_us"], p["duration_us"], p["usd"])


def _dilute(ctx: BookContext, rng: np.random.Generator, ins: Instructions, ring: np.ndarray, n: int, start: int,
            duration: int, usd: float) -> None:
    """Honest trades by the colluders with the market during the incident (not part of the incident)."""
    if n <= 0:
        return
    t = start + (rng.random(n) * duration).astype(np.int64)
    side = (rng.random(n) < 0.5).astype(np.int8)
    ins.add(t, NEW, ins.keys(n), side, MARKET, 0, ctx.usd_lots(usd * rng.lognormal(0, 0.5, n), t),
            ring[rng.integers(0, len(ring), n)])


@planner("wash_trade")
def plan_wash(world: World, n: int, typology: str) -> Incident | None:
    rng, k = rng_for(world, typology, n), knobs(world)
    where = _where(world, rng)
    if where is None:
        return None
    venue, symbol, day = where
    size = int(rng.integers(k.ring_min, k.ring_max + 1))
    ring = _ring(world, venue, rng, size, share_customer=rng.random() < 0.5)
    duration = int(rng.uniform(0.2, 3.0) * HOUR)
    return WashTrade(f"INC-{typology}-{n:03d}", typology, venue, symbol, day, ring, k, {
        "rounds": int(rng.integers(10, 50)), "start_us": int(rng.uniform(0.5, 22.0) * HOUR - duration / 2),
        "duration_us": duration, "usd": float(rng.uniform(1_500, 12_000))}, both_sides=True)


# --- spoofing and layering --------------------------------------------------------------------------------------

@dataclass
class Spoof(Incident):
    def overlay(self, venue: str, day: int, mid: np.ndarray) -> None:
        p = self.params
        for r in range(p["repeats"]):
            t0 = p["start_us"] + r * p["gap_us"]
            _bump(mid, t0, 2.0, p["stand_s"], 30.0, p["lean"] * (1 if p["bait_side"] == BUY else -1))

    def inject(self, ctx: BookContext, rng: np.random.Generator, ins: Instructions, tag: int) -> None:
        k, p = self.knobs, self.params
        acct = self.accounts[0]
        bait_side = p["bait_side"]
        real_side = SELL if bait_side == BUY else BUY
        for r in range(p["repeats"]):
            t0 = p["start_us"] + r * p["gap_us"] + int(rng.integers(0, 30 * US))
            levels = p["levels"]
            lv = np.arange(levels)
            mid = float(ctx.mid_at(np.array([t0]))[0])
            sp = float(ctx.spread_at(np.array([t0]))[0])
            # behind the best market maker's quote, away from the touch, one level after another: a quote stands up
            # to twice ``touch`` from the mid before it is re-placed (see _marketable), so bait only one touch out
            # was often the best price on its side and was filled, which bait is not meant to be
            depth = sp * (2.0 * ctx.touch + rng.uniform(0.5, 4.0)) + lv * sp * rng.uniform(0.6, 1.5)
            px = ctx.ticks(mid * (1 - depth)) if bait_side == BUY else ctx.ticks(mid * (1 + depth))
            usd = jitter(rng, p["bait_usd"], k.noise, levels)
            tb = t0 + (lv * rng.uniform(0.05, 0.6) * US).astype(np.int64)
            bait = ins.keys(levels, tag)
            ins.add(tb, NEW, bait, bait_side, LIMIT, px, ctx.usd_lots(usd, tb), acct)
            t_real = int(tb[-1] + rng.uniform(0.3, 6.0) * US)
            real = ins.keys(1, tag)
            real_px = _marketable(ctx, np.array([t_real]), real_side, reach=0.3)  # hits the touch only
            # ... and never its own bait deeper in the book: priced through it, the genuine order would meet the
            # bait, and the venue's self-trade prevention would cancel the bait in that instant, before it served
            real_px = np.maximum(real_px, px.max() + 1) if real_side == SELL else np.minimum(real_px, px.min() - 1)
            ins.add(np.array([t_real]), NEW, real, real_side, LIMIT, real_px,
                    ctx.usd_lots(np.array([jitter(rng, p["real_usd"], k.noise)]), np.array([t_real])), acct)
            # whatever of the genuine order did not fill is pulled after a while, like anyone's would be
            t_pull = t_real + int(rng.lognormal(np.log(20.0), 1.2) * US)
            ins.add(np.array([t_pull]), CANCEL, real, real_side, LIMIT, 0, 0, acct)
            t_cancel = t_real + (rng.lognormal(np.log(p["cancel_s"]), 0.5 + k.noise, levels) * US).astype(np.int64)
            ins.add(t_cancel + 1000, CANCEL, bait, bait_side, LIMIT, 0, 0, acct)


def _plan_spoof(world: World, n: int, typology: str, levels: tuple[int, int]) -> Incident | None:
    rng, k = rng_for(world, typology, n), knobs(world)
    where = _where(world, rng)
    if where is None:
        return None
    venue, symbol, day = where
    spec = next(s for s in world.symbols if s.name == symbol)
    typical = 2_500.0 * np.sqrt(spec.popularity)
    return Spoof(f"INC-{typology}-{n:03d}", typology, venue, symbol, day, _ring(world, venue, rng, 1), k, {
        "repeats": int(rng.integers(1, 5)), "start_us": int(rng.uniform(0.5, 20.0) * HOUR),
        "gap_us": int(rng.uniform(2, 40) * MIN), "levels": int(rng.integers(*levels)),
        "bait_side": int(rng.integers(2)), "bait_usd": typical * rng.uniform(6, 25) * k.intensity,
        "real_usd": typical * rng.uniform(0.8, 3.0), "cancel_s": float(rng.uniform(0.5, 20.0)),
        "stand_s": float(rng.uniform(3, 20)), "lean": float(rng.uniform(1, 4)) * 1e-4})


@planner("spoofing")
def plan_spoofing(world: World, n: int, typology: str) -> Incident | None:
    return _plan_spoof(world, n, typology, (1, 3))


@planner("layering")
def plan_layering(world: World, n: int, typology: str) -> Incident | None:
    return _plan_spoof(world, n, typology, (3, 7))
