"""Front running: the liquidity-taking orders' placements read straight off the partition's Arrow order events.

A large order is told by its size as placed (``front_running`` test 1), so the kernel needs, per order that took
liquidity, its earliest placement time and largest placed quantity. The full path reads them from the order book's
placements as a Polars frame (``frames.placements``, ~3.3 ms a partition of the 10M-trade bench market) and interns
the takers' ids with every placement's (``lifecycles.taker_placements``, ~3 ms). Most partitions stop at the size
and habit screens right after, so that was most of the detector's cost. Here the takers' ids (a few thousand) go
into a small compiled hash table, and the order events' ids are probed against it, only at the ``new`` events,
every match checked byte for byte against its taker's string (ids sharing a hash are told apart). Whatever this
pass cannot read as the full path would (nulls, a time unit or a column type of another kind) answers None: the full
path decides.

The kernel's screens read the trades the same way (``TradeArrays``): off the Arrow trades before any frame is built,
each leg's owner as its owner's code (``arrow_trade_arrays``), or, where that cannot be read so, each text column of
the owned trades frame from Polars' own string views in place (``StringSpans``; the legs' two columns as ``Halves``),
with no Polars query, filter or conversion to Arrow's offsets layout (each ~0.1-0.4 ms on a book-day of the
10M-trade bench market, where most partitions stop at the screens).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit
from polars import CompatLevel

from harbour.data.arrow_strings import is_word, load_u64, one_chunk, same_string, slot_of, string_buffers
from harbour.detect.aml.interning import string_hash
from harbour.detect.framework import Partition
from harbour.detect.market.frames import _TIEBREAK, _arrow_in_order, leg_owners, num
from harbour.detect.market.lifecycles import group_totals

if TYPE_CHECKING:
    from harbour.detect.market.front_running import FrontRunningConfig

_MARKET = np.frombuffer(b"market", np.uint8)
_NO_STRINGS = (np.zeros(1, np.int64), np.zeros(0, np.uint8))


class Probed(NamedTuple):
    """Per leg of the takers, its order's id (``codes``, numbered in order of first appearance as
    ``lifecycles.exact_codes`` numbers them), each id's first leg (``firsts``), and per id the placements' totals as
    ``lifecycles.placement_totals`` gives them; and the rows and quantities of the ``market`` placements whose id is
    no taker's (the orders that may have filled nothing: ``front_running._missed``)."""

    codes: np.ndarray
    firsts: np.ndarray
    placed: np.ndarray
    size: np.ndarray
    has_placed: np.ndarray
    has_size: np.ndarray
    unfilled_rows: np.ndarray
    unfilled_qty: np.ndarray


# Each leg of an order that took liquidity: its row in the trades, whether it is a buy, and the order's id.
Takers = tuple[np.ndarray, np.ndarray, pl.Series]


class _Taken(NamedTuple):
    """Per order that took liquidity (numbered as ``taker_placements`` interns the ids: ``codes`` per leg of
    ``Takers``, then per placement), ``firsts`` (its first leg), the quantity filled, its ``first`` and
    ``last`` fill, when it was ``placed`` (if it was: ``has_placed``) and its ``size``: as placed, when more than
    it filled."""

    codes: np.ndarray
    firsts: np.ndarray
    qty: np.ndarray
    first: np.ndarray
    last: np.ndarray
    placed: np.ndarray
    has_placed: np.ndarray
    size: np.ndarray


def _taken_of(codes: np.ndarray, firsts: np.ndarray, n_ids: int, totals: tuple[np.ndarray, ...] | None,
              filled: np.ndarray, ts: np.ndarray) -> _Taken | None:
    """``_Taken`` of the takers' interned ids (``codes`` per leg first, ``firsts``, ``n_ids``), each leg's quantity
    (``filled``) and time (``ts``, microseconds), and the placements' ``totals`` per id (``placement_totals``'; None:
    no placements); None where a size is not a positive finite number."""
    qty, first, last = group_totals(codes[:filled.shape[0]], n_ids, filled, ts)
    placed, has_placed, size = first, np.zeros(n_ids, np.bool_), qty
    if totals is not None:
        placed, placed_size, has_placed, has_size = totals
        size = np.maximum(qty, np.where(has_size, placed_size, 0.0))  # the larger, as Polars' max_horizontal
    if not (np.isfinite(size).all() and (qty > 0).all()):
        return None
    return _Taken(codes, firsts[:n_ids], qty, first, last, placed, has_placed, size)


class Unplaced(NamedTuple):
    """The large orders as the probe reads them (``_large_unplaced``): the takers' orders (``_Taken``), the size
    that makes an order large, and the rows of the order events of the market orders placed that large that filled
    nothing (``missed``: none, as on 176 of the 180 partitions of ten days of the 10M-trade bench market)."""

    taken: _Taken
    least: float
    missed: np.ndarray


def _large_unplaced(ids: Halves, filled: np.ndarray, ts: np.ndarray, orders: pa.Table | None,
                    config: FrontRunningConfig) -> Unplaced | None:
    """What ``_large_orders`` reads, without the placements' frame: the placements of the takers' orders (``ids``,
    one per leg of ``Takers``, with its quantity ``filled`` and time ``ts`` in microseconds: no nulls) probed on the
    Arrow order events (``probe_spans``), as ``Unplaced``; ``_large_by_codes`` builds the frame of the orders that
    filled (the full path reads the frame of the others, ``_missed``). None (``_large_orders`` decides) where the
    probe cannot read them, or a market placement of no taker's id has a NaN size (Polars orders NaN above every
    number). Momentum ignition, which read ``taker_placements`` from front running's call on a shared partition,
    makes its own on the few partitions that pass its exit check."""
    if orders is None or filled.shape[0] == 0:
        return None
    probed = probe_spans(ids, orders)
    if probed is None:
        return None
    taken = _taken_of(probed.codes, probed.firsts, probed.firsts.shape[0], probed[2:6], filled, ts)
    if taken is None or np.isnan(probed.unfilled_qty).any():
        return None
    least = config.size_multiple * num(pl.Series(taken.size).median())
    return Unplaced(taken, least, probed.unfilled_rows[probed.unfilled_qty >= least])


def order_events(part: Partition) -> pa.Table | None:
    """The partition's order events, as ``frames.placements`` finds them (None: there are none)."""
    arrow = part.tables.get("orders")
    if arrow is None:
        arrow = part.broadcast.get("orders")
    return None if arrow is None or arrow.num_rows == 0 else arrow


def _hashes(offsets: np.ndarray, data: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """64-bit hashes of the strings at ``rows``; a module function so that tests can force collisions."""
    return _hash_at(offsets, data, rows)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def _hash_at(offsets: np.ndarray, data: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``_hash_of`` the rows asked for only, where hashing every event's id was a third of the probe."""
    out = np.empty(rows.shape[0], np.uint64)
    for k in range(rows.shape[0]):
        out[k] = _hash_of(offsets, data, rows[k])
    return out


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))


