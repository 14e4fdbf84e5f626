"""Front running: the trade legs near each large order, and the screens read off them before any join.

Split from ``front_running`` (which holds the detector, its config and the joins that decide): ``_near`` finds the
legs inside each large order's span by binary search, and two necessary-condition screens ask, on arrays only,
whether any owner may pass the size tests (``_may_pass_sizes``) and then the unwind and habit tests
(``_may_pass_habits``) before the kernel builds its joins. The screens read the legs and the large orders as arrays
(``_Legs``, ``_Big``): the kernel makes them straight from the trades read in place (``legs_of_trades``,
``big_of_taken``) and builds no frame on a partition that stops here; frames (the tests', and the kernel's where the
arrays cannot be read) give the same arrays (``legs_of``, ``big_of``). Each screen answers True when it cannot be
sure, and is tested against the kernel's full path (tests/unit/detect/market/test_front_running_speed.py,
``..._early_exit.py`` and ``..._screens.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

from harbour.detect.market.front_running_orders import (
    AGGRESSOR_BUY,
    AGGRESSOR_NULL,
    AGGRESSOR_SELL,
    NO_STRING,
    Halves,
    LazyStrings,
    StringSpans,
    TradeArrays,
    Unplaced,
    one_string_each,
    text,
)

if TYPE_CHECKING:
    from harbour.detect.market.front_running import FrontRunningConfig


def _physical(values: pl.Series) -> np.ndarray:
    """A time column's physical values (a cast, ~0.003 ms, where ``to_physical`` is ~0.1)."""
    if isinstance(values.dtype, pl.Datetime):
        return values.cast(pl.Int64).to_numpy()
    return values.to_physical().to_numpy()


def _micros(ts: pl.Series) -> np.ndarray:
    """A time column as microseconds since the epoch (its physical values when in microseconds already: the
    cast is ~0.003 ms, ``dt.epoch`` ~0.1)."""
    if ts.dtype == pl.Datetime("us", ts.dtype.time_zone):  # type: ignore[attr-defined]
        return ts.cast(pl.Int64).to_numpy()
    return ts.dt.epoch("us").to_numpy()


class _Legs(NamedTuple):
    """A legs frame's columns as the index and the screens read them: the times the index sorts and searches
    (``order_ts``: physical) and the legs in stable time order (``by_time``); the time in microseconds (``ts``;
    ``timed``: none is null), whether a buy, whether aggressive, the quantity (0 for null), the owner's hash
    (``owner``) and the owners; for the habits the decisions (one per leg; None: not known) and the trade ids (leg
    r's is string r modulo their number: the trades' for the legs of trades, the legs' own for a frame); ``halves``:
    where the second half of the legs starts when each half's legs ascend in ``by_time`` (the buy legs, then the
    sell legs, of trades in time order; 0: not known); ``owners_exact``: the owners' hashes are equal exactly where
    the owners are (owners' codes hashed apart: ``TradeArrays.owners_exact``), so no check of shared hashes is
    needed."""

    order_ts: np.ndarray
    by_time: np.ndarray
    ts: np.ndarray
    timed: bool
    buy: np.ndarray
    aggr: np.ndarray
    qty: np.ndarray
    owner: np.ndarray
    owners: Halves
    decisions: Halves | None
    trade_ids: LazyStrings | None
    halves: int
    owners_exact: bool = False


class _Big(NamedTuple):
    """The large orders' columns as the index and the screens read them: their spans' physical times (``w0``,
    ``first``, ``w1``), the first fill and the span's end in microseconds, whether a buy, the size (``c_qty``);
    whether the screens can read them (``readable``: every first fill known, every side "buy" or "sell", no id twice
    — two missed placements of one id are one group in the kernel's ``per``); their fills (``fills``: per fill
    its order's row and its trade id; None: not known); and their ids."""

    w0: np.ndarray
    first: np.ndarray
    w1: np.ndarray
    first_us: np.ndarray
    w1_us: np.ndarray
    c_buy: np.ndarray
    c_qty: np.ndarray
    readable: bool
    fills: tuple[np.ndarray, LazyStrings] | None
    ids_at: Callable[[np.ndarray], list[str | None]]


def legs_of_trades(trades: TradeArrays) -> _Legs:
    """``_Legs`` of ``front_running``'s legs frame (the buy legs of the trades, then their sell legs), made from the
    trades read in place: the frame, its time sort and its owners' hashes in Polars were ~1.4 ms a partition of the
    10M-trade bench market (~2.6 on its busiest books), where most partitions stop at the screens."""
    n = trades.kept.shape[0]
    ts = np.concatenate([trades.ts, trades.ts])
    aggressor = trades.aggressor
    # a leg is aggressive on its side's aggressor, or with none (the legs frame's ``fill_null``)
    aggr = np.concatenate([(aggressor == AGGRESSOR_BUY) | (aggressor == AGGRESSOR_NULL),
                           (aggressor == AGGRESSOR_SELL) | (aggressor == AGGRESSOR_NULL)])
    ordered, by_time = _merged_order(trades.ts)
    if not ordered:
        by_time = np.argsort(ts, kind="stable")
    owner = trades.owners.hashes() if trades.owner_hashes is None else trades.owner_hashes
    return _Legs(ts, by_time, ts, True, np.arange(2 * n) < n, aggr, np.concatenate([trades.qty, trades.qty]),
                 owner, trades.owners, trades.ids, LazyStrings(trades.trade_text, trades.kept),
                 n if ordered else 0, trades.owners_exact and trades.owner_hashes is not None)


