"""A screen before the spoofing/layering episode search (``cancelled_pressure``): whether any owner of a
venue-symbol-day may have an episode that alerts. Most days have none, and the search's ~90 data-frame operations
a partition were a third of the whole suite's time on the bench market.

An episode can alert only if its owner executed on the other side while it stood, and that execution was no
coincidence at the owner's pace: ``cancelled_pressure._owners_who_may_alert`` keeps an owner only if one of its
episodes had such an execution (``hit``) and the chance of one at the owner's pace over the episode's span is at
most ``max_coincidence``. The screen asks the same of every search episode that may exist, read straight from the
Arrow tables in compiled passes:

- its bait is every order that passes the search's own tests on the order (a limit order, placed, priced,
  cancelled within ``max_lifetime_s``, big against the day's median new order, filled at most
  ``max_fill_ratio``), without the tests that drop more orders (pulled by self-trade prevention, taking
  liquidity). So each of the search's episodes lies inside one of the screen's: orders that overlap still overlap
  among more orders, and an order in between only stretches the reach of the ones before it;
- a search episode counts only with an order of ``min_order_multiple`` or more, b, so its span covers b's life
  plus ``grace_s``; its chance at the owner's pace over that span (in whole seconds, as the search counts spans)
  must pass, and so must b's own, and the span is no longer than the longest that passes: the search episode lies
  in a window around b that the screen can bound;
- in that window (and inside the screen's episode) the owner must have traded on the other side with an order new
  that day on that side (the search counts decisions by their first leg), with at least
  ``min_opposite_multiple`` of the median order in all; the imbalance test is left out, as a wider window may
  break it either way.

On ten days of the bench market the screen stops 146 of 180 partitions; the search's owner screen, 157.

The thresholds against the median carry a relative slack of 1e-9 and the sums are plain where the search's are
compensated, so a case at a threshold always goes to the search. Any input the screen does not read as the search
does (a null id, time or quantity, a cancel before its placement, an owner map that names an account twice) goes
to the search too. The screen answers only whether to search: the alerts always come from the search itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from harbour.data.arrow_strings import find_id, is_word, load_u64, same_string, slot_of, string_buffers
from harbour.detect.framework import Partition
from harbour.detect.market.frames import dictionary_codes
from harbour.detect.market.owner_keys import account_owners

if TYPE_CHECKING:
    from harbour.detect.market.cancelled_pressure import PressureConfig

# Relative slack on every threshold the screen compares with the search's figures (the median, sums, chances):
# far above their rounding (a few operations, ~1e-15), so a case at a threshold is never screened out.
_SLACK = 1e-9
_NONE = np.iinfo(np.int64).min
_HASH_MASK = np.uint64(2**64 - 1)  # every bit of the decisions' hashes: tests thin it to force collisions


@dataclass(frozen=True)
class Bait:
    """The screen's bait orders, one row each: owner code, side (1: sell), placed and cancelled (microseconds),
    size."""

    owner: np.ndarray
    sell: np.ndarray
    placed: np.ndarray
    cancelled: np.ndarray
    size: np.ndarray


@dataclass(frozen=True)
class Legs:
    """Trade legs sorted by (owner, side) key and time: their keys, times, quantities and their numbers among both
    legs of every trade (``order``: the buys, then the sells)."""

    key: np.ndarray
    ts: np.ndarray
    q: np.ndarray
    order: np.ndarray


def may_alert(part: Partition, config: PressureConfig, owners: pl.DataFrame) -> bool:
    """Whether some owner of the partition may have an episode that passes the search's owner screen under
    ``config``: False only when none can."""
    orders, trades = part.tables.get("orders"), part.tables.get("trades")
    if orders is None or trades is None or not _readable(orders, trades):
        return True
    offsets, data, _ = _buffers(orders.column("event"))
    kind, q_new = _kinds_and_new(offsets, data, orders.column("quantity").to_numpy())
    median = float(np.median(q_new)) if q_new.size else 0.0  # the search's median new order (0 with none)
    low = median - abs(median) * _SLACK  # every test is "at least k x the median": a lower median is looser
    found = _bait_orders(orders, trades, kind, config, low)
    if found is None:
        return True
    if found[0].num_rows == 0:
        return False
    heads, placed, cancelled, size = found
    codes = _owner_codes(owners, heads.column("account"), trades)
    if codes is None:
        return True
    bait_owner, buyer, seller = codes
    sell = _mask(pc.equal(heads.column("side"), "sell")).astype(np.int64)
    bait = Bait(bait_owner, sell, placed, cancelled, size)
    return _any_episode_may_alert(bait, buyer, seller, trades, config, low)


def _readable(orders: pa.Table, trades: pa.Table) -> bool:
    """Whether the columns the screen reads hold no null (ids, times, accounts, quantities) and no NaN, and the
    trades' quantities none below 0 (sums over more trades are then no smaller): the search has its own paths for
    such data."""
    cols = [orders.column(c) for c in ("order_id", "account", "ts", "event", "side", "order_type", "quantity")] \
        + [trades.column(c) for c in ("trade_id", "ts", "quantity", "buyer", "seller")]
    if any(c.null_count for c in cols) or not _contract_types(orders, trades):
        return False
    q = trades.column("quantity").to_numpy()
    return not np.isnan(orders.column("quantity").to_numpy()).any() and not (q < 0).any() and not np.isnan(q).any()


_TEXT = {"orders": ("order_id", "account", "event", "side", "order_type"),
         "trades": ("trade_id", "buyer", "seller", "buy_order_id", "sell_order_id", "aggressor")}


def _contract_types(orders: pa.Table, trades: pa.Table) -> bool:
    """Whether the columns the screen reads have the contract's types, as the runners hand them (``plan.conform``):
    text as Arrow strings, times in microseconds, quantities as doubles. Tables built otherwise (a string view from
    Polars, times in nanoseconds) go to the search, which reads any of them."""
    for table, name in ((orders, "orders"), (trades, "trades")):
        if any(table.schema.field(c).type != pa.string() for c in _TEXT[name]):
            return False
        ts, q = table.schema.field("ts").type, table.schema.field("quantity").type
        if not (pa.types.is_timestamp(ts) and ts.unit == "us") or q != pa.float64():
            return False
    return True


def _bait_orders(orders: pa.Table, trades: pa.Table, kind: np.ndarray, config: PressureConfig, low: float
                 ) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray] | None:
    """The orders that pass the search's tests on a single bait order: their first events' account and side, and
    their placement, last cancel and size; None when the ids cannot be told apart by their hashes (a collision) or
    an order was cancelled before it was placed (the search's episodes may then depend on the row order)."""
    qty = orders.column("quantity").to_numpy()
    ids = _buffers(orders.column("order_id"))
    buys, sells = _buffers(trades.column("buy_order_id")), _buffers(trades.column("sell_order_id"))
    # one compiled pass: the ids of the events big enough for the size test (an order's size is its largest
    # quantity), then every event and trade side of those ids; Arrow's look-ups, masks and takes over every event
    # were half the screen's time
    found = _lives(ids, _hashes(ids), kind, qty, _micros(orders.column("ts")), config.size_multiple * low,
                   buys, _hashes(buys), sells, _hashes(sells), trades.column("quantity").to_numpy())
    first, first_new, placed, cancelled, size, filled, ok = found
    if not ok:
        return None
    if first.size == 0:
        return orders.select(["account", "side"]).slice(0, 0), *(np.zeros(0, np.int64),) * 2, np.zeros(0)
    has_new = first_new >= 0
    priced = np.zeros(first.size, np.bool_)
    priced[has_new] = _mask(pc.is_valid(orders.column("price").take(pa.array(first_new[has_new]))))
    limit = _equal(_buffers(orders.column("order_type")), first, _LIMIT)
    life = cancelled - placed
    max_life = dt.timedelta(seconds=config.max_lifetime_s) // dt.timedelta(microseconds=1)
    keep = limit & priced & (cancelled > _NONE) & (life <= max_life) \
        & (filled <= config.max_fill_ratio * size * (1 + _SLACK))
    if (life[keep] < 0).any():
        return None
    picked = np.flatnonzero(keep)
    kept = orders.select(["account", "side"]).take(pa.array(first[picked]))
    if not pc.all(pc.is_in(kept.column("side"), pa.array(["buy", "sell"]))).as_py() and picked.size:
        return None  # another side is its own group in the search, with "buy" as its other side
    return kept, placed[picked], cancelled[picked], size[picked]


Buffers = tuple[np.ndarray, np.ndarray, np.ndarray]
_LIMIT = np.frombuffer(b"limit", np.uint8)
_NEW_W, _CANCEL_W, _EXPIRE_W = (np.uint64(int.from_bytes(w, "little")) for w in (b"new", b"cancel", b"expire"))


def _buffers(col: pa.ChunkedArray) -> Buffers:
    """A string column's (offsets, bytes, validity or empty), in one piece."""
    return string_buffers(col.combine_chunks() if col.num_chunks != 1 else col.chunk(0))


_K1, _K2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)


