"""numba kernels over the interned transfer graph (see ``graph.py``).

Every kernel walks CSR-ordered edge arrays once (two pointers over each node's time-ordered edges) or
does a bounded search from candidate edges only; none loops over rows in Python. ``cache=True`` keeps
the compile cost (seconds per kernel) to the first run on a machine.

The kernels release the GIL (``nogil``): the public functions at the end cut the work into contiguous
ranges (of nodes, edges or candidates), run them on a small thread pool and concatenate the results in
range order, so a result is the same, in the same order, whatever the number of threads
(``HARBOUR_AML_THREADS``, default: the machine's cores, at most 4).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _lower_bound(ts: np.ndarray, order: np.ndarray, lo: int, hi: int, t: int) -> int:
    """First position p in [lo, hi) with ts[order[p]] > t (edges of one node are time-ordered)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ts[order[mid]] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True, inline="always")
def _mark_run(order: np.ndarray, other_o: np.ndarray, valid_o: np.ndarray, v: int, lo: int, hi: int,
              marks: np.ndarray) -> None:
    """Flag the valid, non-self-loop edges of node v's run lo..hi (positions) in ``marks``, if given."""
    if marks.shape[0]:
        for r in range(lo, hi + 1):
            if valid_o[r] and other_o[r] != v:
                marks[order[r]] = True


@njit(cache=True, nogil=True, inline="always")
def _crowded(ts_o: np.ndarray, a: int, b: int, window: int, min_count: int) -> bool:
    """Whether some ``window``-long span of positions a..b-1 holds ``min_count`` of them: a sequential read of
    the times only, which spares the scattered counter updates of the distinct count for the many nodes whose
    edges never crowd (about half the edges of a busy table, for the star test of nine)."""
    left = a
    for r in range(a, b):
        while ts_o[r] - ts_o[left] > window:
            left += 1
        if r - left + 1 >= min_count:
            return True
    return False