@njit(cache=True, nogil=True)
def _merged_order(ts: np.ndarray) -> tuple[bool, np.ndarray]:
    """The stable time order of the legs of trades at times ``ts`` (each trade's buy leg, then each one's sell leg),
    where ``ts`` ascend: per run of one time, its buy legs then its sell legs — what a stable sort gives, without
    sorting (~0.2 ms of 38k legs); False where ``ts`` do not ascend."""
    n = ts.shape[0]
    out = np.empty(2 * n, np.int64)
    at = i = 0
    while i < n:
        j = i + 1
        while j < n and ts[j] == ts[i]:
            j += 1
        if j < n and ts[j] < ts[i]:
            return False, out
        for k in range(i, j):
            out[at], out[at + j - i] = k, n + k
            at += 1
        at += j - i
        i = j
    return True, out


def legs_of(legs: pl.DataFrame) -> _Legs:
    """``_Legs`` of a legs frame (columns it lacks — the range join reads only times, sides and owners — read as
    zeros, or None for the decisions and trade ids); owners and decisions of another type than text are cast to
    it."""
    order_ts = _physical(legs["ts"])
    timed = legs["ts"].null_count() == 0
    owners = Halves(_text_of(legs["owner"]), NO_STRING)
    columns = legs.columns
    return _Legs(order_ts, np.argsort(order_ts, kind="stable"),
                 _micros(legs["ts"]) if timed else np.zeros(legs.height, np.int64), timed,
                 (legs["side"] == "buy").to_numpy(),
                 legs["aggr"].to_numpy() if "aggr" in columns else np.zeros(legs.height, np.bool_),
                 _quantities(legs) if "quantity" in columns else np.zeros(legs.height),
                 owners.hashes(), owners,
                 Halves(_text_of(legs["decision"]), NO_STRING) if "decision" in columns else None,
                 LazyStrings(legs["trade_id"]) if "trade_id" in columns else None, 0)


def _text_of(values: pl.Series) -> StringSpans:
    found = text(values if values.dtype == pl.String else values.cast(pl.String))
    assert found is not None
    return found


def big_of(big: pl.DataFrame) -> _Big:
    """``_Big`` of ``front_running._large_orders``' frame (or of one with the columns read: without sizes, as the
    range join's, they read as zeros; fills known from ``c_ids`` where it has them)."""
    c_side = big["c_side"]
    readable = big["first"].null_count() == 0 and c_side.null_count() == 0 and bool(
        c_side.is_in(["buy", "sell"]).all()) and big["order_id"].n_unique() == big.height
    fills = None
    if "c_ids" in big.columns:
        ids = pl.DataFrame({"order": np.arange(big.height), "id": big["c_ids"]}).explode("id").drop_nulls("id")
        fills = ids["order"].to_numpy(), LazyStrings(ids["id"])
    return _Big(_physical(big["w0"]), _physical(big["first"]), _physical(big["w1"]), _micros(big["first"]),
                _micros(big["w1"]), (c_side == "buy").fill_null(False).to_numpy(),
                big["c_qty"].cast(pl.Float64).to_numpy() if "c_qty" in big.columns else np.zeros(big.height),
                readable, fills, lambda rows: big["order_id"].gather(rows).to_list())


def big_of_taken(unplaced: Unplaced, takers: tuple[np.ndarray, np.ndarray, Halves], trades: TradeArrays,
                 orders: pa.Table, config: FrontRunningConfig) -> _Big:
    """``_Big`` of the probe's large orders (``unplaced``, of ``orders``' events): those that took liquidity with a
    size of ``least`` or more, as ``front_running._large_by_codes`` frames them, their fills the ``takers``' legs of
    those orders, then the market orders placed that large that filled nothing, as ``front_running._missed`` does
    (in another order: the screens' answers do not depend on it). Those were read from the placements' frame (~15 ms
    on each of the 4 of 180 partitions of ten days of the 10M-trade bench market that have one)."""
    taken, least, missed = unplaced
    rows, is_buy, _ = takers
    large = np.flatnonzero(taken.size >= least)
    first, last = taken.first[large], taken.last[large]
    ref = np.where(taken.has_placed[large], np.minimum(taken.placed[large], first), first)
    rank = np.full(taken.size.shape[0], -1, np.int64)
    rank[large] = np.arange(large.shape[0])
    of = rank[taken.codes[:rows.shape[0]]]
    fills = np.flatnonzero(of >= 0)
    # the missed orders: placed (and first and last "filled") when placed, of the size placed
    sides: list[str | None] = []
    ids: list[str | None] = []
    qty = np.zeros(0)
    if missed.shape[0]:
        at = pa.array(missed)
        placed = np.asarray(orders.column("ts").take(at).cast(pa.int64()).to_numpy(), np.int64)
        first, last, ref = (np.concatenate([x, placed]) for x in (first, last, ref))
        sides, ids = orders.column("side").take(at).to_pylist(), orders.column("order_id").take(at).to_pylist()
        qty = np.asarray(orders.column("quantity").take(at).cast(pa.float64()).to_numpy(), np.float64)
    pre, post = span_micros(config)
    n_large = large.shape[0]

    def ids_at(at: np.ndarray) -> list[str | None]:
        return [takers[2].strings_at(taken.firsts[large][[r]])[0] if r < n_large else ids[r - n_large]
                for r in at.tolist()]

    return _Big(ref - pre, first, last + post, first, last + post,
                np.concatenate([is_buy[taken.firsts[large]], np.array([s == "buy" for s in sides], np.bool_)]),
                np.concatenate([taken.size[large], qty]),
                set(sides) <= {"buy", "sell"} and len(set(ids)) == len(ids),
                (of[fills], LazyStrings(trades.trade_text, trades.kept[rows[fills]])), ids_at)