@njit(cache=True, nogil=True, inline="always")
def _quick_hash(offsets: np.ndarray, data: np.ndarray, i: int) -> np.uint64:
    """A 64-bit hash of string i, a multiply per word and the last word read whole (overlapping the one before):
    the ids are short, and ``aml.interning.string_hash``, with its finaliser and byte tail, was ~18 ns a string
    against ~2 here (measured on a 140k-event partition). Its top bits are the best mixed (the decisions' table
    and the ids' filter read them); the last shift folds them into the low bits the ids' table (``slot_of``)
    reads. Every match is checked byte for byte, so the hash needs no more than to spread the ids."""
    a, z = np.intp(offsets[i]), np.intp(offsets[i + 1])
    x = np.uint64(z - a) * _K2
    if z - a >= 8:
        p = a
        while p + 8 < z:
            x = (x ^ load_u64(data, p)) * _K1  # type: ignore[call-arg]
            p += 8
        x = (x ^ load_u64(data, z - 8)) * _K1  # type: ignore[call-arg]
    else:
        w = np.uint64(0)
        for q in range(a, z):
            w = (w << np.uint64(8)) | np.uint64(data[q])
        x = (x ^ w) * _K1
    return x ^ (x >> np.uint64(31))  # type: ignore[no-any-return]


