"""Front running: the trade legs near each large order, and the screens read off them before any join.

Split from ``front_running`` (which holds the detector, its config and the joins that decide): ``_near`` finds the
legs inside each large order's span by binary search, and two necessary-condition screens ask, on arrays only,
whether any owner may pass the size tests (``_may_pass_sizes``) and then the habit test (``_may_pass_habits``)
before the kernel builds its joins. Each screen answers True when it cannot be sure, and is tested against the
kernel's full path (tests/unit/detect/market/test_front_running_speed.py and ``..._early_exit.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import polars as pl
from numba import njit

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
    """``_near``'s rows as indices (``NearIndex``)."""
    ts = _physical(legs["ts"])
    by_time = np.argsort(ts, kind="stable")
    sorted_ts = ts[by_time]
    lo = np.searchsorted(sorted_ts, _physical(big["w0"]), side="left")
    mid = np.searchsorted(sorted_ts, _physical(big["first"]), side="left")
    hi = np.searchsorted(sorted_ts, _physical(big["w1"]), side="right")
    mid = np.clip(mid, lo, None)
    hi = np.clip(hi, mid, None)
    # Owners are told apart by the hash of their strings (a null owner is one more value). Two owners that
    # shared a hash would be summed together: that keeps more legs, never fewer, and the exact tests after
    # drop them. Interning the strings (a Categorical cast) and the numpy passes over every after-leg were 0.45
    # of _near's 0.58 CPU-s over the bench market; this compiled pass is 0.13.
    if least is None:
        least, qty = np.full(big.height, -np.inf), np.zeros(legs.height)
    else:
        least, qty = least.astype(np.float64), _quantities(legs)
    owner = legs["owner"].hash().to_numpy()
    order_rows, leg_rows, sized = _near_rows(
        by_time, lo.astype(np.int64), mid.astype(np.int64), hi.astype(np.int64),
        owner[by_time], (legs["side"] == "buy").to_numpy()[by_time], qty[by_time],
        (big["c_side"] == "buy").to_numpy(), least, prune)
    return order_rows, leg_rows, sized, owner


def _near_frame(legs: pl.DataFrame, big: pl.DataFrame, index: NearIndex) -> pl.DataFrame:
    """``_near``'s frame: the rows of ``index`` gathered."""
    order_rows, leg_rows, sized, _ = index
    return pl.concat([legs.rechunk()[leg_rows], big.select("order_id", "c_owner", "c_side", "first")[order_rows]],
                     how="horizontal").with_columns(sized=pl.Series(sized))