def span_micros(config: FrontRunningConfig) -> tuple[int, int]:
    """``pre_seconds`` and ``post_seconds`` in whole microseconds, as the large orders' spans add them."""
    return tuple(dt.timedelta(seconds=s) // dt.timedelta(microseconds=1)  # type: ignore[return-value]
                 for s in (config.pre_seconds, config.post_seconds))


def _near(legs: pl.DataFrame, big: pl.DataFrame, prune: bool, least: np.ndarray | None = None) -> pl.DataFrame:
    """The trade legs inside each large order's span [w0, w1] that the tests can use, with the order's
    columns beside them, and ``sized``: whether the leg's owner took a position ahead of the order that can pass
    the size tests.

    A range join by binary search over the legs' sorted times: each order's span is a contiguous run of the
    sorted legs, so the work is proportional to the rows returned, not to legs x orders. Within an order the
    legs keep their own order (so every per-side sum adds the same numbers in the same order as a join would).
    With ``prune``, after the order's first fill only the other-side legs of owners that took the order's side
    ahead of it are kept: nobody else can pass the tests (the position ahead must be material), and the
    600-second unwind span is most of the rows. With ``least`` too (per order, the smallest position ahead that
    passes), only those of owners whose legs on the order's side ahead add up to it.
    """
    return _near_frame(legs, big, _near_index(legs, big, prune, least))


# ``_near``'s rows before they are gathered: per row its order's row in ``big``, its leg's row in ``legs`` and
# whether the leg's owner is sized, and per leg the hash of its owner (a null owner is one more value).
NearIndex = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _near_index(legs: pl.DataFrame, big: pl.DataFrame, prune: bool, least: np.ndarray | None = None) -> NearIndex:
    """``_near``'s rows as indices (``NearIndex``), of frames."""
    return index_of(legs_of(legs), big_of(big), prune, least)


def index_of(legs: _Legs, big: _Big, prune: bool, least: np.ndarray | None = None) -> NearIndex:
    """``_near``'s rows as indices (``NearIndex``), of arrays."""
    sorted_ts = legs.order_ts[legs.by_time]
    lo = np.searchsorted(sorted_ts, big.w0, side="left")
    mid = np.searchsorted(sorted_ts, big.first, side="left")
    hi = np.searchsorted(sorted_ts, big.w1, side="right")
    mid = np.clip(mid, lo, None)
    hi = np.clip(hi, mid, None)
    # Owners are told apart by the hash of their strings (a null owner is one more value). Two owners that
    # shared a hash would be summed together: that keeps more legs, never fewer, and the exact tests after
    # drop them. Interning the strings (a Categorical cast) and the numpy passes over every after-leg were 0.45
    # of _near's 0.58 CPU-s over the bench market; this compiled pass is 0.13.
    if least is None:
        least, qty = np.full(big.w0.shape[0], -np.inf), np.zeros(legs.qty.shape[0])
    else:
        least, qty = least.astype(np.float64), legs.qty
    by_time = legs.by_time
    order_rows, leg_rows, sized = _near_rows(
        by_time, lo.astype(np.int64), mid.astype(np.int64), hi.astype(np.int64), legs.owner[by_time],
        legs.buy[by_time], qty[by_time], big.c_buy, least, prune, legs.halves)
    return order_rows, leg_rows, sized, legs.owner


def _near_frame(legs: pl.DataFrame, big: pl.DataFrame, index: NearIndex) -> pl.DataFrame:
    """``_near``'s frame: the rows of ``index`` gathered."""
    order_rows, leg_rows, sized, _ = index
    return pl.concat([legs.rechunk()[leg_rows], big.select("order_id", "c_owner", "c_side", "first")[order_rows]],
                     how="horizontal").with_columns(sized=pl.Series(sized))


