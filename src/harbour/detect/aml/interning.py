"""The transfer graph's build kernels (see ``graph.py``): party interning straight from the Arrow buffers
of each chunk — no combined copy of the columns, no conversion into another library's strings (either
costs more than the interning) — and the edges' CSR order.

Each string is hashed to 64 bits, and ids are given to hashes: two different parties share an id only on a
hash collision (odds about n^2 / 2^65, below one in 10^5 for 20M parties). The rows are grouped by the top
bits of their hash into buckets small enough for an in-cache hash table, interned bucket by bucket, and
every id is numbered by the rank of its first row among all first rows: the numbering one table over all
rows in row order would give (order of first appearance).

Example::

    codes, firsts = intern_columns([from_party, to_party])  # id per row of both, first row of each id
    parties = take_strings([from_party, to_party], firsts)
    order, ptr, dst_o, ts_o, usd_o = csr_order(src, n_nodes, dst, ts, usd)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
from numba import njit

from harbour.data.arrow_strings import load_u64, string_buffers
from harbour.detect.aml.kernels import _run, ranges, together

Strings: TypeAlias = pa.Array | pa.ChunkedArray
_MUL = np.uint64(0x9E3779B97F4A7C15)  # odd, bits spread evenly: one multiply mixes a word into the state
_NULL_HASH = np.uint64(0x6E756C6C5EED0001)  # hash of a null string (nulls are one party, as Arrow groups them)
BUCKET_ROWS = 1 << 14  # rows per bucket, about: a bucket's table (2 slots a row, 16 bytes a slot) stays in L2


@njit(cache=True, nogil=True, inline="always")
def _finish(x: np.uint64) -> np.uint64:
    """Avalanche (splitmix64's finaliser): every bit of the state moves the top and the bottom bits, which
    pick the bucket and the slot."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def string_hash(offsets: np.ndarray, data: np.ndarray, i: int) -> np.uint64:
    """The hash of string i of a string array's buffers (bytes ``data[offsets[i]:offsets[i + 1]]``), a word at a
    time."""
    a, z = np.intp(offsets[i]), np.intp(offsets[i + 1])
    x = np.uint64(z - a) * _MUL
    p = a
    while p + 8 <= z:
        x = (x ^ load_u64(data, p)) * _MUL  # type: ignore[call-arg]
        x ^= x >> np.uint64(29)
        p += 8
    if p < z:
        if z - a >= 8:  # the last word read whole, shifted past the bytes already taken
            w = load_u64(data, z - 8) >> np.uint64(8 * (8 - (z - p)))  # type: ignore[call-arg]
        else:
            w = np.uint64(0)
            for q in range(p, z):
                w |= np.uint64(data[q]) << np.uint64(8 * (q - p))
        x = (x ^ w) * _MUL
    return _finish(x)


@njit(cache=True, nogil=True)
def _hash_strings(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, out: np.ndarray, at: int,
                  hist: np.ndarray, shift: int) -> None:
    """``out[at + i]``: the hash of string i (bytes ``data[offsets[i]:offsets[i + 1]]``, null where ``valid``,
    if given, is False); ``hist`` counts the hashes per bucket (top bits)."""
    sh = np.uint64(shift)
    for i in range(offsets.shape[0] - 1):
        x = _NULL_HASH if valid.shape[0] and not valid[i] else string_hash(offsets, data, i)
        out[at + i] = x
        hist[np.intp(x >> sh)] += 1


def _chunks(col: Strings) -> list[pa.Array]:
    return [c for c in (col.chunks if isinstance(col, pa.ChunkedArray) else [col]) if len(c)]


def hash_strings(col: Strings, out: np.ndarray, at: int, hist: np.ndarray, shift: int) -> None:
    """Hashes of ``col``'s strings into ``out[at:at + len(col)]``, counted per bucket into ``hist``."""
    for chunk in _chunks(col):
        offsets, data, valid = string_buffers(chunk)
        _hash_strings(offsets, data, valid, out, at, hist, shift)
        at += len(chunk)


@njit(cache=True, nogil=True)
def _scatter(h: np.ndarray, lo: int, hi: int, shift: int, fill: np.ndarray, keys: np.ndarray) -> None:
    """The hashes of rows lo..hi-1 to their bucket's next positions ``fill``: in row order within each bucket
    (so a row's position is found again by walking the rows with one cursor per bucket)."""
    sh = np.uint64(shift)
    for i in range(lo, hi):
        b = np.intp(h[i] >> sh)
        p = fill[b]
        keys[p] = h[i]
        fill[b] = p + 1


@njit(cache=True, nogil=True, inline="always")
def _slot(x: np.uint64, mask: int) -> int:
    return np.intp(x & np.uint64(mask))  # type: ignore[return-value]


@njit(cache=True, nogil=True)
def _intern_buckets(keys: np.ndarray, ptr: np.ndarray, b0: int, b1: int, local: np.ndarray, is_first: np.ndarray,
                    n_ids: np.ndarray) -> None:
    """Dense ids within each bucket b0..b1-1 in order of first position: ``local[p]`` per position,
    ``is_first[p]`` where an id first appears, ``n_ids[b]`` per bucket. The open-addressing table (hash and id + 1
    side by side, at most half full) is sized to the bucket: it stays in cache."""
    most = 1
    for b in range(b0, b1):
        most = max(most, ptr[b + 1] - ptr[b])
    cap = 16
    while cap < 2 * most:
        cap *= 2
    slots = np.zeros(2 * cap, np.uint64)
    for b in range(b0, b1):
        a, z = ptr[b], ptr[b + 1]
        size = 16
        while size < 2 * (z - a):
            size *= 2
        mask = size - 1
        slots[:2 * size] = 0
        k = 0
        for p in range(a, z):
            x = keys[p]
            j = _slot(x, mask)  # the low bits: the top ones are the bucket's, the same for all its rows
            while True:
                sid = slots[2 * j + 1]
                if sid == 0:
                    slots[2 * j] = x
                    slots[2 * j + 1] = np.uint64(k + 1)
                    local[p] = k
                    is_first[p] = True
                    k += 1
                    break
                if slots[2 * j] == x:
                    local[p] = np.intp(sid) - 1
                    is_first[p] = False
                    break
                j = (j + 1) & mask
        n_ids[b] = k


@njit(cache=True, nogil=True)
def _number(h: np.ndarray, shift: int, ptr: np.ndarray, is_first: np.ndarray, base: np.ndarray, gid: np.ndarray,
            firsts: np.ndarray) -> None:
    """Global ids in order of first appearance: walking the rows in order (one cursor per bucket finds each
    row's position), the first rows come in row order and each is its bucket's next local id (a bucket
    numbers its ids by first position, and its positions are in row order); the k-th is id k
    (``gid[base[b] + local]``)."""
    sh = np.uint64(shift)
    fill = ptr[:-1].copy()
    nxt = base[:-1].copy()
    k = 0
    for i in range(h.shape[0]):
        b = np.intp(h[i] >> sh)
        p = fill[b]
        fill[b] = p + 1
        if is_first[p]:
            gid[nxt[b]] = k
            nxt[b] += 1
            firsts[k] = i
            k += 1


@njit(cache=True, nogil=True)
def _globalise(ptr: np.ndarray, base: np.ndarray, gid: np.ndarray, local: np.ndarray, b0: int, b1: int) -> None:
    """Local ids of buckets b0..b1-1 to global ids, in place: bucket by bucket, so the bucket's part of
    ``gid`` stays in cache (read per row, the 4M-id table would miss it on every read)."""
    for b in range(b0, b1):
        g = gid[base[b]:base[b + 1]]
        for p in range(ptr[b], ptr[b + 1]):
            local[p] = g[local[p]]


@njit(cache=True, nogil=True)
def _unbucket(h: np.ndarray, lo: int, hi: int, shift: int, fill: np.ndarray, ids: np.ndarray, codes: np.ndarray
              ) -> None:
    """``codes[i]`` for rows lo..hi-1: the id at row i's position, read with one cursor per bucket (rows come
    back in the order they were scattered)."""
    sh = np.uint64(shift)
    for i in range(lo, hi):
        b = np.intp(h[i] >> sh)
        p = fill[b]
        fill[b] = p + 1
        codes[i] = ids[p]


def intern_columns(cols: Sequence[Strings]) -> tuple[np.ndarray, np.ndarray]:
    """Ids for the strings of ``cols`` read one after another (row i of the second column is row
    ``len(cols[0]) + i``), numbered in order of first appearance: (id per row, first row of each id, ascending).
    The columns are hashed in threads, one per column; so are the scatter and gather passes."""
    sizes = [len(c) for c in cols]
    start = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    n = int(start[-1])
    bits = max(1, min(16, (n // BUCKET_ROWS).bit_length()))  # at least 1: a shift by 64 bits is undefined
    shift = 64 - bits
    h = np.empty(n, np.uint64)
    hist = np.zeros((len(cols), 1 << bits), np.int64)
    together(*(lambda i=i: hash_strings(cols[i], h, int(start[i]), hist[i], shift) for i in range(len(cols))))
    ptr = np.zeros((1 << bits) + 1, np.int64)
    np.cumsum(hist.sum(axis=0), out=ptr[1:])
    # each column's rows go after the previous columns' rows of the same bucket: row order within buckets
    col_fill = ptr[:-1] + np.concatenate((np.zeros((1, 1 << bits), np.int64), np.cumsum(hist, axis=0)[:-1]))
    keys = np.empty(n, np.uint64)
    lo, hi = start[:-1].tolist(), start[1:].tolist()
    together(*(lambda i=i: _scatter(h, lo[i], hi[i], shift, col_fill[i].copy(), keys) for i in range(len(cols))))
    local = np.empty(n, np.int32)
    is_first = np.empty(n, np.bool_)
    n_ids = np.zeros(1 << bits, np.int64)
    _run(lambda b0, b1: _intern_buckets(keys, ptr, b0, b1, local, is_first, n_ids), ranges(1 << bits, ptr))
    base = np.zeros((1 << bits) + 1, np.int64)
    np.cumsum(n_ids, out=base[1:])
    gid = np.empty(int(base[-1]), np.int64)
    firsts = np.empty(int(base[-1]), np.int64)
    _number(h, shift, ptr, is_first, base, gid, firsts)
    _run(lambda b0, b1: _globalise(ptr, base, gid, local, b0, b1), ranges(1 << bits, ptr))
    codes = keys.view(np.int64)  # the hashes by position are read no more: their pages are reused
    together(*(lambda i=i: _unbucket(h, lo[i], hi[i], shift, col_fill[i].copy(), local, codes)
               for i in range(len(cols))))
    return codes, firsts


@njit(cache=True, nogil=True)
def _lengths(offsets: np.ndarray, valid: np.ndarray, sel: np.ndarray, lens: np.ndarray, at: int) -> None:
    for j in range(sel.shape[0]):
        r = sel[j]
        lens[at + j] = 0 if valid.shape[0] and not valid[r] else offsets[r + 1] - offsets[r]


@njit(cache=True, nogil=True)
def _copy(offsets: np.ndarray, data: np.ndarray, sel: np.ndarray, out_offsets: np.ndarray, out_data: np.ndarray,
          at: int) -> None:
    for j in range(sel.shape[0]):
        a, q = offsets[sel[j]], out_offsets[at + j]
        out_data[q:out_offsets[at + j + 1]] = data[a:a + out_offsets[at + j + 1] - q]


def take_strings(cols: Sequence[Strings], rows: np.ndarray) -> pa.Array:
    """The strings at ``rows`` (ascending, numbered over ``cols`` read one after another) as one array, copied
    chunk by chunk from the columns' buffers (two threads: half the chunks each)."""
    pieces = []  # (offsets, bytes, validity, rows in the chunk, first output position)
    start = 0
    for col in cols:
        for chunk in _chunks(col):
            lo, hi = (int(x) for x in np.searchsorted(rows, [start, start + len(chunk)]))
            if hi > lo:
                pieces.append((*string_buffers(chunk), rows[lo:hi] - start, lo))
            start += len(chunk)
    lens = np.zeros(len(rows), np.int64)
    for offsets, _, valid, sel, at in pieces:
        _lengths(offsets, valid, sel, lens, at)
    out_offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lens, out=out_offsets[1:])
    large = int(out_offsets[-1]) >= 2**31
    if not large:
        out_offsets = out_offsets.astype(np.int32)
    out_data = np.empty(int(out_offsets[-1]), np.uint8)
    half = len(pieces) // 2
    together(*(lambda part=part: [_copy(o, d, s, out_offsets, out_data, at) for o, d, _, s, at in part]
               for part in (pieces[:half], pieces[half:])))
    validity = None
    if any(valid.size for _, _, valid, _, _ in pieces):
        mask = np.ones(len(rows), np.bool_)
        for _, _, valid, sel, at in pieces:
            if valid.size:
                mask[at:at + sel.size] = valid[sel]
        validity = pa.array(mask).buffers()[1]
    return pa.Array.from_buffers(pa.large_string() if large else pa.string(), len(rows),
                                 [validity, pa.py_buffer(out_offsets), pa.py_buffer(out_data)])


@njit(cache=True, nogil=True)
def _match(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, names_offsets: np.ndarray,
           names_data: np.ndarray, whole: bool, out: np.ndarray, at: int, lo: int, hi: int) -> None:
    """``out[at + i]`` for strings lo..hi-1: the index of the name equal to the string (``whole``) or to its
    text before the first ':' (all of it if none); left as it is if none is."""
    for i in range(lo, hi):
        if valid.shape[0] and not valid[i]:
            continue
        a, z = offsets[i], offsets[i + 1]
        c = a
        while not whole and c < z and data[c] != 58:  # ':'
            c += 1
        if whole:
            c = z
        for v in range(names_offsets.shape[0] - 1):
            na = names_offsets[v]
            if names_offsets[v + 1] - na != c - a:
                continue
            q = 0
            while q < c - a and data[a + q] == names_data[na + q]:
                q += 1
            if q == c - a:
                out[at + i] = v
                break


def prefix_in(strings: pa.Array, names: pa.Array) -> np.ndarray:
    """Per string, the index of the name equal to its text before the first ``:`` (all of it if none), -1 if
    none is; ``names`` holds no nulls or duplicates. A byte scan of each string, in threads."""
    offsets, data, valid = string_buffers(strings)
    names_offsets, names_data, _ = string_buffers(names)
    out = np.full(len(strings), -1, np.int64)
    _run(lambda lo, hi: _match(offsets, data, valid, names_offsets, names_data, False, out, 0, lo, hi),
         ranges(len(strings)))
    return out


def index_of(col: Strings, names: pa.Array, dtype: Any = np.int64, whole: bool = True,
             rows: np.ndarray | None = None) -> np.ndarray:
    """``pc.index_in(col, names)`` with -1 for none (nulls too), for a handful of ``names`` (no nulls, no
    duplicates): compared byte by byte, no hash of each string. With ``whole`` False, the index of the name
    equal to each string's text before its first ':' (all of it if none). ``rows`` (a mask over ``col``)
    limits the scan to those rows; the others are -1."""
    names_offsets, names_data, _ = string_buffers(names)
    out = np.full(len(col), -1, dtype)
    at = 0
    for chunk in _chunks(col):
        offsets, data, valid = string_buffers(chunk)
        if rows is not None:  # _match skips the rows its validity mask leaves out
            valid = rows[at:at + len(chunk)] & valid if valid.shape[0] else rows[at:at + len(chunk)]
        _match(offsets, data, valid, names_offsets, names_data, whole, out, at, 0, len(chunk))
        at += len(chunk)
    return out


@njit(cache=True, nogil=True)
def first_rows(codes: np.ndarray, n: int) -> np.ndarray:
    """Per id below ``n``, the first row holding it in ``codes``, or -1."""
    pos = np.full(n, -1, np.int64)
    for j in range(codes.shape[0] - 1, -1, -1):
        if codes[j] < n:
            pos[codes[j]] = j
    return pos


@njit(cache=True, nogil=True)
def _all_equal(a_offsets: np.ndarray, a_data: np.ndarray, a_rows: np.ndarray, b_offsets: np.ndarray,
               b_data: np.ndarray, b_rows: np.ndarray) -> bool:
    for j in range(a_rows.shape[0]):
        a, b = a_offsets[a_rows[j]], b_offsets[b_rows[j]]
        size = a_offsets[a_rows[j] + 1] - a
        if b_offsets[b_rows[j] + 1] - b != size:
            return False
        for q in range(size):
            if a_data[a + q] != b_data[b + q]:
                return False
    return True


def all_equal(a: pa.Array, a_rows: np.ndarray, b: pa.Array, b_rows: np.ndarray) -> bool:
    """Whether ``a[a_rows[j]] == b[b_rows[j]]`` for every j (arrays without nulls)."""
    a_offsets, a_data, _ = string_buffers(a)
    b_offsets, b_data, _ = string_buffers(b)
    return all(_run(lambda lo, hi: _all_equal(a_offsets, a_data, a_rows[lo:hi], b_offsets, b_data, b_rows[lo:hi]),
                    ranges(len(a_rows))))


@njit(cache=True, nogil=True)
def _partition(keys: np.ndarray, shift: int, pstart: np.ndarray, t_key: np.ndarray, t_row: np.ndarray) -> None:
    """Rows to partitions of ``1 << shift`` consecutive keys (``pstart``: their starts, filled here), in row
    order within each; the key is kept as its offset in the partition."""
    for i in range(keys.shape[0]):
        pstart[(keys[i] >> shift) + 1] += 1
    for b in range(pstart.shape[0] - 1):
        pstart[b + 1] += pstart[b]
    fill = pstart[:-1].copy()
    for i in range(keys.shape[0]):
        b = keys[i] >> shift
        p = fill[b]
        fill[b] = p + 1
        t_key[p] = keys[i] - (b << shift)
        t_row[p] = i


@njit(cache=True, nogil=True)
def _place(shift: int, pstart: np.ndarray, t_key: np.ndarray, t_row: np.ndarray, other: np.ndarray,
           ts: np.ndarray, value: np.ndarray, ptr: np.ndarray, order: np.ndarray, other_o: np.ndarray,
           ts_o: np.ndarray, value_o: np.ndarray) -> None:
    """A counting sort within each partition, written to the partition's own range of the outputs: its
    counts and its output range stay in cache. ``other``, ``ts`` and ``value`` are read at the partition's
    rows, in ascending order."""
    n = ptr.shape[0] - 1
    width = 1 << shift
    cnt = np.zeros(width + 1, np.int64)
    for b in range(pstart.shape[0] - 1):
        a, z = pstart[b], pstart[b + 1]
        base = b << shift
        cnt[:] = 0
        for p in range(a, z):
            cnt[t_key[p] + 1] += 1
        cnt[0] = a
        for v in range(width):
            cnt[v + 1] += cnt[v]
        ptr[base:min(base + width, n)] = cnt[:min(width, n - base)]
        for p in range(a, z):
            v = t_key[p]
            q = cnt[v]
            cnt[v] = q + 1
            r = t_row[p]
            order[q] = r
            other_o[q] = other[r]
            ts_o[q] = ts[r]
            value_o[q] = value[r]
    ptr[n] = t_key.shape[0]


def csr_order(keys: np.ndarray, n: int, other: np.ndarray, ts: np.ndarray, value: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stable sort of row indices by ``keys`` in [0, n): (order, CSR pointers, ``other[order]``, ``ts[order]``,
    ``value[order]``).
    Two passes instead of one counting sort over all n keys (whose counters and outputs are written at
    random, a cache miss a row): rows go to partitions of consecutive keys first, in sequence, then each
    partition is sorted in cache. Memory is what costs most here (fresh pages are faulted in and zeroed:
    more system time than the sort's own), so the partitions carry 6 bytes a row (key offset, row), not the
    values; the arrays are numpy's (huge pages: a tenth of the page faults of numba's)."""
    m = keys.shape[0]
    shift = min(16, max(0, (n - 1).bit_length() - 10))  # about 1024 partitions, offsets within one fit 16 bits
    pstart = np.zeros(((n - 1) >> shift) + 2 if n else 1, np.int64)
    t_key = np.empty(m, np.uint16)
    t_row = np.empty(m, np.int32 if m < 2**31 else np.int64)
    _partition(keys, shift, pstart, t_key, t_row)
    ptr = np.empty(n + 1, np.int64)
    order = np.empty(m, np.int64)
    other_o = np.empty(m, other.dtype)
    ts_o = np.empty(m, ts.dtype)
    value_o = np.empty(m, value.dtype)
    _place(shift, pstart, t_key, t_row, other, ts, value, ptr, order, other_o, ts_o, value_o)
    return order, ptr, other_o, ts_o, value_o