@njit(cache=True, nogil=True, inline="always")
def _hash_of(offsets: np.ndarray, data: np.ndarray, i: int) -> np.uint64:
    """The hash of string i: one of 16 bytes or fewer (the ids and owners) mixed from its length and its first and
    last 8 bytes, two loads (``aml.interning.string_hash``, a word at a time in a loop, was ~3x slower on the
    probe's ids); a longer one by ``string_hash``. Those are ``_key_of``'s loads, written again: read through a call
    to it, the hashes of a bench partition's order ids took twice as long (~0.85 against ~0.47 ms)."""
    a, z = np.intp(offsets[i]), np.intp(offsets[i + 1])
    n = z - a
    if n > 16:
        return string_hash(offsets, data, i)  # type: ignore[no-any-return]
    w0 = w1 = np.uint64(0)
    if n >= 8:
        w0 = load_u64(data, a)  # type: ignore[call-arg]
        w1 = load_u64(data, z - 8)  # type: ignore[call-arg]
    elif a + 8 <= data.shape[0]:  # the bytes after the string are in the buffer: one load, masked
        w0 = load_u64(data, a) & ((np.uint64(1) << np.uint64(8 * n)) - np.uint64(1))  # type: ignore[call-arg]
    else:
        for q in range(a, z):
            w0 |= np.uint64(data[q]) << np.uint64(8 * (q - a))
    return _mixed(n, w0, w1)


@njit(cache=True, nogil=True, inline="always")
def _mixed(n: np.intp, w0: np.uint64, w1: np.uint64) -> np.uint64:
    """The hash of a string of 16 bytes or fewer from its key (``_key_of``: its length and two words)."""
    x = (w0 ^ (np.uint64(n) * _MIX[0])) * _MIX[1]
    x ^= x >> np.uint64(29)
    x = (x ^ w1) * _MIX[2]
    x ^= x >> np.uint64(32)  # splitmix64's finaliser: every bit moves the low bits, which place it in a table
    x *= np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(29))  # type: ignore[no-any-return]


@njit(cache=True, nogil=True, inline="always")
def _keyed(offsets: np.ndarray, data: np.ndarray, i: int, keep: np.uint64, force: np.uint64
           ) -> tuple[np.uint64, np.intp, np.uint64, np.uint64]:
    """String i's hash (``_hash_of``'s, its bits ``keep`` and ``force`` applied: see ``_HASH_BITS``) and its key
    (``_key_of``), its bytes loaded once for both. The loads are ``_key_of``'s written again, a longer string
    answered at once: composed of ``_key_of`` and a hash of its key (a call that read ``n > 16`` again to choose
    ``string_hash`` or the mix), the keyed hashes of ten days' 3.4M placements of the 10M-trade bench market took
    ~52 ms, against ~21 so (``_hash_of``'s time)."""
    a, z = np.intp(offsets[i]), np.intp(offsets[i + 1])
    n = z - a
    w0 = w1 = np.uint64(0)
    if n > 16:
        return (string_hash(offsets, data, i) & keep) | force, n, w0, w1
    if n >= 8:
        w0 = load_u64(data, a)  # type: ignore[call-arg]
        w1 = load_u64(data, z - 8)  # type: ignore[call-arg]
    elif a + 8 <= data.shape[0]:  # the bytes after the string are in the buffer: one load, masked
        w0 = load_u64(data, a) & ((np.uint64(1) << np.uint64(8 * n)) - np.uint64(1))  # type: ignore[call-arg]
    else:
        for q in range(a, z):
            w0 |= np.uint64(data[q]) << np.uint64(8 * (q - a))
    return (_mixed(n, w0, w1) & keep) | force, n, w0, w1


@njit(cache=True, nogil=True)
def _keyed_apart(offsets: np.ndarray, data: np.ndarray, i: int, keep: np.uint64, force: np.uint64
                 ) -> tuple[np.uint64, np.intp, np.uint64, np.uint64]:
    """``_keyed`` as a call of its own, for the strings a hot loop does not read itself (see ``_probe``)."""
    return _keyed(offsets, data, i, keep, force)


@njit(cache=True, nogil=True, inline="always")
def _key_of(offsets: np.ndarray, data: np.ndarray, i: int) -> tuple[np.intp, np.uint64, np.uint64]:
    """String i as its length and two words: for 16 bytes or fewer its first and last 8 bytes (of fewer than 8, its
    bytes and zeros), which together hold every byte, so two such strings are one exactly when their keys are; for
    a longer one its length and zeros (its bytes are compared)."""
    a, z = np.intp(offsets[i]), np.intp(offsets[i + 1])
    n = z - a
    w0 = w1 = np.uint64(0)
    if n > 16:
        return n, w0, w1
    if n >= 8:
        w0 = load_u64(data, a)  # type: ignore[call-arg]
        w1 = load_u64(data, z - 8)  # type: ignore[call-arg]
    elif a + 8 <= data.shape[0]:  # the bytes after the string are in the buffer: one load, masked
        w0 = load_u64(data, a) & ((np.uint64(1) << np.uint64(8 * n)) - np.uint64(1))  # type: ignore[call-arg]
    else:
        for q in range(a, z):
            w0 |= np.uint64(data[q]) << np.uint64(8 * (q - a))
    return n, w0, w1


_NEW = np.frombuffer(b"new", np.uint8)
_NEW_WORD = np.uint64(int.from_bytes(b"new", "little"))  # ``new``'s bytes as the low bytes of a word


@njit(cache=True, nogil=True)
def _new_rows(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The rows whose string is ``new`` (the placements). Without a branch per row: the events' kinds come mixed,
    and a branch mispredicted on a third of the rows made the pass twice as slow (0.32 against 0.16 ms on 76k
    events). Each row's bytes are read as one word (from its start, or from 8 bytes before the buffer's end, shifted:
    a string of three lies within those 8): three byte loads a row took ~25% longer (ten days' 9.1M events of the
    10M-trade bench market, ~0.033 against ~0.025 s)."""
    out = np.empty(offsets.shape[0] - 1, np.int64)
    n = 0
    if data.shape[0] < 8:  # too short for a word's load: two rows of ``new`` at most
        for i in range(out.shape[0]):
            if is_word(offsets, data, i, _NEW):
                out[n] = i
                n += 1
        return out[:n]
    last = data.shape[0] - 8
    for i in range(out.shape[0]):
        a = offsets[i]
        b = min(a, last)
        # (a - b is at most 5 for a string of three; another length fails its own test, whatever the word)
        word = load_u64(data, b) >> np.uint64((8 * (a - b)) & 63)  # type: ignore[call-arg]
        out[n] = i
        n += (offsets[i + 1] - a == 3) & ((word & np.uint64(0xFFFFFF)) == _NEW_WORD)
    return out[:n]


def _strings(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """A text column's (offsets, bytes) in one piece; None when it is not text or holds a null."""
    if col.null_count or not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return None
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 0:
            return _NO_STRINGS
        col = one_chunk(col)
    offsets, data, _ = string_buffers(col)
    return offsets, data


def _numbers(col: pa.ChunkedArray, to: pa.DataType) -> np.ndarray:
    """A column of no nulls cast to ``to`` (64-bit integers or floats) as numpy's: read in place from its one
    chunk's buffer where its values are those numbers already (float64 quantities; times in microseconds, whose
    int64 values are their cast's), else cast. A cast of a partition's 50k order times took ~8 us warm (~30 on
    average over a run, five casts a partition), the read in place ~1."""
    dtype = np.int64 if to == pa.int64() else np.float64
    if col.num_chunks == 1 and len(col) and col.null_count == 0 and (
            col.type == to or (to == pa.int64() and pa.types.is_timestamp(col.type) and col.type.unit == "us")):
        arr = col.chunk(0)
        found = np.frombuffer(arr.buffers()[1], dtype)[arr.offset:arr.offset + len(arr)]
        found.flags.writeable = False  # the table's own memory, read-only as the cast's arrays were
        return found
    return np.asarray(pc.cast(col, to).to_numpy(), dtype)