@njit(cache=True, nogil=True)
def _near_rows(by_time: np.ndarray, lo: np.ndarray, mid: np.ndarray, hi: np.ndarray, owner: np.ndarray,
               buy: np.ndarray, qty: np.ndarray, c_buy: np.ndarray, least: np.ndarray, prune: bool, halves: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_near``'s (order row, leg row) pairs, order by order, each order's legs ascending, and whether each
    leg's owner is sized: the legs ``by_time`` ``lo``..``mid`` (ahead) and ``mid``..``hi`` (after; with
    ``prune`` only other-side legs of a sized ``owner``: one whose order-side ``qty`` ahead adds up to ``least``
    or more, or not less — a NaN keeps it). ``owner``, ``buy`` and ``qty`` are in time order (``by_time``), so
    the scans over them are sequential. ``halves`` (``_Legs``): where the legs' second half starts when each
    half's legs ascend in ``by_time``; an order's legs are then put in order by writing the first half's before the
    second's, where a sort of each order's legs was a third of the pass (0: sorted)."""
    n = room = 0
    for i in range(lo.shape[0]):  # room for the rows ahead (and, unpruned, after): more as the rows come
        n += (hi[i] if not prune else mid[i]) - lo[i]
        room = max(room, hi[i] - lo[i])
    order_rows = np.empty(max(n, 16), np.int64)
    marked = np.empty(max(n, 16), np.int64)  # leg row x 2 + whether its owner is sized: sorted as the leg rows are
    second = np.empty(room, np.int64)  # an order's legs of the second half
    at = 0
    for i in range(lo.shape[0]):
        start, s2 = at, 0
        sized = _sized_owners(owner[lo[i]:mid[i]], buy[lo[i]:mid[i]] == c_buy[i], qty[lo[i]:mid[i]], least[i])
        # Pruned, an order without a sized owner keeps no leg after, and a leg whose owner's bit (of its hash's low
        # six) is not among the sized owners' is not looked up: the 600 s after each order were most of the pass,
        # ~900k legs for the 516 orders of the 1M-trade market's busiest book, 3.4 sized owners each (16 ms).
        bits = np.uint64(0)
        for o in sized:
            bits |= np.uint64(1) << (np.uint64(o) & np.uint64(63))
        end = hi[i] if not prune or sized.shape[0] else mid[i]
        while at + end - lo[i] > marked.shape[0]:
            marked, order_rows = _doubled(marked), _doubled(order_rows)
        for k in range(lo[i], end):
            ahead = k < mid[i]
            keep = sized_owner = ahead or not prune  # ahead: every leg, marked whether its owner is sized
            # one branch, rarely taken after (the side alone, a coin toss, was mispredicted half the legs)
            if prune and (ahead or ((buy[k] != c_buy[i])
                                    & ((bits >> (np.uint64(owner[k]) & np.uint64(63))) & np.uint64(1) == 1))):
                j = np.searchsorted(sized, owner[k])
                sized_owner = j < sized.shape[0] and sized[j] == owner[k]
                keep = ahead or sized_owner
            value = 2 * by_time[k] + sized_owner
            later = halves > 0 and by_time[k] >= halves
            marked[at], second[s2] = value, value
            at += keep and not later
            s2 += keep and later
        marked[at:at + s2] = second[:s2]
        at += s2
        if halves == 0:
            marked[start:at].sort()
        order_rows[start:at] = i
    return order_rows[:at], marked[:at] // 2, marked[:at] % 2 == 1


@njit(cache=True, nogil=True)
def _doubled(values: np.ndarray) -> np.ndarray:
    """``values`` in an array of twice the room."""
    out = np.empty(2 * values.shape[0], values.dtype)
    out[:values.shape[0]] = values
    return out


@njit(cache=True, nogil=True)
def _sized_owners(owner: np.ndarray, same: np.ndarray, qty: np.ndarray, least: float) -> np.ndarray:
    """The owners (sorted, distinct) whose ``qty`` on the ``same`` rows adds up to no less than ``least``."""
    took = np.sort(owner[same])
    n = 0
    for j in range(took.shape[0]):  # distinct, in place
        if j == 0 or took[j] != took[n - 1]:
            took[n] = took[j]
            n += 1
    took = took[:n]
    total = np.zeros(n, np.float64)
    for k in range(owner.shape[0]):
        if same[k]:
            total[np.searchsorted(took, owner[k])] += qty[k]
    return took[~(total < least)]


def _may_pass_sizes(legs: _Legs, big: _Big, index: NearIndex, median_trade: float, config: FrontRunningConfig,
                    pairs: _Pairs | None = None) -> bool:
    """Whether some owner near a large order can pass the kernel's size tests: position ahead against the order
    and the median trade, unwind, aggressive share (False: no alert can come of the partition). ``pairs``: the
    ``_size_pairs`` of these inputs, when the caller has them.

    An alert needs a candidate that passed them: the kernel's ``per`` filter. Here they are read on ``_near``'s
    sized rows (the rows ``per`` sums) in a compiled pass (0.25 ms), before the frame, joins and habits that cost
    4.8 ms of the kernel's ~14 on a partition of the 10M-trade bench market. Every test is one of that filter's,
    looser: ``into`` only chooses between ``min_unwind`` and ``into_min_unwind``, so the smaller one is used; the
    large order's own owner is not left out (more pairs to pass); and each side may differ by 1e-9 of the two,
    the same sums added in another order (a join keeps no row order; finite, non-negative quantities: rounding
    is below 1e-15 a leg; other inputs, or Polars' order of NaN, answer True). Owners are grouped by hash, so
    the answer False is kept only when the sized rows' owners that share a hash are one string (or the hashes tell
    owners apart: ``_Legs.owners_exact``)."""
    pairs = _size_pairs(legs, big, index, median_trade, config) if pairs is None else pairs
    if pairs is None or pairs.order.shape[0]:
        return True
    return not (legs.owners_exact or _one_each(legs.owners, index[3], index[1][index[2]]))


def _owners_one_each(legs: _Legs, index: NearIndex, mine: np.ndarray) -> bool:
    """``_one_each`` of the owners of the rows the habits read (the sized rows, and ``mine``: the day's legs of the
    pairs' owners); True at once where the owners' hashes tell them apart (``_Legs.owners_exact``: on the Arrow trades
    the 89 partitions of ten days of the 10M-trade bench market that reach the habits read ~355k rows here, ~0.03
    CPU-s)."""
    if legs.owners_exact:
        return True
    read = np.zeros(index[3].shape[0], np.bool_)  # each row once, in order (the strings read in order)
    read[index[1][index[2]]] = True
    read[mine] = True
    return _one_each(legs.owners, index[3], np.flatnonzero(read))


def _one_each(strings: Halves, hashes: np.ndarray, rows: np.ndarray) -> bool:
    """Whether the ``strings`` at ``rows`` (per string its hash in ``hashes``) that share a hash are one string (a
    null, one value apart from every string)."""
    a, b = strings
    return bool(one_string_each(a.spans, a.data, a.valid, b.spans, b.data, b.valid, hashes, rows))


class _Sized(NamedTuple):
    """``_near``'s sized rows (the rows the kernel's ``per`` sums), as the pairs read them: each one's leg row,
    order row, whether ahead of the order's first fill and on its side, whether aggressive, quantity and time."""

    rows: np.ndarray
    orders: np.ndarray
    ahead: np.ndarray
    same: np.ndarray
    aggr: np.ndarray
    qty: np.ndarray
    ts: np.ndarray