@njit(cache=True, nogil=True)
def _near_rows(by_time: np.ndarray, lo: np.ndarray, mid: np.ndarray, hi: np.ndarray, owner: np.ndarray,
               buy: np.ndarray, qty: np.ndarray, c_buy: np.ndarray, least: np.ndarray, prune: bool
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_near``'s (order row, leg row) pairs, order by order, each order's legs ascending, and whether each
    leg's owner is sized: the legs ``by_time`` ``lo``..``mid`` (ahead) and ``mid``..``hi`` (after; with
    ``prune`` only other-side legs of a sized ``owner``: one whose order-side ``qty`` ahead adds up to ``least``
    or more, or not less — a NaN keeps it). ``owner``, ``buy`` and ``qty`` are in time order (``by_time``), so
    the scans over them are sequential."""
    n = 0
    for i in range(lo.shape[0]):
        n += hi[i] - lo[i]
    order_rows = np.empty(n, np.int64)
    marked = np.empty(n, np.int64)  # leg row x 2 + whether its owner is sized: sorted as the leg rows are
    at = 0
    for i in range(lo.shape[0]):
        start = at
        sized = _sized_owners(owner[lo[i]:mid[i]], buy[lo[i]:mid[i]] == c_buy[i], qty[lo[i]:mid[i]], least[i])
        for k in range(lo[i], mid[i]):
            j = np.searchsorted(sized, owner[k])
            marked[at] = 2 * by_time[k] + (not prune or (j < sized.shape[0] and sized[j] == owner[k]))
            at += 1
        for k in range(mid[i], hi[i]):
            if prune:
                if buy[k] == c_buy[i]:
                    continue
                j = np.searchsorted(sized, owner[k])
                if j == sized.shape[0] or sized[j] != owner[k]:
                    continue
            marked[at] = 2 * by_time[k] + 1
            at += 1
        marked[start:at].sort()
        order_rows[start:at] = i
    return order_rows[:at], marked[:at] // 2, marked[:at] % 2 == 1


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


def _may_pass_sizes(legs: pl.DataFrame, big: pl.DataFrame, index: NearIndex, median_trade: float,
                    config: FrontRunningConfig) -> bool:
    """Whether some owner near a large order can pass the kernel's size tests: position ahead against the order
    and the median trade, unwind, aggressive share (False: no alert can come of the partition).

    An alert needs a candidate that passed them: the kernel's ``per`` filter. Here they are read on ``_near``'s
    sized rows (the rows ``per`` sums) in a compiled pass (0.25 ms), before the frame, joins and habits that cost
    4.8 ms of the kernel's ~14 on a partition of the 10M-trade bench market. Every test is one of that filter's,
    looser: ``into`` only chooses between ``min_unwind`` and ``into_min_unwind``, so the smaller one is used; the
    large order's own owner is not left out (more pairs to pass); and each side may differ by 1e-9 of the two,
    the same sums added in another order (a join keeps no row order; finite, non-negative quantities: rounding
    is below 1e-15 a leg; other inputs, or Polars' order of NaN, answer True). Owners are grouped by hash, so
    the answer False is kept only when the sized rows' owners have as many hashes as strings."""
    pairs = _size_pairs(_leg_arrays(legs), big, index, median_trade, config)
    if pairs is None or pairs.order.shape[0]:
        return True
    return not _one_hash_each(legs["owner"], index[3], index[1][index[2]])


class _Pairs(NamedTuple):
    """The (large order, owner) pairs of ``_size_pairs``: the order's row in ``big``, the owner's hash, and the
    pair's aggressive quantity ahead, its quantity traded back, the distinct decisions (hashes) of each, and its
    entry (first leg ahead, in microseconds)."""

    order: np.ndarray
    owner: np.ndarray
    q_aggr: np.ndarray
    q_out: np.ndarray
    n_pre: np.ndarray
    n_out: np.ndarray
    entry: np.ndarray


class _Legs(NamedTuple):
    """A legs frame's columns that the screens read, as arrays: time (microseconds; ``timed``: none is null),
    whether a buy, whether aggressive, quantity (0 for null)."""

    ts: np.ndarray
    timed: bool
    buy: np.ndarray
    aggr: np.ndarray
    qty: np.ndarray


def _leg_arrays(legs: pl.DataFrame) -> _Legs:
    """``_Legs`` of ``legs`` (casts, not ``to_physical`` and the like: ~0.1 ms a call)."""
    timed = legs["ts"].null_count() == 0
    ts = _micros(legs["ts"]) if timed else np.zeros(legs.height, np.int64)
    return _Legs(ts, timed, (legs["side"] == "buy").to_numpy(), legs["aggr"].to_numpy(), _quantities(legs))


def _quantities(legs: pl.DataFrame) -> np.ndarray:
    """The legs' quantities, 0 for null (filled only where there are nulls: a fill is ~0.1 ms)."""
    qty = legs["quantity"].cast(pl.Float64)
    return (qty.fill_null(0.0) if qty.null_count() else qty).to_numpy()


def _size_pairs(legs: _Legs, big: pl.DataFrame, index: NearIndex, median_trade: float,
                config: FrontRunningConfig, decision: np.ndarray | None = None) -> _Pairs | None:
    """The pairs (``_Pairs``) of ``_near``'s sized rows that pass ``_may_pass_sizes``' loose size tests, owners
    told apart by hash; None where the compiled pass cannot read the inputs (see ``_may_pass_sizes``).
    ``decision``: per leg, the hash of its decision (without: the counts of decisions are not read)."""
    order_rows, leg_rows, sized, owner = index
    rows = leg_rows[sized]
    if rows.shape[0] == 0:
        return _Pairs(*(np.zeros(0, d) for d in (np.int64, np.uint64, float, float, np.int64, np.int64, np.int64)))
    qty = legs.qty[rows]
    c_qty = big["c_qty"].cast(pl.Float64).to_numpy()
    if not (np.isfinite(qty).all() and (qty >= 0).all() and np.isfinite(c_qty).all() and np.isfinite(median_trade)
            and legs.timed and big["first"].null_count() == 0 and big["c_side"].null_count() == 0
            and big["order_id"].n_unique() == big.height):  # two missed placements of one id: one group in ``per``
        return None
    c_buy = (big["c_side"] == "buy").to_numpy()  # the legs' sides are "buy" or "sell"
    if not (c_buy | (big["c_side"] == "sell").to_numpy()).all():
        return None
    orders = order_rows[sized]
    ts = legs.ts[rows]
    ahead = ts < _micros(big["first"])[orders]
    same = legs.buy[rows] == c_buy[orders]
    bounds = np.array([config.min_ratio, config.max_ratio, min(config.min_unwind, config.into_min_unwind),
                       config.max_unwind, config.min_aggressive, config.min_position_multiple * median_trade])
    decision = np.zeros(rows.shape[0], np.uint64) if decision is None else decision[rows]
    return _Pairs(*_pairs_passing(orders, owner[rows], ahead, same, legs.aggr[rows], qty, c_qty, bounds, decision,
                                  ts))


def _one_hash_each(strings: pl.Series, hashes: np.ndarray, rows: np.ndarray) -> bool:
    """Whether the ``strings`` of ``rows`` (a mask, or row numbers) have as many distinct ``hashes`` as
    distinct values."""
    if rows.dtype != np.bool_:
        mask = np.zeros(strings.len(), np.bool_)
        mask[rows] = True
        rows = mask
    return bool(strings.filter(pl.Series(rows)).n_unique() == _distinct(hashes[rows]))


@njit(cache=True, nogil=True)
def _distinct(values: np.ndarray) -> int:
    """How many distinct values (hashes: their low bits place them in an open-addressing table)."""
    size = 2
    while size < 2 * values.shape[0]:
        size *= 2
    taken, seen = np.zeros(size, np.bool_), np.empty(size, values.dtype)
    mask, found = np.uint64(size - 1), 0
    for v in values:
        at = np.uint64(v) & mask
        while taken[at] and seen[at] != v:
            at = (at + np.uint64(1)) & mask
        if not taken[at]:
            taken[at], seen[at] = True, v
            found += 1
    return found


@njit(cache=True, nogil=True)
def _pairs_passing(orders: np.ndarray, owner: np.ndarray, ahead: np.ndarray, same: np.ndarray, aggr: np.ndarray,
                   qty: np.ndarray, c_qty: np.ndarray, bounds: np.ndarray, decision: np.ndarray, ts: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``_Pairs``' columns for the (order, owner) of the rows that pass the loose size tests. ``orders`` ascend
    (an order's rows are one run); ``bounds``: min_ratio, max_ratio, least unwind, max_unwind, min_aggressive,
    and the least position against the median trade."""
    n = orders.shape[0]
    pair_order, pair_owner = np.empty(n, np.int64), np.empty(n, owner.dtype)
    q_aggrs, q_outs = np.empty(n, np.float64), np.empty(n, np.float64)
    n_pre, n_out, entries = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
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
                mine = by_owner[k:j]
                pair_order[m], pair_owner[m], q_aggrs[m], q_outs[m], entries[m] = orders[start], owner[mine[0]], \
                    q_aggr, q_out, entry
                n_pre[m] = np.unique(decision[mine][ahead[mine] & same[mine] & aggr[mine]]).shape[0]
                n_out[m] = np.unique(decision[mine][~ahead[mine] & ~same[mine]]).shape[0]
                m += 1
            k = j
        start = end
    return pair_order[:m], pair_owner[:m], q_aggrs[:m], q_outs[:m], n_pre[:m], n_out[:m], entries[:m]


@njit(cache=True, nogil=True)
def _at_least(a: float, b: float) -> bool:
    """``a >= b``, up to 1e-9 of the two (sums of the same numbers in another order)."""
    return a >= b - 1e-9 * (abs(a) + abs(b))


@njit(cache=True, nogil=True)
def _surely_at_least(a: float, b: float) -> bool:
    """``a >= b`` however the sums ``a`` and ``b`` were added (by more than 1e-9 of the two, or equal at 0)."""
    return a >= b + 1e-9 * (abs(a) + abs(b))


def _may_pass_habits(legs: pl.DataFrame, big: pl.DataFrame, index: NearIndex, median_trade: float, day_s: float,
                     config: FrontRunningConfig) -> bool:
    """Whether some owner near a large order can pass the size tests and then the coincidence test (False: no
    alert can come of the partition), told before the frame of the legs near the large orders, the candidates'
    group-by and the habits' joins: on ten days of the 10M-trade bench market ~70 of the ~90 partitions the size
    check lets through have a candidate, and only one passes the coincidence test.

    The pairs are ``_may_pass_sizes``' (looser than the kernel's candidates), and each pair's chance is a lower
    bound of the kernel's: its habits count only the decisions that surely reach their unit (``habit_size``
    of its average order), whatever order the sums were added in, so they count no more than the kernel's, and
    the chance grows with the count. It is held to the looser of ``max_coincidence`` and
    ``into_max_coincidence``, widened by 1e-9 (the exponential of another library). Owners and decisions are
    told apart by hash: the answer False is kept only when the rows read have as many hashes as strings. A null
    owner has no habits in the kernel's joins by owner (more chance to pass): its partition answers True."""
    if legs["owner"].null_count():
        return True
    found = _pair_habits(legs, big, index, median_trade, config)
    if found is None:
        return True  # the size check let it through: a hash shared, or inputs the pass cannot read
    least = 1.0 / day_s
    chance = (1 - np.exp(-np.maximum(found.n_in / day_s, least) * config.pre_seconds)) \
        * (1 - np.exp(-np.maximum(found.n_out / day_s, least) * config.post_seconds)) * big.height
    if (chance <= max(config.max_coincidence, config.into_max_coincidence) * (1 + 1e-9)).any():
        return True
    # Hashes shared would merge owners in the pairs or in their decisions (a decision's distinct count, n_pre
    # and n_out, can only come out smaller: a larger unit, fewer decisions counted).
    owner = index[3]
    return not (_one_hash_each(legs["owner"], owner, index[1][index[2]])
                and _one_hash_each(legs["owner"], owner, found.mine)
                and _one_hash_each(legs["decision"], found.decision, found.mine))


class _PairHabits(NamedTuple):
    """``_Pairs`` (``pairs``) and per pair how many of its owner's decisions surely count in the kernel's habits
    on the entry side (``n_in``) and the unwind side (``n_out``); the day's legs of the pairs' owners (``mine``)
    and every leg's decision hash (``decision``)."""

    pairs: _Pairs
    n_in: np.ndarray
    n_out: np.ndarray
    mine: np.ndarray
    decision: np.ndarray


def _pair_habits(legs: pl.DataFrame, big: pl.DataFrame, index: NearIndex, median_trade: float,
                 config: FrontRunningConfig) -> _PairHabits | None:
    """``_PairHabits`` of the pairs that pass the loose size tests; None where there is none or the compiled
    passes cannot read the inputs."""
    arrays, decision = _leg_arrays(legs), legs["decision"].hash().to_numpy()
    pairs = _size_pairs(arrays, big, index, median_trade, config, decision)
    if pairs is None or pairs.order.shape[0] == 0:
        return None
    owner = index[3]
    mine = np.flatnonzero(_among(owner, np.unique(pairs.owner)))  # the day's legs of the pairs' owners
    groups = _decisions(owner[mine], arrays.buy[mine], decision[mine], arrays.aggr[mine], arrays.qty[mine],
                        arrays.ts[mine])
    unit = config.habit_size * pairs.q_aggr / np.maximum(pairs.n_pre, 1)
    unit_o = config.habit_size * pairs.q_out / np.maximum(pairs.n_out, 1)
    n_in, n_out = _habit_counts(pairs.owner, (big["c_side"] == "buy").to_numpy()[pairs.order], unit, unit_o,
                                pairs.entry, _micros(big["first"])[pairs.order], _micros(big["w1"])[pairs.order],
                                *groups)
    return _PairHabits(pairs, n_in, n_out, mine, decision)


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
    """Whether each value is one of ``wanted`` (sorted, distinct)."""
    found = np.zeros(values.shape[0], np.bool_)
    for i in range(values.shape[0]):
        at = np.searchsorted(wanted, values[i])
        found[i] = at < wanted.shape[0] and wanted[at] == values[i]
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