def probe_takers(ids: pa.ChunkedArray | pa.Array, orders: pa.Table) -> Probed | None:
    """``probe_spans`` of the takers' order ``ids`` (Arrow text, one per leg); None also when they are not text or
    hold a null."""
    taker = _strings(ids)
    if taker is None:
        return None
    return probe_spans(Halves(StringSpans(spans_of_offsets(taker[0]), taker[1], _NO_NULLS), NO_STRING), orders)


def probe_spans(ids: Halves, orders: pa.Table) -> Probed | None:
    """``Probed`` for the takers' order ``ids`` (one per leg, none null) against the ``orders`` events; None when
    the events cannot be read as the full path reads them: a null in a column read, a time not in microseconds, a
    quantity not a number, ids not text."""
    names = orders.column_names
    if not all(c in names for c in ("order_id", "event", "ts", "quantity")):
        return None
    ts_type, q_type = orders.schema.field("ts").type, orders.schema.field("quantity").type
    # the full path casts the times to microseconds (a cast from another unit may round) and reads no null time
    if not (pa.types.is_timestamp(ts_type) and ts_type.unit == "us") or orders.column("ts").null_count:
        return None
    if not (pa.types.is_floating(q_type) or pa.types.is_integer(q_type)) or orders.column("quantity").null_count:
        return None
    order_id, event = _strings(orders.column("order_id")), _strings(orders.column("event"))
    typed = "order_type" in names
    kind = _strings(orders.column("order_type")) if typed else _NO_STRINGS
    if order_id is None or event is None or kind is None:
        return None
    ts, qty = _numbers(orders.column("ts"), pa.int64()), _numbers(orders.column("quantity"), pa.float64())
    news = _new_rows(*event)
    a, b = ids
    keep, force = _HASH_BITS
    found = _probe(a.spans, a.data, b.spans, b.data, order_id[0], order_id[1], news, kind[0], kind[1], typed, ts,
                   qty, _MARKET, keep, force)
    return Probed(*found, qty[found[-1]])


# The bits of the probe's hashes kept, and those set on every one: all kept, none set. Tests set them so that
# strings share hashes (every match must then be told apart by the keys); they are read at each call, not compiled.
_HASH_BITS = (np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0))


@njit(cache=True, nogil=True)
def _probe(a_sp: np.ndarray, a_data: np.ndarray, b_sp: np.ndarray, b_data: np.ndarray, o_off: np.ndarray,
           o_data: np.ndarray, news: np.ndarray, k_off: np.ndarray, k_data: np.ndarray, typed: bool, ts: np.ndarray,
           qty: np.ndarray, market: np.ndarray, keep: np.uint64, force: np.uint64
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``Probed``'s arrays (the unfilled rows only). The takers' ids (``Halves``' spans and bytes, none null) are
    numbered (``_numbered``); then the id of each ``new`` event (``news``) is hashed and looked up, its time and
    quantity totalled as ``placement_totals`` totals them (earliest time; largest quantity, the first one kept
    against a NaN). A bit per id's hash (8 bits an id, ``_bloom``) turns away most events of other orders before
    the table: on the 1M-trade market's busiest book 4 in 5 of its 220k placements, whose look-ups in a table sized
    by the takers' 82k legs missed the caches. Each id's bytes are loaded once for its hash and its key
    (``_keyed``), the takers' in ``_numbered`` too: hashed in passes of their own into arrays, then loaded again for
    the keys, the probe of ten days of the 10M-trade bench market (3.4M placements, 1.2M takers' legs) took ~4% more
    (``probe_spans`` ~0.41 against ~0.39 s, alternated in one process).

    An event's id of 8 to 16 bytes (every order id of the bench market) is read in the loop itself, any other
    through a call (``_keyed_apart``): through ``_keyed`` inlined, whose path for a longer string holds a call,
    numba counted references to the ids' arrays at every event (calls to ``NRT_incref``/``NRT_decref`` in the
    loop, which its pruning of such pairs left in); the ids' hashes alone took ~5x as long. Ten days of the
    10M-trade bench market (interleaved in one process, least of 7 per partition): 0.120 s so, against 0.094 now,
    the caches flushed before each call; 0.021 against 0.017 on a sixth of the partitions with the events also out
    of the caches, as a run meets them (reading them ahead, ``owner_keys._prefetch``, gained nothing there)."""
    codes, rep, slots, hashes, keys = _numbered(a_sp, a_data, b_sp, b_data, keep, force)
    n_ids = rep.shape[0]
    bloom = _bloom(hashes)
    placed, size = np.zeros(n_ids, np.int64), np.zeros(n_ids, np.float64)
    has_placed, has_size = np.zeros(n_ids, np.bool_), np.zeros(n_ids, np.bool_)
    unfilled = np.empty(news.shape[0], np.int64)
    k = 0
    for j in range(news.shape[0]):
        i = news[j]
        c = -1
        a, z = np.intp(o_off[i]), np.intp(o_off[i + 1])
        n = z - a
        if 8 <= n <= 16:  # (``_keyed``'s loads, read here: see the docstring)
            w0: np.uint64 = load_u64(o_data, a)  # type: ignore[call-arg]
            w1: np.uint64 = load_u64(o_data, z - 8)  # type: ignore[call-arg]
            h = (_mixed(n, w0, w1) & keep) | force
        else:
            h, n, w0, w1 = _keyed_apart(o_off, o_data, i, keep, force)
        if _maybe(bloom, h):
            if n <= 16:
                s = _short_slot(slots, keys, h, n, w0, w1)
            else:
                s = _long_slot(slots, keys, rep, h, n, w0, w1, o_off, o_data, i, a_sp, a_data, b_sp, b_data)
            v = slots[s]
            c = -1 if v == 0 else _id_in(v)
        if c < 0:
            if typed and is_word(k_off, k_data, i, market):
                unfilled[k] = i
                k += 1
            continue
        if not has_placed[c] or ts[i] < placed[c]:
            placed[c] = ts[i]
            has_placed[c] = True
        if not has_size[c] or qty[i] > size[c]:
            size[c] = qty[i]
            has_size[c] = True
    return codes, rep, placed, size, has_placed, has_size, unfilled[:k]


@njit(cache=True, nogil=True)
def _numbered(a_sp: np.ndarray, a_data: np.ndarray, b_sp: np.ndarray, b_data: np.ndarray, keep: np.uint64,
              force: np.uint64) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The strings of two halves (``Halves``' spans and bytes) numbered in order of first appearance: per string its
    id, per id its first string, its hash (``_keyed``'s) and its key (``_key_of``: length, then the two words, three
    numbers an id), and the table that finds them (``_short_slot``, ``_long_slot``: 0 empty, else the top 32 bits
    of the id's hash over the id + 1; twice the room of the strings at least, so never grown). Every match of the
    top bits is checked on the keys (byte for byte beyond 16 bytes), so strings that share a hash are told apart:
    the keys, side by side, spare each match a read of the first string's span and bytes out in the trades'
    buffers, ~70-85 ns a match on the 10M-trade bench market (with them the probe took ~0.85 ms a partition,
    against ~1.0). A string the same as the one before (the fills of one order, as a sweep fills it: its key the
    same, and of 16 bytes or fewer or its bytes the same) takes its id without the table. Each string's hash and key
    are read together (``_keyed``) and the longer strings' compares are calls of their own: the takers' 1.24M legs
    of ten days of the bench market took ~18 ms so, against ~44 with the key read alone, then hashed, and the
    compares inlined. A string of 8 to 16 bytes is read in the loop itself, any other through a call
    (``_keyed_apart``), as in ``_probe``: through ``_keyed`` inlined (a call to ``string_hash`` and a byte loop on
    its rare paths) numba kept reference counts at every string; ten days of the 10M-trade bench market
    (interleaved in one process, least of 7-9 per call, three rounds) took ~26 ms so for the probe's 180 calls and
    ~7.0 for ``codes_at``'s 89, against ~13 and ~3.6 now (``_probe`` as a whole ~78 against ~66)."""
    n, na = a_sp.shape[0] // 2 + b_sp.shape[0] // 2, a_sp.shape[0] // 2
    codes, rep, hashes = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.uint64)
    keys = np.empty(3 * n, np.uint64)
    room = 64
    while room < 2 * n:  # sized once (grown as the ids came, it was placed again ~8 times on a bench partition)
        room *= 2
    slots = np.zeros(room, np.uint64)
    n_ids = 0
    p_n, p_w0, p_w1 = np.intp(-1), np.uint64(0), np.uint64(0)
    for i in range(n):
        # a string of 8 to 16 bytes read here, any other through a call (``_keyed_apart``; see ``_probe``)
        if i < na:
            a, z = np.intp(a_sp[2 * i]), np.intp(a_sp[2 * i + 1])
            kn = z - a
            if 8 <= kn <= 16:
                w0: np.uint64 = load_u64(a_data, a)  # type: ignore[call-arg]
                w1: np.uint64 = load_u64(a_data, z - 8)  # type: ignore[call-arg]
                h = (_mixed(kn, w0, w1) & keep) | force
            else:
                h, kn, w0, w1 = _keyed_apart(a_sp, a_data, 2 * i, keep, force)
        else:
            a, z = np.intp(b_sp[2 * (i - na)]), np.intp(b_sp[2 * (i - na) + 1])
            kn = z - a
            if 8 <= kn <= 16:
                w0 = load_u64(b_data, a)  # type: ignore[call-arg]
                w1 = load_u64(b_data, z - 8)  # type: ignore[call-arg]
                h = (_mixed(kn, w0, w1) & keep) | force
            else:
                h, kn, w0, w1 = _keyed_apart(b_sp, b_data, 2 * (i - na), keep, force)
        if i and kn == p_n and w0 == p_w0 and w1 == p_w1 and (
                kn <= 16 or _same_pair(a_sp, a_data, b_sp, b_data, i, i - 1)):
            codes[i] = codes[i - 1]
            continue
        p_n, p_w0, p_w1 = kn, w0, w1
        if kn <= 16:  # (``_short_slot``: the longer strings' compares are calls of their own)
            s = _short_slot(slots, keys, h, kn, w0, w1)
        elif i < na:
            s = _long_slot(slots, keys, rep, h, kn, w0, w1, a_sp, a_data, 2 * i, a_sp, a_data, b_sp, b_data)
        else:
            s = _long_slot(slots, keys, rep, h, kn, w0, w1, b_sp, b_data, 2 * (i - na), a_sp, a_data, b_sp, b_data)
        if slots[s] != 0:
            codes[i] = _id_in(slots[s])
            continue
        slots[s] = _slot_value(h, n_ids)
        codes[i], rep[n_ids], hashes[n_ids] = n_ids, i, h
        keys[3 * n_ids], keys[3 * n_ids + 1], keys[3 * n_ids + 2] = np.uint64(kn), w0, w1
        n_ids += 1
    return codes, rep[:n_ids], slots, hashes[:n_ids], keys[:3 * n_ids]


@njit(cache=True, nogil=True, inline="always")
def _slot_value(h: np.uint64, c: int) -> np.uint64:
    """A slot holding id ``c`` of hash ``h``."""
    return ((h >> np.uint64(32)) << np.uint64(32)) | np.uint64(c + 1)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True, inline="always")
