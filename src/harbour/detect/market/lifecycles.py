"""Order lifecycles from the raw order events: one row per order (owner, side, price, when placed and pulled,
largest size, filled quantity) without grouping millions of events by their string ids in a data-frame library.

Order ids are interned (64-bit hashes, numbered in order of first appearance; ``aml.interning``) over the
events and the trades' two order-id columns together, and every row's string is then compared with the previous
string of its id (so with the first), so the ids are exact: on a hash collision (odds about n^2 / 2^65 for n ids) the
caller is told (``None``) and takes the exact data-frame path. One compiled pass over the events then gives every
order's life, another over the trades its fills. The per-id passes here (``group_totals``, ``placement_totals``)
serve the other kernels that group by interned ids too, and ``taker_placements`` interns the
liquidity-taking orders' ids with the placements' once a partition for front running and momentum ignition.
``seeded_lives`` gives the spoofing/layering screen the lives of a few orders without interning every id.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from harbour.data.arrow_strings import load_u64, same_string, slot_of, string_buffers
from harbour.detect.aml.interning import Strings, intern_columns
from harbour.detect.aml.kernels import single_threaded

_US_UTC = pa.timestamp("us", "UTC")


def exact_codes(cols: list[Strings]) -> tuple[np.ndarray, np.ndarray] | None:
    """Ids for the strings of ``cols`` read one after another (as ``intern_columns``: id per row, first row of
    each id), or None when a null is among them or two different strings share an id (a hash collision)."""
    if any(c.null_count for c in cols):
        return None
    with single_threaded():  # the runner already keeps one process per core busy
        codes, firsts = intern_columns(cols)
    offsets, data = _joined([string_buffers(c) for col in cols
                             for c in (col.chunks if isinstance(col, pa.ChunkedArray) else [col])])
    if not _same_as_first(offsets, data, codes, firsts):
        return None
    return codes, firsts


def _joined(chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The chunks' (offsets, bytes) as one string column's, for the byte check: the bytes each chunk's rows
    use copied one after another, the offsets moved to match; one chunk is read in place. The strings are interned
    from the chunks as they are. Casting every chunk to a large string and concatenating them first (two copies
    through Arrow) cost ~3 ms a partition: leaving it out took exact_codes from 0.72 to 0.61 CPU-s a rep over the
    bench market for layering's lifecycles (of layering's ~3.0), 0.21 to 0.20 for front running's takers."""
    if len(chunks) == 1:
        return chunks[0][0], chunks[0][1]
    offsets, data, at = [np.zeros(1, np.int64)], [], 0
    for off, buf, _ in chunks:
        lo, hi = int(off[0]), int(off[-1])
        offsets.append(off[1:].astype(np.int64) + (at - lo))
        data.append(buf[lo:hi])
        at += hi - lo
    return np.concatenate(offsets), np.concatenate(data) if data else np.zeros(0, np.uint8)


@njit(cache=True, nogil=True)
def _same_as_first(offsets: np.ndarray, data: np.ndarray, codes: np.ndarray, firsts: np.ndarray) -> bool:
    """Whether every string equals the first string of its id, byte for byte: each row is compared with the
    previous row of its id (equal all along the chain, so equal to the first), which is usually a few rows back
    and still in cache — the first row of a long-lived id is not."""
    last = firsts.copy()
    for i in range(codes.shape[0]):
        c = codes[i]
        f = last[c]
        last[c] = i
        if f == i:
            continue
        a, z, b = offsets[i], offsets[i + 1], offsets[f]
        n = z - a
        if offsets[f + 1] - b != n:
            return False
        k = 0
        while k + 8 <= n:  # a word at a time
            if load_u64(data, a + k) != load_u64(data, b + k):  # type: ignore[call-arg]
                return False
            k += 8
        while k < n:
            if data[a + k] != data[b + k]:
                return False
            k += 1
    return True


