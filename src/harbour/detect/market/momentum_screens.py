"""Compiled passes behind momentum ignition's early exit (``momentum_ignition._exit_possible``), read from the
trades frame's columns instead of a frame of legs, or (``arrow_runs``) from the Arrow trades before any frame is made.

Most partitions of the bench market stop at that exit: every burst there is a busy trader's, whose trades on the
other side all day make any exit a coincidence, or one order of a rare trader that swept a few levels. Before
these passes, building the legs' frame, ranking its owners' strings, sorting the aggressive legs and each owner's
decisions took 4.0 ms of such a partition (ten days of the bench's 10M-trade market: ~6.9k trades each), the
detector's own cost there; with them 1.65 ms. The owners are numbered by hashing (checked exact), the legs put in
order by counting, and distinct decisions counted in hash sets."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

from harbour.data.arrow_strings import is_word, load_u64, same_string, string_buffers
from harbour.detect.aml.interning import string_hash
from harbour.detect.market.frames import dictionary_codes

# Fibonacci hashing's multiplier: spreads the hashes over a table's slots (their high bits pick the slot)
_MIX = np.uint64(0x9E3779B97F4A7C15)


class Runs(NamedTuple):
    """The runs of aggressive legs that pass the size tests (``momentum_ignition._aggressive_runs``; or more:
    ``trade_runs``), and every leg's keys."""
    rows: np.ndarray  # their legs' rows, sorted by owner and time
    burst: np.ndarray  # their legs' burst numbers
    owner: np.ndarray  # every leg's owner as its rank among the owners in string order (``trade_runs``: a number)
    ts: np.ndarray  # every leg's time (us)
    sign: np.ndarray  # every leg's side
    quantity: np.ndarray  # every leg's quantity


def trade_runs(owned: pl.DataFrame, gap: int, min_trades: int) -> Runs | None:
    """For the exit check (``momentum_ignition._exit_possible``), the runs of ``_aggressive_runs`` (gaps of at most
    ``gap`` us) of the kernel's legs of the trades ``owned`` (with their owners, in time order; its buyer legs, then
    its seller legs), or more, read from its columns. The trades of one owner with itself, which the kernel drops
    before it makes its legs, are kept, their legs given no owner (-1) and no run: ``owned`` is the frame the
    kernels of a read share, and filtering it was 0.12 ms a bench partition. Each other leg's owner is numbered in
    order of first appearance instead of ranked in string order (the check reads which legs share an owner, not the
    owners' order; the full path works its runs out again from the legs), and the runs kept are those of
    ``min_trades`` legs or more, without the one-sided test (which every run passes when its quantities are
    positive, and the check leaves the decision to the full path when one is not). The owners are numbered and the
    runs found by the compiled passes below: building the legs' frame and its runs (``_aggressive_runs``: ranking
    the owners' strings, sorting the aggressive legs) was 2.5 ms a bench partition (ten days of the 10M-trade
    market, ~6.9k trades each), this is 0.87. None when a key or quantity has nulls, as there, or the trades are
    not in time order."""
    aggressor = owned["aggressor"]
    buys, sells = aggressor == "buy", aggressor == "sell"
    if aggressor.null_count():
        buys, sells = buys.fill_null(False), sells.fill_null(False)
    aggr_b, aggr_s = buys.to_numpy(), sells.to_numpy()
    if int(aggr_b.sum()) + int(aggr_s.sum()) < 2 or owned["ts"].dtype != pl.Datetime("us", "UTC") \
            or any(owned[c].null_count() for c in ("owner_b", "owner_s", "ts", "quantity")):
        return None
    ts = owned["ts"].to_numpy().view(np.int64)  # microseconds (the type is checked above)
    if not (ts[1:] >= ts[:-1]).all():
        return None  # not in time order (the kernel sorts them): the full path decides
    owners = pl.concat([owned["owner_b"], owned["owner_s"]])
    owner = owner_codes(owners)
    if owner is None:  # a hash shared by two owners: Arrow's exact codes
        owner = dictionary_codes(owners.to_arrow()).indices.to_numpy().astype(np.int64)
    q = owned["quantity"].cast(pl.Float64).to_numpy()
    return _coded_runs(owner, int(owner.max()) + 1, ts, aggr_b, aggr_s, q, gap, min_trades)