@njit(cache=True, nogil=True)
def _bursts(ptr: np.ndarray, other_o: np.ndarray, ts_o: np.ndarray, valid_o: np.ndarray, skip_node: np.ndarray,
            window: int, min_count: int, distinct: bool, scratch: np.ndarray, v0: int, v1: int,
            order: np.ndarray, marks: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node, maximal runs of its time-ordered edges in which some ``window``-long span holds at least
    ``min_count`` edges (``distinct``: distinct counterparties ``other_o``). The arrays are in CSR order
    (position r of node v's edges: ``other_o[r]``, ``ts_o[r]``, ``valid_o[r]``), so the sliding window reads
    them in sequence; positions that are not valid, and self-loops, are ignored. Returns (node, lo, hi):
    positions lo..hi (inclusive) into the order.

    ``scratch`` is a zeroed int32 array of one slot per node; it is left zeroed. Only nodes v0..v1-1.
    With a non-empty ``marks`` (one flag per edge), the valid non-self-loop edges of every run are also
    flagged there (``order[r]`` is position r's edge), while the scan still has them in hand. With a
    non-empty ``nodes``, the scan visits nodes[v0:v1] instead (a few nodes whose edges changed).

    Two distinct counterparties (the mesh test of bipartite and stack) need no counts: a window holds two
    iff it reaches back to the latest edge whose counterparty differs from the newest edge's, which the
    scan carries along (no scattered reads and writes of ``scratch`` per edge).
    """
    pair = distinct and min_count == 2
    out_node = np.empty(1024, np.int64)
    out_lo = np.empty(1024, np.int64)
    out_hi = np.empty(1024, np.int64)
    k = 0
    for i in range(v0, v1):
        v = nodes[i] if nodes.shape[0] else i
        a = ptr[v]
        b = ptr[v + 1]
        if b - a < min_count or skip_node[v]:
            continue
        if distinct and not pair and not _crowded(ts_o, a, b, window, min_count):
            continue  # no window holds min_count edges at all, let alone distinct valid ones
        count = 0
        left = a
        cur_lo = -1
        cur_hi = -1
        prev = -1  # pair: the latest valid position before r
        differs = -1  # pair: the latest valid position before r whose counterparty differs from r's
        for r in range(a, b):
            if not valid_o[r] or other_o[r] == v:
                continue
            x = other_o[r]
            if pair:
                if prev >= 0 and other_o[prev] != x:
                    differs = prev  # else the latest differing from prev's (the same party) still holds
                prev = r
            elif distinct:
                if scratch[x] == 0:
                    count += 1
                scratch[x] += 1
            else:
                count += 1
            t = ts_o[r]
            while t - ts_o[left] > window:
                if pair:
                    left += 1
                    continue
                if valid_o[left] and other_o[left] != v:
                    if distinct:
                        y = other_o[left]
                        scratch[y] -= 1
                        if scratch[y] == 0:
                            count -= 1
                    else:
                        count -= 1
                left += 1
            if (differs >= left) if pair else (count >= min_count):
                if cur_lo >= 0 and left <= cur_hi:
                    cur_hi = r
                else:
                    if cur_lo >= 0:
                        if k == out_node.shape[0]:
                            out_node = np.concatenate((out_node, np.empty(k, np.int64)))
                            out_lo = np.concatenate((out_lo, np.empty(k, np.int64)))
                            out_hi = np.concatenate((out_hi, np.empty(k, np.int64)))
                        out_node[k] = v
                        out_lo[k] = cur_lo
                        out_hi[k] = cur_hi
                        k += 1
                        _mark_run(order, other_o, valid_o, v, cur_lo, cur_hi, marks)
                    cur_lo = left
                    cur_hi = r
        if cur_lo >= 0:
            if k == out_node.shape[0]:
                out_node = np.concatenate((out_node, np.empty(k, np.int64)))
                out_lo = np.concatenate((out_lo, np.empty(k, np.int64)))
                out_hi = np.concatenate((out_hi, np.empty(k, np.int64)))
            out_node[k] = v
            out_lo[k] = cur_lo
            out_hi[k] = cur_hi
            k += 1
            _mark_run(order, other_o, valid_o, v, cur_lo, cur_hi, marks)
        if distinct and not pair:
            for r in range(left, b):
                scratch[other_o[r]] = 0
    return out_node[:k], out_lo[:k], out_hi[:k]


@njit(cache=True, nogil=True)
def _temporal_cycles(in_ptr: np.ndarray, in_order: np.ndarray, src_i: np.ndarray, ts_i: np.ndarray,
                     out_ptr: np.ndarray, out_order: np.ndarray, dst_o: np.ndarray, ts_o: np.ndarray,
                     usd_i: np.ndarray, usd_o: np.ndarray, active: np.ndarray,
                     window: int, min_len: int, max_len: int, min_ratio: float, max_ratio: float, budget: int,
                     min_start_usd: float, hub_cap: int, v0: int, v1: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simple temporal cycles: edges e1..ek with strictly increasing times, e1.src == ek.dst, no node
    repeated, total span <= window, and each hop's value within [min_ratio, max_ratio] of the previous
    hop's. Each cycle is reported from its first edge. Only ``active`` nodes (ones with both in- and
    out-edges) are searched; ``budget`` bounds the expansions per start edge so a hub cannot blow the
    search up. Start edges are the incoming edges of nodes v0..v1-1, each node's in time order, so the
    first hop's window over the node's out-edges is found by two pointers moving forward. Returns (flat
    edge ids, offsets, start edge of each cycle); a start edge's cycles come in search order. ``src_i``,
    ``ts_i``, ``usd_i``: sender, time and value at each position of ``in_order``; ``dst_o``, ``ts_o``,
    ``usd_o``: receiver, time and value at each position of ``out_order`` (read in sequence while expanding:
    most expansions end at the value test, which would otherwise read the value at random)."""
    n_nodes = out_ptr.shape[0] - 1
    on_path = np.zeros(n_nodes, np.bool_)
    stack_edge = np.empty(max_len, np.int64)
    stack_pos = np.empty(max_len, np.int64)
    stack_end = np.empty(max_len, np.int64)
    stack_usd = np.empty(max_len, np.float64)  # value, time and receiver of each stacked edge
    stack_ts = np.empty(max_len, np.int64)
    stack_dst = np.empty(max_len, np.int64)
    flat = np.empty(1024, np.int64)
    offs = [0]
    starts = [0]
    m = 0
    for b in range(v0, v1):
        if not active[b]:
            continue
        b_end = out_ptr[b + 1]
        first_lo = out_ptr[b]
        first_hi = first_lo
        for q in range(in_ptr[b], in_ptr[b + 1]):
            a = src_i[q]
            e0 = in_order[q]
            if a == b or not active[a] or usd_i[q] < min_start_usd:
                continue
            # the first hop: b's out-edges in (ts[e0], ts[e0] + window]; both ends only move forward
            t_end = ts_i[q] + window
            first_lo, first_hi = window_after(ts_o, first_lo, first_hi, b_end, ts_i[q], t_end)
            if first_hi - first_lo > hub_cap:
                continue  # a hub paying crowds: a loop through it is indistinguishable from noise
            on_path[a] = True
            on_path[b] = True
            depth = 1
            stack_edge[0] = e0
            stack_pos[0] = first_lo
            stack_end[0] = first_hi
            stack_usd[0] = usd_i[q]
            stack_ts[0] = ts_i[q]
            stack_dst[0] = b
            spent = 0
            while depth > 0:
                if stack_pos[depth - 1] >= stack_end[depth - 1] or spent >= budget:
                    # pop
                    if depth > 1:
                        on_path[stack_dst[depth - 1]] = False
                    depth -= 1
                    continue
                p = stack_pos[depth - 1]
                stack_pos[depth - 1] = p + 1
                spent += 1
                if ts_o[p] <= stack_ts[depth - 1]:
                    continue
                prev_usd = stack_usd[depth - 1]
                ratio = usd_o[p] / prev_usd if prev_usd > 0 else 1.0
                if ratio < min_ratio or ratio > max_ratio:
                    continue
                f = out_order[p]
                c = dst_o[p]
                if c == stack_dst[depth - 1]:  # a self-loop: f leaves the node prev arrived at
                    continue
                if c == a:
                    if depth + 1 >= min_len:
                        need = m + depth + 1
                        if need > flat.shape[0]:
                            flat = np.concatenate((flat, np.empty(max(need, flat.shape[0]), np.int64)))
                        for i in range(depth):
                            flat[m + i] = stack_edge[i]
                        flat[m + depth] = f
                        m += depth + 1
                        offs.append(m)
                        starts.append(e0)
                    continue
                if on_path[c] or not active[c] or depth + 1 >= max_len:
                    continue
                lo = _position_after(ts_o, out_ptr[c], out_ptr[c + 1], ts_o[p])
                hi = _position_after(ts_o, lo, out_ptr[c + 1], t_end)
                if hi - lo > hub_cap:
                    continue
                on_path[c] = True
                stack_edge[depth] = f
                stack_pos[depth] = lo
                stack_end[depth] = hi
                stack_usd[depth] = usd_o[p]
                stack_ts[depth] = ts_o[p]
                stack_dst[depth] = c
                depth += 1
            on_path[a] = False
            on_path[b] = False
    offsets = np.empty(len(offs), np.int64)
    for i in range(len(offs)):
        offsets[i] = offs[i]
    start_of = np.empty(len(starts) - 1, np.int64)
    for i in range(len(starts) - 1):
        start_of[i] = starts[i + 1]
    return flat[:m], offsets, start_of


@njit(cache=True, nogil=True)
def _peel_next(in_ptr: np.ndarray, in_order: np.ndarray, src_i: np.ndarray, ts_i: np.ndarray, out_ptr: np.ndarray,
               out_order: np.ndarray, dst_o: np.ndarray, ts_o: np.ndarray, usd_i: np.ndarray, usd_o: np.ndarray,
               eligible: np.ndarray, window: int, keep_min: float, peel_max: float, min_usd: float, v0: int, v1: int,
               nxt: np.ndarray, peeled: np.ndarray) -> None:
    """For each edge u->v, the hop that continues a peel chain: v's largest later out-edge (within
    ``window``) carrying between ``keep_min`` and 100% of the value, and whether v also peeled off a
    small amount (<= ``peel_max`` of the value) to someone else in that time. -1 when none. Receivers
    v0..v1-1: each one's incoming edges in time order, its out-edges in (t, t + window] found by two pointers
    that only move forward (one node's edges read in sequence instead of two binary searches per edge).
    Written into ``nxt`` (pre-filled with -1) and ``peeled`` (pre-filled False; only hits are written).
    ``src_i``, ``ts_i``, ``usd_i``: sender, time and value at each position of ``in_order``; ``dst_o``,
    ``ts_o``, ``usd_o``: receiver, time and value in ``out_order``."""
    for v in range(v0, v1):
        if not eligible[v]:
            continue
        b = out_ptr[v + 1]
        lo = out_ptr[v]
        hi = lo
        for q in range(in_ptr[v], in_ptr[v + 1]):
            u = src_i[q]
            val = usd_i[q]
            if u == v or val < min_usd:
                continue
            t = ts_i[q]
            lo, hi = window_after(ts_o, lo, hi, b, t, t + window)
            if hi - lo > 16:
                continue  # a hub paying crowds, not one hop of a chain
            best = -1
            best_val = 0.0
            small = False
            for p in range(lo, hi):
                w = dst_o[p]
                if w == v or w == u:  # noqa: SIM109  (numba: scalar compares)
                    continue
                r = usd_o[p] / val
                if keep_min <= r < 1.0 and usd_o[p] > best_val:
                    best = out_order[p]
                    best_val = usd_o[p]
                elif 0.0 < r <= peel_max:
                    small = True
            if best >= 0:
                e = in_order[q]
                nxt[e] = best
                peeled[e] = small


@njit(cache=True, nogil=True)
def _pass_through(in_ptr: np.ndarray, in_order: np.ndarray, out_ptr: np.ndarray, out_order: np.ndarray,
                  src: np.ndarray, dst: np.ndarray, ts: np.ndarray, usd: np.ndarray, eligible: np.ndarray,
                  window: int, min_usd: float, v0: int, v1: int, share: np.ndarray, end_pos: np.ndarray) -> None:
    """For each incoming edge e of an eligible node v: the value v sent on to others within ``window``
    after e, as a share of e's value. Returns (share per edge, position in out_order just past the last
    out-edge counted) — share 0 when v is not eligible or e is under ``min_usd``. Nodes v0..v1-1, written
    into ``share`` (pre-filled 0) and ``end_pos`` (pre-filled -1)."""
    for v in range(v0, v1):
        if not eligible[v] or in_ptr[v + 1] == in_ptr[v] or out_ptr[v + 1] == out_ptr[v]:
            continue
        for p in range(in_ptr[v], in_ptr[v + 1]):
            e = in_order[p]
            if src[e] == v or usd[e] < min_usd:
                continue
            lo = _lower_bound(ts, out_order, out_ptr[v], out_ptr[v + 1], ts[e] - 1)
            hi = _lower_bound(ts, out_order, lo, out_ptr[v + 1], ts[e] + window)
            hi = min(hi, lo + 256)  # bound the scan at hubs; the first 256 payments decide
            total = 0.0
            for q in range(lo, hi):
                f = out_order[q]
                if dst[f] != v and dst[f] != src[e]:
                    total += usd[f]
            share[e] = total / usd[e] if usd[e] > 0 else 0.0
            end_pos[e] = hi


@njit(cache=True, nogil=True)
def step_after(ts_o: np.ndarray, p: int, end: int, t: int) -> int:
    """First position at or after ``p`` (and before ``end``) with ts_o > t, walking forward: for pointers that
    only move forward over one node's time-ordered edges (``_position_after`` is the binary search)."""
    while p < end and ts_o[p] <= t:
        p += 1
    return p


@njit(cache=True, nogil=True)
def window_after(ts_o: np.ndarray, lo: int, hi: int, end: int, t0: int, t1: int) -> tuple[int, int]:
    """Positions [lo, hi) of the edges with t0 < ts_o <= t1, both pointers moved forward from where the previous
    (earlier) window left them: the sliding window of one node's time-ordered edges."""
    lo = step_after(ts_o, lo, end, t0)
    return lo, step_after(ts_o, max(hi, lo), end, t1)


@njit(cache=True, nogil=True)
def _position_after(ts_o: np.ndarray, lo: int, hi: int, t: int) -> int:
    """First position p in [lo, hi) with ts_o[p] > t (``ts_o``: times in CSR order, one node's sorted)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if ts_o[mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _next_other(other_o: np.ndarray) -> np.ndarray:
    """Per position of a CSR order, the next position whose counterparty differs (the array's length at
    the end): a scan can step over a run of edges to one party at once."""
    n = other_o.shape[0]
    nxt = np.empty(n, np.int64)
    after = n
    for p in range(n - 1, -1, -1):
        nxt[p] = after
        if p > 0 and other_o[p - 1] != other_o[p]:
            after = p
    return nxt


@njit(cache=True, nogil=True)
def _followers(edges: np.ndarray, out_ptr: np.ndarray, out_order: np.ndarray, dst_o: np.ndarray, ts_o: np.ndarray,
               next_o: np.ndarray, src: np.ndarray, dst: np.ndarray, ts: np.ndarray, usable: np.ndarray, window: int,
               cap: int, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
    """For each given edge u->v at t: v's usable out-edges in (t, t + window] to parties other than u and
    v (at most ``cap`` per edge). Returns (index into ``edges``, follower edge id) pairs, for edges[i0:i1].
    ``dst_o``, ``ts_o``: receiver and time at each position of ``out_order`` (searched without indirection);
    ``next_o``: ``_next_other(dst_o)``. An account and its own wallet pay each other back and forth: most of
    v's out-edges after a hop from u go back to u, and a run of them is stepped over in one move."""
    idx = np.empty(1024, np.int64)
    fol = np.empty(1024, np.int64)
    k = 0
    for i in range(i0, i1):
        e = edges[i]
        u = src[e]
        v = dst[e]
        lo = _position_after(ts_o, out_ptr[v], out_ptr[v + 1], ts[e])
        hi = _position_after(ts_o, lo, out_ptr[v + 1], ts[e] + window)
        taken = 0
        p = lo
        while p < hi:
            w = dst_o[p]
            if w == u:
                p = next_o[p]  # every position before it pays u too (past hi ends the scan)
                continue
            f = out_order[p]
            p += 1
            if w == v or not usable[f]:
                continue
            if k == idx.shape[0]:
                idx = np.concatenate((idx, np.empty(k, np.int64)))
                fol = np.concatenate((fol, np.empty(k, np.int64)))
            idx[k] = i
            fol[k] = f
            k += 1
            taken += 1
            if taken >= cap:
                break
    return idx[:k], fol[:k]


@njit(cache=True, nogil=True)
def chain_lengths(nxt: np.ndarray, peeled: np.ndarray, starts: np.ndarray, max_hops: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Hops and peel-offs along each chain that starts at an edge of ``starts`` and follows ``nxt``."""
    hops = np.zeros(starts.shape[0], np.int64)
    peels = np.zeros(starts.shape[0], np.int64)
    for i in range(starts.shape[0]):
        e = starts[i]
        h = 1
        p = 0
        while nxt[e] >= 0 and h < max_hops:
            if peeled[e]:
                p += 1
            e = nxt[e]
            h += 1
        hops[i] = h
        peels[i] = p
    return hops, peels


@njit(cache=True, nogil=True)
def _precedents(edges: np.ndarray, in_ptr: np.ndarray, in_order: np.ndarray, src: np.ndarray, dst: np.ndarray,
                ts: np.ndarray, usable: np.ndarray, window: int, cap: int, i0: int, i1: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """For each given edge u->v at t: u's usable in-edges in [t - window, t) from parties other than u and
    v (at most ``cap`` per edge, latest first). Returns (index into ``edges``, precedent edge id) pairs, for
    edges[i0:i1]."""
    idx = np.empty(1024, np.int64)
    pre = np.empty(1024, np.int64)
    k = 0
    for i in range(i0, i1):
        e = edges[i]
        u = src[e]
        v = dst[e]
        lo = _lower_bound(ts, in_order, in_ptr[u], in_ptr[u + 1], ts[e] - window - 1)
        hi = _lower_bound(ts, in_order, lo, in_ptr[u + 1], ts[e] - 1)
        taken = 0
        for p in range(hi - 1, lo - 1, -1):
            f = in_order[p]
            if not usable[f] or src[f] == u or src[f] == v:
                continue
            if k == idx.shape[0]:
                idx = np.concatenate((idx, np.empty(k, np.int64)))
                pre = np.concatenate((pre, np.empty(k, np.int64)))
            idx[k] = i
            pre[k] = f
            k += 1
            taken += 1
            if taken >= cap:
                break
    return idx[:k], pre[:k]


@njit(cache=True, nogil=True)
def episode_ids(src: np.ndarray, dst: np.ndarray, ts: np.ndarray, n_nodes: int, gap: int) -> np.ndarray:
    """Segment id of each end of m time-ordered edges (senders' ends 0..m-1, receivers' m..2m-1): ends
    ordered by (node, time, position) — a merge of the two time-ordered halves, then a stable counting sort
    by node — and a new segment wherever the node changes or the time jumps by more than ``gap``."""
    m = ts.shape[0]
    merged = np.empty(2 * m, np.int64)
    i = 0
    j = 0
    for p in range(2 * m):
        if j >= m or (i < m and ts[i] <= ts[j]):
            merged[p] = i
            i += 1
        else:
            merged[p] = m + j
            j += 1
    ptr = np.zeros(n_nodes + 1, np.int64)
    for p in range(2 * m):
        ptr[(src[p] if p < m else dst[p - m]) + 1] += 1
    for v in range(n_nodes):
        ptr[v + 1] += ptr[v]
    order = np.empty(2 * m, np.int64)
    for p in range(2 * m):
        q = merged[p]
        v = src[q] if q < m else dst[q - m]
        order[ptr[v]] = q
        ptr[v] += 1
    seg = np.empty(2 * m, np.int64)
    k = -1
    prev_v = -1
    prev_t = 0
    for p in range(2 * m):
        q = order[p]
        v = src[q] if q < m else dst[q - m]
        t = ts[q] if q < m else ts[q - m]
        if p == 0 or v != prev_v or t - prev_t > gap:
            k += 1
        seg[q] = k
        prev_v = v
        prev_t = t
    return seg


@njit(cache=True, nogil=True)
def count_between(ptr: np.ndarray, order: np.ndarray, ts: np.ndarray, nodes: np.ndarray, t_lo: np.ndarray,
                  t_hi: np.ndarray) -> np.ndarray:
    """Edges of each node (in ``ptr``/``order``) with t_lo < ts <= t_hi."""
    out = np.zeros(nodes.shape[0], np.int64)
    for i in range(nodes.shape[0]):
        v = nodes[i]
        a = _lower_bound(ts, order, ptr[v], ptr[v + 1], t_lo[i])
        b = _lower_bound(ts, order, a, ptr[v + 1], t_hi[i])
        out[i] = b - a
    return out


@njit(cache=True, nogil=True)
def distinct_between(ptr: np.ndarray, order: np.ndarray, other: np.ndarray, ts: np.ndarray, nodes: np.ndarray,
                     t_lo: np.ndarray, t_hi: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """Distinct counterparties ``other`` of each node's edges with t_lo < ts <= t_hi (scratch: zeroed
    int32 per node, left zeroed)."""
    out = np.zeros(nodes.shape[0], np.int64)
    for i in range(nodes.shape[0]):
        v = nodes[i]
        a = _lower_bound(ts, order, ptr[v], ptr[v + 1], t_lo[i])
        b = _lower_bound(ts, order, a, ptr[v + 1], t_hi[i])
        k = 0
        for p in range(a, b):
            x = other[order[p]]
            if x != v and scratch[x] == 0:
                scratch[x] = 1
                k += 1
        for p in range(a, b):
            scratch[other[order[p]]] = 0
        out[i] = k
    return out


@njit(cache=True, nogil=True)
def outside_hours(v: int, t0: int, t1: int, in_ptr: np.ndarray, src_i: np.ndarray, ts_i: np.ndarray,
                  out_ptr: np.ndarray, dst_o: np.ndarray, ts_o: np.ndarray, hour: int) -> int:
    """Distinct hours (``t // hour``) holding a transfer of node v, either direction, self-loops aside, outside
    [t0, t1]: its in- and out-edges (CSR views, each time-ordered) merged in one forward walk."""
    i, i_end = in_ptr[v], in_ptr[v + 1]
    j, j_end = out_ptr[v], out_ptr[v + 1]
    count = 0
    last = 0
    while i < i_end or j < j_end:
        if j >= j_end or (i < i_end and ts_i[i] <= ts_o[j]):
            t = ts_i[i]
            other = src_i[i]
            i += 1
        else:
            t = ts_o[j]
            other = dst_o[j]
            j += 1
        if other == v or t0 <= t <= t1:
            continue
        h = t // hour
        if count == 0 or h != last:
            count += 1
            last = h
    return count


@njit(cache=True, nogil=True)
def fan_context(nodes: np.ndarray, flat: np.ndarray, offs: np.ndarray, incoming: bool, in_ptr: np.ndarray,
                src_i: np.ndarray, ts_i: np.ndarray, out_ptr: np.ndarray, dst_o: np.ndarray, ts_o: np.ndarray,
                src: np.ndarray, dst: np.ndarray, ts: np.ndarray, hour: int, scratch: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per burst i (node ``nodes[i]``, edges ``flat[offs[i]:offs[i+1]]``): its distinct counterparties, how many
    of them the node dealt with in the same direction before the burst's first transfer, its first and last
    time and the node's active hours outside that span (``outside_hours``). ``scratch``: zeroed int32 per
    node, left zeroed."""
    k = nodes.shape[0]
    n_now = np.zeros(k, np.int64)
    n_prior = np.zeros(k, np.int64)
    first = np.zeros(k, np.int64)
    last = np.zeros(k, np.int64)
    outside = np.zeros(k, np.int64)
    for i in range(k):
        v = nodes[i]
        a, b = offs[i], offs[i + 1]
        if b == a:
            continue
        t0 = ts[flat[a]]
        t1 = t0
        for q in range(a, b):
            e = flat[q]
            t0 = min(t0, ts[e])
            t1 = max(t1, ts[e])
            c = dst[e] if src[e] == v else src[e]
            if scratch[c] == 0:
                scratch[c] = 1
                n_now[i] += 1
        # the same direction's earlier counterparties (a self-loop's other end is the node itself)
        ptr, other_c, ts_c = (in_ptr, src_i, ts_i) if incoming else (out_ptr, dst_o, ts_o)
        for p in range(ptr[v], ptr[v + 1]):
            if ts_c[p] >= t0:
                break
            if scratch[other_c[p]] == 1:
                scratch[other_c[p]] = 2
                n_prior[i] += 1
        for q in range(a, b):
            e = flat[q]
            scratch[dst[e] if src[e] == v else src[e]] = 0
        first[i] = t0
        last[i] = t1
        outside[i] = outside_hours(v, t0, t1, in_ptr, src_i, ts_i, out_ptr, dst_o, ts_o, hour)
    return n_now, n_prior, first, last, outside


# --- the public kernels: ranges on a thread pool, results concatenated in range order -------------------

@njit(cache=True, nogil=True)
def split_candidates(out_order: np.ndarray, in_ptr: np.ndarray, in_order: np.ndarray, src: np.ndarray,
                     dst: np.ndarray, ts: np.ndarray, usable: np.ndarray, nodes: np.ndarray, lo: np.ndarray,
                     hi: np.ndarray, min_receivers: int, max_starts: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate scatterings of gather-scatter hubs: for burst run i (hub ``nodes[i]``, out-order positions
    ``lo[i]..hi[i]``), its usable payments to others; a scattering starts at the burst's start or at the first
    payment after an arrival (the first ``max_starts`` such starts that leave ``min_receivers`` payments), and
    runs to the burst's end or, as a second candidate, up to the first usable arrival from another party
    after its start. Returns (run per candidate, the candidates' payments end to end, offsets)."""
    run_of = np.empty(1024, np.int64)
    flat = np.empty(4096, np.int64)
    offs = np.zeros(1025, np.int64)
    n = 0
    m = 0
    burst = np.empty(1024, np.int64)
    for i in range(nodes.shape[0]):
        h = nodes[i]
        size = 0
        for p in range(lo[i], hi[i] + 1):
            e = out_order[p]
            if usable[e] and dst[e] != h:
                if size == burst.shape[0]:
                    burst = np.concatenate((burst, np.empty(size, np.int64)))
                burst[size] = e
                size += 1
        a, b = in_ptr[h], in_ptr[h + 1]
        # starts: 0, then for every arrival the number of payments at or before it (sorted, distinct)
        n_starts = 0
        prev = -1
        j = 0  # payments with ts <= the current arrival's time (arrivals are time-ordered)
        q = a - 1
        while n_starts < max_starts:
            if q < a:
                k = 0
            else:
                t_in = ts[in_order[q]]
                while j < size and ts[burst[j]] <= t_in:
                    j += 1
                k = j
            q += 1
            if k != prev:
                prev = k
                if k > size - min_receivers:
                    break  # starts only grow from here
                # candidate ends: the burst's end, and the first usable arrival from another party after it
                nxt = size
                t_k = ts[burst[k]]
                for r in range(a, b):
                    f = in_order[r]
                    if ts[f] > t_k and usable[f] and src[f] != h:
                        c = 0
                        while c < size and ts[burst[c]] < ts[f]:
                            c += 1
                        nxt = c
                        break
                for which in range(2):
                    end = size if which == 0 else nxt
                    if which == 1 and not k + min_receivers <= nxt < size:
                        continue
                    if n == run_of.shape[0]:
                        run_of = np.concatenate((run_of, np.empty(n, np.int64)))
                        offs = np.concatenate((offs, np.zeros(n, np.int64)))
                    while m + end - k > flat.shape[0]:
                        flat = np.concatenate((flat, np.empty(flat.shape[0], np.int64)))
                    run_of[n] = i
                    flat[m:m + end - k] = burst[k:end]
                    m += end - k
                    n += 1
                    offs[n] = m
                n_starts += 1
            if q >= b:
                break
    return run_of[:n], flat[:m], offs[:n + 1]


@njit(cache=True, nogil=True)
def split_may_hold(in_ptr: np.ndarray, in_order: np.ndarray, src: np.ndarray, dst: np.ndarray, ts: np.ndarray,
                   usd: np.ndarray, usable: np.ndarray, hubs: np.ndarray, flat_sent: np.ndarray, offs: np.ndarray,
                   gap: int, window: int, min_senders: int, min_receivers: int, max_imbalance: float,
                   max_early_share: float, max_value_ratio: float, scratch: np.ndarray) -> np.ndarray:
    """Per candidate split of a gather-scatter (hub ``hubs[i]``, scattering ``flat_sent[offs[i]:offs[i+1]]``,
    time-ordered), whether it can pass the tests that the arrivals *before* the passed-on ones are set aside
    can only make harder: at least ``min_senders`` distinct senders (other parties, usable edges) in the
    ``gap`` before the first payment and ``min_receivers`` distinct receivers of the payments within
    ``window`` of it; receivers at most ``max_imbalance`` x those senders; the value arriving while the
    scattering runs at most ``max_early_share`` of it plus the gathered value; value out / value gathered at
    most ``max_value_ratio``. ``scratch``: zeroed int32 per node, left zeroed."""
    ok = np.zeros(hubs.shape[0], np.bool_)
    for i in range(hubs.shape[0]):
        h = hubs[i]
        t0 = ts[flat_sent[offs[i]]]
        lo = _lower_bound(ts, in_order, in_ptr[h], in_ptr[h + 1], t0 - gap - 1)
        hi = _lower_bound(ts, in_order, lo, in_ptr[h + 1], t0 - 1)
        n_senders = 0
        v_in = 0.0
        for q in range(lo, hi):
            e = in_order[q]
            if usable[e] and src[e] != h:
                v_in += usd[e]
                if scratch[src[e]] == 0:
                    n_senders += 1
                scratch[src[e]] = 1
        for q in range(lo, hi):
            scratch[src[in_order[q]]] = 0
        if n_senders < min_senders:
            continue
        n_receivers = 0
        v_out = 0.0
        t1 = t0
        for q in range(offs[i], offs[i + 1]):
            e = flat_sent[q]
            if ts[e] > t0 + window:
                break
            v_out += usd[e]
            t1 = ts[e]
            if scratch[dst[e]] == 0:
                n_receivers += 1
            scratch[dst[e]] = 1
        for q in range(offs[i], offs[i + 1]):
            scratch[dst[flat_sent[q]]] = 0
        if n_receivers < min_receivers or n_receivers > max_imbalance * n_senders:
            continue
        # arrivals while the scattering runs (from its first payment to its last)
        during = 0.0
        for q in range(hi, _lower_bound(ts, in_order, hi, in_ptr[h + 1], t1)):
            e = in_order[q]
            if usable[e] and src[e] != h:
                during += usd[e]
        if v_in <= 0.0:  # nothing gathered: the share arriving during the scattering is 1
            ok[i] = max_early_share >= 1.0
        else:  # setting passed-on arrivals aside only lowers v_in: both shares can only grow
            ok[i] = during / (v_in + during) <= max_early_share and v_out / v_in <= max_value_ratio
    return ok


@njit(cache=True, nogil=True)
def _span(ts_c: np.ndarray, lo: int, hi: int, t0: int, t1: int) -> tuple[int, int]:
    """Positions [a, b) of one node's time-ordered edges (``ts_c``: times in CSR order) with t0 <= ts <= t1."""
    a = _position_after(ts_c, lo, hi, t0 - 1)
    return a, _position_after(ts_c, a, hi, t1)


@njit(cache=True, nogil=True)
def meshed_count(ptr: np.ndarray, order: np.ndarray, other_c: np.ndarray, ts_c: np.ndarray, usable: np.ndarray,
                 nodes: np.ndarray, t0: int, t1: int) -> int:
    """How many of ``nodes`` have usable edges (in the CSR ``ptr``/``order``; ``other_c``, ``ts_c``: the
    counterparty and time at each position) to two or more distinct counterparties with t0 <= ts <= t1."""
    hits = 0
    for i in range(nodes.shape[0]):
        v = nodes[i]
        a, b = _span(ts_c, ptr[v], ptr[v + 1], t0, t1)
        first = -1
        for p in range(a, b):
            if usable[order[p]]:
                if first < 0:
                    first = other_c[p]
                elif other_c[p] != first:
                    hits += 1
                    break
    return hits


@njit(cache=True, nogil=True)
def parallel_count(out_ptr: np.ndarray, out_order: np.ndarray, dst_o: np.ndarray, ts_o: np.ndarray,
                   in_ptr: np.ndarray, in_order: np.ndarray, src_i: np.ndarray, ts_i: np.ndarray,
                   usable: np.ndarray, is_account: np.ndarray, h: int, senders: np.ndarray, receivers: np.ndarray,
                   t0: int, t1: int, scratch: np.ndarray) -> int:
    """Accounts other than ``h``, the senders and the receivers that a sender pays and that pay a receiver
    (usable edges, t0 <= ts <= t1). ``scratch``: zeroed int8 per node, left zeroed."""
    for v in senders:
        scratch[v] = 4
    for v in receivers:
        scratch[v] = 4
    for v in senders:
        a, b = _span(ts_o, out_ptr[v], out_ptr[v + 1], t0, t1)
        for p in range(a, b):
            if usable[out_order[p]]:
                scratch[dst_o[p]] |= 1
    count = 0
    for v in receivers:
        a, b = _span(ts_i, in_ptr[v], in_ptr[v + 1], t0, t1)
        for p in range(a, b):
            x = src_i[p]
            if usable[in_order[p]] and scratch[x] == 1:
                scratch[x] = 3
                if x != h and is_account[x]:
                    count += 1
    # clear every mark left: the senders' counterparties (the receivers' ones were marked only where set)
    for v in senders:
        a, b = _span(ts_o, out_ptr[v], out_ptr[v + 1], t0, t1)
        for p in range(a, b):
            scratch[dst_o[p]] = 0
    for v in senders:
        scratch[v] = 0
    for v in receivers:
        scratch[v] = 0
    return count


@njit(cache=True, nogil=True)
def passed_on(out_ptr: np.ndarray, out_order: np.ndarray, dst_o: np.ndarray, ts_o: np.ndarray, usable: np.ndarray,
              usd: np.ndarray, src: np.ndarray, ts: np.ndarray, h: int, e_in: np.ndarray, t1: int, within: int,
              share: float) -> np.ndarray:
    """Per arrival of ``e_in`` at hub ``h``: whether the hub sent about the same value (within ``share`` of it)
    to another party than the arrival's sender in (ts, ts + ``within``], before ``t1``, over usable edges."""
    hit = np.zeros(e_in.shape[0], np.bool_)
    lo, end = out_ptr[h], out_ptr[h + 1]
    end = _position_after(ts_o, lo, end, t1 - 1)  # only payments before t1
    for k in range(e_in.shape[0]):
        e = e_in[k]
        v = usd[e]
        a = _position_after(ts_o, lo, end, ts[e])
        b = _position_after(ts_o, a, end, ts[e] + within)
        for p in range(a, b):
            d = dst_o[p]
            if d != h and d != src[e] and usable[out_order[p]] and abs(usd[out_order[p]] - v) <= share * v:
                hit[k] = True
                break
    return hit



@njit(cache=True, nogil=True)
def busiest_windows(t: np.ndarray, offs: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Per stretch t[offs[k]:offs[k+1]] of sorted times: the start (a position in ``t``) and length of the
    earliest ``window`` span, from one time to the last within ``window`` of it, holding the most times."""
    k = offs.shape[0] - 1
    lo = np.zeros(k, np.int64)
    n = np.zeros(k, np.int64)
    for c in range(k):
        a, b = offs[c], offs[c + 1]
        j = a
        best = -1
        for i in range(a, b):
            j = max(j, i)
            while j < b and t[j] <= t[i] + window:
                j += 1
            if j - i > best:
                best = j - i
                lo[c] = i
        n[c] = max(best, 0)
    return lo, n


@njit(cache=True, nogil=True)
def node_totals(nodes: np.ndarray, out_ptr: np.ndarray, out_order: np.ndarray, dst_o: np.ndarray,
                in_ptr: np.ndarray, in_order: np.ndarray, src_i: np.ndarray, usd: np.ndarray) -> np.ndarray:
    """Per node, the value it sent plus the value it received, self-loops aside: each direction summed in
    its CSR order (edge order), then the two added, as two weighted bincounts over all edges would."""
    out = np.zeros(nodes.shape[0], np.float64)
    for i in range(nodes.shape[0]):
        v = nodes[i]
        sent = 0.0
        for p in range(out_ptr[v], out_ptr[v + 1]):
            if dst_o[p] != v:
                sent += usd[out_order[p]]
        got = 0.0
        for p in range(in_ptr[v], in_ptr[v + 1]):
            if src_i[p] != v:
                got += usd[in_order[p]]
        out[i] = sent + got
    return out



@njit(cache=True, nogil=True)
def run_hops(out_order: np.ndarray, dst_o: np.ndarray, usable: np.ndarray, skip: np.ndarray, nodes: np.ndarray,
             lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The usable out-edges of each burst run (node ``nodes[k]``, out-order positions ``lo[k]..hi[k]``) to
    another node that is not ``skip``: (edge id, run) pairs, run after run, each run's in order."""
    size = 0
    for k in range(nodes.shape[0]):
        size += hi[k] - lo[k] + 1
    edges = np.empty(size, np.int64)
    run = np.empty(size, np.int64)
    m = 0
    for k in range(nodes.shape[0]):
        v = nodes[k]
        for p in range(lo[k], hi[k] + 1):
            e = out_order[p]
            w = dst_o[p]
            if usable[e] and w != v and not skip[w]:
                edges[m] = e
                run[m] = k
                m += 1
    return edges[:m], run[:m]


MIN_SPLIT = 100_000  # below this much work one thread is quicker than handing ranges out
NO_NODES = np.zeros(0, np.int64)
_POOL: list[ThreadPoolExecutor] = []
_LOCAL = threading.local()


def threads() -> int:
    if getattr(_LOCAL, "single", False):
        return 1
    env = os.environ.get("HARBOUR_AML_THREADS", "")
    return max(1, int(env)) if env.isdigit() else max(1, min(4, os.cpu_count() or 1))


@contextmanager
def single_threaded() -> Iterator[None]:
    """Kernels called from this thread run on it alone: for work run beside the main pass (which keeps the
    pool), so that the two do not queue behind each other's ranges."""
    _LOCAL.single = True
    try:
        yield
    finally:
        _LOCAL.single = False


def _run(fn: Callable[[int, int], Any], bounds: list[tuple[int, int]]) -> list[Any]:
    """``fn(lo, hi)`` for each range, the first on this thread and the rest on the pool."""
    if len(bounds) == 1 or getattr(_LOCAL, "single", False):
        return [fn(lo, hi) for lo, hi in bounds]
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max(1, threads() - 1), thread_name_prefix="aml-kernel"))
    futures = [_POOL[0].submit(fn, lo, hi) for lo, hi in bounds[1:]]
    return [fn(*bounds[0]), *(f.result() for f in futures)]


def together(*fns: Callable[[], Any]) -> list[Any]:
    """Call independent functions at once (the first on this thread), their results in order. Use it for
    work that releases the GIL: numba ``nogil`` kernels, Arrow compute, numpy on large arrays."""
    return _run(lambda i, _: fns[i](), [(i, i + 1) for i in range(len(fns))])


def ranges(n: int, cum: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Cut 0..n into one range per thread, of about equal work: ``cum`` (length n + 1, e.g. CSR pointers)
    is the cumulative work, else every item weighs the same."""
    total = int(cum[-1]) if cum is not None else n
    k = threads() if total >= MIN_SPLIT else 1
    if cum is None:
        cuts = [n * i // k for i in range(k + 1)]
    else:
        cuts = [0, *(int(np.searchsorted(cum, total * i // k)) for i in range(1, k)), n]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a] or [(0, n)]


def spans(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The positions lo[k]..hi[k]-1 of every k, one span after another (e.g. some nodes' CSR positions:
    ``spans(ptr[nodes], ptr[nodes + 1])``), without a Python loop over the spans."""
    n = hi - lo
    return np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n - lo, n)  # type: ignore[no-any-return]


def _cat(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    return parts[0] if len(parts) == 1 else tuple(np.concatenate(col) for col in zip(*parts, strict=True))


def bursts(ptr: np.ndarray, order: np.ndarray, other: np.ndarray, this: np.ndarray, ts: np.ndarray,
           mask: np.ndarray, skip_node: np.ndarray, window: int, min_count: int, distinct: bool,
           scratch: np.ndarray, gathered: tuple[np.ndarray, np.ndarray] | None = None,
           marks: np.ndarray | None = None, nodes: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """See ``_bursts``: (node, lo, hi) of every burst run, by node. ``other``, ``this``, ``ts`` and ``mask``
    are per edge; they are gathered into the order once (sequential reads in the kernel's sliding window
    instead of two random reads per edge at each end of it). ``marks``: see ``_bursts`` (the ranges of
    nodes own disjoint edges, so the threads flag disjoint entries). ``nodes``: only these (sorted, unique),
    on this thread."""
    flags = np.zeros(0, np.bool_) if marks is None else marks
    bounds = ranges(ptr.shape[0] - 1, ptr) if nodes is None else [(0, nodes.shape[0])]
    # one zeroed scratch per range (threads must not share one), keyed by the range's first node
    scratches = {lo: scratch if i == 0 else np.zeros_like(scratch) for i, (lo, _) in enumerate(bounds)}
    if gathered is None:  # else other[order] and ts[order], gathered once by TransferGraph.csr_view
        other_o, ts_o, valid_o = together(lambda: other[order], lambda: ts[order], lambda: mask[order])
    else:
        (other_o, ts_o), valid_o = gathered, mask[order]
    # ``this`` is not read: a self-loop's other end is the node itself, which the kernel compares with

    def part(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _bursts(ptr, other_o, ts_o, valid_o, skip_node, window, min_count, distinct,  # type: ignore
                       scratches[lo], lo, hi, order, flags, NO_NODES if nodes is None else nodes)

    return _cat(_run(part, bounds))  # type: ignore[return-value]


def burst_marks_of(nodes: np.ndarray, ptr: np.ndarray, order: np.ndarray, gathered: tuple[np.ndarray, np.ndarray],
                   mask: np.ndarray, skip_node: np.ndarray, window: int, min_count: int, marks: np.ndarray) -> None:
    """Flag in ``marks`` the edges of the distinct-counterparty burst runs of ``nodes`` only (sorted, unique),
    as ``bursts`` over every node would: on one thread, reading only these nodes' positions."""
    if nodes.size == 0:
        return
    pos = spans(ptr[nodes], ptr[nodes + 1])
    valid_o = np.zeros(order.shape[0], np.bool_)  # only these nodes' positions are read
    valid_o[pos] = mask[order[pos]]
    _bursts(ptr, gathered[0], gathered[1], valid_o, skip_node, window, min_count, True,
            np.zeros(ptr.shape[0] - 1, np.int32), 0, nodes.shape[0], order, marks, nodes)


def temporal_cycles(in_ptr: np.ndarray, in_order: np.ndarray, out_ptr: np.ndarray, out_order: np.ndarray,
                    usd: np.ndarray, active: np.ndarray, window: int, min_len: int,
                    max_len: int, min_ratio: float, max_ratio: float, budget: int, min_start_usd: float,
                    hub_cap: int, gathered_in: tuple[np.ndarray, np.ndarray],
                    gathered_out: tuple[np.ndarray, np.ndarray],
                    usd_views: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """See ``_temporal_cycles``: every cycle (flat edge ids, offsets), ordered by start edge (a start edge's
    cycles in search order). ``gathered_in``: (src[in_order], ts[in_order]), ``gathered_out``:
    (dst[out_order], ts[out_order]) (TransferGraph.csr_view)."""
    (src_i, ts_i), (dst_o, ts_o) = gathered_in, gathered_out
    usd_i, usd_o = usd_views or together(lambda: usd[in_order], lambda: usd[out_order])
    parts = _run(lambda lo, hi: _temporal_cycles(in_ptr, in_order, src_i, ts_i, out_ptr, out_order, dst_o, ts_o,
                                                 usd_i, usd_o, active, window, min_len, max_len, min_ratio,
                                                 max_ratio, budget, min_start_usd, hub_cap, lo, hi),
                 ranges(in_ptr.shape[0] - 1, in_ptr))
    flat = np.concatenate([f for f, _, _ in parts])
    shift = np.cumsum([0, *(f.size for f, _, _ in parts[:-1])])
    offsets = np.concatenate([parts[0][1], *(o[1:] + s for (_, o, _), s in zip(parts[1:], shift[1:], strict=True))])
    start_of = np.concatenate([st for _, _, st in parts])
    # back to the order of the start edges (found by receiving node here), ties kept in search order
    by_start = np.argsort(start_of, kind="stable")
    lengths = np.diff(offsets)[by_start]
    new_offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    pos = np.arange(int(lengths.sum())) - np.repeat(new_offsets[:-1] - offsets[:-1][by_start], lengths)
    return flat[pos], new_offsets


def peel_next(in_ptr: np.ndarray, in_order: np.ndarray, out_ptr: np.ndarray, out_order: np.ndarray,
              usd: np.ndarray, eligible: np.ndarray, window: int, keep_min: float, peel_max: float, min_usd: float,
              gathered_in: tuple[np.ndarray, np.ndarray], gathered_out: tuple[np.ndarray, np.ndarray],
              usd_views: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """See ``_peel_next``: (next hop or -1, peeled) per edge. ``gathered_in``: (src[in_order], ts[in_order]),
    ``gathered_out``: (dst[out_order], ts[out_order]) (TransferGraph.csr_view); ``usd_views``: (usd[in_order],
    usd[out_order]) if the caller has them (TransferGraph.csr_usd)."""
    (src_i, ts_i), (dst_o, ts_o) = gathered_in, gathered_out
    nxt = np.full(usd.shape[0], -1, np.int64)
    peeled = np.zeros(usd.shape[0], np.bool_)
    usd_i, usd_o = usd_views or together(lambda: usd[in_order], lambda: usd[out_order])
    _run(lambda lo, hi: _peel_next(in_ptr, in_order, src_i, ts_i, out_ptr, out_order, dst_o, ts_o, usd_i, usd_o,
                                   eligible, window, keep_min, peel_max, min_usd, lo, hi, nxt, peeled),
         ranges(in_ptr.shape[0] - 1, in_ptr))
    return nxt, peeled


def pass_through(in_ptr: np.ndarray, in_order: np.ndarray, out_ptr: np.ndarray, out_order: np.ndarray,
                 src: np.ndarray, dst: np.ndarray, ts: np.ndarray, usd: np.ndarray, eligible: np.ndarray,
                 window: int, min_usd: float) -> tuple[np.ndarray, np.ndarray]:
    """See ``_pass_through``: (share passed on, end position in out_order) per edge."""
    share = np.zeros(src.shape[0], np.float64)
    end_pos = np.full(src.shape[0], -1, np.int64)
    _run(lambda lo, hi: _pass_through(in_ptr, in_order, out_ptr, out_order, src, dst, ts, usd, eligible, window,
                                      min_usd, lo, hi, share, end_pos), ranges(in_ptr.shape[0] - 1, in_ptr))
    return share, end_pos


def followers(edges: np.ndarray, out_ptr: np.ndarray, out_order: np.ndarray, src: np.ndarray, dst: np.ndarray,
              ts: np.ndarray, usable: np.ndarray, window: int, cap: int,
              gathered: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """See ``_followers``: (index into ``edges``, follower edge id) pairs, by index. ``gathered``:
    (dst[out_order], ts[out_order]) if the caller has them (TransferGraph.csr_view)."""
    dst_o, ts_o = gathered if gathered is not None else (dst[out_order], ts[out_order])
    next_o = _next_other(dst_o)
    return _cat(_run(lambda lo, hi: _followers(edges, out_ptr, out_order, dst_o, ts_o, next_o, src, dst, ts,  # type: ignore
                                               usable, window, cap, lo, hi), ranges(edges.shape[0])))


def precedents(edges: np.ndarray, in_ptr: np.ndarray, in_order: np.ndarray, src: np.ndarray, dst: np.ndarray,
               ts: np.ndarray, usable: np.ndarray, window: int, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """See ``_precedents``: (index into ``edges``, precedent edge id) pairs, by index."""
    return _cat(_run(lambda lo, hi: _precedents(edges, in_ptr, in_order, src, dst, ts, usable, window,  # type: ignore
                                                cap, lo, hi), ranges(edges.shape[0])))