class _Pairs(NamedTuple):
    """The (large order, owner) pairs of ``_size_pairs``: the order's row in ``big``, the owner's hash, and the
    pair's quantity ahead (``q_pre``), of it taken aggressively, its quantity traded back, and its entry (first leg
    ahead, in microseconds); its sized rows (those of pair p at ``at[ptr[p]:ptr[p + 1]]`` among ``sized``)."""

    order: np.ndarray
    owner: np.ndarray
    q_pre: np.ndarray
    q_aggr: np.ndarray
    q_out: np.ndarray
    entry: np.ndarray
    ptr: np.ndarray
    at: np.ndarray
    sized: _Sized


def _quantities(legs: pl.DataFrame) -> np.ndarray:
    """The legs' quantities, 0 for null (filled only where there are nulls: a fill is ~0.1 ms)."""
    qty = legs["quantity"].cast(pl.Float64)
    return (qty.fill_null(0.0) if qty.null_count() else qty).to_numpy()


def _size_pairs(legs: _Legs, big: _Big, index: NearIndex, median_trade: float, config: FrontRunningConfig
                ) -> _Pairs | None:
    """The pairs (``_Pairs``) of ``_near``'s sized rows that pass ``_may_pass_sizes``' loose size tests, owners
    told apart by hash; None where the compiled pass cannot read the inputs (see ``_may_pass_sizes``)."""
    order_rows, leg_rows, sized, owner = index
    rows = leg_rows[sized]
    qty = legs.qty[rows]
    if rows.shape[0] and not (np.isfinite(qty).all() and (qty >= 0).all() and np.isfinite(big.c_qty).all()
                              and np.isfinite(median_trade) and legs.timed and big.readable):
        return None
    orders = order_rows[sized]
    ts = legs.ts[rows]
    rows_read = _Sized(rows, orders, ts < big.first_us[orders], legs.buy[rows] == big.c_buy[orders], legs.aggr[rows],
                       qty, ts)
    bounds = np.array([config.min_ratio, config.max_ratio, min(config.min_unwind, config.into_min_unwind),
                       config.max_unwind, config.min_aggressive, config.min_position_multiple * median_trade])
    order, pair_owner, q_pre, q_aggr, q_out, entry, ptr, at = _pairs_passing(
        orders, owner[rows], rows_read.ahead, rows_read.same, rows_read.aggr, qty, big.c_qty, bounds, ts)
    return _Pairs(order, pair_owner, q_pre, q_aggr, q_out, entry, ptr, at, rows_read)


