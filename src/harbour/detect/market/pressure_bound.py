"""The second stage of the spoofing/layering screen (``pressure_screen``, whose docstring tells both): where some
episode may pass the search's owner screen, may one of its owner's episodes pass the tests of the owner's episodes
taken together (``max_repeat_chance`` on k hits among n episodes, and with one hit ``max_coincidence`` taken n times),
and have the evidence an alert needs? ``_family_bound`` bounds the repeat chance from below, owner by owner."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from harbour.data.arrow_strings import find_id, same_string, slot_of
from harbour.detect.market.frames import poisson_tail
from harbour.detect.market.lifecycles import seeded_lives
from harbour.detect.market.pressure_screen import (
    _BUY,
    _LIMIT,
    _NONE,
    _SELL,
    _SLACK,
    Bait,
    Book,
    Buffers,
    Owners,
    Pace,
    Runs,
    _balanced,
    _buffers,
    _equal,
    _priced,
)

if TYPE_CHECKING:
    from harbour.detect.market.cancelled_pressure import PressureConfig


def _family_bound(book: Book, bait: Bait, big: np.ndarray, sure: np.ndarray, runs: Runs,
                  hit: tuple[np.ndarray, np.ndarray, np.ndarray], pace: Pace, config: PressureConfig, owners: Owners
                  ) -> float:
    """The least repeat chance an episode of the owners of the orders that pass ``_may_hit`` may alert with (the bait
    sorted by owner, side and placement), from each owner's figures (``_owner_figures``); 0 where the screen cannot
    tell. The search judges an owner's episodes together: k hits of its n episodes, against the sum of their chances
    at its pace outside the hits (``repeat_chance``, a Poisson tail, at most ``max_repeat_chance``); with one hit,
    that episode's chance is also taken n times (at most ``max_coincidence``). A tail grows with the sum and falls
    with k, so a lower bound of the sum and an upper bound of k bound it from below. Only owners with an order that
    passes ``_may_hit`` (``hit``: those orders, and the windows their episodes may cover) in an episode that may have
    evidence (``_may_show``) are judged: the others' episodes never alert."""
    passes, lo, hi = hit
    passes = passes & _may_show(book, bait, pace, passes, lo, hi)
    if not passes.any():
        return math.inf
    if book.low <= 0:
        return 0.0  # bait of no size: an episode's bait is no longer at least its biggest order
    theta = _own_size_bounds(book, bait, runs, passes, config, owners)
    if theta is None:
        return 0.0
    sure &= (bait.size >= config.min_order_multiple * book.high) & (bait.size >= theta)
    legs = pace.legs
    least = config.min_opposite_multiple * book.low * (1 - _SLACK)
    figures = _owner_figures(bait.owner, bait.sell, bait.placed, bait.cancelled, big, sure, passes, *runs, pace.grace,
                             legs.key, legs.ts, legs.q, pace.cum, least, config.min_imbalance, pace.day_s,
                             config.max_coincidence * (1 + _SLACK) + _SLACK)
    return float(_owner_bounds(*figures).min(initial=math.inf))


def _owner_bounds(count: np.ndarray, lam: np.ndarray, hits: np.ndarray, single: np.ndarray) -> np.ndarray:
    """Per owner (``_owner_figures``), the least repeat chance one of its episodes may alert with: at k >= 2 hits the
    tail at the most hits it may have, with one hit the tail of one (when that hit may pass the coincidence test
    taken n times); inf when neither."""
    least = np.full(count.size, math.inf)
    for i in range(count.size):
        sum_lb = lam[i] * (1 - _SLACK)
        if hits[i] >= 2:
            least[i] = poisson_tail(int(hits[i]), sum_lb)
        if hits[i] >= 1 and single[i]:
            least[i] = min(least[i], poisson_tail(1, sum_lb))
    return least


