"""Front running: the liquidity-taking orders' placements read straight off the partition's Arrow order events.

A large order is told by its size as placed (``front_running`` test 1), so the kernel needs, per order that took
liquidity, its earliest placement time and largest placed quantity. The full path reads them from the order book's
placements as a Polars frame (``frames.placements``, ~3.3 ms a partition of the 10M-trade bench market) and interns
the takers' ids with every placement's (``lifecycles.taker_placements``, ~3 ms). Most partitions stop at the size
and habit screens right after, so that was most of the detector's cost. Here the takers' ids (a few thousand) go
into a small compiled hash table, and the order events' ids are probed against it, only at the ``new`` events,
every match checked byte for byte against its taker's string. Whatever this pass cannot read as the full path
would (nulls, a hash collision, a time unit or a column type of another kind) answers None: the full path decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from harbour.data.arrow_strings import find_id, is_word, same_string, slot_of, string_buffers
from harbour.detect.aml.interning import string_hash
from harbour.detect.framework import Partition
from harbour.detect.market.frames import num
from harbour.detect.market.front_running_screens import _micros
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
              rows: np.ndarray, t: pl.DataFrame) -> _Taken | None:
    """``_Taken`` of the takers' interned ids (``codes`` per leg first, ``firsts``, ``n_ids``) and the placements'
    ``totals`` per id (``placement_totals``'; None: no placements); None where a size is not a positive finite
    number."""
    qty, first, last = group_totals(codes[:rows.shape[0]], n_ids, t["quantity"].cast(pl.Float64).to_numpy()[rows],
                                    _micros(t["ts"])[rows])
    placed, has_placed, size = first, np.zeros(n_ids, np.bool_), qty
    if totals is not None:
        placed, placed_size, has_placed, has_size = totals
        size = np.maximum(qty, np.where(has_size, placed_size, 0.0))  # the larger, as Polars' max_horizontal
    if not (np.isfinite(size).all() and (qty > 0).all()):
        return None
    return _Taken(codes, firsts[:n_ids], qty, first, last, placed, has_placed, size)


def _large_unplaced(takers: Takers, t: pl.DataFrame, orders: pa.Table | None,
                    config: FrontRunningConfig) -> tuple[_Taken, float] | None:
    """What ``_large_orders`` reads, without the placements' frame: the takers' placements probed on the Arrow
    order events (``probe_takers``), as ``_Taken``, and the size that makes an order large (``_large_by_codes``
    builds the frame); None (``_large_orders`` decides) where the probe cannot read them or where ``_missed`` may
    find a market order that filled nothing (a ``market`` placement of no taker's id, of the large size or NaN: as
    on 4 of the 180 partitions of ten days of the 10M-trade bench market). Momentum ignition, which read
    ``taker_placements`` from front running's call on a shared partition, makes its own on the few partitions
    that pass its exit check."""
    rows = takers[0]
    if orders is None or rows.shape[0] == 0 or t["quantity"].null_count() or t["ts"].null_count():
        return None
    probed = probe_takers(takers[2].to_arrow(), orders)
    if probed is None:
        return None
    taken = _taken_of(probed.codes, probed.firsts, probed.firsts.shape[0], probed[2:6], rows, t)
    if taken is None:
        return None
    least = config.size_multiple * num(pl.Series(taken.size).median())
    if not (probed.unfilled_qty < least).all():  # a NaN too: Polars orders it above every number
        return None
    return taken, least


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
    """A word at a time, as ``aml.interning`` hashes (its finaliser): only the rows asked for are read, where
    hashing every event's id was a third of the probe."""
    out = np.empty(rows.shape[0], np.uint64)
    for k in range(rows.shape[0]):
        out[k] = string_hash(offsets, data, rows[k])
    return out


@njit(cache=True, nogil=True)
def _new_rows(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The rows whose string is ``new`` (the placements). Without a branch per row: the events' kinds come mixed,
    and a branch mispredicted on a third of the rows made the pass twice as slow (0.32 against 0.16 ms on 76k
    events)."""
    out = np.empty(offsets.shape[0] - 1, np.int64)
    if data.shape[0] < 3:
        return out[:0]
    last = data.shape[0] - 3  # every row reads three bytes in the buffer; a string of three is read in place
    n = 0
    for i in range(out.shape[0]):
        a = offsets[i]
        b = min(a, last)
        out[n] = i
        n += (offsets[i + 1] - a == 3) & (data[b] == 110) & (data[b + 1] == 101) & (data[b + 2] == 119)
    return out[:n]


def _strings(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """A text column's (offsets, bytes) in one piece; None when it is not text or holds a null."""
    if col.null_count or not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return None
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 0:
            return _NO_STRINGS
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    offsets, data, _ = string_buffers(col)
    return offsets, data


def probe_takers(ids: pa.ChunkedArray | pa.Array, orders: pa.Table) -> Probed | None:
    """``Probed`` for the takers' order ``ids`` (one per leg) against the ``orders`` events; None when the events
    cannot be read as the full path reads them: a null in a column read, a time not in microseconds, a quantity
    not a number, ids not text, two takers' ids or a taker's and a placement's sharing a hash."""
    names = orders.column_names
    if not all(c in names for c in ("order_id", "event", "ts", "quantity")):
        return None
    ts_type, q_type = orders.schema.field("ts").type, orders.schema.field("quantity").type
    # the full path casts the times to microseconds (a cast from another unit may round) and reads no null time
    if not (pa.types.is_timestamp(ts_type) and ts_type.unit == "us") or orders.column("ts").null_count:
        return None
    if not (pa.types.is_floating(q_type) or pa.types.is_integer(q_type)) or orders.column("quantity").null_count:
        return None
    taker, order_id, event = _strings(ids), _strings(orders.column("order_id")), _strings(orders.column("event"))
    typed = "order_type" in names
    kind = _strings(orders.column("order_type")) if typed else _NO_STRINGS
    if taker is None or order_id is None or event is None or kind is None:
        return None
    ts = np.asarray(pc.cast(orders.column("ts"), pa.int64()).to_numpy(), np.int64)
    qty = np.asarray(pc.cast(orders.column("quantity"), pa.float64()).to_numpy(), np.float64)
    news = _new_rows(*event)
    found = _probe(taker[0], taker[1], _hashes(*taker, np.arange(len(ids))), order_id[0], order_id[1], news,
                   _hashes(*order_id, news), kind[0], kind[1], typed, ts, qty, _MARKET)
    if not found[0]:
        return None
    return Probed(*found[1:7], found[7], qty[found[7]])


@njit(cache=True, nogil=True)
def _probe(t_off: np.ndarray, t_data: np.ndarray, t_h: np.ndarray, o_off: np.ndarray, o_data: np.ndarray,
           news: np.ndarray, o_h: np.ndarray, k_off: np.ndarray, k_data: np.ndarray, typed: bool, ts: np.ndarray,
           qty: np.ndarray, market: np.ndarray
           ) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``Probed``'s arrays (the unfilled rows only), after whether every match by hash was a match of bytes. The
    takers' ids are numbered into an open-addressing table of their hashes; then the id of each ``new`` event
    (``news``, the rows of the hashes ``o_h``) is looked up, its time and quantity totalled as
    ``placement_totals`` totals them (earliest time; largest quantity, the first one kept against a NaN)."""
    n = t_h.shape[0]
    cap = 16
    while cap < 2 * n:
        cap *= 2
    slot_h, slot_id = np.zeros(cap, np.uint64), np.full(cap, -1, np.int64)
    codes, rep = np.empty(n, np.int64), np.empty(n, np.int64)
    n_ids = 0
    fail = (False, codes, rep, np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.bool_), np.zeros(0, np.bool_),
            np.zeros(0, np.int64))
    for i in range(n):
        s = slot_of(slot_h, slot_id, t_h[i])
        if slot_id[s] < 0:
            slot_h[s], slot_id[s], rep[n_ids] = t_h[i], n_ids, i
            n_ids += 1
        elif not same_string(t_off, t_data, i, t_off, t_data, rep[slot_id[s]]):
            return fail
        codes[i] = slot_id[s]
    placed, size = np.zeros(n_ids, np.int64), np.zeros(n_ids, np.float64)
    has_placed, has_size = np.zeros(n_ids, np.bool_), np.zeros(n_ids, np.bool_)
    unfilled = np.empty(news.shape[0], np.int64)
    k = 0
    for j in range(news.shape[0]):
        i = news[j]
        c = find_id(slot_h, slot_id, o_h[j])
        if c < 0:
            if typed and is_word(k_off, k_data, i, market):
                unfilled[k] = i
                k += 1
            continue
        if not same_string(o_off, o_data, i, t_off, t_data, rep[c]):
            return fail
        if not has_placed[c] or ts[i] < placed[c]:
            placed[c] = ts[i]
            has_placed[c] = True
        if not has_size[c] or qty[i] > size[c]:
            size[c] = qty[i]
            has_size[c] = True
    return True, codes, rep[:n_ids], placed, size, has_placed, has_size, unfilled[:k]