@njit(cache=True, nogil=True)
def _lives(codes: np.ndarray, n_ids: int, is_new: np.ndarray, is_end: np.ndarray, big_new: np.ndarray,
           ts: np.ndarray, qty: np.ndarray, qty_ok: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per order id over its events, in row order: the first ``new`` event's row (-1: none), the earliest
    ``new`` time, the latest cancel/expire time (-1 row: none), the largest non-null quantity (``sized``: any)
    and whether a ``new`` event of it is big (``big_new``)."""
    first_new = np.full(n_ids, -1, np.int64)
    placed = np.zeros(n_ids, np.int64)
    last_end = np.full(n_ids, -1, np.int64)
    cancelled = np.zeros(n_ids, np.int64)
    size = np.zeros(n_ids, np.float64)
    sized = np.zeros(n_ids, np.bool_)
    big = np.zeros(n_ids, np.bool_)
    for i in range(codes.shape[0]):
        c = codes[i]
        if is_new[i]:
            if first_new[c] < 0:
                first_new[c] = i
                placed[c] = ts[i]
            elif ts[i] < placed[c]:
                placed[c] = ts[i]
            if big_new[i]:
                big[c] = True
        if is_end[i] and (last_end[c] < 0 or ts[i] > cancelled[c]):
            last_end[c] = i
            cancelled[c] = ts[i]
        if qty_ok[i] and (not sized[c] or qty[i] > size[c]):
            size[c] = qty[i]
            sized[c] = True
    return first_new, placed, last_end, cancelled, size, sized, big


@njit(cache=True, nogil=True, inline="always")
def kahan_add(total: float, carry: float, x: float) -> tuple[float, float]:
    """``total + x`` with Kahan's compensation (the new total and carry). Polars sums the groups of a large frame
    this way, so on the partitions of a real lake the compiled passes give the bits its group-by gave; on small
    frames Polars adds in plain sequence, and the two may differ in the last bit (measured: plain sums at 1,200
    rows, compensated at 20,000)."""
    y = x - carry
    t = total + y
    return t, (t - total) - y


@njit(cache=True, nogil=True)
def _fills(codes: np.ndarray, n_ids: int, qty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per id, the summed quantity of the rows that carry it (in row order, compensated: ``kahan_add``) and
    whether any does."""
    filled = np.zeros(n_ids, np.float64)
    carry = np.zeros(n_ids, np.float64)
    traded = np.zeros(n_ids, np.bool_)
    for i in range(codes.shape[0]):
        c = codes[i]
        filled[c], carry[c] = kahan_add(filled[c], carry[c], qty[i])
        traded[c] = True
    return filled, traded


@njit(cache=True, nogil=True)
def group_totals(codes: np.ndarray, n: int, q: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per id below ``n``: the quantities of its rows summed in row order (compensated: ``kahan_add``), its
    earliest and latest time (int64 max and min for an id with no rows)."""
    total = np.zeros(n, np.float64)
    carry = np.zeros(n, np.float64)
    first = np.full(n, np.iinfo(np.int64).max, np.int64)
    last = np.full(n, np.iinfo(np.int64).min, np.int64)
    for i in range(codes.shape[0]):
        c = codes[i]
        total[c], carry[c] = kahan_add(total[c], carry[c], q[i])
        first[c] = min(first[c], ts[i])
        last[c] = max(last[c], ts[i])
    return total, first, last


@njit(cache=True, nogil=True)
def placement_totals(codes: np.ndarray, n: int, ts: np.ndarray, q: np.ndarray, q_ok: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per id below ``n`` (the placements of other ids are skipped): earliest time and largest quantity."""
    placed = np.zeros(n, np.int64)
    size = np.zeros(n, np.float64)
    has_placed = np.zeros(n, np.bool_)
    has_size = np.zeros(n, np.bool_)
    for i in range(codes.shape[0]):
        c = codes[i]
        if c >= n:
            continue
        if not has_placed[c] or ts[i] < placed[c]:
            placed[c] = ts[i]
            has_placed[c] = True
        if q_ok[i] and (not has_size[c] or q[i] > size[c]):
            size[c] = q[i]
            has_size[c] = True
    return placed, size, has_placed, has_size


def trade_fills(trades: pl.DataFrame) -> pl.DataFrame:
    """Both sides of every trade that names its order: ``order_id`` and the quantity ``q``."""
    return pl.concat([trades.select(order_id="buy_order_id", q="quantity"),
                      trades.select(order_id="sell_order_id", q="quantity")]).drop_nulls("order_id")


def order_lifecycles(orders: pa.Table, trades: pl.DataFrame, bait_size: float) -> pl.DataFrame | None:
    """One row per order that traded or was placed as a limit order of ``bait_size`` or more (big enough to be
    bait), in order of first event: ``order_id``, ``account``, ``side``, ``order_type``, ``price``
    (of its first placement), ``placed`` (earliest placement), ``cancelled`` (latest cancel or expiry), ``size``
    (largest open quantity), ``filled`` (summed quantity of its trades, 0 if none). None when the ids cannot be
    made exact (nulls among the orders' ids, a hash collision): the caller groups by the strings instead."""
    n = orders.num_rows
    fill_rows = trade_fills(trades)
    if fill_rows["q"].null_count():
        return None
    found = exact_codes([orders.column("order_id"), fill_rows["order_id"].to_arrow()])
    if found is None:
        return None
    codes, firsts = found
    n_ids = int(np.searchsorted(firsts, n))  # ids first seen among the events: the orders (ids of trades only are not)
    event = orders.column("event")
    qty = orders.column("quantity")
    is_new = _mask(pc.equal(event, "new"))
    big_new = is_new & _mask(pc.and_(pc.equal(orders.column("order_type"), "limit"), pc.greater_equal(qty, bait_size)))
    first_new, placed, last_end, cancelled, size, sized, big = _lives(
        codes[:n], n_ids, is_new, _mask(pc.is_in(event, pa.array(["cancel", "expire"]))),
        big_new, _ints(orders.column("ts")), _floats(qty), _mask(pc.is_valid(qty)))
    trade_codes = codes[n:]
    filled, traded = _fills(np.where(trade_codes < n_ids, trade_codes, n_ids), n_ids + 1, fill_rows["q"].to_numpy())
    keep = np.flatnonzero(big | traded[:n_ids])
    picked = orders.select(["order_id", "account", "side", "order_type"]).take(pa.array(firsts[keep]))
    new_rows = first_new[keep]
    life = picked.append_column("price", orders.column("price").take(pa.array(new_rows, mask=new_rows < 0))) \
        .append_column("placed", _times(placed[keep], new_rows < 0)) \
        .append_column("cancelled", _times(cancelled[keep], last_end[keep] < 0)) \
        .append_column("size", pa.array(size[keep], mask=~sized[keep])) \
        .append_column("filled", pa.array(filled[keep]))
    out = pl.from_arrow(life)
    assert isinstance(out, pl.DataFrame)
    return out


def _mask(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _ints(arr: pa.ChunkedArray) -> np.ndarray:
    """Microseconds since the epoch (the contract's unit, whatever unit the table came in)."""
    us = pc.cast(pc.cast(arr, _US_UTC), pa.int64())
    return np.asarray(us.to_numpy(zero_copy_only=False), dtype=np.int64)


def _floats(arr: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False), dtype=np.float64)


def _times(us: np.ndarray, missing: np.ndarray) -> pa.Array:
    return pa.array(us, pa.int64(), mask=missing).cast(_US_UTC)


def taker_placements(takers: pl.Series, news: pl.DataFrame | None, shared: dict[Any, Any] | None = None
                     ) -> tuple[np.ndarray, np.ndarray, int, tuple[np.ndarray, ...] | None] | None:
    """The liquidity-taking orders' ids (``takers``, one per fill) and the placements' order ids interned together
    (``exact_codes``: id per row, first row of each id), how many ids the takers have, and the placements' totals
    per taker id (``placement_totals``; None without ``news``); None when the ids cannot be made exact.

    Front running and momentum ignition ask for the same: their takers are the same legs in the same order when
    every leg has an order id. With ``shared`` (the partition's ``Partition.shared``) the second reads the
    first's, once its takers and placements are found the same: interning the day's placements and totalling
    them was 0.3 CPU-s of each detector over the bench market."""
    key = ("lifecycles.taker_placements", id(news))
    cached = shared.get(key) if shared is not None else None
    if cached is not None and cached[0] is news and cached[1].equals(takers, null_equal=True):
        return cached[2]
    found = exact_codes([takers.to_arrow()] + ([news["order_id"].to_arrow()] if news is not None else []))
    result = None
    if found is not None:
        codes, firsts = found
        n_ids = int(np.searchsorted(firsts, takers.len()))  # ids first seen among the takers
        totals = None
        if news is not None:
            q = news["quantity"].cast(pl.Float64)
            totals = placement_totals(codes[takers.len():], n_ids, news["ts"].dt.epoch("us").to_numpy(),
                                      q.fill_null(0.0).to_numpy(), q.is_not_null().to_numpy())
        result = (codes, firsts, n_ids, totals)
    if shared is not None:
        shared[key] = (news, takers, result)
    return result


Buffers = tuple[np.ndarray, np.ndarray, np.ndarray]  # a string array's offsets, bytes and validity (or empty)


@njit(cache=True, nogil=True)
def seeded_lives(ids: Buffers, h: np.ndarray, seed: np.ndarray, kind: np.ndarray, qty: np.ndarray, ts: np.ndarray,
                 buys: Buffers, buy_h: np.ndarray, buy_took: np.ndarray, sells: Buffers, sell_h: np.ndarray,
                 sell_took: np.ndarray, trade_q: np.ndarray) -> tuple[tuple[np.ndarray, ...], bool]:
    """The lives of a few orders straight from the string buffers of their ids (``ids``, ``buys``, ``sells``: offsets,
    bytes, validity) and any 64-bit hashes of them (``h``, ``buy_h``, ``sell_h``), for the spoofing/layering screen:
    only the ids of the events of ``seed`` are put in a table, so most events are passed over at the cost of a bit
    test. ``kind`` tells each event: 1 a placement, 2 a cancel or expiry.

    Per order id of an event of ``seed``, numbered in order of first such event: its first event's row, its first
    new event's row (-1: none), its earliest new-event time (int64 max without one), its latest cancel or expiry time
    (int64 min without one), its largest quantity and largest placement (-inf without one), the quantity of the trade
    sides that name it, their number and how many of them took liquidity (``buy_took``, ``sell_took``); and whether
    every string matched by hash equals its id's bytes (False: a collision, and the lives are left half read)."""
    offsets, data, _ = ids
    rep = _seed_ids(h, seed)  # a row of each id, whose bytes every match must equal
    n_ids = rep.shape[0]
    table, mask = _id_table(h, rep)
    # a bit per hash's top bits, 16 bits an id (8 KB for 4k ids: in L1), set for every id in the table: most events
    # and trade sides name a small order, and the bit (no false negative, ~6% false positives) spares them the
    # table's cache miss. The loops are written out: numba's code for a look-up or an update called as a function,
    # even inlined, was twice as slow (measured)
    bits = 6
    while (1 << bits) < 16 * n_ids:
        bits += 1
    shift = np.uint64(64 - bits)
    bloom = np.zeros(1 << (bits - 6), np.uint64)
    for c in range(n_ids):
        b = h[rep[c]] >> shift
        bloom[b >> np.uint64(6)] |= np.uint64(1) << (b & np.uint64(63))
    # one row per id of what an event of it reads and writes: its length and words (``_words``: most matches are
    # checked against them), first row, first new row, placement, cancel; and its sizes in a second. A quarter of a
    # busy partition's events are its big orders', and with an array per figure (and the table's hashes and ids
    # apart) each cost ~8 cache misses: 0.90 ms a partition, 0.74 with a row per id (the first two bench days)
    rec = np.zeros((n_ids, 8), np.int64)
    sizes = np.full((n_ids, 2), -np.inf)  # largest quantity, largest placement
    for c in range(n_ids):
        n_bytes, w_first, w_last = _words(offsets, data, rep[c])
        rec[c, 0], rec[c, 1], rec[c, 2] = np.int64(n_bytes), np.int64(w_first), np.int64(w_last)
        rec[c, 3], rec[c, 4], rec[c, 5], rec[c, 6] = -1, -1, np.iinfo(np.int64).max, np.iinfo(np.int64).min
    filled, named, took = np.zeros(n_ids, np.float64), np.zeros(n_ids, np.int64), np.zeros(n_ids, np.int64)
    ok = True
    # the rows whose hash's bit is set listed first, without a branch (a quarter of a busy partition's events and
    # trade sides pass, in no order a predictor can learn), and an event's figures updated by selects rather than
    # tests on its kind: 136-151 -> 108-118 ms over ten bench days' 180 partitions (three runs, each the least of 7
    # interleaved with the old per partition)
    for i in _bloom_rows(h, bloom, shift, np.zeros(0, np.bool_)):
        x = h[i]
        s = np.intp(x & mask)
        while table[s, 1] != 0 and table[s, 0] != np.int64(x):
            s = np.intp((np.uint64(s) + np.uint64(1)) & mask)
        c = table[s, 1] - 1
        if c < 0:
            continue
        n_bytes, w_first, w_last = _words(offsets, data, i)  # the same string? written out: as a call ~20% slower
        if np.int64(n_bytes) != rec[c, 0] or (np.int64(w_first) != rec[c, 1] or np.int64(w_last) != rec[c, 2]
                                              if 8 <= n_bytes <= 16
                                              else not same_string(offsets, data, i, offsets, data, rep[c])):
            ok = False  # a collision: the caller reads none of the lives
            break
        k, t, q = kind[i], ts[i], qty[i]
        rec[c, 3] = i if rec[c, 3] < 0 else rec[c, 3]
        rec[c, 4] = i if (k == 1) & (rec[c, 4] < 0) else rec[c, 4]
        rec[c, 5] = min(rec[c, 5], t if k == 1 else np.iinfo(np.int64).max)  # the bounds leave a figure as it is
        rec[c, 6] = max(rec[c, 6], t if k == 2 else np.iinfo(np.int64).min)
        sizes[c, 0] = max(sizes[c, 0], q)
        sizes[c, 1] = max(sizes[c, 1], q if k == 1 else -np.inf)
    for side, side_h, side_took in ((buys, buy_h, buy_took), (sells, sell_h, sell_took)):
        if not ok:
            break
        side_offsets, side_data, side_valid = side
        for j in _bloom_rows(side_h, bloom, shift, side_valid):
            x = side_h[j]
            s = np.intp(x & mask)
            while table[s, 1] != 0 and table[s, 0] != np.int64(x):
                s = np.intp((np.uint64(s) + np.uint64(1)) & mask)
            c = table[s, 1] - 1
            if c < 0:
                continue
            n_bytes, w_first, w_last = _words(side_offsets, side_data, j)
            if np.int64(n_bytes) != rec[c, 0] or (np.int64(w_first) != rec[c, 1] or np.int64(w_last) != rec[c, 2]
                                                  if 8 <= n_bytes <= 16
                                                  else not same_string(side_offsets, side_data, j, offsets, data,
                                                                       rep[c])):
                ok = False
                break
            filled[c] += trade_q[j]
            named[c] += 1
            took[c] += side_took[j]
    lives = (rec[:, 3].copy(), rec[:, 4].copy(), rec[:, 5].copy(), rec[:, 6].copy(), sizes[:, 0].copy(),
             sizes[:, 1].copy(), filled, named, took)
    return lives, ok


@njit(cache=True, nogil=True)
def _bloom_rows(h: np.ndarray, bloom: np.ndarray, shift: np.uint64, valid: np.ndarray) -> np.ndarray:
    """The rows whose hash's top bits (``h >> shift``) have their bit set in ``bloom`` and which are valid (``valid``:
    empty, all are), in row order: every row is written and the count moves on by the test's outcome, so no branch
    depends on the data (as ``_seed_ids`` lists the seed rows)."""
    rows = np.empty(h.shape[0], np.int64)
    n = 0
    if valid.shape[0]:
        for i in range(h.shape[0]):
            b = h[i] >> shift
            rows[n] = i
            n += ((bloom[b >> np.uint64(6)] >> (b & np.uint64(63))) & np.uint64(1)) & np.uint64(valid[i])
    else:
        for i in range(h.shape[0]):
            b = h[i] >> shift
            rows[n] = i
            n += (bloom[b >> np.uint64(6)] >> (b & np.uint64(63))) & np.uint64(1)
    return rows[:n]


@njit(cache=True, nogil=True)
def _seed_ids(h: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The first row of each distinct hash among the rows of ``seed``, in row order. The seed rows are listed first
    without a branch (a tenth of the events on the bench market: a test per event mispredicted; 0.035 -> 0.023 s over
    ten bench days' 180 partitions)."""
    rows = np.empty(h.shape[0], np.int64)
    n_seed = 0
    for i in range(h.shape[0]):
        rows[n_seed] = i
        n_seed += seed[i]
    cap = 16
    while cap < 2 * n_seed:
        cap *= 2
    slot_h, slot_id = np.zeros(cap, np.uint64), np.full(cap, -1, np.int64)
    rep = np.empty(n_seed, np.int64)
    n_ids = 0
    for i in rows[:n_seed]:
        s = slot_of(slot_h, slot_id, h[i])
        if slot_id[s] < 0:
            slot_h[s], slot_id[s], rep[n_ids] = h[i], n_ids, i
            n_ids += 1
    return rep[:n_ids]


@njit(cache=True, nogil=True)
def _id_table(h: np.ndarray, rep: np.ndarray) -> tuple[np.ndarray, np.uint64]:
    """An open-addressing table (linear probing from the hash's low bits, a power-of-two size at least twice the
    ids) of the ids' hashes: per slot the hash's bits and the id + 1 (0: empty), side by side, so a probe is one
    cache line; sized for the ids, where ``_seed_ids``' is sized for every seed row (a quarter of the size on the
    bench market). Its mask is returned with it."""
    cap = 16
    while cap < 2 * rep.shape[0]:
        cap *= 2
    table = np.zeros((cap, 2), np.int64)
    mask = np.uint64(cap - 1)
    for c in range(rep.shape[0]):
        x = h[rep[c]]
        s = np.intp(x & mask)
        while table[s, 1] != 0:
            s = np.intp((np.uint64(s) + np.uint64(1)) & mask)
        table[s, 0], table[s, 1] = np.int64(x), c + 1
    return table, mask


@njit(cache=True, nogil=True, inline="always")
def _words(offsets: np.ndarray, data: np.ndarray, i: int) -> tuple[np.uint64, np.uint64, np.uint64]:
    """String i's length and, when it is 8 to 16 bytes long, its first and last 8 bytes as words (0 otherwise):
    together they are its every byte."""
    a, z = offsets[i], offsets[i + 1]
    if z - a < 8 or z - a > 16:
        return np.uint64(z - a), np.uint64(0), np.uint64(0)
    return np.uint64(z - a), load_u64(data, np.intp(a)), load_u64(data, np.intp(z - 8))  # type: ignore[call-arg]