def _hashes(buf: Buffers) -> np.ndarray:
    """64-bit hashes of the strings (``_quick_hash``; a null's is that of its bytes, which are not read as an
    id)."""
    offsets, data, _ = buf
    return _quick_hashes(offsets, data)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def _quick_hashes(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    out = np.empty(offsets.shape[0] - 1, np.uint64)
    for i in range(out.shape[0]):
        out[i] = _quick_hash(offsets, data, i)
    return out


@njit(cache=True, nogil=True)
def _kinds_and_new(offsets: np.ndarray, data: np.ndarray, qty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per event, 1 a new order, 2 a cancel or expiry, 0 another (as quote_stuffing's ``_kinds`` reads them), and
    the new events' quantities in row order, in one pass. Each event's first bytes are read as one word (cut to its
    length, up to 7) and compared with the words' without a branch: a byte compare per event, as ``_kinds`` does,
    mispredicted, ~1 ms a busy partition against ~0.3 (written in the loop: as a called function, even inlined,
    numba's code was as slow as the byte compare)."""
    n = offsets.shape[0] - 1
    out = np.empty(n, np.int8)
    q_new = np.empty(n, np.float64)
    end = data.shape[0]
    k = 0
    for i in range(n):
        a = offsets[i]
        m = offsets[i + 1] - a
        if a + 8 <= end:
            w: np.uint64 = load_u64(data, np.intp(a))  # type: ignore[call-arg]
        else:  # the buffer's last bytes: no word past its end
            w = np.uint64(0)
            for j in range(min(8, end - a)):
                w |= np.uint64(data[a + j]) << np.uint64(8 * j)
        w &= (np.uint64(1) << np.uint64(8 * min(m, 7))) - np.uint64(1)
        c = ((m == 3) & (w == _NEW_W)) + 2 * ((m == 6) & ((w == _CANCEL_W) | (w == _EXPIRE_W)))
        out[i] = c
        q_new[k] = qty[i]  # kept only where new: no branch
        k += c == 1
    return out, q_new[:k]


def _equal(buf: Buffers, rows: np.ndarray, word: np.ndarray) -> np.ndarray:
    """Whether the strings at ``rows`` equal ``word`` (a null does not)."""
    offsets, data, valid = buf
    return _equal_at(offsets, data, valid, rows, word)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def _equal_at(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, rows: np.ndarray, word: np.ndarray
              ) -> np.ndarray:
    out = np.zeros(rows.shape[0], np.bool_)
    for k in range(rows.shape[0]):
        i = rows[k]
        out[k] = (valid.shape[0] == 0 or valid[i]) and is_word(offsets, data, i, word)
    return out


@njit(cache=True, nogil=True)
def _lives(ids: tuple[np.ndarray, np.ndarray, np.ndarray], h: np.ndarray, kind: np.ndarray, qty: np.ndarray,
           ts: np.ndarray, size_min: float, buys: tuple[np.ndarray, np.ndarray, np.ndarray], buy_h: np.ndarray,
           sells: tuple[np.ndarray, np.ndarray, np.ndarray], sell_h: np.ndarray, trade_q: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """Per order id with an event of ``size_min`` or more, numbered in order of first such event: its first
    event's row, its first new event's row (-1: none), its earliest new-event time (int64 max without one), its
    latest cancel or expiry time (int64 min without one), its largest quantity, and the quantity of the trade sides
    that name it; and whether every string matched by hash equals its id's bytes (False: a collision)."""
    offsets, data, _ = ids
    n = h.shape[0]
    big = 0
    for i in range(n):
        big += qty[i] >= size_min
    cap = 16
    while cap < 2 * big:
        cap *= 2
    slot_h, slot_id = np.zeros(cap, np.uint64), np.full(cap, -1, np.int64)
    rep = np.empty(big, np.int64)  # a row of each id, whose bytes every match must equal
    n_ids = 0
    for i in range(n):
        if qty[i] >= size_min:
            s = slot_of(slot_h, slot_id, h[i])
            if slot_id[s] < 0:
                slot_h[s], slot_id[s], rep[n_ids] = h[i], n_ids, i
                n_ids += 1
    # a bit per hash's top bits, 16 bits an id (8 KB for 4k ids: in L1), set for every id in the table: most events
    # and trade sides name a small order, and the bit (no false negative, ~6% false positives) spares them the
    # table's two cache misses (the table is 32 bytes a big row)
    bits = 6
    while (1 << bits) < 16 * n_ids:
        bits += 1
    shift = np.uint64(64 - bits)
    bloom = np.zeros(1 << (bits - 6), np.uint64)
    for c in range(n_ids):
        b = h[rep[c]] >> shift
        bloom[b >> np.uint64(6)] |= np.uint64(1) << (b & np.uint64(63))
    first, first_new = np.full(n_ids, -1, np.int64), np.full(n_ids, -1, np.int64)
    placed = np.full(n_ids, np.iinfo(np.int64).max, np.int64)
    cancelled = np.full(n_ids, np.iinfo(np.int64).min, np.int64)
    size, filled = np.full(n_ids, -np.inf), np.zeros(n_ids, np.float64)
    for i in range(n):
        b = h[i] >> shift
        if not (bloom[b >> np.uint64(6)] >> (b & np.uint64(63))) & np.uint64(1):
            continue
        c = find_id(slot_h, slot_id, h[i])
        if c < 0:
            continue
        if not same_string(offsets, data, i, offsets, data, rep[c]):
            return first, first_new, placed, cancelled, size, filled, False
        if first[c] < 0:
            first[c] = i
        if kind[i] == 1:
            if first_new[c] < 0:
                first_new[c] = i
            placed[c] = min(placed[c], ts[i])
        elif kind[i] == 2:
            cancelled[c] = max(cancelled[c], ts[i])
        size[c] = max(size[c], qty[i])
    for side, side_h in ((buys, buy_h), (sells, sell_h)):
        side_offsets, side_data, side_valid = side
        for j in range(side_h.shape[0]):
            b = side_h[j] >> shift
            if side_valid.shape[0] and not side_valid[j] \
                    or not (bloom[b >> np.uint64(6)] >> (b & np.uint64(63))) & np.uint64(1):
                continue
            c = find_id(slot_h, slot_id, side_h[j])
            if c < 0:
                continue
            if not same_string(side_offsets, side_data, j, offsets, data, rep[c]):
                return first, first_new, placed, cancelled, size, filled, False
            filled[c] += trade_q[j]
    return first, first_new, placed, cancelled, size, filled, True


def _micros(col: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(col, pa.int64()).to_numpy(), np.int64)


def _mask(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _owner_codes(owners: pl.DataFrame, accounts: pa.ChunkedArray, trades: pa.Table
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Owner codes (``owner_keys.account_owners``: one code per owner, an unknown account its own owner) of the bait's
    accounts and of every trade's buyer and seller; None when the map cannot be read so."""
    every = dictionary_codes(pa.chunked_array([*accounts.chunks, *trades.column("buyer").chunks,
                                               *trades.column("seller").chunks], pa.string()))
    code = account_owners(owners, every.dictionary)
    if code is None:
        return None
    per_row = code[np.asarray(every.indices.to_numpy(), np.int64)]
    a, m = len(accounts), trades.num_rows
    return per_row[:a], per_row[a:a + m], per_row[a + m:]


def _legs(trades: pa.Table, buyer: np.ndarray, seller: np.ndarray, wanted: np.ndarray) -> Legs:
    """The trades' legs of the (owner, side) keys ``wanted`` (a buy leg's key is its buyer's owner code x 2, a sell
    leg's its seller's x 2 + 1), in key and time order: only the episodes' owners' legs on their other side are
    read, and sorting every leg was the screen's largest step."""
    key = np.concatenate([buyer * 2, seller * 2 + 1])
    is_wanted = np.zeros(int(max(key.max(initial=0), wanted.max(initial=0))) + 1, np.bool_)
    is_wanted[wanted] = True
    rows = np.flatnonzero(is_wanted[key])
    ts = _micros(trades.column("ts"))
    m = ts.size
    leg_ts = ts[rows % m] if m else ts
    # with the trades in time order, the buys and the sells each are, and no key is on both: a stable sort by key
    # alone keeps each key's legs in time order
    order = rows[np.argsort(key[rows], kind="stable") if (np.diff(ts) >= 0).all() else np.lexsort((leg_ts, key[rows]))]
    q = trades.column("quantity").to_numpy()
    return Legs(key[order], ts[order % m] if m else ts, q[order % m] if m else q, order)


def _any_episode_may_alert(bait: Bait, buyer: np.ndarray, seller: np.ndarray, trades: pa.Table,
                           config: PressureConfig, low: float) -> bool:
    """Whether a search episode inside one of the screen's may have passed the search's owner screen: judged at each
    of the screen's orders big enough to make an episode count (``_may_hit``)."""
    order = np.lexsort((bait.placed, bait.sell, bait.owner))  # by owner, side and placement, as the search groups
    owner, sell, placed, cancelled = (a[order] for a in (bait.owner, bait.sell, bait.placed, bait.cancelled))
    big = bait.size[order] >= config.min_order_multiple * low
    if not big.any():
        return False
    legs = _legs(trades, buyer, seller, owner[big] * 2 + (1 - sell[big]))
    if legs.key.size == 0:
        return False
    ts = _micros(trades.column("ts"))
    day_s = max((int(ts.max()) - int(ts.min())) / 1e6, 3600.0)  # the search's day: its trades' span, an hour at least
    grace = dt.timedelta(seconds=config.grace_s) // dt.timedelta(microseconds=1)
    return _may_hit(owner, sell, placed, cancelled, big, grace, legs.key, legs.ts, legs.q,
                    _new_decisions(trades, legs), config.min_opposite_multiple * low * (1 - _SLACK), day_s,
                    config.max_coincidence * (1 + _SLACK) + _SLACK)


@njit(cache=True, nogil=True)
def _episode_spans(owner: np.ndarray, sell: np.ndarray, placed: np.ndarray, cancelled: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per order (sorted by owner, side and placement), the first placement and the last cancel of its episode: the
    run of overlapping orders of one owner and side, as the search groups them."""
    n = owner.shape[0]
    ep = np.empty(n, np.int64)
    e_start, e_stop = np.empty(n, np.int64), np.empty(n, np.int64)
    k, reach = -1, 0
    for i in range(n):
        if i == 0 or owner[i] != owner[i - 1] or sell[i] != sell[i - 1] or placed[i] > reach:
            k += 1
            e_start[k], e_stop[k], reach = placed[i], cancelled[i], cancelled[i]
        else:
            reach = max(reach, cancelled[i])
            e_stop[k] = max(e_stop[k], cancelled[i])
        ep[i] = k
    return e_start[ep], e_stop[ep]


@njit(cache=True, nogil=True)
def _may_hit(owner: np.ndarray, sell: np.ndarray, placed: np.ndarray, cancelled: np.ndarray, big: np.ndarray,
             grace: int, keys: np.ndarray, ts: np.ndarray, q: np.ndarray, new: np.ndarray, least: float, day_s: float,
             chance: float) -> bool:
    """Whether some search episode E may pass the owner screen. E lies inside one of the screen's episodes E' (the
    orders sorted by owner, side and placement) and holds a ``big`` order b, so E's span covers b's life plus the
    grace and lies inside E''s. E passes only if its chance at its owner's pace (the owner's distinct decisions on
    the other side a second of the day) over its span in whole seconds is at most ``chance``: so b's own span must
    pass, and E's span is shorter than the longest that passes. And a new decision of the owner must have traded on
    the other side inside E's span, with at least ``least`` traded there in all: the legs (``keys``, ``ts``, ``q``,
    ``new``, sorted by key and time) are searched in the window E may cover around b."""
    e_start, e_stop = _episode_spans(owner, sell, placed, cancelled)
    cum = np.zeros(keys.shape[0] + 1, np.int64)  # new decisions before each leg
    for j in range(keys.shape[0]):
        cum[j + 1] = cum[j] + new[j]
    for i in range(owner.shape[0]):
        if not big[i]:
            continue
        key = owner[i] * 2 + 1 - sell[i]
        a, z = np.searchsorted(keys, key, side="left"), np.searchsorted(keys, key, side="right")
        rate = (cum[z] - cum[a]) / day_s
        if rate == 0:
            continue  # no execution on the other side all day
        if 1 - np.exp(-rate * ((cancelled[i] - placed[i] + grace) // 1_000_000)) > chance:
            continue
        # E's span in whole seconds may be at most this long; + 2 seconds: the whole second it may run over, and
        # one more against the rounding of the logarithm
        longest = 4e12 if chance >= 1 else (np.floor(-np.log(1 - chance) / rate) + 2) * 1e6
        reach = np.int64(min(longest, 4e12))
        lo = max(e_start[i], cancelled[i] + grace - reach)
        hi = min(e_stop[i] + grace, placed[i] + reach)
        la = a + np.searchsorted(ts[a:z], lo, side="left")
        lz = a + np.searchsorted(ts[a:z], hi, side="right")
        if cum[lz] - cum[la] > 0 and q[la:lz].sum() >= least:
            return True
    return False


def _new_decisions(trades: pa.Table, legs: Legs) -> np.ndarray:
    """1 at each leg (in ``legs``' order) whose decision — its order, or the trade where it names none — has no
    earlier leg of its key: as the search counts decisions, by their strings (told apart by their bytes, so an
    order id and a trade id with the same bytes are one decision, as in the search's coalesced column). Only the
    legs read are coded: Arrow's coalesce, take and dictionary encoding over every trade were ~0.6 ms a
    partition."""
    b_off, b_data, b_valid = _buffers(trades.column("buy_order_id"))
    s_off, s_data, s_valid = _buffers(trades.column("sell_order_id"))
    t_off, t_data, _ = _buffers(trades.column("trade_id"))
    offsets, data = _decision_strings(legs.order, trades.num_rows, b_off, b_data, b_valid, s_off, s_data, s_valid,
                                      t_off, t_data)
    codes = _string_codes(offsets, data, _HASH_MASK)
    return _first_of_key(legs.key, codes, int(codes.max(initial=0)) + 1)


@njit(cache=True, nogil=True)
def _decision_strings(order: np.ndarray, m: int, b_off: np.ndarray, b_data: np.ndarray, b_valid: np.ndarray,
                      s_off: np.ndarray, s_data: np.ndarray, s_valid: np.ndarray, t_off: np.ndarray,
                      t_data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per leg (``order``: its number among both legs of every trade, the buys then the sells), its decision's
    string — its order id, or its trade id where it names none — copied into one string array's buffers."""
    n = order.shape[0]
    start, stop, src = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int8)
    total = 0
    for j in range(n):
        r = order[j] % m
        if order[j] < m and (b_valid.shape[0] == 0 or b_valid[r]):
            src[j], start[j], stop[j] = 0, b_off[r], b_off[r + 1]
        elif order[j] >= m and (s_valid.shape[0] == 0 or s_valid[r]):
            src[j], start[j], stop[j] = 1, s_off[r], s_off[r + 1]
        else:
            src[j], start[j], stop[j] = 2, t_off[r], t_off[r + 1]
        total += stop[j] - start[j]
    offsets, data = np.zeros(n + 1, np.int64), np.empty(total, np.uint8)
    p = 0
    for j in range(n):
        for q in range(start[j], stop[j]):
            data[p] = b_data[q] if src[j] == 0 else (s_data[q] if src[j] == 1 else t_data[q])
            p += 1
        offsets[j + 1] = p
    return offsets, data


@njit(cache=True, nogil=True)
def _string_codes(offsets: np.ndarray, data: np.ndarray, hash_mask: np.uint64) -> np.ndarray:
    """A code per string, in order of first appearance, exact: an open-addressing table probed from the hash's
    top bits, where a match of hashes is checked byte for byte (a collision costs a probe, never merges two
    strings). ``hash_mask`` (all ones but in tests) thins the hashes to force collisions."""
    n = offsets.shape[0] - 1
    bits = 4
    while (1 << bits) < 2 * n:
        bits += 1
    slot_h, slot_id = np.zeros(1 << bits, np.uint64), np.full(1 << bits, -1, np.int64)
    rep, codes = np.empty(n, np.int64), np.empty(n, np.int64)
    shift, mask = np.uint64(64 - bits), (1 << bits) - 1
    n_codes = 0
    for j in range(n):
        x = _quick_hash(offsets, data, j) & hash_mask
        s = np.intp(x >> shift)
        while slot_id[s] >= 0 and not (slot_h[s] == x and same_string(offsets, data, j, offsets, data,
                                                                        rep[slot_id[s]])):
            s = (s + 1) & mask
        if slot_id[s] < 0:
            slot_h[s], slot_id[s], rep[n_codes] = x, n_codes, j
            n_codes += 1
        codes[j] = slot_id[s]
    return codes


@njit(cache=True, nogil=True)
def _first_of_key(keys: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    last_key = np.full(n_codes, -1, np.int64)  # the last key each code was seen under (keys come in runs)
    new = np.zeros(keys.shape[0], np.int64)
    for j in range(keys.shape[0]):
        if last_key[codes[j]] != keys[j]:
            last_key[codes[j]] = keys[j]
            new[j] = 1
    return new