def arrow_runs(arrow: pa.Table, owners: tuple[np.ndarray, np.ndarray, int], gap: int, min_trades: int
               ) -> Runs | None:
    """``trade_runs`` read off the partition's Arrow trades ``arrow`` in their row order, each leg's owner the code
    ``owners`` (``frames.leg_owners``: the buyers' codes, the sellers', how many; equal codes exactly for equal
    ``with_owner`` names) instead of a number given the frame's owner names: for the kernel's screen before any
    frame is built. The same runs as sets of legs: the runs depend only on which legs share an owner, their times
    and sides (ties in time, which the frame may order otherwise by its tie-break columns, give the same runs:
    ``aggressive_runs`` puts an owner's buyer legs of an instant before its seller legs whatever their rows), so
    the owners' numbering (here dense in code order, there in order of first appearance) changes only the runs'
    order and numbers. None where ``trade_runs`` gives None (fewer than two aggressive legs, a null time or
    quantity, the times not in order: the frame sorts them), or a column is missing or not of the contract's
    type (the frame path decides)."""
    names = arrow.schema.names  # once: a table's ``column_names`` is a fresh list each time (~6 us)
    if any(c not in names for c in ("ts", "quantity", "aggressor")):
        return None
    ts, quantity, aggressor = arrow["ts"], arrow["quantity"], arrow["aggressor"]
    if ts.type != pa.timestamp("us", "UTC") or ts.null_count or quantity.null_count \
            or not pa.types.is_floating(quantity.type) \
            or not (pa.types.is_string(aggressor.type) or pa.types.is_large_string(aggressor.type)):
        return None
    aggr_b, aggr_s = arrow_sides(aggressor)
    if int(aggr_b.sum()) + int(aggr_s.sum()) < 2:
        return None
    us = ts.to_numpy().view(np.int64)
    if not (us[1:] >= us[:-1]).all():
        return None
    buyer, seller, n_owners = owners
    q = quantity.to_numpy().astype(np.float64, copy=False)
    return _coded_runs(np.concatenate((buyer, seller)).astype(np.int64, copy=False), n_owners, us, aggr_b, aggr_s, q,
                       gap, min_trades)


_BUY, _SELL, _BOTH = (np.frombuffer(w, np.uint8) for w in (b"buy", b"sell", b"both"))