def _may_show(book: Book, bait: Bait, pace: Pace, passes: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per order that passes ``_may_hit``, whether a search episode E holding it may have evidence
    (``cancelled_pressure._with_evidence``: an execution of its owner on the other side inside E's span and grace,
    before E's last cancel or of an order placed while E stood), in the window E may cover (``lo`` to ``hi``, so E's
    last cancel is at most ``hi`` less the grace). An episode without it never alerts, however it passes the
    thresholds: on ten bench days, 2 of the 5 partitions the screen let through for layering held only such
    episodes (2 of 3 for spoofing). Legs in the grace are judged by their orders' placements, found only where
    needed."""
    legs = pace.legs
    shown, pend_a, pend_z = _shown_early(passes, bait.owner, bait.sell, lo, hi, pace.grace, legs.key, legs.ts)
    waiting = np.flatnonzero(passes & ~shown)
    if waiting.size == 0:
        return shown
    pending = np.unique(np.concatenate([np.arange(pend_a[i], pend_z[i]) for i in waiting]))
    placed = _leg_placements(*book.ids, book.kind, book.ts, *book.buys, *book.sells, legs.order[pending],
                             book.trades.num_rows)
    if placed is None:  # two of the legs' order ids share a hash: any leg in the grace may show
        shown[waiting] = pend_z[waiting] > pend_a[waiting]
        return shown
    for i in waiting:
        at = np.searchsorted(pending, np.arange(pend_a[i], pend_z[i]))
        p = placed[at]
        shown[i] = bool(((p >= lo[i]) & (p <= hi[i] - pace.grace)).any())
    return shown


@njit(cache=True, nogil=True)
def _shown_early(passes: np.ndarray, owner: np.ndarray, sell: np.ndarray, lo: np.ndarray, hi: np.ndarray, grace: int,
                 keys: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per order that passes, whether its owner traded the other side between ``lo`` and ``hi`` less the grace (E's
    last cancel at the latest), and the legs (from, to, in ``keys``' order) after that up to ``hi``: those in the
    grace, evidence only by their orders' placements."""
    n = passes.shape[0]
    shown, pend_a, pend_z = np.zeros(n, np.bool_), np.zeros(n, np.int64), np.zeros(n, np.int64)
    for i in range(n):
        if not passes[i]:
            continue
        key = owner[i] * 2 + 1 - sell[i]
        a, z = np.searchsorted(keys, key, side="left"), np.searchsorted(keys, key, side="right")
        la = a + np.searchsorted(ts[a:z], lo[i], side="left")
        lm = a + np.searchsorted(ts[a:z], hi[i] - grace, side="right")
        lz = a + np.searchsorted(ts[a:z], hi[i], side="right")
        shown[i] = lm > la
        pend_a[i], pend_z[i] = max(la, lm), max(la, lm, lz)
    return shown, pend_a, pend_z


@njit(cache=True, nogil=True)
def _leg_placements(ids: Buffers, h: np.ndarray, kind: np.ndarray, ts: np.ndarray, buys: Buffers, buy_h: np.ndarray,
                    sells: Buffers, sell_h: np.ndarray, order: np.ndarray, m: int) -> np.ndarray | None:
    """Per leg (``order``: its number among both legs of every trade, the buys then the sells), the earliest
    placement of its order (by the events' ids, byte for byte), or int64 min where it names none or its order has no
    placement; None when two of the legs' distinct order ids share a hash."""
    n = order.shape[0]
    cap = 16
    while cap < 2 * n:
        cap *= 2
    slot_h, slot_id = np.zeros(cap, np.uint64), np.full(cap, -1, np.int64)
    want = np.full(n, -1, np.int64)  # each leg's place in the table
    rep_side, rep_row = np.empty(n, np.int64), np.empty(n, np.int64)
    n_ids = 0
    for j in range(n):
        r, side = order[j] % m, order[j] >= m
        offsets, data, valid = sells if side else buys
        if valid.shape[0] and not valid[r]:
            continue
        x = sell_h[r] if side else buy_h[r]
        s = slot_of(slot_h, slot_id, x)
        if slot_id[s] < 0:
            slot_h[s], slot_id[s], rep_side[n_ids], rep_row[n_ids] = x, n_ids, side, r
            n_ids += 1
        else:
            k = slot_id[s]
            o2, d2, _ = sells if rep_side[k] else buys
            if not same_string(offsets, data, r, o2, d2, rep_row[k]):
                return None
        want[j] = slot_id[s]
    placed = np.full(n_ids, _NONE, np.int64)
    offsets, data, _ = ids
    for i in range(h.shape[0]):
        if kind[i] != 1:
            continue
        k = find_id(slot_h, slot_id, h[i])
        if k < 0:
            continue
        o2, d2, _ = sells if rep_side[k] else buys
        if same_string(offsets, data, i, o2, d2, rep_row[k]) and (placed[k] == _NONE or ts[i] < placed[k]):
            placed[k] = ts[i]
    out = np.full(n, _NONE, np.int64)
    for j in range(n):
        if want[j] >= 0:
            out[j] = placed[want[j]]
    return out


def _own_size_bounds(book: Book, bait: Bait, runs: Runs, passes: np.ndarray, config: PressureConfig,
                     owners: Owners) -> np.ndarray | None:
    """Per bait order, at least ``own_size_multiple`` times its owner's usual size as the search measures it (inf for
    owners with no order that passes ``_may_hit``); None where the screen cannot tell. The usual size is the median of
    the owner's orders that traded (``_own_medians``), less some: big ones it pulled and ones placed on the other side
    while one of its episodes stood; with none left, the day's median order. The orders that may be left out (pulled
    ones by the tests with slack, ones placed while one of the owner's runs stood) are not known, but the median of
    what is left is at most the ceil(a/2)-th largest of them all, a being those surely kept."""
    orders = book.orders
    judged = np.unique(bait.owner[passes])
    found = owners.find(judged, [orders.column("account")])  # each event's owner, where it is one of them
    if found is None:
        return None
    event_owner = found[0]
    qty = orders.column("quantity").to_numpy()
    (first, first_new, placed, cancelled, size, _, filled, _, _), ok = seeded_lives(
        *book.ids, event_owner >= 0, book.kind, qty, book.ts, *book.sides)
    if not ok:
        return None
    # their orders (by the first event, as the search names an order's owner) that traded, and were placed (the
    # search drops the others)
    has = np.flatnonzero((first_new >= 0) & (filled > 0))
    rows = first[has]
    owner = event_owner[rows]
    placed, size = placed[has], size[has]
    side = _buffers(orders.column("side"))
    is_buy, is_sell = _equal(side, rows, _BUY), _equal(side, rows, _SELL)
    may_be_pulled = _equal(_buffers(orders.column("order_type")), rows, _LIMIT) & _priced(orders, first_new[has]) \
        & (cancelled[has] > _NONE) & (filled[has] <= 0.5 * size * (1 + _SLACK)) \
        & (size >= config.size_multiple * book.low)
    run, r_start, r_stop, _ = runs
    theta = np.full(bait.size.size, math.inf)
    for o in judged:
        mine, theirs = np.flatnonzero(owner == o), bait.owner == o
        left_out = may_be_pulled[mine].copy()
        for bait_sell, on_side in ((1, is_buy), (0, is_sell)):  # an order against the runs on its other side
            r = np.unique(run[theirs & (bait.sell == bait_sell)])
            if r.size:  # the runs' last run begun by each placement, and whether it still stood
                k = np.searchsorted(r_start[r], placed[mine], side="right") - 1
                left_out |= on_side[mine] & (k >= 0) & (placed[mine] <= r_stop[r][np.maximum(k, 0)])
        sizes, kept = np.sort(size[mine]), int((~left_out).sum())
        usual = sizes[sizes.size - (kept + 1) // 2] if kept else max(sizes.max(initial=-math.inf), book.high)
        theta[theirs] = config.own_size_multiple * usual * (1 + _SLACK)
    return theta


@njit(cache=True, nogil=True)
def _owner_figures(owner: np.ndarray, sell: np.ndarray, placed: np.ndarray, cancelled: np.ndarray, big: np.ndarray,
                   sure: np.ndarray, passes: np.ndarray, run: np.ndarray, r_start: np.ndarray, r_stop: np.ndarray,
                   r_size: np.ndarray, grace: int, keys: np.ndarray, ts: np.ndarray, q: np.ndarray, cum: np.ndarray,
                   least: float, imbalance: float, day_s: float, chance: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per owner with an order that passes ``_may_hit`` (the bait sorted by owner, side and placement), in the order of
    their codes: at least how many episodes it has and the sum of their chances at its pace outside its hits
    (``_side_figures``), at most its number of hits, and whether one of its episodes may pass the coincidence test
    taken as many times as it surely has episodes (the search's test when an owner has one hit)."""
    n = owner.shape[0]
    count = np.zeros(n, np.int64)
    lam, hits, single = np.zeros(n, np.float64), np.zeros(n, np.int64), np.zeros(n, np.bool_)
    n_out, i = 0, 0
    while i < n:
        j = i
        while j < n and owner[j] == owner[i]:
            j += 1
        if passes[i:j].any():
            m = i
            while m < j:  # each side of the owner's
                e = m
                while e < j and sell[e] == sell[m]:
                    e += 1
                c, s, h = _side_figures(m, e, owner, sell, placed, cancelled, big, sure, run, r_start, r_stop, r_size,
                                        grace, keys, ts, q, cum, least, imbalance, day_s)
                count[n_out], lam[n_out], hits[n_out], m = count[n_out] + c, lam[n_out] + s, hits[n_out] + h, e
            for b in range(i, j):
                key = owner[b] * 2 + 1 - sell[b]
                rate = (cum[np.searchsorted(keys, key, side="right")] - cum[np.searchsorted(keys, key)]) / day_s
                span = (cancelled[b] - placed[b] + grace) // 1_000_000
                single[n_out] |= passes[b] and 1 - np.exp(-rate * count[n_out] * span) <= chance
            n_out += 1
        i = j
    return count[:n_out], lam[:n_out], hits[:n_out], single[:n_out]


@njit(cache=True, nogil=True)
def _side_figures(m: int, e: int, owner: np.ndarray, sell: np.ndarray, placed: np.ndarray, cancelled: np.ndarray,
                  big: np.ndarray, sure: np.ndarray, run: np.ndarray, r_start: np.ndarray, r_stop: np.ndarray,
                  r_size: np.ndarray, grace: int, keys: np.ndarray, ts: np.ndarray, q: np.ndarray, cum: np.ndarray,
                  least: float, imbalance: float, day_s: float) -> tuple[int, float, int]:
    """One owner's figures on one side (bait rows m to e), against its legs on the other: how many episodes it surely
    has, at least their summed chance, and at most how many of its episodes are hits.

    - Hits: each hit holds a big order of its own, whose run's window (the run's span and the grace) holds a new
      decision and ``least`` traded, and which passes ``_balanced``: at most as many as such orders.
    - Episodes: the search's bait lies among the screen's, so each run holding a ``sure`` order (surely the search's
      bait, big, and big enough for the owner's own-size test) holds an episode, and its span is at least that
      order's life and the grace.
    - Pace outside the hits: the owner's new decisions on the other side less those the hits count. A hit counts
      those in its span and grace; episodes are apart, so a decision is counted at most once for the episode it
      falls in and once more for each that ended in the grace before it: at most once for each of its bait orders
      cancelled then, and only inside the windows of the runs that may hold a hit."""
    key = owner[m] * 2 + 1 - sell[m]
    a, z = np.searchsorted(keys, key), np.searchsorted(keys, key, side="right")
    first_run, n_runs = run[m], run[e - 1] - run[m] + 1
    window = np.zeros(n_runs, np.bool_)
    for r in range(n_runs):
        la = a + np.searchsorted(ts[a:z], r_start[first_run + r])
        lz = a + np.searchsorted(ts[a:z], r_stop[first_run + r] + grace, side="right")
        window[r] = cum[lz] - cum[la] > 0 and q[la:lz].sum() >= least
    hits, may_hold = 0, np.zeros(n_runs, np.bool_)
    for b in range(m, e):
        r = run[b] - first_run
        if big[b] and window[r] and _balanced(r_size[run[b]], placed[b], cancelled[b] + grace, ts, q, a, z, imbalance):
            hits += 1
            may_hold[r] = True
    ends = np.sort(cancelled[m:e])
    counted, done = 0, a
    for r in range(n_runs):
        if not may_hold[r]:
            continue
        la = max(done, a + np.searchsorted(ts[a:z], r_start[first_run + r]))
        done = max(done, a + np.searchsorted(ts[a:z], r_stop[first_run + r] + grace, side="right"))
        for leg in range(la, done):
            if cum[leg + 1] > cum[leg]:
                counted += 1 + np.searchsorted(ends, ts[leg]) - np.searchsorted(ends, ts[leg] - grace)
    pace = max(cum[z] - cum[a] - counted, 1) / day_s
    longest = np.full(n_runs, -1, np.int64)
    for b in range(m, e):
        if sure[b]:
            r = run[b] - first_run
            longest[r] = max(longest[r], (cancelled[b] - placed[b] + grace) // 1_000_000)
    chances = 0.0
    for r in range(n_runs):
        if longest[r] >= 0:
            chances += 1 - np.exp(-pace * longest[r])
    return int((longest >= 0).sum()), chances, hits