@njit(cache=True, nogil=True)
def _pairs_passing(orders: np.ndarray, owner: np.ndarray, ahead: np.ndarray, same: np.ndarray, aggr: np.ndarray,
                   qty: np.ndarray, c_qty: np.ndarray, bounds: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, ...]:
    """``_Pairs``' columns for the (order, owner) of the rows that pass the loose size tests. ``orders`` ascend
    (an order's rows are one run); ``bounds``: min_ratio, max_ratio, least unwind, max_unwind, min_aggressive,
    and the least position against the median trade."""
    n = orders.shape[0]
    pair_order, pair_owner = np.empty(n, np.int64), np.empty(n, owner.dtype)
    q_pres, q_aggrs, q_outs, entries = np.empty(n), np.empty(n), np.empty(n), np.empty(n, np.int64)
    ptr, at = np.zeros(n + 1, np.int64), np.empty(n, np.int64)
    m = 0
    start = 0
    while start < n:
        end = start
        while end < n and orders[end] == orders[start]:
            end += 1
        c = c_qty[orders[start]]
        by_owner = start + np.argsort(owner[start:end])
        k = 0
        while k < by_owner.shape[0]:
            q_pre = q_aggr = q_out = 0.0
            entry = np.iinfo(np.int64).max
            j = k
            while j < by_owner.shape[0] and owner[by_owner[j]] == owner[by_owner[k]]:
                r = by_owner[j]
                if ahead[r] and same[r]:
                    q_pre += qty[r]
                    entry = min(entry, ts[r])
                    if aggr[r]:
                        q_aggr += qty[r]
                elif not ahead[r] and not same[r]:
                    q_out += qty[r]
                j += 1
            if (_at_least(q_pre, bounds[0] * c) and _at_least(bounds[1] * c, q_pre)
                    and _at_least(q_out, bounds[2] * q_pre) and _at_least(bounds[3] * q_pre, q_out)
                    and _at_least(q_aggr, bounds[4] * q_pre) and _at_least(q_pre, bounds[5])):
                pair_order[m], pair_owner[m], entries[m] = orders[start], owner[by_owner[k]], entry
                q_pres[m], q_aggrs[m], q_outs[m] = q_pre, q_aggr, q_out
                at[ptr[m]:ptr[m] + j - k] = by_owner[k:j]
                ptr[m + 1] = ptr[m] + j - k
                m += 1
            k = j
        start = end
    return (pair_order[:m], pair_owner[:m], q_pres[:m], q_aggrs[:m], q_outs[:m], entries[:m], ptr[:m + 1],
            at[:ptr[m]])


@njit(cache=True, nogil=True)
def _at_least(a: float, b: float) -> bool:
    """``a >= b``, up to 1e-9 of the two (sums of the same numbers in another order)."""
    return a >= b - 1e-9 * (abs(a) + abs(b))