def arrow_sides(aggressor: pa.ChunkedArray, both_too: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Whether each trade's aggressor is "buy", and whether it is "sell" (a null is neither): Arrow's ``equal`` of both
    sides in one compiled pass over each chunk's bytes, where two Arrow comparisons and their null fills took
    ~0.2 ms of a bench partition (ten days of the 10M-trade market: 0.036 CPU-s over 180 partitions), this ~0.04
    (0.006 CPU-s). With ``both_too`` a null or "both" is either side (marking_the_close's reading of its legs)."""
    buys, sells = np.zeros(len(aggressor), np.bool_), np.zeros(len(aggressor), np.bool_)
    at = 0
    for chunk in aggressor.chunks:
        offsets, data, valid = string_buffers(chunk)
        _sides(offsets, data, valid, buys[at:at + len(chunk)], sells[at:at + len(chunk)], both_too)
        at += len(chunk)
    return buys, sells


@njit(cache=True, nogil=True)
def _sides(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, buys: np.ndarray, sells: np.ndarray,
           both_too: bool) -> None:
    """``buys``/``sells``: whether string i (``valid`` empty when none is null) is "buy" / "sell", byte for byte; with
    ``both_too`` also where it is "both" or null (otherwise a null is left neither)."""
    for i in range(offsets.shape[0] - 1):
        null = valid.shape[0] > 0 and not valid[i]
        both = both_too and (null or is_word(offsets, data, i, _BOTH))
        if null and not both:
            continue
        buys[i] = both or is_word(offsets, data, i, _BUY)
        sells[i] = both or is_word(offsets, data, i, _SELL)


def id_hashes(buys: pa.ChunkedArray, sells: pa.ChunkedArray) -> np.ndarray:
    """64-bit hashes of the strings (no nulls) of ``buys`` then ``sells``, a function of each string's bytes alone,
    in one compiled pass over their chunks' buffers (``_hash_strings``): the decisions' hashes of the Arrow screen,
    where a Polars Series of the ids and its ``hash`` took ~0.4 ms of a bench partition's ~14k legs (ten days of
    the 10M-trade market: 0.07 CPU-s over 180 partitions), this ~0.06 ms."""
    out = np.empty(len(buys) + len(sells), np.uint64)
    at = 0
    for chunk in (*buys.chunks, *sells.chunks):
        offsets, data, _ = string_buffers(chunk)
        _hash_strings(offsets, data, out[at:at + len(chunk)])
        at += len(chunk)
    return out


_MUL_A, _MUL_B = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD6E8FEB86659FD93)  # odd, bits spread evenly


@njit(cache=True, nogil=True)
def hash_shared(hashes: np.ndarray, rows: np.ndarray, n_first: int, first_offsets: np.ndarray, first_data: np.ndarray,
                last_offsets: np.ndarray, last_data: np.ndarray) -> bool:
    """Whether two distinct strings among ``rows`` share a hash (``hashes`` per row): rows below ``n_first`` are
    strings of the first array's buffers, the others (less ``n_first``) of the last's. The rows sorted by hash,
    each one's string is compared with the one before it where their hashes are equal: equal strings throughout
    leave each hash one string's."""
    h = hashes[rows]
    order = np.argsort(h)
    for k in range(1, order.shape[0]):
        if h[order[k]] != h[order[k - 1]]:
            continue
        a, b = rows[order[k - 1]], rows[order[k]]
        if a < n_first and b < n_first:
            same = same_string(first_offsets, first_data, a, first_offsets, first_data, b)
        elif a < n_first:
            same = same_string(first_offsets, first_data, a, last_offsets, last_data, b - n_first)
        elif b < n_first:
            same = same_string(last_offsets, last_data, a - n_first, first_offsets, first_data, b)
        else:
            same = same_string(last_offsets, last_data, a - n_first, last_offsets, last_data, b - n_first)
        if not same:
            return True
    return False


@njit(cache=True, nogil=True)
def _hash_strings(offsets: np.ndarray, data: np.ndarray, out: np.ndarray) -> None:
    """``out[i]``: the hash of string i of a string array's buffers. One of 16 bytes or fewer (the bench's order
    ids have 11-15) is mixed from its length and two words, its first and last 8 bytes (overlapping: together
    with the length they are its bytes), or its bytes masked out of one word when shorter; a longer one is
    ``interning.string_hash``'s, through a call (``_long_hash``) kept out of this loop. ``string_hash`` for all,
    a word at a time in a loop, took ~10 ns a string; this ~4."""
    end = data.shape[0]
    for i in range(out.shape[0]):
        a, z = np.intp(offsets[i]), np.intp(offsets[i + 1])
        n = z - a
        if n > 16:
            out[i] = _long_hash(offsets, data, i)
            continue
        w0 = w1 = np.uint64(0)
        if n >= 8:
            w0 = load_u64(data, a)  # type: ignore[call-arg]
            w1 = load_u64(data, z - 8)  # type: ignore[call-arg]
        elif a + 8 <= end:  # the bytes after the string are in the buffer: one load, masked
            w0 = load_u64(data, a) & ((np.uint64(1) << np.uint64(8 * n)) - np.uint64(1))  # type: ignore[call-arg]
        else:  # the same word, byte by byte
            for q in range(a, z):
                w0 |= np.uint64(data[q]) << np.uint64(8 * (q - a))
        x = (w0 ^ np.uint64(n)) * _MUL_A
        x ^= x >> np.uint64(32)
        x = (x ^ w1) * _MUL_B
        x ^= x >> np.uint64(29)
        x *= _MUL_A
        out[i] = x ^ (x >> np.uint64(32))


@njit(cache=True, nogil=True)
def _long_hash(offsets: np.ndarray, data: np.ndarray, i: int) -> np.uint64:
    """``interning.string_hash`` of string i, in a function of its own (the rare path of ``_hash_strings``)."""
    return string_hash(offsets, data, i)  # type: ignore[no-any-return]


def _coded_runs(owner: np.ndarray, n_owners: int, ts: np.ndarray, aggr_b: np.ndarray, aggr_s: np.ndarray,
                q: np.ndarray, gap: int, min_trades: int) -> Runs:
    """The runs of the n trades' legs (``owner`` per leg, 0 to ``n_owners`` - 1: the buyers' then the sellers'; equal
    numbers for equal owners), the trades of an owner with itself given no owner (-1) and no run."""
    n = ts.shape[0]
    alone = owner[:n] == owner[n:]  # the trades the kernel drops (equal numbers: equal owners)
    if alone.any():
        owner = np.where(np.concatenate((alone, alone)), -1, owner)
    rows, burst = aggressive_runs(owner, ts, aggr_b, aggr_s, n_owners, gap, min_trades)
    return Runs(rows, burst, owner, np.concatenate((ts, ts)), np.repeat(np.array([1, -1], np.int64), n),
                np.concatenate((q, q)))


def day_seconds(runs: Runs) -> float:
    """``span_seconds`` of the times of the trades between two owners, for ``trade_runs``' runs."""
    n = runs.ts.size // 2
    ts = runs.ts[:n][runs.owner[:n] >= 0]
    return 3600.0 if ts.size == 0 else max((int(ts.max()) - int(ts.min())) / 1e6, 3600.0)


def owner_codes(owners: pl.Series) -> np.ndarray | None:
    """Each value of a string column without nulls numbered in order of first appearance, or None when two
    distinct values share a 64-bit hash (the caller numbers the strings otherwise). Numbered by their hashes in
    one compiled pass: 0.32 ms a bench partition's ~14k legs of 1-3k owners, against 0.84 ms for ranking the
    strings (``frames.string_ranks``: Arrow's dictionary encoding and a sort). As many distinct hashes as distinct
    strings (which Polars counts exactly) prove the numbering exact: a hash is a function of the string, so equal
    counts leave no two strings on one hash."""
    n_distinct = owners.n_unique()
    ids, n_ids = _first_seen(owners.hash().to_numpy(), n_distinct)
    return ids if n_ids == n_distinct else None


@njit(cache=True, nogil=True, inline="always")
def _slot(slot_hash: np.ndarray, slot_id: np.ndarray, h: np.uint64, mask: np.uint64) -> np.uint64:
    """The slot of an open-addressing table (``mask`` + 1 slots, linear probing; ``slot_id`` -1 where empty) holding
    hash ``h``, or the empty one where it would go; the start is mixed from the hash's high bits."""
    s = (h * _MIX) >> np.uint64(32) & mask
    while slot_id[s] >= 0 and slot_hash[s] != h:
        s = (s + np.uint64(1)) & mask
    return s


@njit(cache=True, nogil=True)
def _first_seen(hashes: np.ndarray, n_distinct: int) -> tuple[np.ndarray, int]:
    """Each row's hash numbered in order of first appearance, and how many numbers (open addressing in a table of
    at least twice as many slots as the ``n_distinct`` values hashed: as many hashes at most)."""
    n = hashes.shape[0]
    size = 2
    while size < 2 * n_distinct:
        size *= 2
    mask = np.uint64(size - 1)
    slot_id = np.full(size, -1, np.int64)
    slot_hash = np.zeros(size, np.uint64)
    ids = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        h = hashes[i]
        s = _slot(slot_hash, slot_id, h, mask)
        if slot_id[s] < 0:
            slot_id[s] = k
            slot_hash[s] = h
            k += 1
        ids[i] = slot_id[s]
    return ids, k


@njit(cache=True, nogil=True)
def aggressive_runs(owner: np.ndarray, ts: np.ndarray, aggr_b: np.ndarray, aggr_s: np.ndarray, n_owners: int,
                    gap: int, min_trades: int) -> tuple[np.ndarray, np.ndarray]:
    """Over n trades in time order (``ts``), whose legs are rows 0..n-1 (buyers') then n..2n-1 (sellers'), ``owner``
    per leg (0 to ``n_owners`` - 1, or -1 for none: such a leg is in no run), and each trade's aggressor the buyer
    (``aggr_b``), the seller (``aggr_s``) or neither, never both: the rows of the aggressive legs in runs of
    ``min_trades`` legs or more, sorted by owner, time and side (an instant's buyer legs before its seller legs)
    and row, and each one's run number (from 1, counting every run, kept or not). A run is one owner's aggressive
    legs on one side with gaps of at most ``gap`` (``momentum_ignition._burst_runs``).

    Sorted by counting and the runs found in one pass, both without branches on the data: which trades have an
    aggressive leg, and where runs end, are coin tosses to the predictor (the passes that branched on them took
    ~45 ns a trade of a bench partition, these ~20). Each trade's aggressive leg goes to its owner's segment in
    row order, which is time order (a trade with none to a first segment that is dropped); an instant of one owner
    with a seller leg before a buyer leg (rare) is put in order by a call of its own; a run's legs are written as
    they come and the write point set back to the run's start where it ends short."""
    n = ts.shape[0]
    leg = np.empty(n, np.int64)
    key = np.empty(n, np.int64)
    count = np.zeros(n_owners + 2, np.int64)  # key 0: the trades with no aggressive leg; key o + 1: owner o's legs
    for i in range(n):
        r = i + n if aggr_s[i] else i
        o = owner[r]
        k = o + 1 if (aggr_b[i] | aggr_s[i]) & (o >= 0) else 0
        leg[i] = r
        key[i] = k
        count[k] += 1
    at = np.empty(n_owners + 2, np.int64)
    total = 0
    for k in range(n_owners + 2):
        at[k] = total
        total += count[k]
    order = np.empty(n, np.int64)
    for i in range(n):
        order[at[key[i]]] = leg[i]
        at[key[i]] += 1
    order = order[count[0]:]
    if _sellers_first(order, owner, ts, n):
        _buyers_first(order, owner, ts, n)
    rows = np.empty(order.shape[0], np.int64)
    burst = np.empty(order.shape[0], np.int64)
    w, start, run = 0, 0, 0
    last_owner, last_side, last_ts = -1, False, 0
    for p in range(order.shape[0]):
        r = order[p]
        side = r >= n
        o, t = owner[r], ts[r - n if side else r]
        ends = (o != last_owner) | (side != last_side) | (t - last_ts > gap)
        w = start if ends & (w - start < min_trades) else w  # the run before ended short: its legs are written over
        start = w if ends else start
        run += ends
        rows[w] = r
        burst[w] = run
        w += 1
        last_owner, last_side, last_ts = o, side, t
    if w - start < min_trades:
        w = start
    return rows[:w].copy(), burst[:w].copy()


@njit(cache=True, nogil=True)
def _sellers_first(order: np.ndarray, owner: np.ndarray, ts: np.ndarray, n: int) -> bool:
    """Whether among the legs ``order`` (rows of n trades' buyer legs, then seller legs) a seller leg comes right
    before a buyer leg of the same owner and instant."""
    found = False
    for p in range(1, order.shape[0]):
        a, b = order[p - 1], order[p]
        same = (owner[a] == owner[b]) & (ts[a - n if a >= n else a] == ts[b - n if b >= n else b])
        found |= (a >= n) & (b < n) & same
    return found


@njit(cache=True, nogil=True)
def _buyers_first(order: np.ndarray, owner: np.ndarray, ts: np.ndarray, n: int) -> None:
    """Each stretch of ``order``'s legs of one owner and instant put in order: its buyer legs, then its seller legs,
    each in row order (``aggressive_runs``' rare path, a call of its own)."""
    lo = 0
    while lo < order.shape[0]:
        o, t = owner[order[lo]], ts[order[lo] % n]
        hi = lo + 1
        while hi < order.shape[0] and owner[order[hi]] == o and ts[order[hi] % n] == t:
            hi += 1
        if hi - lo > 1:
            seg = order[lo:hi].copy()
            order[lo:hi] = seg[np.argsort(seg >= n, kind="mergesort")]
        lo = hi


@njit(cache=True, nogil=True)
def distinct_per_run(hashes: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The number of distinct ``hashes`` in each run of rows (``ends``: true at each run's last row)."""
    out = np.zeros(int(ends.sum()), np.int64)
    k, start = 0, 0
    for i in range(hashes.shape[0]):
        if not ends[i]:
            continue
        if i + 1 - start > 32:
            run = np.sort(hashes[start:i + 1])
            out[k] = 1 + np.count_nonzero(run[1:] != run[:-1])
        else:  # a burst's few legs
            for j in range(start, i + 1):
                seen = False
                for m in range(start, j):
                    if hashes[m] == hashes[j]:
                        seen = True
                        break
                out[k] += not seen
        k += 1
        start = i + 1
    return out


@njit(cache=True, nogil=True)
def exit_lows(owner: np.ndarray, side: np.ndarray, ts: np.ndarray, dec: np.ndarray, b_owner: np.ndarray,
              b_side: np.ndarray, b_end: np.ndarray, span: int, enough: float) -> np.ndarray:
    """``momentum_ignition._exit_lows``: per burst (its owner, exit side and last time), -1 when no leg of that
    owner and side lies in (end, end + ``span``], else the number of distinct hashes ``dec`` of the owner's legs on
    that side less those of its legs there. Legs of no owner (-1) are left out. The legs of the bursts' owners and
    sides (keys: owner x 2 + side > 0) are gathered by key by counting (in their order, sorted by time within a key
    only if not so already: the check read off the gathered times in order, the key computed without branches,
    took ten bench days' 180 partitions from 0.041 to 0.034 CPU-s); each key's hashes are numbered in a hash set
    of its own (one table for all, as in ``_first_seen``, was twice as slow for its cache misses), and a burst's
    legs in the span are counted once per number by stamping the numbers. A burst whose key has more than
    ``enough`` distinct hashes beyond its legs in the span (which are at least as many as their distinct hashes)
    is given that lower bound, its legs there not counted: the caller's test needs no more."""
    n_keys = 2 * (max(owner.max(), b_owner.max()) + 1)
    b_key = b_owner * 2 + (b_side > 0)
    wanted = np.zeros(n_keys, np.bool_)
    for b in range(b_key.shape[0]):
        wanted[b_key[b]] = True
    key = np.empty(owner.shape[0], np.int64)
    start = np.zeros(n_keys + 1, np.int64)
    for i in range(owner.shape[0]):  # without branches: which legs are kept is a coin toss to the predictor
        k = max(owner[i] * 2 + (side[i] > 0), 0)
        keep = owner[i] >= 0 and wanted[k]
        key[i] = k if keep else -1
        start[k + 1] += keep
    longest = 0
    for k in range(n_keys):
        longest = max(longest, start[k + 1])
        start[k + 1] += start[k]
    at = start[:-1].copy()
    rows = np.empty(start[n_keys], np.int64)
    for i in range(owner.shape[0]):
        if key[i] >= 0:
            rows[at[key[i]]] = i
            at[key[i]] += 1
    times = ts[rows]
    if not _sorted_within(start, times):  # read in order (the gathered times); sorted only where needed
        _sort_within(start, rows, ts)
        times = ts[rows]
    lo = np.empty(b_key.shape[0], np.int64)
    hi = np.empty(b_key.shape[0], np.int64)
    reach = np.zeros(n_keys, np.int64)  # the most legs of a key in one burst's span
    for b in range(b_key.shape[0]):
        first, stop = start[b_key[b]], start[b_key[b] + 1]
        lo[b] = first + np.searchsorted(times[first:stop], b_end[b], "right")
        hi[b] = first + np.searchsorted(times[first:stop], b_end[b] + span, "right")
        reach[b_key[b]] = max(reach[b_key[b]], hi[b] - lo[b])
    number, n_all, whole = _numbered_by_key(start, dec[rows], longest, reach + enough)
    stamp = np.full(max(n_all.sum(), 1), -1, np.int64)
    out = np.full(b_key.shape[0], -1, np.int64)
    for b in range(b_key.shape[0]):
        k = b_key[b]
        if hi[b] <= lo[b]:
            continue
        if not whole[k] or n_all[k] - (hi[b] - lo[b]) > enough:
            out[b] = n_all[k] - (hi[b] - lo[b])  # more than ``enough``
            continue
        n_span = 0
        for j in range(lo[b], hi[b]):
            if stamp[number[j]] != b:
                stamp[number[j]] = b
                n_span += 1
        out[b] = n_all[k] - n_span
    return out


@njit(cache=True, nogil=True)
def _sorted_within(start: np.ndarray, times: np.ndarray) -> bool:
    """Whether the ``times`` of each key's rows (key k's from ``start[k]`` to ``start[k + 1]``) are in order."""
    for k in range(start.shape[0] - 1):
        for j in range(start[k] + 1, start[k + 1]):
            if times[j] < times[j - 1]:
                return False
    return True


@njit(cache=True, nogil=True)
def _sort_within(start: np.ndarray, rows: np.ndarray, ts: np.ndarray) -> None:
    """Each key's ``rows`` (key k's from ``start[k]`` to ``start[k + 1]``) sorted by time ``ts``, stably, where not
    in order: in a function of its own, as the rare path (its sort) left out of ``exit_lows``' code."""
    for k in range(start.shape[0] - 1):
        for j in range(start[k] + 1, start[k + 1]):
            if ts[rows[j]] < ts[rows[j - 1]]:
                seg = rows[start[k]:start[k + 1]]
                rows[start[k]:start[k + 1]] = seg[np.argsort(ts[seg], kind="mergesort")]
                break


@njit(cache=True, nogil=True)
def _numbered_by_key(start: np.ndarray, hashes: np.ndarray, longest: int, limit: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over rows grouped by key (key k's rows from ``start[k]`` to ``start[k + 1]``, ``longest`` rows at most): each
    row's hash numbered among all keys' distinct hashes (a key's numbers one after another), the number of distinct
    hashes of each key, and whether they were all numbered: a key's are numbered until more than ``limit[k]`` are
    found (a busy trader's hundreds of decisions: its bursts' bounds are then past the caller's ``enough`` with
    what was found), by open addressing in a table sized to the key's rows."""
    cap = 2
    while cap < 2 * longest:
        cap *= 2
    slot_id = np.empty(cap, np.int64)
    slot_hash = np.empty(cap, np.uint64)
    number = np.empty(hashes.shape[0], np.int64)
    n_keys = start.shape[0] - 1
    n_all = np.zeros(n_keys, np.int64)
    whole = np.ones(n_keys, np.bool_)
    base = 0
    for k in range(n_keys):
        lo, hi = start[k], start[k + 1]
        if hi == lo:
            continue
        size = 2
        while size < 2 * (hi - lo):
            size *= 2
        mask = np.uint64(size - 1)
        slot_id[:size] = -1
        local = 0
        for i in range(lo, hi):
            h = hashes[i]
            s = _slot(slot_hash, slot_id, h, mask)
            if slot_id[s] < 0:
                slot_id[s] = local
                slot_hash[s] = h
                local += 1
                if local > limit[k]:
                    whole[k] = False
                    break
            number[i] = base + slot_id[s]
        n_all[k] = local
        base += local
    return number, n_all, whole
