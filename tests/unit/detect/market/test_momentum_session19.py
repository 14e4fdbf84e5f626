"""Momentum ignition's session-19 speed-ups against the readings they replace: ``momentum_screens.aggressive_runs``
sorting the aggressive legs by counting and finding the runs without branches on the data (against session 18's
branching pass, kept here, and against a plain reading by Python's sort), and the Arrow screen's column look-ups
made once (a table without one of the columns it reads is still left to the frame path).

Random inputs: owners of none (-1) and a few or many owners, trades with no aggressor, many ties in time (an owner
buying and selling at one instant, seller leg first in row order: the rare path), gaps at and around the limit,
``min_trades`` from 0 to 5, empty inputs, and arrays that are views (slices) of longer ones.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import harbour.detect.market.momentum_ignition as mi
from harbour.detect.market import momentum_screens as ms

from .test_momentum_arrow_screen import _configs, _fresh, _random_part


def _session18_runs(owner: np.ndarray, ts: np.ndarray, aggr_b: np.ndarray, aggr_s: np.ndarray, n_owners: int,
                    gap: int, min_trades: int) -> tuple[np.ndarray, np.ndarray]:
    """Session 18's ``aggressive_runs``, as it was (uncompiled): a counting sort instant by instant (its buyer legs,
    then its seller legs) and the runs found by branching on where each ends."""
    n = ts.shape[0]
    count = np.zeros(n_owners + 1, np.int64)
    for i in range(n):
        if aggr_b[i] and owner[i] >= 0:
            count[owner[i] + 1] += 1
        if aggr_s[i] and owner[n + i] >= 0:
            count[owner[n + i] + 1] += 1
    for o in range(n_owners):
        count[o + 1] += count[o]
    order = np.empty(count[n_owners], np.int64)
    lo = 0
    while lo < n:
        hi = lo + 1
        while hi < n and ts[hi] == ts[lo]:
            hi += 1
        for i in range(lo, hi):
            if aggr_b[i] and owner[i] >= 0:
                order[count[owner[i]]] = i
                count[owner[i]] += 1
        for i in range(lo, hi):
            if aggr_s[i] and owner[n + i] >= 0:
                order[count[owner[n + i]]] = n + i
                count[owner[n + i]] += 1
        lo = hi
    rows = np.empty(order.shape[0], np.int64)
    burst = np.empty(order.shape[0], np.int64)
    kept, first, run = 0, 0, 0
    for p in range(order.shape[0] + 1):
        if p < order.shape[0] and p > first:
            a, b = order[p - 1], order[p]
            if owner[a] == owner[b] and (a < n) == (b < n) \
                    and ts[b - n if b >= n else b] - ts[a - n if a >= n else a] <= gap:
                continue
        if p - first >= min_trades:
            rows[kept:kept + p - first] = order[first:p]
            burst[kept:kept + p - first] = run
            kept += p - first
        first, run = p, run + 1
    return rows[:kept].copy(), burst[:kept].copy()


def _plain_runs(owner: np.ndarray, ts: np.ndarray, aggr_b: np.ndarray, aggr_s: np.ndarray, gap: int,
                min_trades: int) -> list[list[int]]:
    """The runs kept, each its legs' rows, read plainly: the aggressive legs of an owner sorted by owner, time, side
    (buyer first) and row, cut where the owner or side changes or the gap exceeds ``gap``."""
    n = ts.shape[0]
    legs = [i for i in range(n) if aggr_b[i] and owner[i] >= 0] + \
        [n + i for i in range(n) if aggr_s[i] and owner[n + i] >= 0]
    legs.sort(key=lambda r: (owner[r], ts[r % n], r >= n, r))
    runs: list[list[int]] = []
    for r in legs:
        last = runs[-1][-1] if runs else None
        if last is not None and owner[last] == owner[r] and (last >= n) == (r >= n) and ts[r % n] - ts[last % n] <= gap:
            runs[-1].append(r)
        else:
            runs.append([r])
    return [run for run in runs if len(run) >= min_trades]


def _row_order_needs_mending(owner: np.ndarray, aggr_b: np.ndarray, aggr_s: np.ndarray, ts: np.ndarray) -> bool:
    """Whether the aggressive legs, each owner's in row order, have a seller leg right before a buyer leg of the same
    owner and instant (``aggressive_runs``' rare path)."""
    n = ts.shape[0]
    legs = [i + n if aggr_s[i] else i for i in range(n) if aggr_b[i] or aggr_s[i]]
    legs = sorted((r for r in legs if owner[r] >= 0), key=lambda r: (owner[r], r % n))
    return bool(ms._sellers_first(np.array(legs, np.int64), owner, ts, n))


def _random_trades(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int, int]:
    """A random market's keys (``aggressive_runs``' arguments), its arrays often views of longer ones."""
    n = int(rng.choice([0, 1, 2, int(rng.integers(3, 40)), int(rng.integers(40, 400))]))
    n_owners = int(rng.integers(1, 30))
    owner = rng.integers(-1, n_owners, 2 * n)
    # few distinct instants: many ties, and an owner's buys and sells at one instant
    ts = np.sort(rng.integers(0, max(1, n // int(rng.integers(1, 6))), n)) * int(rng.choice([1, 3, 7]))
    side = rng.choice(3, n, p=rng.dirichlet(np.ones(3)))  # 0 buyer aggressive, 1 seller, 2 neither
    aggr_b, aggr_s = side == 0, side == 1
    if rng.random() < 0.5:  # views of longer arrays
        pad = int(rng.integers(1, 5))
        owner = np.concatenate((rng.integers(-1, n_owners, pad), owner))[pad:]
        ts = np.concatenate((np.zeros(pad, np.int64), ts))[pad:]
        aggr_b = np.concatenate((np.ones(pad, np.bool_), aggr_b))[pad:]
        aggr_s = np.concatenate((np.ones(pad, np.bool_), aggr_s))[pad:]
    gap = int(rng.choice([0, 1, 3, 7, 21]))
    return owner, ts.astype(np.int64), aggr_b, aggr_s, n_owners, gap, int(rng.integers(0, 6))


@pytest.mark.parametrize("seed", range(4))
def test_the_branch_free_runs_are_session_18s(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rare = 0
    for case in range(300):
        owner, ts, aggr_b, aggr_s, n_owners, gap, min_trades = _random_trades(rng)
        rows, burst = ms.aggressive_runs(owner, ts, aggr_b, aggr_s, n_owners, gap, min_trades)
        want_rows, want_burst = _session18_runs(owner, ts, aggr_b, aggr_s, n_owners, gap, min_trades)
        assert np.array_equal(rows, want_rows), case
        assert np.array_equal(burst, want_burst), case
        assert rows.dtype == np.int64 and burst.dtype == np.int64, case
        plain = _plain_runs(owner, ts, aggr_b, aggr_s, gap, min_trades)
        assert [list(r) for r in np.split(rows, np.flatnonzero(np.diff(burst)) + 1) if r.size] == plain, case
        rare += _row_order_needs_mending(owner, aggr_b, aggr_s, ts)
    assert rare > 10  # the rare path (a seller leg before a buyer leg of one owner and instant) was taken


def test_an_instants_seller_leg_before_its_buyer_leg_is_put_after_it() -> None:
    """One owner buys at 4, then sells and buys at 5 (rows in that order): its buy legs make one run of two, as the
    legs' frame orders them (the buyer legs of an instant first), the sell leg a run of its own."""
    owner = np.array([1, 0, 1, 0, 1, 0])  # buyers 1, 0, 1; sellers 0, 1, 0
    ts = np.array([4, 5, 5])
    aggr_b = np.array([True, False, True])
    aggr_s = np.array([False, True, False])
    rows, burst = ms.aggressive_runs(owner, ts, aggr_b, aggr_s, 2, 10, 2)
    assert rows.tolist() == [0, 2] and burst.tolist() == [1, 1]
    assert np.array_equal(rows, _session18_runs(owner, ts, aggr_b, aggr_s, 2, 10, 2)[0])


def test_no_trades_and_no_aggressive_legs_give_no_runs() -> None:
    empty = np.zeros(0, np.int64)
    for min_trades in (0, 3):
        rows, burst = ms.aggressive_runs(empty, empty, empty.astype(np.bool_), empty.astype(np.bool_), 1, 5,
                                         min_trades)
        assert rows.size == 0 and burst.size == 0
    none = np.zeros(4, np.bool_)
    rows, _ = ms.aggressive_runs(np.zeros(8, np.int64), np.arange(4), none, none, 1, 5, 0)
    assert rows.size == 0
    rows, _ = ms.aggressive_runs(np.full(8, -1), np.arange(4), ~none, none, 1, 5, 0)  # legs of no owner
    assert rows.size == 0


@pytest.mark.parametrize("column", ["ts", "quantity", "aggressor", "buy_order_id", "sell_order_id"])
def test_a_table_without_a_screened_column_is_left_to_the_frame(column: str) -> None:
    """The Arrow screen's columns, looked up once, still send a table missing one of them to the frame path (None),
    or (no aggressor at all) to the kernel's frame, and a table with them all is screened."""
    rng = np.random.default_rng(9)
    part = _random_part(rng, 200)
    config = _configs()[0]
    assert mi._arrow_exit_possible(_fresh(part), config) is not None
    trades = part.tables["trades"]
    without = trades.drop_columns([column])
    assert mi._arrow_exit_possible(_fresh(part, without), config) is None
    if column in ("ts", "quantity", "aggressor"):
        owners = (np.zeros(trades.num_rows, np.int64), np.zeros(trades.num_rows, np.int64), 1)
        assert ms.arrow_runs(without, owners, 10, 3) is None
    else:
        assert mi._arrow_decisions(without) is None
    assert isinstance(mi._arrow_decisions(trades), tuple)
    assert isinstance(trades, pa.Table)