def _at_least_each(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``_at_least`` of arrays."""
    return a >= b - 1e-9 * (np.abs(a) + np.abs(b))  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def _surely_at_least(a: float, b: float) -> bool:
    """``a >= b`` however the sums ``a`` and ``b`` were added (by more than 1e-9 of the two, or equal at 0)."""
    return a >= b + 1e-9 * (abs(a) + abs(b))


def _may_pass_habits(legs: _Legs, big: _Big, index: NearIndex, median_trade: float, day_s: float,
                     config: FrontRunningConfig, pairs: _Pairs | None = None) -> bool:
    """Whether some owner near a large order can pass the size tests and then the unwind and coincidence tests
    (False: no alert can come of the partition): ``_habit_orders`` found one, or cannot tell."""
    orders = _habit_orders(legs, big, index, median_trade, day_s, config, pairs)
    return orders is None or orders.shape[0] > 0


def _habit_orders(legs: _Legs, big: _Big, index: NearIndex, median_trade: float, day_s: float,
                  config: FrontRunningConfig, pairs: _Pairs | None = None) -> np.ndarray | None:
    """The rows of ``big`` with an owner near them that can pass the size tests and then the unwind and coincidence
    tests (none: no alert can come of the partition; None: the check cannot tell, any order may alert), told
    before the frame of the legs near the large orders, the candidates' group-by and the habits' joins: on ten days
    of the 10M-trade bench market ~70 of the ~90 partitions the size check lets through have a candidate, and only
    one passes the coincidence test; past the check the kernel joins only the legs near the orders found (the
    others' pairs cannot pass: their legs were most of the joins' rows). ``pairs``: the ``_size_pairs`` of these
    inputs, when the caller has them.

    The pairs are ``_may_pass_sizes``' (looser than the kernel's candidates), and each pair's chance is a lower
    bound of the kernel's: its habits count only the decisions that surely reach their unit (``habit_size``
    of its average order), whatever order the sums were added in, so they count no more than the kernel's, and
    the chance grows with the count. A pair is held to ``min_unwind`` and ``max_coincidence`` unless it may have
    unwound into the large order (``into``: ``q_with``, what it traded back in trades whose ids are among the large
    order's fills', told by hash, with no regard to when its exit was placed, is no less than what the kernel's
    ``q_into`` can be), then to the looser of each pair of bounds; chances widened by 1e-9 (the exponential of
    another library). On the 1M-trade market the into-less pairs were 8 of the 11 partitions the looser bounds let
    through to the joins, at ~60 ms each. Owners are told apart by hash: an answer is kept only when the rows read
    that share a hash are one string; decisions are numbered exactly (``Halves.codes_at``). A null owner has no
    habits in the kernel's joins by owner (more chance to pass), and decisions not known cannot be counted: those
    partitions answer None."""
    if legs.owners.has_nulls or legs.decisions is None:
        return None
    found = _pair_habits(legs, big, index, median_trade, config, pairs)
    if found is None:
        return None  # inputs the pass cannot read, or no pair (past the size check: a hash shared)
    pairs, least = found.pairs, 1.0 / day_s
    chance = (1 - np.exp(-np.maximum(found.n_in / day_s, least) * config.pre_seconds)) \
        * (1 - np.exp(-np.maximum(found.n_out / day_s, least) * config.post_seconds)) * big.w0.shape[0]
    into = _at_least_each(found.q_with, config.into_share * pairs.q_pre)
    limit = np.where(into, max(config.max_coincidence, config.into_max_coincidence), config.max_coincidence)
    unwound = into | _at_least_each(pairs.q_out, config.min_unwind * pairs.q_pre)
    # Hashes shared would merge owners in the pairs. Owners' hashes known to tell them apart
    # (``_Legs.owners_exact``) need no check; the decisions are numbered exactly (``Halves.codes_at``) and need none.
    if not _owners_one_each(legs, index, found.mine):
        return None
    return _distinct(pairs.order[(chance <= limit * (1 + 1e-9)) & unwound])


class _PairHabits(NamedTuple):
    """``_Pairs`` (``pairs``) and per pair the distinct decisions (exact numbers) of its aggressive legs ahead
    (``n_pre``) and of its legs traded back (``n_out``), how much of those may have traded with the large order
    itself (``q_with``), and how many of its owner's decisions surely count in the kernel's habits on the entry
    side (``n_in``) and the unwind side (``n_out``); the day's legs of the pairs' owners (``mine``) and per leg the
    number of its decision (``decision``: ``Halves.codes_at``; those of ``mine`` only)."""

    pairs: _Pairs
    n_pre: np.ndarray
    n_back: np.ndarray
    q_with: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray
    mine: np.ndarray
    decision: np.ndarray


def _pair_habits(legs: _Legs, big: _Big, index: NearIndex, median_trade: float, config: FrontRunningConfig,
                 pairs: _Pairs | None = None) -> _PairHabits | None:
    """``_PairHabits`` of the pairs that pass the loose size tests (``pairs``, when the caller has them); None
    where there is none or the compiled passes cannot read the inputs."""
    pairs = _size_pairs(legs, big, index, median_trade, config) if pairs is None else pairs
    if pairs is None or pairs.order.shape[0] == 0 or legs.decisions is None:
        return None
    owner = index[3]
    mine = np.flatnonzero(_among(owner, _distinct(pairs.owner)))  # the day's legs of the pairs' owners
    decision = np.zeros(owner.shape[0], np.uint64)
    decision[mine] = legs.decisions.codes_at(mine).view(np.uint64)  # the pairs' legs are among them
    sized, at = pairs.sized, pairs.at
    n_pre, n_back, q_with = _pair_counts(pairs.ptr, sized.ahead[at], sized.same[at], sized.aggr[at], sized.qty[at],
                                         decision[sized.rows[at]], _with_order(legs, big, pairs))
    groups = _decisions(owner[mine], legs.buy[mine], decision[mine], legs.aggr[mine], legs.qty[mine], legs.ts[mine])
    unit = config.habit_size * pairs.q_aggr / np.maximum(n_pre, 1)
    unit_o = config.habit_size * pairs.q_out / np.maximum(n_back, 1)
    n_in, n_out = _habit_counts(pairs.owner, big.c_buy[pairs.order], unit, unit_o, pairs.entry,
                                big.first_us[pairs.order], big.w1_us[pairs.order], *groups)
    return _PairHabits(pairs, n_pre, n_back, q_with, n_in, n_out, mine, decision)


@njit(cache=True, nogil=True)
def _pair_counts(ptr: np.ndarray, ahead: np.ndarray, same: np.ndarray, aggr: np.ndarray, qty: np.ndarray,
                 decision: np.ndarray, with_order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair (its rows ``ptr[p]:ptr[p + 1]`` of the arrays), the distinct decisions of its aggressive rows ahead on
    the order's side and of its rows after on the other side, and the quantity of those that may have traded with
    the order (``with_order``)."""
    m = ptr.shape[0] - 1
    n_pre, n_back, q_with = np.zeros(m, np.int64), np.zeros(m, np.int64), np.zeros(m)
    for p in range(m):
        a, b = ptr[p], ptr[p + 1]
        pre = ahead[a:b] & same[a:b] & aggr[a:b]
        back = ~ahead[a:b] & ~same[a:b]
        n_pre[p] = np.unique(decision[a:b][pre]).shape[0]
        n_back[p] = np.unique(decision[a:b][back]).shape[0]
        q_with[p] = qty[a:b][back & with_order[a:b]].sum()
    return n_pre, n_back, q_with


