"""A screen before the spoofing/layering episode search (``cancelled_pressure``): whether any owner of a
venue-symbol-day may have an episode that alerts. Most days have none, and the search's ~90 data-frame operations
a partition were a third of the whole suite's time on the bench market. It reads the Arrow tables in compiled passes,
in two stages; each test is one the search makes, loosened so that it never stops an episode the search keeps.

First, may an episode pass the search's owner screen (``cancelled_pressure._owners_who_may_alert``: an execution on
the other side while it stood, ``hit``, at a pace that makes it no coincidence, ``max_coincidence``)?

- its bait is every order that passes the search's own tests on the order (placed big or traded, a limit order,
  placed, priced, cancelled within ``max_lifetime_s``, big against the day's median new order, filled at most
  ``max_fill_ratio``), but for those that take more reading (pulled by self-trade prevention, taking liquidity). So
  each of the search's episodes lies inside one of the screen's runs of overlapping orders;
- an episode counts only with an order of ``min_order_multiple`` or more, b, so its span covers b's life plus
  ``grace_s``; its chance at the owner's pace over that span (in whole seconds, as the search counts spans) must
  pass, and so must b's own, and the span is no longer than the longest that passes: the episode lies in a window
  around b that the screen can bound;
- in that window (and inside the run) the owner must have traded on the other side with an order new that day on
  that side (the search counts decisions by their first leg), with at least ``min_opposite_multiple`` of the median
  order in all; and the run's bait must be ``min_imbalance`` times what it traded over b's own life.

Second, where some may (``pressure_bound._family_bound``), may one of them with evidence (an execution while its bait
stood, or of an order placed then) pass the tests of the owner's episodes taken together: ``max_repeat_chance`` on k
hits among n episodes, and with one hit ``max_coincidence`` taken n times? The screen bounds n and the tail from below
with the episodes it is sure of (runs holding an order surely the search's bait and big enough for the owner's
own-size test, ``own_size_multiple``), and k from above. The bound is compared with each detector's own repeat
threshold: spoofing and layering share the search, and its key leaves that threshold out.

On ten days of the bench market the first stage stops 154 of 180 partitions (146 before it read only the orders
placed big and tested the imbalance), the second 23 of the other 26 for layering, 25 for spoofing (21 and 23 before it
read the evidence). The 34 the screen let through before it had its second stage cost the search ~40 ms each, and
only 2 held an episode that passed.

The thresholds against the median carry a relative slack of 1e-9 and the sums are plain where the search's are
compensated, so a case at a threshold always goes to the search. Any input the screen does not read as the search
does (a null id, time or quantity, a cancel before its placement, an owner map that names an account twice) goes
to the search too. The screen answers only whether to search: the alerts always come from the search itself.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from harbour.data.arrow_strings import (
    is_word,
    load_u64,
    one_chunk,
    same_bytes,
    same_string,
    slot_of,
    string_buffers,
)
from harbour.data.row_order import time_values
from harbour.detect.framework import Partition
from harbour.detect.market.frames import dictionary_codes
from harbour.detect.market.lifecycles import seeded_lives
from harbour.detect.market.owner_keys import account_owners, owner_lookup

if TYPE_CHECKING:
    from harbour.detect.market.cancelled_pressure import PressureConfig

# Relative slack on every threshold the screen compares with the search's figures (the median, sums, chances):
# far above their rounding (a few operations, ~1e-15), so a case at a threshold is never screened out.
_SLACK = 1e-9
# Absolute slack on the repeat chance: a Poisson tail is one less a sum near 1, so the search's and the screen's
# differ by a few units of 1e-16 however small the tail.
_TAIL_SLACK = 1e-12
_NONE = np.iinfo(np.int64).min
_HASH_MASK = np.uint64(2**64 - 1)  # every bit of the decisions' hashes: tests thin it to force collisions


@dataclass(frozen=True)
class Book:
    """The screen's read of a partition: its tables, each event's kind (``_kinds_and_new``) and time (microseconds),
    the buffers and hashes of the order ids and of the trades' order ids, and the median new order with the slack
    below (``low``: "at least k x the median" is looser with it) and above (``high``: surer)."""

    orders: pa.Table
    trades: pa.Table
    kind: np.ndarray
    ts: np.ndarray
    ids: Hashed
    buys: Hashed
    sells: Hashed
    median: float

    @cached_property
    def sides(self) -> tuple[Any, ...]:
        """The trade sides as ``seeded_lives`` reads them: the buys' order ids, their hashes and whether each took
        liquidity (by the aggressor flags), the sells' alike, and the trades' quantities."""
        buy, sell = _buys_and_sells(*_buffers(self.trades.column("aggressor")))
        return (*self.buys, buy, *self.sells, sell, self.trades.column("quantity").to_numpy())

    @property
    def low(self) -> float:
        return self.median - abs(self.median) * _SLACK

    @property
    def high(self) -> float:
        return self.median + abs(self.median) * _SLACK


@dataclass(frozen=True)
class Bait:
    """The screen's bait orders, one row each: owner code, side (1: sell), placed and cancelled (microseconds),
    size, filled quantity, how many trade sides name it and in how many it took liquidity (by their aggressor
    flags), and the rows of its first event and first placement."""

    owner: np.ndarray
    sell: np.ndarray
    placed: np.ndarray
    cancelled: np.ndarray
    size: np.ndarray
    filled: np.ndarray
    named: np.ndarray
    took: np.ndarray
    first_row: np.ndarray
    new_row: np.ndarray

    def take(self, rows: np.ndarray) -> Bait:
        return Bait(*(getattr(self, f.name)[rows] for f in fields(self)))


@dataclass(frozen=True)
class Legs:
    """Trade legs sorted by (owner, side) key and time: their keys, times, quantities and their numbers among both
    legs of every trade (``order``: the buys, then the sells)."""

    key: np.ndarray
    ts: np.ndarray
    q: np.ndarray
    order: np.ndarray


def may_alert(part: Partition, config: PressureConfig, owners: pl.DataFrame) -> bool:
    """Whether some owner of the partition may have an episode that alerts under ``config``: False only when none
    can."""
    return _least_repeat(part, config, owners) - _TAIL_SLACK <= config.max_repeat_chance * (1 + _SLACK)


def _least_repeat(part: Partition, config: PressureConfig, owners: pl.DataFrame) -> float:
    """``least_repeat_chance``, kept in ``Partition.shared`` for the partition's other detector: spoofing and layering
    share every threshold it reads, and differ in the repeat threshold it is compared with."""
    orders, trades = part.tables.get("orders"), part.tables.get("trades")
    key = ("pressure_screen.least_repeat", id(orders), id(trades), id(owners),
           config.model_dump_json(exclude={"max_repeat_chance"}))
    found = part.shared.get(key)
    if found is None or found[1] is not orders or found[2] is not trades or found[3] is not owners:
        found = (least_repeat_chance(part, config, owners), orders, trades, owners)  # they stay alive with it
        part.shared[key] = found
    least: float = found[0]
    return least


def least_repeat_chance(part: Partition, config: PressureConfig, owners: pl.DataFrame) -> float:
    """A lower bound of the repeat chance (the search's ``repeat_chance``) of every episode of the partition that may
    pass the search's other tests under ``config``: inf where none may, 0 where the screen cannot tell."""
    orders, trades = part.tables.get("orders"), part.tables.get("trades")
    if orders is None or trades is None or not _readable(orders, trades):
        return 0.0
    offsets, data, _ = _buffers(orders.column("event"))
    kind, q_new = _kinds_and_new(offsets, data, orders.column("quantity").to_numpy())
    book = Book(orders, trades, kind, time_values(orders.column("ts")), _hashed(orders.column("order_id")),
                _hashed(trades.column("buy_order_id")), _hashed(trades.column("sell_order_id")),
                _median(q_new))  # the search's median new order
    bait = _bait_orders(book, config)
    if bait is None:
        return 0.0
    if bait.first_row.size == 0:
        return math.inf
    found_owners = Owners.read(owners, orders.column("account").take(pa.array(bait.first_row, pa.int64())))
    if found_owners is None:
        return 0.0
    coded, bait_owner = found_owners
    bait = replace(bait, owner=bait_owner)
    order = np.lexsort((bait.placed, bait.sell, bait.owner))  # by owner, side and placement, as the search groups
    return _least_of(book, bait.take(order), config, coded)


def _median(x: np.ndarray) -> float:
    """``np.median`` of ``x`` (no NaN; 0 when empty), partitioning ``x`` in place, without its copy."""
    n = x.size
    if n == 0:
        return 0.0
    k = (n - 1) // 2
    x.partition([k, k + 1] if n % 2 == 0 else k)
    return float(x[k] if n % 2 else (x[k] + x[k + 1]) / 2)


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


def _bait_orders(book: Book, config: PressureConfig) -> Bait | None:
    """The orders that pass the search's tests on a single bait order: their side, placement, last cancel, size,
    filled quantity, trade sides and rows (owner codes left empty); None when the ids
    cannot be told apart by their hashes (a collision), an order was cancelled before it was placed (the search's
    episodes may then depend on the row order) or has a side other than buy or sell (its own group in the search,
    with "buy" as its other side)."""
    orders = book.orders
    # one compiled pass: the ids of the events big enough for the size test (an order's size is its largest
    # quantity), then every event and trade side of those ids; Arrow's look-ups, masks and takes over every event
    # were half the screen's time
    qty = orders.column("quantity").to_numpy()
    found = seeded_lives(*book.ids, qty >= config.size_multiple * book.low, book.kind, qty, book.ts, *book.sides)
    (first, first_new, placed, cancelled, size, new_size, filled, named, took), ok = found
    if not ok:
        return None
    # the search reads only orders placed big (or that traded): an order amended up to a big size is not bait
    picked, buy, sell, early = _bait_rows(cancelled, placed, new_size, named, filled, size, first, first_new,
                                          _micros_of(config.max_lifetime_s), config.size_multiple * book.low,
                                          config.max_fill_ratio, 1 + _SLACK, *_buffers(orders.column("order_type")),
                                          *_price_bits(orders), *_buffers(orders.column("side")))
    if early or not (sell | buy).all():
        return None
    none = np.zeros(picked.size, np.int64)
    return Bait(none, sell.astype(np.int64), placed[picked], cancelled[picked], size[picked], filled[picked],
                named[picked], took[picked], first[picked], first_new[picked])


@njit(cache=True, nogil=True)
def _single_tests(cancelled: np.ndarray, life: np.ndarray, new_size: np.ndarray, named: np.ndarray,
                  filled: np.ndarray, size: np.ndarray, max_life: int, big: float, fill_ratio: float, slack: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per order, whether it passes the tests on a single order read so far (cancelled, within ``max_life``, placed
    ``big`` or traded, filled at most ``fill_ratio`` of its size, times ``slack``), and its rows, in one pass: the
    same comparisons of the same figures, in the same order, as numpy's nine passes and their masks (a small gain:
    ``_bait_orders``' own time 25 ms to 20, plus 4 ms here, over ten bench days' 180 partitions)."""
    n = cancelled.shape[0]
    keep = np.zeros(n, np.bool_)
    rows = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if cancelled[i] > _NONE and life[i] <= max_life and (new_size[i] >= big or named[i] > 0) \
                and filled[i] <= fill_ratio * size[i] * slack:
            keep[i] = True
            rows[k] = i
            k += 1
    return keep, rows[:k]


@njit(cache=True, nogil=True)
def _bait_rows(cancelled: np.ndarray, placed: np.ndarray, new_size: np.ndarray, named: np.ndarray,
               filled: np.ndarray, size: np.ndarray, first: np.ndarray, first_new: np.ndarray, max_life: int,
               big: float, fill_ratio: float, slack: float, type_off: np.ndarray, type_data: np.ndarray,
               type_valid: np.ndarray, price_bits: np.ndarray, price_at: int, side_off: np.ndarray,
               side_data: np.ndarray, side_valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """The lives that pass every test on a single bait order (``_single_tests``, then a limit order by its first event,
    priced at its first placement: ``_equal``, ``_priced``), their sides (``_buys_and_sells_at``), and whether one of
    them was cancelled before it was placed, in one compiled call: the numpy steps, Arrow reads and four calls between
    them were 0.31-0.36 ms a partition over ten bench days (~3.6k lives, ~2k kept), this 0.20-0.23. ``price_bits``:
    the price column's validity bytes, ``price_at`` its offset (empty: no null price)."""
    life = cancelled - placed
    _, rows = _single_tests(cancelled, life, new_size, named, filled, size, max_life, big, fill_ratio, slack)
    picked = np.empty(rows.shape[0], np.int64)
    k, early = 0, False
    for r in rows:
        f, i = first_new[r] + price_at, first[r]
        priced = first_new[r] >= 0 and (price_bits.shape[0] == 0 or (price_bits[f >> 3] >> (f & 7)) & 1 == 1)
        if priced and (type_valid.shape[0] == 0 or type_valid[i]) and is_word(type_off, type_data, i, _LIMIT):
            picked[k] = r
            k += 1
            early |= life[r] < 0
    picked = picked[:k]
    buy, sell = _buys_and_sells_at(side_off, side_data, side_valid, first[picked])
    return picked, buy, sell, early


def _price_bits(orders: pa.Table) -> tuple[np.ndarray, int]:
    """The price column's validity bytes and its offset in bits (``_bait_rows``); empty without a null price."""
    price = orders.column("price")
    if price.null_count == 0:
        return np.zeros(0, np.uint8), 0
    arr = one_chunk(price)
    return np.frombuffer(arr.buffers()[0], np.uint8), arr.offset


def _priced(orders: pa.Table, first_new: np.ndarray) -> np.ndarray:
    """Whether each order's first placement (its row, -1: none) has a price, as the search's price is."""
    has_new = first_new >= 0
    bits, offset = _price_bits(orders)
    if bits.size == 0:
        return has_new
    # read from the validity bits: Arrow's take and is_valid were ~0.3 ms a partition
    at = first_new[has_new] + offset
    priced = np.zeros(first_new.size, np.bool_)
    priced[has_new] = (bits[at >> 3] >> (at & 7)) & 1
    return priced


def _micros_of(seconds: float) -> int:
    """A setting in seconds as the search's time deltas hold it: whole microseconds."""
    return dt.timedelta(seconds=seconds) // dt.timedelta(microseconds=1)


Buffers = tuple[np.ndarray, np.ndarray, np.ndarray]
Hashed = tuple[Buffers, np.ndarray]  # a string column's buffers and its strings' hashes (``_quick_hash``)
_LIMIT, _BUY, _SELL = (np.frombuffer(w, np.uint8) for w in (b"limit", b"buy", b"sell"))
_NEW_W, _CANCEL_W, _EXPIRE_W = (np.uint64(int.from_bytes(w, "little")) for w in (b"new", b"cancel", b"expire"))


def _buffers(col: pa.ChunkedArray) -> Buffers:
    """A string column's (offsets, bytes, validity or empty), in one piece."""
    return string_buffers(one_chunk(col))


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


def _hashed(col: pa.ChunkedArray) -> Hashed:
    buf = _buffers(col)
    return buf, _hashes(buf)


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
def _buys_and_sells(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per string, whether it is "buy", and whether "sell" (a null is neither), in one pass: Arrow's two compares
    and their masks were ~0.3 ms a partition (ten bench days), this ~0.05."""
    n = offsets.shape[0] - 1
    buy, sell = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
    for i in range(n):
        if valid.shape[0] == 0 or valid[i]:
            buy[i] = is_word(offsets, data, i, _BUY)
            sell[i] = is_word(offsets, data, i, _SELL)
    return buy, sell


@njit(cache=True, nogil=True)
def _buys_and_sells_at(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray, rows: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``_buys_and_sells`` of the strings at ``rows``: the bait's sides read in one call, where two ``_equal`` calls
    were."""
    n = rows.shape[0]
    buy, sell = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
    for k in range(n):
        i = rows[k]
        if valid.shape[0] == 0 or valid[i]:
            buy[k] = is_word(offsets, data, i, _BUY)
            sell[k] = is_word(offsets, data, i, _SELL)
    return buy, sell


@dataclass(frozen=True)
class Owners:
    """Owner codes (``owner_keys.account_owners``: one code per owner, an unknown account its own owner) of the bait's
    accounts (``read``), and the accounts of some of those owners found in other columns by their strings (``find``).
    Coding every buyer and seller of the day, thousands of accounts looked up in the map, was 1.5 ms of the screen's
    ~7.5 a partition (ten bench days), where the legs read are those of the big orders' owners, a few hundred at most:
    reading the bait's owners and finding theirs among the buyers and sellers is ~1.0."""

    map: pl.DataFrame
    accounts: pa.Array
    codes: np.ndarray

    @staticmethod
    def read(owners: pl.DataFrame, accounts: pa.ChunkedArray) -> tuple[Owners, np.ndarray] | None:
        """The owners and each account's owner code; None when the map cannot be read so."""
        coded = dictionary_codes(accounts)
        code = account_owners(owners, coded.dictionary)
        if code is None:
            return None
        return Owners(owners, coded.dictionary, code), code[np.asarray(coded.indices.to_numpy(), np.int64)]

    def find(self, wanted: np.ndarray, columns: list[pa.ChunkedArray]) -> list[np.ndarray] | None:
        """Per account of each column (no nulls), its owner's code where the owner is one of ``wanted`` (codes of the
        bait's owners), else -1; None on a hash collision among the wanted owners' accounts."""
        offsets, data, codes = self._accounts_of(np.unique(wanted))
        found: list[np.ndarray] = []
        for col in columns:
            coded = _find_strings(offsets, data, codes, *_buffers(col)[:2])
            if coded is None:
                return None
            found.append(coded)
        return found

    def _accounts_of(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every account whose owner is one of ``wanted`` (distinct), as a string column's offsets and bytes, and
        that owner's code. The map's accounts are copied out of its owners' table (``_accounts_by_owner``) in one
        compiled pass: Python lists of the owners' names, then an Arrow array of them, were 0.13-0.19 ms a partition
        (ten bench days), this 0.08-0.10."""
        (offsets, data), starts = _accounts_by_owner(self.map)
        rows, codes = _owned_rows(starts, wanted)
        out_off, out_data = _gather(offsets, data, rows)
        unknown = wanted[wanted >= starts.size - 1]
        if unknown.size == 0:
            return out_off, out_data, codes
        # accounts the map does not know, each its own owner: one of the bait's
        names = [pa.StringArray.from_buffers(rows.size, pa.py_buffer(out_off), pa.py_buffer(out_data))]
        for code in unknown.tolist():
            names.append(self.accounts.filter(pa.array(self.codes == code)))
            codes = np.concatenate([codes, np.full(len(names[-1]), code, np.int64)])
        joined, joined_data, _ = string_buffers(pa.concat_arrays(names))
        return joined, joined_data, codes


@njit(cache=True, nogil=True)
def _gather(offsets: np.ndarray, data: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A string column's buffers (Arrow's: int32 offsets) holding the strings at ``rows`` in turn (``rows`` of a
    column with no null)."""
    out_off = np.empty(rows.shape[0] + 1, np.int32)
    out_off[0] = 0
    for k in range(rows.shape[0]):
        out_off[k + 1] = out_off[k] + (offsets[rows[k] + 1] - offsets[rows[k]])
    out = np.empty(max(out_off[-1], 1), np.uint8)  # a zero-length buffer is read as none
    for k in range(rows.shape[0]):
        a = offsets[rows[k]] - out_off[k]
        for p in range(out_off[k], out_off[k + 1]):
            out[p] = data[a + p]
    return out_off, out


@njit(cache=True, nogil=True)
def _owned_rows(starts: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the accounts of each of the ``wanted`` owners known to the table (``_accounts_by_owner``: owner c's
    from ``starts[c]`` to ``starts[c + 1]``), and each row's owner."""
    n_known, n = starts.shape[0] - 1, 0
    for c in wanted:
        if c < n_known:
            n += starts[c + 1] - starts[c]
    rows, codes = np.empty(n, np.int64), np.empty(n, np.int64)
    k = 0
    for c in wanted:
        if c < n_known:
            for r in range(starts[c], starts[c + 1]):
                rows[k], codes[k] = r, c
                k += 1
    return rows, codes


# The accounts of each owner of the last owner maps read (``_accounts_by_owner``), keyed by the map's id (a reference to
# the map is kept, so its id stays its own): ``frames.owner_map`` hands every partition of a task the same map.
_ACCOUNTS: dict[int, tuple[pl.DataFrame, tuple[tuple[np.ndarray, np.ndarray], np.ndarray]]] = {}


def _mask_of(arr: pa.Array) -> np.ndarray:
    """A boolean Arrow array (no nulls) as numpy's."""
    return np.asarray(arr.to_numpy(zero_copy_only=False), np.bool_)


def _accounts_by_owner(owners: pl.DataFrame) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Per owner code of ``owner_keys.owner_lookup`` (the map read without a key twice: ``Owners.read`` found it so),
    the map's accounts it owns, and its own name where that is no account of the map: an account the map does not
    know is its own owner, so one named as an owner is that owner's (as ``account_owners`` codes it). As one string
    column's offsets and bytes, owner by owner, and where each owner's begin (one more than the owners)."""
    found = _ACCOUNTS.get(id(owners))
    if found is not None and found[0] is owners:
        return found[1]
    lookup = owner_lookup(owners)
    assert lookup is not None
    _, code_of_key, ids = lookup
    # grouped by a stable sort of the codes in Arrow and numpy: a Python list per owner (11k on a bench venue) was
    # 10 ms a map, and up to 70 when the lists set off the garbage collector (once per venue and process)
    keys = owners.select("account", "owner").drop_nulls()["account"].to_arrow().cast(pa.string())  # one array
    names = pa.array(list(ids), pa.string())  # the owners' ids in order of their codes
    own = np.flatnonzero(~_mask_of(pc.is_in(names, value_set=keys)))  # owners named by no key of the map
    codes = np.concatenate([code_of_key, np.fromiter(ids.values(), np.int64, len(ids))[own]])
    order = np.argsort(codes, kind="stable")  # an owner's keys in the map's order, then its own name
    offsets, data, _ = string_buffers(pa.concat_arrays([keys, names.take(pa.array(own, pa.int64()))])
                                      .take(pa.array(order, pa.int64())))
    starts = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(ids)))]).astype(np.int64)
    table = ((offsets, data), starts)
    if len(_ACCOUNTS) >= 16:
        _ACCOUNTS.clear()
    _ACCOUNTS[id(owners)] = (owners, table)
    return table


@njit(cache=True, nogil=True)
def _find_strings(set_offsets: np.ndarray, set_data: np.ndarray, set_codes: np.ndarray, offsets: np.ndarray,
                  data: np.ndarray) -> np.ndarray | None:
    """Per string of ``offsets``/``data``, the code of the equal string of the set (distinct strings), or -1; None
    when two strings of the set share a hash. The set is small: its table stays in the cache.

    Over half the trade sides are found (a few owners trade all day), in no order a predictor can learn, so the
    common path has no branch on the outcome: the table is kept an eighth full, so a string's home slot is rarely
    another's and the probe on is a rare branch, and a string of 8 to 16 bytes is compared by its length and two
    words with those of the set's string in that slot (row ``n``: none) and its code picked by a select.
    38.5-41.3 -> 29.4-32.5 ms over ten bench days' 378 calls (two runs, each the least of 7 interleaved runs per
    call)."""
    n = set_codes.shape[0]
    cap = 16
    while cap < 8 * n:
        cap *= 2
    mask = np.uint64(cap - 1)
    slot_h, slot_id = np.zeros(cap, np.uint64), np.full(cap, -1, np.int64)
    words = np.zeros((n + 1, 4), np.int64)  # per set string: length, first and last word (8 to 16 bytes), code
    words[n, 0], words[n, 3] = -1, -1
    for k in range(n):
        h = _quick_hash(set_offsets, set_data, k)
        s = slot_of(slot_h, slot_id, h)
        if slot_id[s] >= 0:
            return None
        slot_h[s], slot_id[s] = h, k
        a, z = set_offsets[k], set_offsets[k + 1]
        words[k, 0], words[k, 3] = z - a, set_codes[k]
        if 8 <= z - a <= 16:
            words[k, 1] = np.int64(load_u64(set_data, np.intp(a)))  # type: ignore[call-arg]
            words[k, 2] = np.int64(load_u64(set_data, np.intp(z - 8)))  # type: ignore[call-arg]
    out = np.empty(offsets.shape[0] - 1, np.int64)
    for i in range(out.shape[0]):
        h = _quick_hash(offsets, data, i)
        home = np.intp(h & mask)
        k = slot_id[home]
        if k >= 0 and slot_h[home] != h:  # the home slot another's: probe on
            k = slot_id[slot_of(slot_h, slot_id, h)]
        k = k if k >= 0 else n
        a, z = offsets[i], offsets[i + 1]
        if 8 <= z - a <= 16:
            first: np.uint64 = load_u64(data, np.intp(a))  # type: ignore[call-arg]
            last: np.uint64 = load_u64(data, np.intp(z - 8))  # type: ignore[call-arg]
            same = (words[k, 0] == z - a) & (words[k, 1] == np.int64(first)) & (words[k, 2] == np.int64(last))
        else:
            same = k < n and same_string(offsets, data, i, set_offsets, set_data, k)
        out[i] = words[k, 3] if same else -1
    return out


def _legs(trades: pa.Table, buyer: np.ndarray, seller: np.ndarray, wanted: np.ndarray) -> Legs:
    """The trades' legs of the (owner, side) keys ``wanted`` (a buy leg's key is its buyer's owner code x 2, a sell
    leg's its seller's x 2 + 1; -1 codes an owner not looked for), in key and time order: only the episodes' owners'
    legs on their other side are read, and sorting every leg was the screen's largest step."""
    is_wanted = np.zeros(int(wanted.max(initial=0)) + 1, np.bool_)
    is_wanted[wanted] = True
    ts = time_values(trades.column("ts"))
    q = trades.column("quantity").to_numpy()
    if (np.diff(ts) >= 0).all():
        # with the trades in time order, the buys and the sells each are, and no key is on both: legs counted out
        # by key in their order keep each key's legs in time order (numpy's selection, stable argsort and takes
        # were ~0.45 ms a partition, ten bench days)
        return Legs(*_legs_by_key(buyer, seller, is_wanted, ts, q))
    key = np.concatenate([buyer * 2, seller * 2 + 1])
    rows = np.flatnonzero((key >= 0) & (key < is_wanted.size) & is_wanted[np.clip(key, 0, is_wanted.size - 1)])
    m = ts.size
    order = rows[np.lexsort((ts[rows % m], key[rows]))]
    return Legs(key[order], ts[order % m], q[order % m], order)


@njit(cache=True, nogil=True)
def _legs_by_key(buyer: np.ndarray, seller: np.ndarray, is_wanted: np.ndarray, ts: np.ndarray, q: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``Legs``' arrays for the legs whose key is wanted, by a counting sort on the key: stable, so each key's legs
    stay in their order (the buys', then the sells', each in row order). The buys and the sells are read in loops of
    their own (a leg's trade was its number modulo the trades: two divisions a leg), and without a branch on whether
    a leg is wanted (about half are, in no order): a leg not wanted is counted as 0 and written to a spare last slot.
    32.6 -> 26.9 ms over ten bench days' 180 partitions (least of 7 interleaved runs each)."""
    m, n_keys = buyer.shape[0], is_wanted.shape[0]
    if n_keys == 0:  # no key wanted (and none to clamp a read to)
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64)
    start = np.zeros(n_keys + 1, np.int64)
    for side in range(2):
        codes = seller if side else buyer
        for r in range(m):
            k = codes[r] * 2 + side
            c = min(max(k, 0), n_keys - 1)  # a key in range to read, whether or not k is
            start[c + 1] += (k >= 0) & (k < n_keys) & is_wanted[c]
    for k in range(n_keys):
        start[k + 1] += start[k]
    n = start[-1]
    key, leg_ts, leg_q, order = np.empty(n + 1, np.int64), np.empty(n + 1, np.int64), np.empty(n + 1, np.float64), \
        np.empty(n + 1, np.int64)
    for side in range(2):
        codes = seller if side else buyer
        for r in range(m):
            k = codes[r] * 2 + side
            c = min(max(k, 0), n_keys - 1)
            wanted = (k >= 0) & (k < n_keys) & is_wanted[c]
            p = start[c] if wanted else n
            start[c] += wanted
            key[p], leg_ts[p], leg_q[p], order[p] = k, ts[r], q[r], side * m + r
    return key[:n], leg_ts[:n], leg_q[:n], order[:n]


Runs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # ``_runs``: each order's run, the runs' spans, sizes


@dataclass(frozen=True)
class Pace:
    """The other side's trading of the bait's owners: their legs (``Legs``), each leg's count of new decisions of
    its key before it (``cum``, one more row than the legs), the search's day in seconds and its grace in
    microseconds."""

    legs: Legs
    cum: np.ndarray
    day_s: float
    grace: int


def _least_of(book: Book, bait: Bait, config: PressureConfig, owners: Owners) -> float:
    """``least_repeat_chance`` of the bait (sorted by owner, side and placement, as the search groups them), its
    big orders' owners' trading on the other side read once (``Pace``)."""
    big = bait.size >= config.min_order_multiple * book.low
    if not big.any():
        return math.inf
    found = owners.find(bait.owner[big], [book.trades.column("buyer"), book.trades.column("seller")])
    if found is None:
        return 0.0
    buyer, seller = found
    legs = _legs(book.trades, buyer, seller, bait.owner[big] * 2 + (1 - bait.sell[big]))
    if legs.key.size == 0:
        return math.inf
    ts = time_values(book.trades.column("ts"))
    day_s = max((int(ts.max()) - int(ts.min())) / 1e6, 3600.0)  # the search's day: its trades' span, an hour at least
    pace = Pace(legs, np.concatenate([[0], np.cumsum(_new_decisions(book, legs))]), day_s,
                _micros_of(config.grace_s))
    return _least_at(book, bait, pace, config, owners)


def _least_at(book: Book, bait: Bait, pace: Pace, config: PressureConfig, owners: Owners) -> float:
    """inf unless one of the bait's big orders may be in an episode that passes the search's owner screen
    (``_may_hit``), else the least of its owners' bounds (``_family_bound``). Orders surely not the search's bait
    (``_bait_checks``) are dropped first: a run without them may break in two, and its windows shrink."""
    legs = pace.legs
    big = bait.size >= config.min_order_multiple * book.low
    runs = _runs(bait.owner, bait.sell, bait.placed, bait.cancelled, bait.size)
    passes, lo, hi = _may_hit(bait.owner, bait.sell, bait.placed, bait.cancelled, big, *runs, pace.grace, legs.key,
                              legs.ts, legs.q, pace.cum, config.min_opposite_multiple * book.low * (1 - _SLACK),
                              config.min_imbalance, pace.day_s, config.max_coincidence * (1 + _SLACK) + _SLACK)
    if not passes.any():
        return math.inf
    out, sure = _bait_checks(book, bait, config)
    if out.any():  # fewer orders, whose owners' legs are among those read (the next call finds none surely out)
        return _least_at(book, bait.take(np.flatnonzero(~out)), pace, config, owners)
    # the second stage's module reads this one's pieces, so it is imported once both are loaded
    from harbour.detect.market.pressure_bound import _family_bound

    return _family_bound(book, bait, big, sure, runs, (passes, lo, hi), pace, config, owners)


@njit(cache=True, nogil=True)
def _runs(owner: np.ndarray, sell: np.ndarray, placed: np.ndarray, cancelled: np.ndarray, size: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per order (sorted by owner, side and placement), its run of overlapping orders of one owner and side, as the
    search groups its episodes; and per run its first placement, last cancel and summed size (of sizes above 0)."""
    n = owner.shape[0]
    run = np.empty(n, np.int64)
    r_start, r_stop, r_size = np.empty(n, np.int64), np.empty(n, np.int64), np.zeros(n, np.float64)
    k = -1
    for i in range(n):
        if i == 0 or owner[i] != owner[i - 1] or sell[i] != sell[i - 1] or placed[i] > r_stop[k]:
            k += 1
            r_start[k], r_stop[k] = placed[i], cancelled[i]
        r_stop[k] = max(r_stop[k], cancelled[i])
        r_size[k] += max(size[i], 0.0)  # at least the bait of any episode of the run, whatever the sizes
        run[i] = k
    return run, r_start[:k + 1], r_stop[:k + 1], r_size[:k + 1]


@njit(cache=True, nogil=True)
def _may_hit(owner: np.ndarray, sell: np.ndarray, placed: np.ndarray, cancelled: np.ndarray, big: np.ndarray,
             run: np.ndarray, r_start: np.ndarray, r_stop: np.ndarray, r_size: np.ndarray, grace: int,
             keys: np.ndarray, ts: np.ndarray, q: np.ndarray, cum: np.ndarray, least: float, imbalance: float,
             day_s: float, chance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per order, whether it is ``big`` and a search episode E holding it may pass the owner screen, and where it
    does, the window E's span and grace may cover (from ``lo`` to ``hi``; else 0). E lies inside
    the order's run (the orders sorted by owner, side and placement) and holds the order, b, so E's span covers b's
    life plus the grace and lies inside the run's. E passes only if its chance at its owner's pace (the owner's
    distinct decisions on the other side a second of the day) over its span in whole seconds is at most ``chance``:
    so b's own span must pass, and E's span is shorter than the longest that passes. A new decision of the owner must
    have traded on the other side inside E's span, with at least ``least`` traded there in all: the legs (``keys``,
    ``ts``, ``q``, sorted by key and time; ``cum``: new decisions before each) are searched in the window E may
    cover around b. And E's bait, at most the run's, must be ``imbalance`` times what traded there, at least what
    traded over b's own life and grace (``_balanced``)."""
    passes = np.zeros(owner.shape[0], np.bool_)
    lo_of, hi_of = np.zeros(owner.shape[0], np.int64), np.zeros(owner.shape[0], np.int64)
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
        lo = max(r_start[run[i]], cancelled[i] + grace - reach)
        hi = min(r_stop[run[i]] + grace, placed[i] + reach)
        la = a + np.searchsorted(ts[a:z], lo, side="left")
        lz = a + np.searchsorted(ts[a:z], hi, side="right")
        passes[i] = cum[lz] - cum[la] > 0 and q[la:lz].sum() >= least \
            and _balanced(r_size[run[i]], placed[i], cancelled[i] + grace, ts, q, a, z, imbalance)
        lo_of[i], hi_of[i] = lo, hi
    return passes, lo_of, hi_of


@njit(cache=True, nogil=True)
def _balanced(bait_max: float, lo: int, hi: int, ts: np.ndarray, q: np.ndarray, a: int, z: int, imbalance: float
              ) -> bool:
    """Whether bait of at most ``bait_max`` may be ``imbalance`` times its owner's execution over an episode spanning
    [lo, hi] at least (legs a to z of its key). The search reads that execution as the difference of two running sums
    over the key's legs, so it may fall short of their sum by the rounding of the running sums (~1e-16 of the key's
    total a leg): 1e-9 of the total is taken off for it."""
    la = a + np.searchsorted(ts[a:z], lo, side="left")
    lz = a + np.searchsorted(ts[a:z], hi, side="right")
    traded = q[la:lz].sum() * (1 - _SLACK) - _SLACK * q[a:z].sum()
    return bait_max * (1 + _SLACK) >= imbalance * traded  # type: ignore[no-any-return]


def _bait_checks(book: Book, bait: Bait, config: PressureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Which of the screen's bait orders are surely not the search's, and which surely are. The search drops an order
    that took liquidity (``_resting``, by the aggressor flags where there are any; without them it compares prices,
    and no order is sure either way) and one cancelled at the very time its account placed an order on the other side
    (``_pulled``). It reads only orders placed big (with slack the other way: a big limit order first placement) or
    that traded, and its filled share and size tests pass with slack the other way."""
    trades = book.trades
    flags = trades.column("aggressor").null_count < trades.num_rows
    pulled, placed_then = _pulled_at_cancel(book, bait)
    out = (flags & (bait.took > 0)) | pulled
    bait_size = config.size_multiple * book.high
    placed_big = (book.orders.column("quantity").to_numpy()[bait.new_row] >= bait_size) \
        & _equal(_buffers(book.orders.column("order_type")), bait.new_row, _LIMIT)
    sure = flags & (bait.took == 0) & ~placed_then & (placed_big | (bait.named > 0)) & (bait.size >= bait_size) \
        & (bait.filled <= config.max_fill_ratio * bait.size * (1 - _SLACK))
    return out, sure


def _pulled_at_cancel(book: Book, bait: Bait) -> tuple[np.ndarray, np.ndarray]:
    """Which bait orders ``_pulled`` drops (a placement at its cancel's time, by its account, on its other side as
    ``_pulled`` pairs them: a buy with a sell, anything else with a buy), and which had any placement then (rare: a
    few orders a day, looked at one by one)."""
    rows = np.flatnonzero(book.kind == 1)
    rows = rows[np.argsort(book.ts[rows], kind="stable")]
    news = book.ts[rows]
    lo, hi = np.searchsorted(news, bait.cancelled), np.searchsorted(news, bait.cancelled, side="right")
    placed_then = hi > lo
    pulled = np.zeros(placed_then.size, np.bool_)
    accounts, sides = book.orders.column("account"), book.orders.column("side")
    for i in np.flatnonzero(placed_then):
        then = pa.array(rows[lo[i]:hi[i]])
        same = pc.equal(accounts.take(then), accounts[int(bait.first_row[i])])
        other = pc.not_equal(sides.take(then), "buy") if bait.sell[i] == 0 else pc.equal(sides.take(then), "buy")
        pulled[i] = pc.any(pc.and_(same, other)).as_py()
    return pulled, placed_then


def _new_decisions(book: Book, legs: Legs) -> np.ndarray:
    """1 at each leg (in ``legs``' order) whose decision — its order, or the trade where it names none — has no
    earlier leg of its key: as the search counts decisions, by their strings (told apart by their bytes, so an
    order id and a trade id with the same bytes are one decision, as in the search's coalesced column). Only the
    legs read are coded: Arrow's coalesce, take and dictionary encoding over every trade were ~0.6 ms a
    partition."""
    trades = book.trades
    (b_off, b_data, b_valid), b_h = book.buys
    (s_off, s_data, s_valid), s_h = book.sells
    t_off, t_data, _ = _buffers(trades.column("trade_id"))
    codes = _decision_codes(legs.order, trades.num_rows, b_off, b_data, b_valid, b_h, s_off, s_data, s_valid, s_h,
                            t_off, t_data, _HASH_MASK)
    return _first_of_key(legs.key, codes, int(codes.max(initial=0)) + 1)


@njit(cache=True, nogil=True)
def _decision_codes(order: np.ndarray, m: int, b_off: np.ndarray, b_data: np.ndarray, b_valid: np.ndarray,
                    b_h: np.ndarray, s_off: np.ndarray, s_data: np.ndarray, s_valid: np.ndarray, s_h: np.ndarray,
                    t_off: np.ndarray, t_data: np.ndarray, hash_mask: np.uint64) -> np.ndarray:
    """A code per leg's decision string (its order id, or its trade id where it names none), in order of first
    appearance, exact (the tests' reference copies the strings out and codes them), read where they lie, with the
    order ids' hashes the screen already has (``Book.buys``, ``Book.sells``: the same ``_quick_hash`` of the same
    bytes): copying each leg's string to hash it anew was
    0.31 ms a partition, this 0.23 (the first two bench days' partitions, ~6.9k legs each). Reading each string
    through a function returning its column's arrays was slower (0.45 ms), a table with each slot's hash and id
    side by side no faster."""
    n = order.shape[0]
    start, stop = np.empty(n, np.int64), np.empty(n, np.int64)
    src, hashes = np.empty(n, np.int8), np.empty(n, np.uint64)
    for j in range(n):
        r = order[j] % m
        if order[j] < m and (b_valid.shape[0] == 0 or b_valid[r]):
            src[j], start[j], stop[j], hashes[j] = 0, b_off[r], b_off[r + 1], b_h[r]
        elif order[j] >= m and (s_valid.shape[0] == 0 or s_valid[r]):
            src[j], start[j], stop[j], hashes[j] = 1, s_off[r], s_off[r + 1], s_h[r]
        else:
            src[j], start[j], stop[j], hashes[j] = 2, t_off[r], t_off[r + 1], _quick_hash(t_off, t_data, r)
    bits = 4
    while (1 << bits) < 2 * n:
        bits += 1
    slot_h, slot_id = np.zeros(1 << bits, np.uint64), np.full(1 << bits, -1, np.int64)
    rep, codes = np.empty(n, np.int64), np.empty(n, np.int64)  # rep: each code's first leg
    shift, mask = np.uint64(64 - bits), (1 << bits) - 1
    n_codes = 0
    for j in range(n):
        x = hashes[j] & hash_mask
        s = np.intp(x >> shift)
        while slot_id[s] >= 0:  # probed from the hash's top bits, a match of hashes checked byte for byte
            if slot_h[s] == x:
                k = rep[slot_id[s]]
                if stop[k] - start[k] == stop[j] - start[j]:
                    here = b_data if src[j] == 0 else (s_data if src[j] == 1 else t_data)
                    there = b_data if src[k] == 0 else (s_data if src[k] == 1 else t_data)
                    if _same_words(here, start[j], there, start[k], stop[j] - start[j]):
                        break
            s = (s + 1) & mask
        if slot_id[s] < 0:
            slot_h[s], slot_id[s], rep[n_codes] = x, n_codes, j
            n_codes += 1
        codes[j] = slot_id[s]
    return codes


@njit(cache=True, nogil=True, inline="always")
def _same_words(x: np.ndarray, a: int, y: np.ndarray, b: int, n: int) -> bool:
    """Whether ``x[a:a + n]`` and ``y[b:b + n]`` hold the same bytes, read a word at a time, the last word ending at
    the last byte (overlapping the one before: no byte loop for the tail) where there are 8 bytes or more: the
    decisions' 15-byte ids compared a byte at a time took ``_decision_codes`` 38-43 ms over ten bench days' 180
    partitions, 29-35 so (two runs, each the least of 7 interleaved runs per partition)."""
    if n < 8:
        return same_bytes(x, a, y, b, n)  # type: ignore[no-any-return]
    k = 0
    while k + 8 < n:
        if load_u64(x, np.intp(a + k)) != load_u64(y, np.intp(b + k)):  # type: ignore[call-arg]
            return False
        k += 8
    return load_u64(x, np.intp(a + n - 8)) == load_u64(y, np.intp(b + n - 8))  # type: ignore[call-arg,no-any-return]


@njit(cache=True, nogil=True)
def _first_of_key(keys: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    last_key = np.full(n_codes, -1, np.int64)  # the last key each code was seen under (keys come in runs)
    new = np.zeros(keys.shape[0], np.int64)
    for j in range(keys.shape[0]):
        if last_key[codes[j]] != keys[j]:
            last_key[codes[j]] = keys[j]
            new[j] = 1
    return new
