"""A price-time-priority limit order book per venue and symbol, as one numba kernel.

Input: instructions sorted by time (new / cancel / amend), prices in integer ticks and quantities in
integer lots, so matching is exact. Output: order events (new, amend, cancel, fill, expire; quantity is
the open quantity after the event) and trades (maker price, buy and sell order keys, aggressor side).
Self-trade prevention cancels the resting order when an account would trade with itself; honest
exchanges do this, so trades between an account and itself never appear.

Market makers replenish: when a market maker's quote is filled in full (resting, or on arrival against a
cheaper order), the engine posts a replacement for the same quote slot (maker, side, level) after a short
random delay, priced off the mid at that moment (see :class:`Replenish`). The replacement has a fresh order
key (numbered after the instructions' keys) and takes over the filled order's place in the maker's stream:
the maker's later amends and cancels of the filled order act on it; a cancel or amend that arrives while it
is still pending replaces it (the maker has re-quoted the slot itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

NEW, CANCEL, AMEND = 0, 1, 2  # instruction kinds
EV_NEW, EV_AMEND, EV_CANCEL, EV_FILL, EV_EXPIRE = 0, 1, 2, 3, 4
EVENT_NAMES = ("new", "amend", "cancel", "fill", "expire")
BUY, SELL = 0, 1
LIMIT, MARKET = 0, 1
PENDING_CAP = 4096  # replacements waiting at once in one book (more are not scheduled: a few dozen is usual)
INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Replenish:
    """How market makers re-post filled quotes. Quote slots are numbered; ``slot`` gives each instruction
    key's slot (-1: not a market maker's quote). A replacement for a slot is priced like the slot's quotes:
    ``mid x (1 -/+ half x width x (1 + level x (1.5 + U)))`` rounded away from the mid, for
    ``usd x LogNormal(0, 0.5)`` of notional, after a LogNormal(log ``delay_us``, ``delay_sigma``) delay."""

    slot: np.ndarray  # int32 per instruction key
    width: np.ndarray  # float64 per slot: the maker's quote distance in half-spreads
    level: np.ndarray  # float64 per slot: 0 at the touch, 1, 2 behind it
    usd: np.ndarray  # float64 per slot: median notional
    mid: np.ndarray  # float64 per second: the book's mid
    half: np.ndarray  # float64 per minute: the half-spread as a fraction of price
    tick: float
    lot: float
    seed: int  # of the delays, level jitters and sizes (a counter-based hash, so any worker draws the same)
    delay_us: float = 250_000.0
    delay_sigma: float = 1.0
    last_us: int = 0  # no replacement is posted after this time (0: never replenish)

    @staticmethod
    def none(n_keys: int) -> Replenish:
        z = np.zeros(1, np.float64)
        return Replenish(np.full(n_keys, -1, np.int32), z, z, z, z + 1.0, z, 1.0, 1.0, 0)


@dataclass(frozen=True)
class BookResult:
    ev_ts: np.ndarray
    ev_key: np.ndarray
    ev_kind: np.ndarray
    ev_px: np.ndarray  # ticks, -1 for market orders
    ev_lots: np.ndarray
    tr_ts: np.ndarray
    tr_buy: np.ndarray
    tr_sell: np.ndarray
    tr_px: np.ndarray
    tr_lots: np.ndarray
    tr_aggr: np.ndarray  # BUY or SELL
    rep_root: np.ndarray  # per replacement key (n_keys, n_keys + 1, ...): the instruction key it descends from

    def per_key(self, values: np.ndarray) -> np.ndarray:
        """A per-instruction-key array extended to the replacement keys (which inherit their root's value)."""
        return np.concatenate([values, values[self.rep_root]])


def run_book(ts: np.ndarray, kind: np.ndarray, key: np.ndarray, side: np.ndarray, otype: np.ndarray,
             px: np.ndarray, lots: np.ndarray, acct: np.ndarray, n_keys: int, base_tick: int, n_levels: int,
             expire_ts: int, replenish: Replenish | None = None) -> BookResult:
    """Match one day of one book; retries with larger buffers if the first estimate was short."""
    n = len(ts)
    rp = replenish or Replenish.none(n_keys)
    if len(rp.slot) != n_keys:
        raise ValueError(f"replenish.slot has {len(rp.slot)} keys, the instructions {n_keys}")
    ev_cap, tr_cap, rep_cap = 3 * n + 1024, n // 2 + 1024, n // 8 + 1024
    while True:
        out = _match(ts, kind, key, side, otype, px, lots, acct, n_keys, base_tick, n_levels, expire_ts,
                     ev_cap, tr_cap, rep_cap, rp.slot, rp.width, rp.level, rp.usd, rp.mid, rp.half,
                     float(rp.tick), float(rp.lot), np.uint64(rp.seed), float(rp.delay_us), float(rp.delay_sigma),
                     int(rp.last_us))
        n_ev, n_tr = out[0], out[1]
        if n_ev >= 0:
            break
        ev_cap, tr_cap, rep_cap = ev_cap * 2, tr_cap * 2, rep_cap * 2
    (_, _, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots, tr_aggr, n_rep,
     rep_root) = out
    return BookResult(ev_ts[:n_ev], ev_key[:n_ev], ev_kind[:n_ev], ev_px[:n_ev], ev_lots[:n_ev],
                      tr_ts[:n_tr], tr_buy[:n_tr], tr_sell[:n_tr], tr_px[:n_tr], tr_lots[:n_tr], tr_aggr[:n_tr],
                      rep_root[:n_rep])


@njit(cache=True)
def _match(ts, kind, key, side, otype, px, lots, acct, n_keys, base_tick, n_levels, expire_ts, ev_cap, tr_cap,
           rep_cap, slot, rp_width, rp_level, rp_usd, rp_mid, rp_half, tick, lot, seed, delay_us, delay_sigma,
           last_us):
    L = n_levels
    K = n_keys + rep_cap  # instruction keys, then replacement keys
    head = np.full((2, L), -1, np.int32)
    tail = np.full((2, L), -1, np.int32)
    nxt = np.full(K, -1, np.int32)
    prv = np.full(K, -1, np.int32)
    o_lvl = np.full(K, -1, np.int64)
    o_open = np.zeros(K, np.int64)
    o_side = np.zeros(K, np.int8)
    o_type = np.zeros(K, np.int8)
    o_acct = np.zeros(K, np.int32)
    o_state = np.zeros(K, np.int8)  # 0 unseen, 1 resting, 2 done
    n_rest = np.zeros(2, np.int64)
    best = np.array([-1, L], np.int64)  # best bid level, best ask level

    # replenishment: a filled quote's key points at its replacement (>= 0), or is pending (-2) or dropped (-3)
    o_slot = np.full(K, -1, np.int32)
    o_slot[:n_keys] = slot
    alias = np.full(K, -1, np.int64)
    rep_root = np.empty(rep_cap, np.int64)
    n_rep = 0
    pd_t = np.empty(PENDING_CAP, np.int64)  # pending replacements: when, for which filled key, draw number
    pd_key = np.empty(PENDING_CAP, np.int64)
    pd_seq = np.empty(PENDING_CAP, np.int64)
    n_pend = 0
    n_sched = 0
    due = np.int64(INT64_MAX)  # earliest pending time

    ev_ts = np.empty(ev_cap, np.int64)
    ev_key = np.empty(ev_cap, np.int64)
    ev_kind = np.empty(ev_cap, np.int8)
    ev_px = np.empty(ev_cap, np.int64)
    ev_lots = np.empty(ev_cap, np.int64)
    tr_ts = np.empty(tr_cap, np.int64)
    tr_buy = np.empty(tr_cap, np.int64)
    tr_sell = np.empty(tr_cap, np.int64)
    tr_px = np.empty(tr_cap, np.int64)
    tr_lots = np.empty(tr_cap, np.int64)
    tr_aggr = np.empty(tr_cap, np.int8)
    ne = 0
    nt = 0

    n = len(ts)
    i = 0
    while i < n or n_pend > 0:
        if ne + 8 >= ev_cap or nt + 2 >= tr_cap:
            return (-1, -1, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots, tr_aggr,
                    n_rep, rep_root)
        if n_pend > 0 and (i >= n or due <= ts[i]):
            # a market maker's replacement quote is due: post it as a new order of a fresh key
            j = 0
            for q in range(1, n_pend):
                if pd_t[q] < pd_t[j] or (pd_t[q] == pd_t[j] and pd_seq[q] < pd_seq[j]):
                    j = q
            t, m, sq = pd_t[j], pd_key[j], pd_seq[j]
            n_pend = _drop_pending(j, n_pend, pd_t, pd_key, pd_seq)
            due = _earliest(n_pend, pd_t)
            if n_rep >= rep_cap:
                return (-1, -1, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots,
                        tr_aggr, n_rep, rep_root)
            k, i_side, i_acct = _replacement(m, n_keys, n_rep, rep_root, alias, o_slot, o_side, o_acct)
            n_rep += 1
            kd, i_type = 0, 0
            i_px, i_lots = _quote(o_slot[m], i_side, t, seed, sq, rp_width, rp_level, rp_usd, rp_mid, rp_half, tick,
                                  lot)
        else:
            k = key[i]
            t = ts[i]
            kd = kind[i]
            i_side = side[i]
            i_type = otype[i]
            i_px = px[i]
            i_lots = lots[i]
            i_acct = acct[i]
            i += 1
            if kd != 0:
                while alias[k] >= 0:  # the maker's filled quote was replaced: act on the replacement
                    k = alias[k]
                if alias[k] == -2:  # the maker re-quotes the slot before its replacement is due
                    j = 0
                    while pd_key[j] != k:
                        j += 1
                    n_pend = _drop_pending(j, n_pend, pd_t, pd_key, pd_seq)
                    due = _earliest(n_pend, pd_t)
                    if kd == 1:
                        alias[k] = -3
                        continue
                    if n_rep >= rep_cap:
                        return (-1, -1, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px,
                                tr_lots, tr_aggr, n_rep, rep_root)
                    m = k  # the amend's price and size become the replacement's
                    k, i_side, i_acct = _replacement(m, n_keys, n_rep, rep_root, alias, o_slot, o_side, o_acct)
                    n_rep += 1
                    kd, i_type = 0, 0
        if kd == 0:  # new
            if o_state[k] != 0:
                continue
            lvl = i_px - base_tick
            if i_type == 0 and (lvl < 0 or lvl >= L):
                o_state[k] = 2  # outside the book's price band: rejected, no event
                continue
            o_side[k] = i_side
            o_type[k] = i_type
            o_acct[k] = i_acct
            o_open[k] = i_lots
            o_lvl[k] = lvl if i_type == 0 else -1
            ev_ts[ne] = t
            ev_key[ne] = k
            ev_kind[ne] = 0
            ev_px[ne] = i_px if i_type == 0 else -1
            ev_lots[ne] = i_lots
            ne += 1
        elif kd == 1:  # cancel
            if o_state[k] != 1:
                continue
            _unlink(k, o_side, o_lvl, nxt, prv, head, tail, n_rest, best, L)
            o_state[k] = 2
            o_open[k] = 0
            ev_ts[ne] = t
            ev_key[ne] = k
            ev_kind[ne] = 2
            ev_px[ne] = o_lvl[k] + base_tick
            ev_lots[ne] = 0
            ne += 1
            continue
        else:  # amend
            if o_state[k] != 1:
                continue
            lvl = i_px - base_tick
            if lvl < 0 or lvl >= L:
                continue
            if lvl == o_lvl[k] and i_lots <= o_open[k]:
                o_open[k] = i_lots  # size down at the same price keeps time priority
                ev_ts[ne] = t
                ev_key[ne] = k
                ev_kind[ne] = 1
                ev_px[ne] = i_px
                ev_lots[ne] = i_lots
                ne += 1
                continue
            _unlink(k, o_side, o_lvl, nxt, prv, head, tail, n_rest, best, L)
            o_lvl[k] = lvl
            o_open[k] = i_lots
            ev_ts[ne] = t
            ev_key[ne] = k
            ev_kind[ne] = 1
            ev_px[ne] = i_px
            ev_lots[ne] = i_lots
            ne += 1
        # match the incoming (new or re-priced) order k against the other side
        s = o_side[k]
        other = 1 - s
        filled = False
        while o_open[k] > 0 and n_rest[other] > 0:
            b = best[other]
            if o_type[k] == 0:
                if s == 0 and b > o_lvl[k]:
                    break
                if s == 1 and b < o_lvl[k]:
                    break
            m = head[other, b]
            if o_acct[m] == o_acct[k]:  # self-trade prevention: cancel the resting order
                _unlink(m, o_side, o_lvl, nxt, prv, head, tail, n_rest, best, L)
                o_state[m] = 2
                o_open[m] = 0
                ev_ts[ne] = t
                ev_key[ne] = m
                ev_kind[ne] = 2
                ev_px[ne] = b + base_tick
                ev_lots[ne] = 0
                ne += 1
                if ne + 8 >= ev_cap:
                    return (-1, -1, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots,
                            tr_aggr, n_rep, rep_root)
                continue
            q = min(o_open[k], o_open[m])
            o_open[k] -= q
            o_open[m] -= q
            filled = True
            tr_ts[nt] = t
            tr_buy[nt] = k if s == 0 else m
            tr_sell[nt] = m if s == 0 else k
            tr_px[nt] = b + base_tick
            tr_lots[nt] = q
            tr_aggr[nt] = s
            nt += 1
            ev_ts[ne] = t
            ev_key[ne] = m
            ev_kind[ne] = 3
            ev_px[ne] = b + base_tick
            ev_lots[ne] = o_open[m]
            ne += 1
            if o_open[m] == 0:
                _unlink(m, o_side, o_lvl, nxt, prv, head, tail, n_rest, best, L)
                o_state[m] = 2
                if o_slot[m] >= 0:  # a market maker's quote was taken: re-post it later
                    n_pend, n_sched, due = _schedule(m, t, n_pend, n_sched, due, pd_t, pd_key, pd_seq, alias, seed,
                                                     delay_us, delay_sigma, last_us)
            if ne + 8 >= ev_cap or nt + 2 >= tr_cap:
                return (-1, -1, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots,
                        tr_aggr, n_rep, rep_root)
        if filled:
            ev_ts[ne] = t
            ev_key[ne] = k
            ev_kind[ne] = 3
            ev_px[ne] = o_lvl[k] + base_tick if o_type[k] == 0 else -1
            ev_lots[ne] = o_open[k]
            ne += 1
        if o_open[k] == 0:
            o_state[k] = 2
            if filled and o_slot[k] >= 0:  # a market maker's quote that crossed a cheaper order is re-posted too
                n_pend, n_sched, due = _schedule(k, t, n_pend, n_sched, due, pd_t, pd_key, pd_seq, alias, seed,
                                                 delay_us, delay_sigma, last_us)
        elif o_type[k] == 1:  # unfilled rest of a market order is cancelled
            o_open[k] = 0
            o_state[k] = 2
            ev_ts[ne] = t
            ev_key[ne] = k
            ev_kind[ne] = 2
            ev_px[ne] = -1
            ev_lots[ne] = 0
            ne += 1
        else:
            _link(k, s, o_lvl[k], nxt, prv, head, tail, n_rest, best)
            o_state[k] = 1
    # day orders still resting at the end of the day expire
    for k in range(n_keys + n_rep):
        if o_state[k] == 1:
            if ne + 1 >= ev_cap:
                return (-1, -1, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots,
                        tr_aggr, n_rep, rep_root)
            ev_ts[ne] = expire_ts
            ev_key[ne] = k
            ev_kind[ne] = 4
            ev_px[ne] = o_lvl[k] + base_tick
            ev_lots[ne] = 0
            ne += 1
    return (ne, nt, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots, tr_aggr, n_rep,
            rep_root)


@njit(cache=True)
def _schedule(m, t, n_pend, n_sched, due, pd_t, pd_key, pd_seq, alias, seed, delay_us, delay_sigma, last_us):
    """Schedule the replacement of the market maker's filled quote ``m``; returns the pending count, the
    draw counter and the earliest pending time."""
    if n_pend < PENDING_CAP:
        at = t + _delay(seed, n_sched, delay_us, delay_sigma)
        if at <= last_us:
            pd_t[n_pend] = at
            pd_key[n_pend] = m
            pd_seq[n_pend] = n_sched
            n_pend += 1
            alias[m] = -2
            due = min(due, at)
    return n_pend, n_sched + 1, due


@njit(cache=True)
def _replacement(m, n_keys, n_rep, rep_root, alias, o_slot, o_side, o_acct):
    """The fresh key of filled quote ``m``'s replacement (the ``n_rep``-th), with the side and account it is
    placed for: it remembers the instruction key it descends from, takes ``m``'s quote slot, and ``m``'s later
    amends and cancels are redirected to it."""
    k = n_keys + n_rep
    rep_root[n_rep] = m if m < n_keys else rep_root[m - n_keys]
    alias[m] = k
    o_slot[k] = o_slot[m]
    return k, o_side[m], o_acct[m]


@njit(cache=True)
def _drop_pending(j, n_pend, pd_t, pd_key, pd_seq):
    """Remove pending entry ``j`` (the last one takes its place); returns the new count."""
    last = n_pend - 1
    pd_t[j], pd_key[j], pd_seq[j] = pd_t[last], pd_key[last], pd_seq[last]
    return last


@njit(cache=True)
def _earliest(n_pend, pd_t):
    due = INT64_MAX
    for q in range(n_pend):
        if pd_t[q] < due:
            due = pd_t[q]
    return due


@njit(cache=True)
def _uniform(seed, i):
    """The ``i``-th uniform in [0, 1) of ``seed``: a splitmix64 hash, so draws need no generator state."""
    z = seed + np.uint64(i + 1) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _normal(seed, i):
    """A standard normal from draws ``i`` and ``i + 1`` (Box-Muller)."""
    u = 1.0 - _uniform(seed, i)  # in (0, 1]
    return np.sqrt(-2.0 * np.log(u)) * np.cos(2.0 * np.pi * _uniform(seed, i + 1))


@njit(cache=True)
def _delay(seed, sq, delay_us, delay_sigma):
    """How long (µs, at least a millisecond) a market maker takes to re-post quote number ``sq``."""
    d = delay_us * np.exp(delay_sigma * _normal(seed, 8 * sq))
    return max(np.int64(1000), np.int64(d))


@njit(cache=True)
def _quote(sl, s, t, seed, sq, width, level, usd, mid, half, tick, lot):
    """Price (ticks) and size (lots) of replacement ``sq`` for slot ``sl`` on side ``s`` at time ``t``, as the
    flow prices a market maker's quote: the slot's distance from the mid at ``t``, rounded away from it."""
    m = mid[min(max(t // 1_000_000, 0), len(mid) - 1)]
    h = half[min(max(t // 60_000_000, 0), len(half) - 1)]
    off = h * width[sl] * (1.0 + level[sl] * (1.5 + _uniform(seed, 8 * sq + 2)))
    p = np.int64(np.floor(m * (1.0 - off) / tick)) if s == 0 else np.int64(np.ceil(m * (1.0 + off) / tick))
    size = usd[sl] * np.exp(0.5 * _normal(seed, 8 * sq + 3))
    return p, max(np.int64(1), np.int64(np.rint(size / m / lot)))


@njit(cache=True)
def _link(k, s, lvl, nxt, prv, head, tail, n_rest, best):
    nxt[k] = -1
    prv[k] = tail[s, lvl]
    if tail[s, lvl] >= 0:
        nxt[tail[s, lvl]] = k
    else:
        head[s, lvl] = k
    tail[s, lvl] = k
    n_rest[s] += 1
    if s == 0:
        if lvl > best[0]:
            best[0] = lvl
    elif lvl < best[1]:
        best[1] = lvl


@njit(cache=True)
def _unlink(k, o_side, o_lvl, nxt, prv, head, tail, n_rest, best, L):
    s = o_side[k]
    lvl = o_lvl[k]
    if prv[k] >= 0:
        nxt[prv[k]] = nxt[k]
    else:
        head[s, lvl] = nxt[k]
    if nxt[k] >= 0:
        prv[nxt[k]] = prv[k]
    else:
        tail[s, lvl] = prv[k]
    nxt[k] = -1
    prv[k] = -1
    n_rest[s] -= 1
    if head[s, lvl] == -1 and best[s] == lvl:
        if n_rest[s] == 0:
            best[s] = -1 if s == 0 else L
        elif s == 0:
            b = lvl
            while b >= 0 and head[0, b] == -1:
                b -= 1
            best[0] = b
        else:
            b = lvl
            while b < L and head[1, b] == -1:
                b += 1
            best[1] = b