def _id_in(v: np.uint64) -> int:
    """The id a slot holds (not empty)."""
    return np.int64(v & np.uint64(0xFFFFFFFF)) - 1  # type: ignore[return-value]


@njit(cache=True, nogil=True, inline="always")
def _short_slot(slots: np.ndarray, keys: np.ndarray, h: np.uint64, n: np.intp, w0: np.uint64, w1: np.uint64) -> int:
    """The slot of the id of a string of 16 bytes or fewer, of hash ``h`` and key (``n``, ``w0``, ``w1``:
    ``_key_of``, which then holds every byte: equal keys are equal strings), in the table of the strings numbered
    (``keys``: each id's key), or the empty slot where it would go. A longer string's is ``_long_slot``'s, a call
    of its own at each site: with its byte compare inlined in the probe's loop (or both behind one inlined
    function choosing), the look-ups of ten days of the 10M-trade bench market (~1M, all of ids of 16 bytes or
    fewer) took ~52 ms, against ~25 so."""
    mask = np.uint64(slots.shape[0] - 1)
    top = h >> np.uint64(32)
    s = h & mask
    while True:
        v = slots[s]
        if v == 0:
            return np.int64(s)  # type: ignore[return-value]
        if (v >> np.uint64(32)) == top:
            c = _id_in(v)
            if keys[3 * c] == np.uint64(n) and keys[3 * c + 1] == w0 and keys[3 * c + 2] == w1:
                return np.int64(s)  # type: ignore[return-value]
        s = (s + np.uint64(1)) & mask


@njit(cache=True, nogil=True)
def _long_slot(slots: np.ndarray, keys: np.ndarray, rep: np.ndarray, h: np.uint64, n: np.intp, w0: np.uint64,
               w1: np.uint64, off: np.ndarray, data: np.ndarray, i: int, a_sp: np.ndarray, a_data: np.ndarray,
               b_sp: np.ndarray, b_data: np.ndarray) -> int:
    """``_short_slot`` of string i of (``off``, ``data``), longer than 16 bytes: its key (its length) equal, then its
    bytes compared with the id's first string (``rep``) of two halves (``Halves``' spans and bytes)."""
    mask = np.uint64(slots.shape[0] - 1)
    top = h >> np.uint64(32)
    s = h & mask
    while True:
        v = slots[s]
        if v == 0:
            return np.int64(s)  # type: ignore[return-value]
        if (v >> np.uint64(32)) == top:
            c = _id_in(v)
            if keys[3 * c] == np.uint64(n) and keys[3 * c + 1] == w0 and keys[3 * c + 2] == w1 and _same_as(
                    off, data, i, a_sp, a_data, b_sp, b_data, rep[c]):
                return np.int64(s)  # type: ignore[return-value]
        s = (s + np.uint64(1)) & mask


@njit(cache=True, nogil=True, inline="always")
def _same_as(off: np.ndarray, data: np.ndarray, i: int, a_sp: np.ndarray, a_data: np.ndarray, b_sp: np.ndarray,
             b_data: np.ndarray, j: int) -> bool:
    """Whether string i of (``off``, ``data``) is string j of two halves (``Halves``)."""
    na = a_sp.shape[0] // 2
    if j < na:
        return same_string(off, data, i, a_sp, a_data, 2 * j)  # type: ignore[no-any-return]
    return same_string(off, data, i, b_sp, b_data, 2 * (j - na))  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def _same_pair(a_sp: np.ndarray, a_data: np.ndarray, b_sp: np.ndarray, b_data: np.ndarray, i: int, j: int) -> bool:
    """``_same_of``, not inlined (for strings longer than 16 bytes only: see ``_short_slot``)."""
    return _same_of(a_sp, a_data, b_sp, b_data, i, j)