def _with_order(legs: _Legs, big: _Big, pairs: _Pairs) -> np.ndarray:
    """Per row of the pairs (``pairs.at``), whether it may have traded with its large order itself: its trade id's
    hash is one of the order's fills' (every such row, and others only on a shared hash); all where the fills or
    the legs' trade ids are not known."""
    if big.fills is None or legs.trade_ids is None:
        return np.ones(pairs.at.shape[0], np.bool_)
    ids = legs.trade_ids.get()
    rows = pairs.sized.rows[pairs.at]
    trades = ids.at(rows % (ids.spans.shape[0] // 2)).hashes()
    order, fills = big.fills
    keys = _distinct(_order_keys(order, fills.get().hashes()))
    return _among(_order_keys(pairs.sized.orders[pairs.at], trades), keys)


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of an array of integers, sorted: ``np.unique``'s answer by a sort. NumPy 2.4's
    ``np.unique`` hashes instead, ~37 us for 100 values and ~290 us for 1000 where a sort is ~3-7 and ~22-30 (the
    screens' 267 calls over ten days of the 10M-trade bench market: 6.0 ms against 1.5)."""
    if values.shape[0] == 0:
        return values.copy()
    ordered = np.sort(values)
    keep = np.empty(ordered.shape[0], np.bool_)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _order_keys(order: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """An order's row and a trade id's hash as one key (keys of different pairs alike only where a hash is
    shared: more rows taken for fills, never fewer)."""
    return hashes ^ ((order.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15))  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def _decisions(owner: np.ndarray, buy: np.ndarray, decision: np.ndarray, aggr: np.ndarray, qty: np.ndarray,
               ts: np.ndarray) -> tuple[np.ndarray, ...]:
    """The legs' decisions, as the kernel's habits group them: per (owner, side, decision), in order of first
    leg, its owner, side, quantity and first time, and those of its aggressive legs (whether it has any). Found
    in an open-addressing table of the keys (sorting the legs by three keys was ~1 ms a partition)."""
    n = owner.shape[0]
    size = 2
    while size < 2 * n:
        size *= 2
    slot = np.full(size, -1, np.int64)
    mask = np.uint64(size - 1)
    g_owner, g_buy, g_decision = np.empty(n, owner.dtype), np.empty(n, np.bool_), np.empty(n, decision.dtype)
    g_q, g_ts = np.zeros(n, np.float64), np.empty(n, np.int64)
    g_q_aggr, g_ts_aggr, g_aggr = np.zeros(n, np.float64), np.empty(n, np.int64), np.zeros(n, np.bool_)
    found = 0
    for i in range(n):
        at = (decision[i] ^ (owner[i] * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(buy[i])) & mask
        while slot[at] >= 0 and not (g_decision[slot[at]] == decision[i] and g_owner[slot[at]] == owner[i]
                                     and g_buy[slot[at]] == buy[i]):
            at = (at + np.uint64(1)) & mask
        g = slot[at]
        if g < 0:
            g = found
            found += 1
            slot[at] = g
            g_owner[g], g_buy[g], g_decision[g], g_ts[g] = owner[i], buy[i], decision[i], ts[i]
        g_q[g] += qty[i]
        g_ts[g] = min(g_ts[g], ts[i])
        if aggr[i]:
            g_ts_aggr[g] = min(g_ts_aggr[g], ts[i]) if g_aggr[g] else ts[i]
            g_q_aggr[g] += qty[i]
            g_aggr[g] = True
    return (g_owner[:found], g_buy[:found], g_q[:found], g_ts[:found], g_q_aggr[:found], g_ts_aggr[:found],
            g_aggr[:found])


@njit(cache=True, nogil=True)
def _among(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Whether each value (a hash) is one of ``wanted`` (distinct), by a small open-addressing table of them (a
    binary search per value was most of the habits' cost on the 1M-trade market's busy books)."""
    cap = 16
    while cap < 2 * wanted.shape[0]:
        cap *= 2
    mask = np.uint64(cap - 1)
    table, used = np.zeros(cap, values.dtype), np.zeros(cap, np.bool_)
    for w in wanted:
        s = np.uint64(w) & mask
        while used[s]:
            s = (s + np.uint64(1)) & mask
        table[s], used[s] = w, True
    found = np.zeros(values.shape[0], np.bool_)
    for i in range(values.shape[0]):
        s = np.uint64(values[i]) & mask
        while used[s] and table[s] != values[i]:
            s = (s + np.uint64(1)) & mask
        found[i] = used[s]
    return found


@njit(cache=True, nogil=True)
def _habit_counts(owner: np.ndarray, c_buy: np.ndarray, unit: np.ndarray, unit_o: np.ndarray, entry: np.ndarray,
                  first: np.ndarray, until: np.ndarray, g_owner: np.ndarray, g_buy: np.ndarray, g_q: np.ndarray,
                  g_ts: np.ndarray, g_q_aggr: np.ndarray, g_ts_aggr: np.ndarray, g_aggr: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, how many of its owner's decisions surely count in the kernel's habits: on the large order's
    side, aggressive, of ``unit`` or more, outside [``entry``, ``first``); on the other side, of ``unit_o`` or
    more, outside [``first``, ``until``]. ``g_*``: ``_decisions``."""
    n_in, n_out = np.zeros(owner.shape[0], np.int64), np.zeros(owner.shape[0], np.int64)
    by_owner = np.argsort(owner)
    owners = owner[by_owner]
    for g in range(g_owner.shape[0]):
        for k in range(np.searchsorted(owners, g_owner[g], "left"), np.searchsorted(owners, g_owner[g], "right")):
            p = by_owner[k]
            if g_buy[g] == c_buy[p]:
                if g_aggr[g] and _surely_at_least(g_q_aggr[g], unit[p]) and (
                        g_ts_aggr[g] < entry[p] or g_ts_aggr[g] >= first[p]):
                    n_in[p] += 1
            elif _surely_at_least(g_q[g], unit_o[p]) and (g_ts[g] < first[p] or g_ts[g] > until[p]):
                n_out[p] += 1
    return n_in, n_out
