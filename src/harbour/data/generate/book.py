"""A price-time-priority limit order book per venue and symbol, as one numba kernel.

Input: instructions sorted by time (new / cancel / amend), prices in integer ticks and quantities in
integer lots, so matching is exact. Output: order events (new, amend, cancel, fill, expire; quantity is
the open quantity after the event) and trades (maker price, buy and sell order keys, aggressor side).
Self-trade prevention cancels the resting order when an account would trade with itself; honest
exchanges do this, so trades between an account and itself never appear.
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


def run_book(ts: np.ndarray, kind: np.ndarray, key: np.ndarray, side: np.ndarray, otype: np.ndarray,
             px: np.ndarray, lots: np.ndarray, acct: np.ndarray, n_keys: int, base_tick: int, n_levels: int,
             expire_ts: int) -> BookResult:
    """Match one day of one book; retries with larger buffers if the first estimate was short."""
    n = len(ts)
    ev_cap, tr_cap = 3 * n + 1024, n // 2 + 1024
    while True:
        out = _match(ts, kind, key, side, otype, px, lots, acct, n_keys, base_tick, n_levels, expire_ts,
                     ev_cap, tr_cap)
        n_ev, n_tr = out[0], out[1]
        if n_ev >= 0:
            break
        ev_cap, tr_cap = ev_cap * 2, tr_cap * 2
    (_, _, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots, tr_aggr) = out
    return BookResult(ev_ts[:n_ev], ev_key[:n_ev], ev_kind[:n_ev], ev_px[:n_ev], ev_lots[:n_ev],
                      tr_ts[:n_tr], tr_buy[:n_tr], tr_sell[:n_tr], tr_px[:n_tr], tr_lots[:n_tr], tr_aggr[:n_tr])


@njit(cache=True)
def _match(ts, kind, key, side, otype, px, lots, acct, n_keys, base_tick, n_levels, expire_ts, ev_cap, tr_cap):
    L = n_levels
    head = np.full((2, L), -1, np.int32)
    tail = np.full((2, L), -1, np.int32)
    nxt = np.full(n_keys, -1, np.int32)
    prv = np.full(n_keys, -1, np.int32)
    o_lvl = np.full(n_keys, -1, np.int64)
    o_open = np.zeros(n_keys, np.int64)
    o_side = np.zeros(n_keys, np.int8)
    o_type = np.zeros(n_keys, np.int8)
    o_acct = np.zeros(n_keys, np.int32)
    o_state = np.zeros(n_keys, np.int8)  # 0 unseen, 1 resting, 2 done
    n_rest = np.zeros(2, np.int64)
    best = np.array([-1, L], np.int64)  # best bid level, best ask level

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

    for i in range(len(ts)):
        if ne + 8 >= ev_cap or nt + 2 >= tr_cap:
            return (-1, -1, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots, tr_aggr)
        k = key[i]
        t = ts[i]
        kd = kind[i]
        if kd == 0:  # new
            if o_state[k] != 0:
                continue
            lvl = px[i] - base_tick
            if otype[i] == 0 and (lvl < 0 or lvl >= L):
                o_state[k] = 2  # outside the book's price band: rejected, no event
                continue
            o_side[k] = side[i]
            o_type[k] = otype[i]
            o_acct[k] = acct[i]
            o_open[k] = lots[i]
            o_lvl[k] = lvl if otype[i] == 0 else -1
            ev_ts[ne] = t
            ev_key[ne] = k
            ev_kind[ne] = 0
            ev_px[ne] = px[i] if otype[i] == 0 else -1
            ev_lots[ne] = lots[i]
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
            lvl = px[i] - base_tick
            if lvl < 0 or lvl >= L:
                continue
            if lvl == o_lvl[k] and lots[i] <= o_open[k]:
                o_open[k] = lots[i]  # size down at the same price keeps time priority
                ev_ts[ne] = t
                ev_key[ne] = k
                ev_kind[ne] = 1
                ev_px[ne] = px[i]
                ev_lots[ne] = lots[i]
                ne += 1
                continue
            _unlink(k, o_side, o_lvl, nxt, prv, head, tail, n_rest, best, L)
            o_lvl[k] = lvl
            o_open[k] = lots[i]
            ev_ts[ne] = t
            ev_key[ne] = k
            ev_kind[ne] = 1
            ev_px[ne] = px[i]
            ev_lots[ne] = lots[i]
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
                            tr_aggr)
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
            if ne + 8 >= ev_cap or nt + 2 >= tr_cap:
                return (-1, -1, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots,
                        tr_aggr)
        if filled:
            ev_ts[ne] = t
            ev_key[ne] = k
            ev_kind[ne] = 3
            ev_px[ne] = o_lvl[k] + base_tick if o_type[k] == 0 else -1
            ev_lots[ne] = o_open[k]
            ne += 1
        if o_open[k] == 0:
            o_state[k] = 2
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
    for k in range(n_keys):
        if o_state[k] == 1:
            if ne + 1 >= ev_cap:
                return (-1, -1, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots,
                        tr_aggr)
            ev_ts[ne] = expire_ts
            ev_key[ne] = k
            ev_kind[ne] = 4
            ev_px[ne] = o_lvl[k] + base_tick
            ev_lots[ne] = 0
            ne += 1
    return (ne, nt, ev_ts, ev_key, ev_kind, ev_px, ev_lots, tr_ts, tr_buy, tr_sell, tr_px, tr_lots, tr_aggr)


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