@njit(cache=True, nogil=True, inline="always")
def _same_of(a_sp: np.ndarray, a_data: np.ndarray, b_sp: np.ndarray, b_data: np.ndarray, i: int, j: int) -> bool:
    """Whether strings i and j of two halves (``Halves``) are one string (a call per pair of halves: the two halves'
    bytes may be arrays of two kinds, read-only or not, which one variable cannot hold)."""
    na = a_sp.shape[0] // 2
    if i < na:
        return _same_as(a_sp, a_data, 2 * i, a_sp, a_data, b_sp, b_data, j)
    return _same_as(b_sp, b_data, 2 * (i - na), a_sp, a_data, b_sp, b_data, j)


@njit(cache=True, nogil=True)
def _bloom(hashes: np.ndarray) -> np.ndarray:
    """A bit per hash (bits 16 and up, another part of it than the table's slots and top bits), 8 bits or more a
    hash: a string whose bit is not set has none of the hashes."""
    bits = 64
    while bits < 8 * hashes.shape[0]:
        bits *= 2
    words = np.zeros(bits // 64, np.uint64)
    mask = np.uint64(bits - 1)
    for h in hashes:
        b = (h >> np.uint64(16)) & mask
        words[b >> np.uint64(6)] |= np.uint64(1) << (b & np.uint64(63))
    return words


@njit(cache=True, nogil=True, inline="always")
def _maybe(bloom: np.ndarray, h: np.uint64) -> bool:
    """Whether the hash's bit is set (``_bloom``)."""
    b = (h >> np.uint64(16)) & np.uint64(64 * bloom.shape[0] - 1)
    return bool((bloom[b >> np.uint64(6)] >> (b & np.uint64(63))) & np.uint64(1))


# --- the trades read in place ------------------------------------------------------------------------------------

_NO_NULLS = np.zeros(0, np.bool_)
NULL_HASH = np.uint64(0x6E756C6C5EED0002)  # the hash of a null string (nulls are one value, as Polars groups them)
# The aggressor of a trade of ``TradeArrays``, coded.
AGGRESSOR_NULL, AGGRESSOR_BUY, AGGRESSOR_SELL, AGGRESSOR_OTHER = 0, 1, 2, 3
_BUY, _SELL = np.frombuffer(b"buy", np.uint8), np.frombuffer(b"sell", np.uint8)


class StringSpans(NamedTuple):
    """Strings read in place: string i is ``data[spans[2 * i]:spans[2 * i + 1]]``, so ``data.arrow_strings``'
    primitives, which read string i of an offsets array at ``offsets[i]:offsets[i + 1]``, read it at 2i. Null where
    ``valid`` is False (empty: none is null; a null's span is empty)."""

    spans: np.ndarray
    data: np.ndarray
    valid: np.ndarray

    def at(self, rows: np.ndarray) -> StringSpans:
        """The strings at ``rows``, still read in place (each span's two numbers gathered as one 16-byte item: a
        gather of the rows of an (n, 2) array was ~10x slower)."""
        spans = self.spans.view(np.complex128)[rows].view(np.int64)
        return StringSpans(spans, self.data, self.valid[rows] if self.valid.shape[0] else _NO_NULLS)

    def hashes(self) -> np.ndarray:
        """Each string's hash (``aml.interning``'s; ``NULL_HASH`` for a null)."""
        out = _hashes(self.spans, self.data, 2 * np.arange(self.spans.shape[0] // 2))
        if self.valid.shape[0]:
            out[~self.valid] = NULL_HASH
        return out


NO_STRING = StringSpans(np.zeros(0, np.int64), np.zeros(0, np.uint8), _NO_NULLS)  # an empty half of ``Halves``


class Halves(NamedTuple):
    """Strings in two halves read in place from two columns (the buy legs' and the sell legs' of trades): string i
    is ``first``'s i, or ``second``'s i - len(first). Copying the two columns' bytes into one buffer, for the passes
    to compare any two, was ~0.6 ms a partition of the 10M-trade bench market (fresh pages the kernel zeroes)."""

    first: StringSpans
    second: StringSpans

    @property
    def split(self) -> int:
        """How many strings the first half holds."""
        return self.first.spans.shape[0] // 2

    @property
    def has_nulls(self) -> bool:
        return bool(self.first.valid.shape[0] or self.second.valid.shape[0])

    def hashes(self) -> np.ndarray:
        """Each string's hash (``StringSpans.hashes``)."""
        return np.concatenate([self.first.hashes(), self.second.hashes()])

    def codes_at(self, rows: np.ndarray) -> np.ndarray:
        """The strings at ``rows`` numbered exactly (``_numbered``: every hash match checked on the keys): equal
        numbers exactly where the strings are equal, a null a number of its own. Where hashes stood for the
        strings, the rows that shared one had to be checked afterwards (``one_string_each``) and the caller could
        not answer where they differed; numbered, the habits (``_habit_orders``) of ten days of the 10M-trade bench
        market took 0.07-0.10 s against 0.10-0.14 hashed and checked (the 327k rows' numbering ~16-25 ms, against
        ~59-65 hashed and checked)."""
        first = rows < self.split
        a, b = self.first.at(rows[first]), self.second.at(rows[~first] - self.split)
        numbered, rep, *_ = _numbered(a.spans, a.data, b.spans, b.data, *_HASH_BITS)  # (tests share hashes)
        na = a.spans.shape[0] // 2
        for half, at in ((a, numbered[:na]), (b, numbered[na:])):
            if half.valid.shape[0]:  # a null's span is empty: numbered as "" was, then given a number of its own
                at[~half.valid] = rep.shape[0]
        out = np.empty(rows.shape[0], np.int64)
        out[first], out[~first] = numbered[:na], numbered[na:]
        return out

    def strings_at(self, rows: np.ndarray) -> list[str | None]:
        """The strings at ``rows``, as Python strings."""
        found = []
        for r in rows.tolist():
            half, k = (self.first, r) if r < self.split else (self.second, r - self.split)
            found.append(None if half.valid.shape[0] and not half.valid[k]
                         else bytes(half.data[half.spans[2 * k]:half.spans[2 * k + 1]]).decode())
        return found


def spans_of_offsets(offsets: np.ndarray) -> np.ndarray:
    """An offsets array's strings (32- or 64-bit offsets) as spans."""
    return _spans_of(offsets)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def _spans_of(offsets: np.ndarray) -> np.ndarray:
    """``spans_of_offsets``' pass, the offsets read as they are: ~9 us for 20k strings of 32-bit offsets, where their
    copy to 64 bits and numpy's two strided writes took ~20 (the trades' four text columns of each partition: ~0.014
    CPU-s over ten days of the 10M-trade bench market)."""
    n = offsets.shape[0] - 1
    spans = np.empty(2 * n, np.int64)
    for i in range(n):
        spans[2 * i], spans[2 * i + 1] = offsets[i], offsets[i + 1]
    return spans


def text(values: pl.Series) -> StringSpans | None:
    """A Polars text column's strings, read in place from its Arrow string views (a view of 12 bytes or fewer holds
    its string, a longer one points into a data buffer): the conversion to Arrow's offsets layout copies every
    string, ~0.16 ms for a book-day's 19k trades, where this is ~0.01 with strings all short or all long (else one
    copy of the views and the bytes). None for a column not of text."""
    if values.dtype != pl.String:
        return None
    arr = values.to_arrow(compat_level=CompatLevel.newest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), np.bool_) if arr.null_count else _NO_NULLS
    if not pa.types.is_string_view(arr.type):  # another Polars' export: the offsets layout
        offsets, data, _ = string_buffers(arr)
        return StringSpans(spans_of_offsets(offsets), data, valid)
    n = len(arr)
    if n == 0:
        return StringSpans(np.zeros(0, np.int64), np.zeros(0, np.uint8), valid)
    bufs = arr.buffers()
    views = np.frombuffer(bufs[1], np.uint8)[16 * arr.offset:16 * (arr.offset + n)]
    datas = [np.zeros(0, np.uint8) if b is None else np.frombuffer(b, np.uint8) for b in bufs[2:]]
    # spans into the views and the data buffers one after another; the bytes are copied so only where both hold some
    base = np.cumsum(np.array([views.shape[0]] + [d.shape[0] for d in datas[:-1]], np.int64))
    spans, short, long = _view_spans(views.view(np.int32), valid, base)
    if not long:
        return StringSpans(spans, views, valid)
    if not short and len(datas) == 1:
        return StringSpans(np.maximum(spans - views.shape[0], 0), datas[0], valid)  # a null's empty span at 0
    return StringSpans(spans, np.concatenate([views, *datas]), valid)


@njit(cache=True, nogil=True)
def _view_spans(words: np.ndarray, valid: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """The views' strings as spans into the views then the data buffers (``base``: where each data buffer starts):
    a short one in its view, a long one in its data buffer; a null's span is empty. Whether some (not null) is
    short, and whether some is long."""
    n = words.shape[0] // 4
    spans = np.empty(2 * n, np.int64)
    short = long = False
    for i in range(n):
        length = words[4 * i] if valid.shape[0] == 0 or valid[i] else 0
        if length <= 12:
            start = 16 * i + 4
            short |= valid.shape[0] == 0 or valid[i]
        else:
            start = base[words[4 * i + 2]] + words[4 * i + 3]
            long = True
        spans[2 * i], spans[2 * i + 1] = start, start + length
    return spans, short, long


class LazyStrings:
    """A text column's strings (``rows`` of it: all without), read (``text``) the first time they are asked for:
    the habits' trade ids, on about half the partitions; or strings read already, at ``rows``; or those of another
    ``LazyStrings``, at ``rows``: the column read once for all (the legs' and the large orders' fills' trade ids
    read the trades' column each, a copy of its views and bytes each time, ~0.4 ms a partition past the size
    screen of the 10M-trade bench market)."""

    def __init__(self, values: pl.Series | StringSpans | LazyStrings, rows: np.ndarray | None = None) -> None:
        self._values, self._rows = values, rows
        self._found: StringSpans | None = None

    def get(self) -> StringSpans:
        if self._found is None:
            if isinstance(self._values, LazyStrings):
                found: StringSpans | None = self._values.get()
            elif isinstance(self._values, StringSpans):
                found = self._values
            else:
                found = text(self._values if self._values.dtype == pl.String else self._values.cast(pl.String))
            assert found is not None
            self._found = found if self._rows is None else found.at(self._rows)
        return self._found


class TradeArrays(NamedTuple):
    """The kernel's trades ``t`` (the owned trades between two owners) read without a Polars query, off the owned
    trades frame (``trade_arrays``) or off the Arrow trades before any frame is built (``arrow_trade_arrays``):
    ``kept`` (t's rows in the frame), per trade of t its time (microseconds), quantity and ``aggressor``
    (``AGGRESSOR_*``), and per leg of ``front_running``'s legs frame (the buy legs of t's trades, then the sell legs)
    its owner (its name, or its owner's code as a string: see ``code_strings``) and its order's id; and the trade
    ids, read once for every reader (``trade_text``: whole, read at ``kept``); per leg its owner's hash
    (``owner_hashes``: ``owners.hashes()``'s, where known as the owners were read; None: ask ``owners``), and whether
    those hashes are equal exactly where the owners are (``owners_exact``: owners' codes that ``code_hashes`` hashes
    apart, ``_codes_hashed_apart``)."""

    kept: np.ndarray
    ts: np.ndarray
    qty: np.ndarray
    aggressor: np.ndarray
    owners: Halves
    ids: Halves
    trade_text: LazyStrings
    owner_hashes: np.ndarray | None = None
    owners_exact: bool = False


def trade_arrays(owned: pl.DataFrame) -> TradeArrays | None:
    """``TradeArrays`` of the owned trades frame (``frames.with_owner``'s ``owner_b`` and ``owner_s`` beside the
    trades); None where the columns are not what the arrays read: a time not in microseconds, a null (but for
    the aggressor's), a quantity not finite and non-negative, a text column of another type."""
    ts, q = owned["ts"], owned["quantity"]
    if not isinstance(ts.dtype, pl.Datetime) or ts.dtype.time_unit != "us" or ts.null_count() or q.null_count() \
            or not q.dtype.is_numeric():
        return None
    qty = q.cast(pl.Float64).to_numpy()
    if not (np.isfinite(qty).all() and (qty >= 0).all()):
        return None
    cols = [text(owned[c]) for c in ("owner_b", "owner_s", "buy_order_id", "sell_order_id")]
    aggressor, trade_ids = text(owned["aggressor"]), owned["trade_id"]
    whole = [c for c in cols if c is not None and not c.valid.shape[0]]
    if len(whole) < len(cols) or aggressor is None or trade_ids.null_count():
        return None
    owner_b, owner_s, buy_ids, sell_ids = whole
    kept = np.flatnonzero(_differ(owner_b.spans, owner_b.data, owner_s.spans, owner_s.data))
    return _kept_arrays(kept, ts.cast(pl.Int64).to_numpy(), qty, _aggressors(*aggressor), owner_b, owner_s,
                        Halves(buy_ids, sell_ids), LazyStrings(trade_ids))


def _kept_arrays(kept: np.ndarray, us: np.ndarray, qty: np.ndarray, aggressors: np.ndarray, owner_b: StringSpans,
                 owner_s: StringSpans, ids: Halves, trade_text: LazyStrings) -> TradeArrays:
    """``TradeArrays`` of every trade's columns, those of the trades between two owners (``kept``) taken."""
    # every trade between two owners (172 of the 180 partitions of ten days of the 10M-trade bench market): the
    # columns as read, where their gathers at every row were ~0.3 ms a partition
    if kept.shape[0] < qty.shape[0]:
        us, qty, aggressors = us[kept], qty[kept], aggressors[kept]
        owner_b, owner_s = owner_b.at(kept), owner_s.at(kept)
        ids = Halves(ids.first.at(kept), ids.second.at(kept))
    return TradeArrays(kept, us, qty, aggressors, Halves(owner_b, owner_s), ids, trade_text)


def arrow_trade_arrays(part: Partition, venue: str) -> TradeArrays | None:
    """``TradeArrays`` read off the partition's Arrow trades (``part.tables["trades"]``) before any frame is built,
    each leg's owner as its owner's code (``frames.leg_owners``, equal codes exactly for equal ``with_owner``
    names) written as an 8-byte string (``code_strings``). The screens only compare, hash and group the owners
    (and the kernel reuses their legs only for the range join's rows, ``front_running._index_near``), so the codes
    stand in for the names: the trades' frame and the owners' names written as strings are built only for the few
    partitions past the screens (front running alone over ten days of the 10M-trade bench market, reps 3, alternated
    three times: 0.94-0.99 CPU-s with them built on every partition, 0.62-0.71 without; ``leg_owners``, which the
    suite's other screens share, is paid here).

    The rows are the frame's rows only where ``frames.frame`` keeps the table's order; the kernel reuses the
    screens' legs and large orders by row. None (the frame's arrays decide) where that is not sure or the columns
    are not what ``trade_arrays`` reads off the frame: times not ``timestamp[us, UTC]`` or not in the frame's order
    (``frames._arrow_in_order``: ``frame`` would sort them), a null (but for the aggressor's), a quantity not
    finite and non-negative or not a number, a text column of another type, an account ``leg_owners`` cannot
    code."""
    arrow = part.tables.get("trades")
    if arrow is None or arrow.num_rows == 0:
        return None
    names = arrow.column_names
    if not all(c in names for c in ("ts", "quantity", "aggressor", *_ID_COLUMNS)):
        return None
    ts, q = arrow.column("ts"), arrow.column("quantity")
    if ts.type != pa.timestamp("us", "UTC") or ts.null_count or q.null_count \
            or not (pa.types.is_floating(q.type) or pa.types.is_integer(q.type)):
        return None
    # the frame's own test of whether it keeps the rows as they stand (ties in time by venue and trade id)
    if not _arrow_in_order(arrow, ["ts", *(c for c in _TIEBREAK["trades"] if c in names)]):
        return None
    qty = _numbers(q, pa.float64())
    if not (np.isfinite(qty).all() and (qty >= 0).all()):
        return None
    buy_ids, sell_ids, trade_ids = (_spans(arrow.column(c)) for c in _ID_COLUMNS)
    aggressor = _spans(arrow.column("aggressor"))
    if buy_ids is None or sell_ids is None or trade_ids is None or aggressor is None \
            or buy_ids.valid.shape[0] or sell_ids.valid.shape[0] or trade_ids.valid.shape[0]:
        return None
    owners = leg_owners(part, venue)
    if owners is None:
        return None
    buyer, seller, n_codes = owners
    kept = np.flatnonzero(buyer != seller)
    us = _numbers(ts, pa.int64())
    found = _kept_arrays(kept, us, qty, _aggressors(*aggressor), code_strings(buyer), code_strings(seller),
                         Halves(buy_ids, sell_ids), LazyStrings(trade_ids))
    if kept.shape[0] < buyer.shape[0]:
        buyer, seller = buyer[kept], seller[kept]
    return found._replace(owner_hashes=np.concatenate([code_hashes(buyer), code_hashes(seller)]),
                          owners_exact=_codes_hashed_apart(n_codes))


# Per function that hashed codes (``code_hashes``, or a test's stand-in), how many codes from 0 up it was found to
# hash apart (``_codes_hashed_apart``).
_HASHED_APART: dict[object, int] = {}


def _codes_hashed_apart(n_codes: int) -> bool:
    """Whether ``code_hashes`` gives the codes 0 to ``n_codes`` - 1 (``leg_owners`` numbers owners densely from 0)
    distinct hashes: then owners that share a hash are one owner, and the screens need not check it on the rows they
    read (``one_string_each``: ~0.03 CPU-s over ten days of the 10M-trade bench market). A fact about the function
    alone, so it is found once per process for a power of two of codes at least (hashed and sorted: ~0.1 ms for
    4096) and kept; the function is looked up at each call, so a test's stand-in that makes hashes shared is found
    out."""
    hashed = code_hashes
    if n_codes <= _HASHED_APART.get(hashed, 0):
        return True
    room = 1 << max(12, (n_codes - 1).bit_length())
    ordered = np.sort(hashed(np.arange(room, dtype=np.int64)))
    if ordered.shape[0] != room or (ordered[1:] == ordered[:-1]).any():
        return False
    _HASHED_APART[hashed] = room
    return True


_ID_COLUMNS = ("buy_order_id", "sell_order_id", "trade_id")


def _spans(col: pa.ChunkedArray) -> StringSpans | None:
    """An Arrow text column's strings in one piece, as spans (nulls marked, their spans not read); None when it is
    not text."""
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return None
    arr = one_chunk(col)
    offsets, data, valid = string_buffers(arr)
    return StringSpans(spans_of_offsets(offsets), data, valid)


def code_strings(codes: np.ndarray) -> StringSpans:
    """Non-negative integer codes as strings of 8 bytes (each code's little-endian bytes): two are one string exactly
    when their codes are one, and they hash, compare and group as strings do. Codes already 8-byte little-endian
    integers are read in place (a non-negative one's bytes are its unsigned word's), the spans written in one compiled
    pass: ~5 us for a book-day's 7k codes where the copy and numpy's strided writes were ~21."""
    return StringSpans(_code_spans(codes.shape[0]), _words(codes).view(np.uint8), _NO_NULLS)


def _words(codes: np.ndarray) -> np.ndarray:
    """Non-negative integer codes as 8-byte little-endian words, in place where they are such already."""
    if codes.dtype in (np.dtype("<i8"), np.dtype("<u8")) and codes.flags.c_contiguous:
        return codes
    return np.ascontiguousarray(codes, dtype="<u8")


@njit(cache=True, nogil=True)
def _code_spans(n: int) -> np.ndarray:
    """The spans of ``n`` strings of 8 bytes one after another."""
    spans = np.empty(2 * n, np.int64)
    for i in range(n):
        spans[2 * i], spans[2 * i + 1] = 8 * i, 8 * i + 8
    return spans


def code_hashes(codes: np.ndarray) -> np.ndarray:
    """The hashes of ``code_strings(codes)`` (``StringSpans.hashes``'), from the codes' words: each string's two
    loads (``_hash_of``: its first and last 8 bytes) are its code's word read natively, as here. Through the
    strings' spans, the legs' owners of ten days of the 10M-trade bench market (~2.5M) took ~21 ms to hash, against
    ~2 so; a module function, as ``_hashes``, so that tests can force collisions."""
    return _word_hashes(_words(codes))  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def _word_hashes(words: np.ndarray) -> np.ndarray:
    """``_hash_of`` each string of 8 bytes whose bytes are a word of ``words``."""
    out = np.empty(words.shape[0], np.uint64)
    for k in range(words.shape[0]):
        w = np.uint64(words[k])  # (a non-negative signed code's word is its bits)
        out[k] = _mixed(np.intp(8), w, w)
    return out


def taker_legs(trades: TradeArrays) -> tuple[np.ndarray, np.ndarray, Halves]:
    """``front_running._takers`` of the arrays: the legs of the orders that took liquidity (the buy legs of the
    trades a buyer took, then the sell legs of those a seller took), their rows in t, whether each is a buy, and
    their orders' ids (no id is null in ``TradeArrays``)."""
    buys = np.flatnonzero(trades.aggressor == AGGRESSOR_BUY)
    sells = np.flatnonzero(trades.aggressor == AGGRESSOR_SELL)
    rows = np.concatenate([buys, sells])
    return rows, np.arange(rows.shape[0]) < buys.shape[0], Halves(trades.ids.first.at(buys),
                                                                   trades.ids.second.at(sells))


@njit(cache=True, nogil=True)
def _differ(a_spans: np.ndarray, a_data: np.ndarray, b_spans: np.ndarray, b_data: np.ndarray) -> np.ndarray:
    """Per row, whether the two columns' strings differ."""
    n = a_spans.shape[0] // 2
    out = np.empty(n, np.bool_)
    for i in range(n):
        out[i] = not same_string(a_spans, a_data, 2 * i, b_spans, b_data, 2 * i)
    return out


@njit(cache=True, nogil=True)
def _aggressors(spans: np.ndarray, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The aggressor column (``StringSpans``' arrays) coded (``AGGRESSOR_*``). Without a branch per row: buys and
    sells come mixed, a coin toss each, and the branches of a compare per kind (``_aggressors_by_row``) took ~121 us
    for 20k trades, against ~33 so (~0.010 CPU-s over ten days of the 10M-trade bench market read so). Each row's
    bytes are read as one word, as ``_new_rows`` reads them (from its start, or from 8 bytes before the buffer's
    end, shifted: a string of four lies within those 8)."""
    if data.shape[0] < 8:  # too short for a word's load
        return _aggressors_by_row(spans, data, valid)
    n = spans.shape[0] // 2
    out = np.empty(n, np.int8)
    last = data.shape[0] - 8
    for i in range(n):
        a = spans[2 * i]
        m = spans[2 * i + 1] - a
        b = min(a, last)
        # (a - b is at most 5 for a string of three or four; another length fails its own test, whatever the word)
        word = load_u64(data, b) >> np.uint64((8 * (a - b)) & 63)  # type: ignore[call-arg]
        buy = (m == 3) & ((word & np.uint64(0xFFFFFF)) == _BUY_WORD)
        sell = (m == 4) & ((word & np.uint64(0xFFFFFFFF)) == _SELL_WORD)
        # OTHER less 2 for a buy, 1 for a sell; NULL (0) for a null
        code = AGGRESSOR_OTHER - (AGGRESSOR_OTHER - AGGRESSOR_BUY) * np.int64(buy) \
            - (AGGRESSOR_OTHER - AGGRESSOR_SELL) * np.int64(sell)
        out[i] = code if valid.shape[0] == 0 or valid[i] else AGGRESSOR_NULL
    return out


_BUY_WORD = np.uint64(int.from_bytes(b"buy", "little"))  # ``buy``'s bytes as the low bytes of a word
_SELL_WORD = np.uint64(int.from_bytes(b"sell", "little"))


@njit(cache=True, nogil=True)
def _aggressors_by_row(spans: np.ndarray, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``_aggressors`` a compare per kind and row, for bytes too few for a word's load."""
    n = spans.shape[0] // 2
    out = np.empty(n, np.int8)
    for i in range(n):
        if valid.shape[0] and not valid[i]:
            out[i] = AGGRESSOR_NULL
        elif is_word(spans, data, 2 * i, _BUY):
            out[i] = AGGRESSOR_BUY
        elif is_word(spans, data, 2 * i, _SELL):
            out[i] = AGGRESSOR_SELL
        else:
            out[i] = AGGRESSOR_OTHER
    return out


@njit(cache=True, nogil=True)
def one_string_each(a_sp: np.ndarray, a_data: np.ndarray, a_valid: np.ndarray, b_sp: np.ndarray, b_data: np.ndarray,
                    b_valid: np.ndarray, hashes: np.ndarray, rows: np.ndarray) -> bool:
    """Whether the strings of two halves (``Halves``' arrays) at ``rows`` that share a hash (``hashes`` per string)
    are one string (a null, one value apart from every string): then the hashes tell them apart exactly. The table
    of the hashes seen starts with room for the rows up to ``_FIRST_ROOM`` and grows with the hashes beyond (the
    rows are many, their owners and decisions fewer: a table sized by every row missed the cache on the 1M-trade
    market's busy books; grown from 64 it was placed again ~8 times on a bench partition's ~15k rows). Each hash
    sits beside its first string's key (``_key_of``; a null's length ``_NULL_LENGTH``): a string of 16 bytes or
    fewer is compared by its key, a longer one (or a null with a null) byte for byte in a call of its own. Reading
    the first string's span and bytes again at each row, its compare inlined, from a table grown from 64, the 685k
    rows of ten days of the 10M-trade bench market (269 calls, 189k strings) took ~48 ms, against ~26 so (~37 with
    the keys, grown from 64)."""
    cap, held, na = 64, 0, a_sp.shape[0] // 2
    while cap < min(2 * rows.shape[0], _FIRST_ROOM):
        cap *= 2
    slot_h, slot_id = np.zeros(cap, np.uint64), np.full(cap, -1, np.int64)
    slot_key = np.zeros(3 * cap, np.uint64)
    for r in rows:
        h = hashes[r]
        s = slot_of(slot_h, slot_id, h)
        if _null_at(a_valid, b_valid, na, r):
            n, w0, w1 = _NULL_LENGTH, np.uint64(0), np.uint64(0)
        elif r < na:
            _, kn, w0, w1 = _keyed(a_sp, a_data, 2 * r, _ALL_BITS, _NO_BITS)
            n = np.uint64(kn)
        else:
            _, kn, w0, w1 = _keyed(b_sp, b_data, 2 * (r - na), _ALL_BITS, _NO_BITS)
            n = np.uint64(kn)
        if slot_id[s] >= 0:
            if slot_key[3 * s] != n or slot_key[3 * s + 1] != w0 or slot_key[3 * s + 2] != w1:
                return False
            if n > np.uint64(16) and not _same_pair(a_sp, a_data, b_sp, b_data, r, slot_id[s]):
                return False  # (a null's length is above 16: two nulls' spans compared, as they always were)
            continue
        slot_h[s], slot_id[s] = h, r
        slot_key[3 * s], slot_key[3 * s + 1], slot_key[3 * s + 2] = n, w0, w1
        held += 1
        if 2 * held > cap:  # twice the room, the hashes seen placed again
            old_h, old_id, old_key = slot_h, slot_id, slot_key
            cap *= 2
            slot_h, slot_id = np.zeros(cap, np.uint64), np.full(cap, -1, np.int64)
            slot_key = np.zeros(3 * cap, np.uint64)
            for k in range(old_h.shape[0]):
                if old_id[k] >= 0:
                    t = slot_of(slot_h, slot_id, old_h[k])
                    slot_h[t], slot_id[t] = old_h[k], old_id[k]
                    slot_key[3 * t:3 * t + 3] = old_key[3 * k:3 * k + 3]
    return True


_FIRST_ROOM = 1 << 14  # ``one_string_each``'s first room at most: 640 kB of slots
_NULL_LENGTH = np.uint64(0xFFFFFFFFFFFFFFFF)  # a null's length in ``one_string_each``'s keys: no string's
_ALL_BITS, _NO_BITS = np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0)  # ``_keyed``'s hash bits, for its key alone


@njit(cache=True, nogil=True, inline="always")
def _null_at(a_valid: np.ndarray, b_valid: np.ndarray, na: int, r: int) -> bool:
    """Whether string r of two halves is null."""
    if r < na:
        return a_valid.shape[0] > 0 and not a_valid[r]
    return b_valid.shape[0] > 0 and not b_valid[r - na]
