"""Momentum ignition: a burst of aggressive orders to start a price move, then trading the other side
into the move it caused.

The defining behaviour: one owner takes liquidity on one side in a rapid burst (``min_trades`` or more
aggressive trades, gaps of at most ``burst_gap_seconds``) that dominates the market's volume in that
span; the price moves abnormally in the burst's direction; within ``post_seconds`` the owner trades the
opposite side for a good part of the burst's quantity. The burst starts something: it is one-sided in the
owner's orders as well as in its fills (a quoting programme whose quotes on one side happened to trade is
two-sided), and it starts the owner's position (an owner that had already been buying, order after order, as
much as half the burst is accumulating or cycling in a ring, and its selling after is that business, not an
exit). A
pump and dump differs in time scale (hours, accumulation and distribution); front running needs someone
else's large order.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit
from pydantic import BaseModel, Field

from harbour.data.arrow_strings import string_buffers
from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.frames import (
    ORDER_COLUMNS,
    PLACEMENT_COLUMNS,
    TRADE_COLUMNS,
    as_dt,
    chance_of_any,
    clip01,
    decision,
    dictionary_codes,
    ends_in_window,
    fmt_qty,
    fmt_span,
    frame,
    leg_owners,
    minute_sigma,
    names,
    num,
    owner_map,
    part_symbol,
    part_venue,
    placements,
    run_numbers,
    run_starts,
    span_join,
    span_seconds,
    stable_sort,
    string_ranks,
    with_owner,
)
from harbour.detect.market.lifecycles import exact_codes, group_totals, kahan_add, taker_placements
from harbour.detect.market.momentum_screens import (
    Runs,
    arrow_runs,
    day_seconds,
    distinct_per_run,
    exit_lows,
    hash_shared,
    id_hashes,
    trade_runs,
)


class MomentumIgnitionConfig(BaseModel):
    burst_gap_seconds: float = Field(10.0, gt=0, description="largest gap between the aggressive trades of a burst")
    min_trades: int = Field(
        3, ge=2, description="aggressive orders in a burst (distinct taking orders, or distinct instants when the "
        "venue gives no order ids): one order sweeping five levels is one decision, not a burst; in a thin book a "
        "few orders that sweep it are enough to ignite a move")
    min_share: float = Field(
        0.5, gt=0, le=1, description="the burst's share of all volume traded during it")
    min_move_sigmas: float = Field(
        1.0, ge=0, description="price move from before the burst to its extreme within follow_seconds, in the "
        "burst's direction, against the day's robust minute volatility")
    follow_seconds: float = Field(
        180.0, gt=0, description="how long after the burst the price move it ignited is measured")
    post_seconds: float = Field(600.0, gt=0, description="how long after the burst the owner's exit may come")
    max_coincidence: float = Field(
        0.1, gt=0, le=1, description="largest chance that the owner would have traded the other side within the "
        "exit span anyway, given its rate over the day (Poisson); market makers always trade both sides")
    min_reverse: float = Field(
        0.2, gt=0, le=1, description="share of the burst quantity traded back afterwards (part of an exit may rest "
        "unfilled where the move never reached)")
    max_rival: float = Field(
        1.0, gt=0, description="largest single liquidity-taking order of another owner in the burst's direction, "
        "during the burst or the follow span, against the burst's quantity: a move driven by someone else's large "
        "order was ridden (front running), not ignited")
    max_counter_orders: float = Field(
        0.2, ge=0, le=1, description="largest share of the owner's order placements during the burst that were on "
        "the other side (when the order book is supplied): an igniter's burst is one-sided in what it sends, not "
        "only in what filled; a quoting programme sends both sides at once and some of one side's quotes trade")
    prior_seconds: float = Field(
        3600.0, gt=0, description="how far before the burst the owner's own trading on the book is looked at "
        "(within the partition's day)")
    max_prior: float = Field(
        0.5, ge=0, description="largest volume the owner traded on the book on the burst's side, in min_trades or "
        "more orders, in the prior_seconds before the burst, against the burst's quantity: a burst that starts a "
        "move starts the owner's position; an owner already building it order after order (a pump's "
        "accumulation, a wash ring's rounds) is continuing its business, and its trades back are that business, "
        "not an exit. One earlier order, or trading the other way, is no such campaign")


def _bursts(legs: pl.DataFrame, config: MomentumIgnitionConfig, runs: Runs | None = None) -> pl.DataFrame:
    agg = _burst_legs(legs, config, runs)
    if agg is None:
        gap = dt.timedelta(seconds=config.burst_gap_seconds)
        # A burst is one-sided: a turn to the other side ends it (that is the exit, judged separately).
        agg = stable_sort(legs.filter(pl.col("aggr")), ["owner", "ts"]).with_columns(
            burst=run_numbers(["owner"], (pl.col("ts").diff() > gap) | (pl.col("sign") != pl.col("sign").shift(1))))
        # Most runs of an owner's aggressive legs are a trade or two: the runs that cannot pass the size tests
        # (too few legs, or not one-sided) are dropped on cheap sums first, before the lists and distinct counts.
        agg = agg.filter(_passing_runs(agg, config.min_trades))
    return agg.group_by("owner", "burst").agg(
        n=pl.col("decision").n_unique(), start=pl.col("ts").min(), end=pl.col("ts").max(), q=pl.col("quantity").sum(),
        q_signed=(pl.col("quantity") * pl.col("sign")).sum(), ids=pl.col("trade_id"),
        accounts=pl.col("account").unique(), p_first=pl.col("price").first(), p_last=pl.col("price").last(),
        vwap=(pl.col("price") * pl.col("quantity")).sum() / pl.col("quantity").sum(),
    ).filter((pl.col("n") >= config.min_trades) & (pl.col("q_signed").abs() >= 0.8 * pl.col("q")))


def _burst_legs(legs: pl.DataFrame, config: MomentumIgnitionConfig, runs: Runs | None = None
                ) -> pl.DataFrame | None:
    """The aggressive legs of the runs that pass the size tests, sorted by owner and time, with their ``burst``
    number: what ``_bursts``' sort, numbering and filter give, with the sort and the runs worked out on the
    keys alone and only the passing runs' rows gathered (few legs pass: sorting every aggressive leg's strings,
    numbering and filtering them was 0.38 of the detector's 2.3 CPU-s over the bench market, this is 0.26). None
    when a key or quantity has nulls (the caller takes the frame path). ``runs``: ``_aggressive_runs``' (worked
    out here when not given)."""
    if runs is None:
        runs = _aggressive_runs(legs, config)
    if runs is None:
        return None
    return legs.rechunk()[runs.rows].with_columns(burst=pl.Series(runs.burst, dtype=pl.Int32))


def _aggressive_runs(legs: pl.DataFrame, config: MomentumIgnitionConfig) -> Runs | None:
    """``_burst_legs``' runs, on the keys alone; None when a key or quantity has nulls."""
    aggr = legs.select(pl.col("aggr").fill_null(False)).to_series().to_numpy()
    rows = np.flatnonzero(aggr)
    if rows.size < 2 or legs["ts"].dtype != pl.Datetime("us", "UTC") \
            or any(legs[c].null_count() for c in ("owner", "ts", "quantity", "sign")):
        return None
    # owners ranked by their sorted strings, as ``stable_sort`` ranks them; ties in time keep the legs' order
    owner = string_ranks(legs["owner"])[0]
    ts = legs["ts"].to_physical().to_numpy()
    rows = rows[np.lexsort((ts[rows], owner[rows]))]
    sign = legs["sign"].cast(pl.Int64).to_numpy()
    q = legs["quantity"].cast(pl.Float64).to_numpy()
    gap = _gap_us(config)
    burst, keep = _burst_runs(owner[rows], ts[rows], sign[rows], q[rows], gap, config.min_trades)
    return Runs(rows[keep], burst[keep], owner, ts, sign, q)


def _gap_us(config: MomentumIgnitionConfig) -> int:
    """The largest gap within a burst, in microseconds (rounded as ``_aggressive_runs`` rounds it)."""
    return dt.timedelta(seconds=config.burst_gap_seconds) // dt.timedelta(microseconds=1)


def _arrow_exit_possible(part: Partition, config: MomentumIgnitionConfig) -> bool | None:
    """The kernel's early exit read off the partition's Arrow trades, before any frame is made of them or any owner
    named: False where the kernel gives no alert (fewer than ten trades, no aggressor known, or ``_exit_possible``
    says no burst may pass the exit test), True where ``_exit_possible`` says one may. The same runs as the frame's
    check (``momentum_screens.arrow_runs``, each leg's owner a ``frames.leg_owners`` code) and the same decisions:
    the order ids, hashed from their Arrow bytes (``momentum_screens.id_hashes``) where the frame's check hashes
    them by Polars. A hash shared by two decisions only lowers the count of distinct ones, so either hash can only
    make the check say "possible" more often, never "no" where the exact count says "possible" (and its last step
    counts the strings when it sees one): the answer is the frame check's, unless one hash has a 64-bit collision
    among the ids that the other has not (then one may say "possible" where the other says "no").
    Dictionary-encoding the ids for exact codes was ~1 ms a bench partition, a Polars Series of them and its hashes
    ~0.4, the compiled hashes ~0.06. None where it cannot be read so (no venue in the key, an order id missing: the
    frame's decision is then a time written out; ``arrow_runs`` or ``leg_owners`` giving None): the frame's check
    decides. The kernel made the trades' frame and wrote each leg's owner's name on every partition although ~all
    stop at the check: alone over ten days of the 10M-trade bench market the detector took 0.65-0.92 CPU-s, then
    0.29-0.31 (alternated runs), now 0.20-0.21 with the decisions hashed and the sides read by compiled passes
    instead of Polars and Arrow compute; ~0.08-0.1 of that the legs' owner codes, which the suite shares with the
    marking, wash and pump screens."""
    arrow = part.tables.get("trades")
    if arrow is None or "venue" not in part.key or arrow.schema.get_field_index("aggressor") < 0:
        return None
    if arrow.num_rows < 10 or arrow["aggressor"].null_count == arrow.num_rows:
        return False  # as the kernel's first test (the frame has the table's rows)
    decisions = _arrow_decisions(arrow)
    if decisions is None:
        return None
    owners = leg_owners(part, str(part.key["venue"]))
    runs = None if owners is None else arrow_runs(arrow, owners, _gap_us(config), config.min_trades)
    if runs is None:
        return None
    ids = pa.chunked_array(decisions[0].chunks + decisions[1].chunks, decisions[0].type)
    return _exit_possible(runs, ids, day_seconds(runs), config, id_hashes(*decisions))


def _arrow_decisions(arrow: pa.Table) -> tuple[pa.ChunkedArray, pa.ChunkedArray] | None:
    """The Arrow trades' buy order ids and sell order ids, whose strings (in row order, buys then sells) are
    ``_leg_decisions``' values; None when a column is missing, not text, or has nulls."""
    names = arrow.schema.names  # once: a table's ``column_names`` is a fresh list each time (~6 us)
    if any(c not in names for c in ("buy_order_id", "sell_order_id")):
        return None
    buys, sells = arrow["buy_order_id"], arrow["sell_order_id"]
    if buys.type != sells.type or buys.null_count or sells.null_count \
            or not (pa.types.is_string(buys.type) or pa.types.is_large_string(buys.type)):
        return None
    return buys, sells


def _legs(t: pl.DataFrame) -> pl.DataFrame:
    """The legs of the trades ``t`` (with their owners): each trade's buyer leg, then (after all of those) each
    one's seller leg, in one chunk (rows are gathered from the legs many times)."""
    return pl.concat([
        t.select("ts", "trade_id", "price", "quantity", account="buyer", owner="owner_b", sign=pl.lit(1),
                 aggr=pl.col("aggressor") == "buy", decision=decision(t, "buy_order_id")),
        t.select("ts", "trade_id", "price", "quantity", account="seller", owner="owner_s", sign=pl.lit(-1),
                 aggr=pl.col("aggressor") == "sell", decision=decision(t, "sell_order_id")),
    ], rechunk=True)


def _leg_decisions(t: pl.DataFrame) -> pl.DataFrame:
    """The ``decision`` column of the kernel's legs of ``t`` (buyer legs, then seller legs), alone."""
    return t.select(decision=pl.concat([decision(t, "buy_order_id"), decision(t, "sell_order_id")]))


@njit(cache=True, nogil=True)
def _burst_runs(owner: np.ndarray, ts: np.ndarray, sign: np.ndarray, q: np.ndarray, gap: int, min_trades: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Over legs sorted by owner and time: the burst number of each (from 1 for each owner, up by one after a gap
    over ``gap`` or a turn of side: ``run_numbers``) and whether its run passes ``_keep_runs``' tests."""
    n = owner.shape[0]
    burst = np.empty(n, np.int64)
    starts = np.empty(n, np.bool_)
    for i in range(n):
        if i == 0 or owner[i] != owner[i - 1]:
            burst[i] = 1
            starts[i] = True
        else:
            starts[i] = ts[i] - ts[i - 1] > gap or sign[i] != sign[i - 1]
            burst[i] = burst[i - 1] + 1 if starts[i] else burst[i - 1]
    return burst, _keep_runs(starts, q, q * sign, min_trades)


def _passing_runs(agg: pl.DataFrame, min_trades: int) -> pl.Series | pl.Expr:
    """Per row of ``agg`` (sorted by owner, each burst a contiguous run): whether its run has ``min_trades`` legs
    or more and is one-sided (|signed quantity| >= 0.8 of the quantity), the sums added in row order and
    compensated (``kahan_add``), as Polars sums the groups of a large frame."""
    if agg["quantity"].null_count() or agg.height == 0:
        runs = agg.group_by("owner", "burst").agg(n_legs=pl.len(), q=pl.col("quantity").sum(),
                                                  q_signed=(pl.col("quantity") * pl.col("sign")).sum()) \
            .filter((pl.col("n_legs") >= min_trades) & (pl.col("q_signed").abs() >= 0.8 * pl.col("q")))
        return pl.struct("owner", "burst").is_in(runs.select(pl.struct("owner", "burst")).to_series().implode())
    starts = agg.select(run_starts(["owner", "burst"])).to_series().to_numpy()
    q = agg["quantity"].cast(pl.Float64).to_numpy()
    return pl.Series(_keep_runs(starts, q, q * agg["sign"].cast(pl.Float64).to_numpy(), min_trades))


@njit(cache=True, nogil=True)
def _keep_runs(starts: np.ndarray, q: np.ndarray, qs: np.ndarray, min_trades: int) -> np.ndarray:
    keep = np.zeros(q.shape[0], np.bool_)
    i = 0
    while i < q.shape[0]:
        j = i + 1
        while j < q.shape[0] and not starts[j]:
            j += 1
        total, carry, signed, carry_s = 0.0, 0.0, 0.0, 0.0
        for k in range(i, j):
            total, carry = kahan_add(total, carry, q[k])
            signed, carry_s = kahan_add(signed, carry_s, qs[k])
        if j - i >= min_trades and abs(signed) >= 0.8 * total:
            keep[i:j] = True
        i = j
    return keep


def _exit_possible(runs: Runs, legs: pl.DataFrame | pa.ChunkedArray, day_s: float, config: MomentumIgnitionConfig,
                   hashes: np.ndarray | None = None) -> bool:
    """Whether some burst may pass the exit test's chance filter: a necessary condition for an alert, read from the
    runs that may be bursts and their owners' legs before the bursts' lists, market, rivals and order book. On
    the bench market no burst of a partition without an incident passes it (its bursts are busy traders', whose
    trades on the other side all day make any exit a coincidence): stopping there took the detector from 4.3 to
    1.3 CPU-s a rep over ten days of the 10M-trade market (180 small partitions), most of the rest being the
    trades' frame and owners, which the other kernels of a read share.

    An alert needs a burst with a leg of its owner on the other side in (end, end + ``post_seconds``] (``back``
    is an inner join) and ``coincidence`` = 1 - exp(-max(N / day_s - n_back / day_s, 0) x post) at most
    ``max_coincidence``, N the owner's distinct decisions on that side over the partition (``rates``), n_back
    those among its back legs. Every burst is one of ``runs`` with ``min_trades`` distinct decisions (``_bursts``
    groups their legs and filters), ending at its last leg, and whatever the steps between drop, the test reads
    only the burst and its owner's legs (``mine`` holds them all), here as there. A run is one side's legs (a turn
    of side ends it), so with positive quantities its signed sum has that side's sign and the exit is on the other
    side. N - n_back is at least ``_exit_lows``' bound, and the chance is compared with ``max_coincidence`` plus
    1e-9, far above the rounding of the float steps (a few ulps of values at most 1): no burst the exact test
    keeps is taken for hopeless. True (the full path decides) when a quantity is not positive.

    ``runs``: ``_aggressive_runs``' or ``trade_runs``' (which legs share an owner is read, not how the owners are
    numbered); ``legs``: the legs, of which only the ``decision`` column is read, or those decisions as Arrow
    strings (the Arrow screen's); ``hashes``: a hash of each decision, a function of its value (by default
    Polars'). The runs that pass the chance test are the only ones whose distinct decisions are counted (the runs
    of many fills of one order are no burst), and the exit bounds are worked out by one compiled pass
    (``_exit_lows``): the check was 1.37 ms a bench partition, now 0.75."""
    if runs.rows.size == 0:
        return False
    if not (runs.quantity[runs.rows] > 0).all():
        return True
    owner = runs.owner[runs.rows]
    ends = np.append((owner[1:] != owner[:-1]) | (runs.burst[1:] != runs.burst[:-1]), True)
    last = np.flatnonzero(ends)
    rows = runs.rows[last]
    span = dt.timedelta(seconds=config.post_seconds) // dt.timedelta(microseconds=1)  # as ``end + post`` rounds
    if hashes is None:
        hashes = legs["decision"].hash().to_numpy()
    # the bound that fails the chance test for sure (a relative margin of 1e-6 and one decision more, far above
    # the rounding of the steps): a burst's legs in its span need not be told apart beyond it (most bursts of a
    # bench partition are busy traders', whose decisions there are a few dozen among hundreds)
    chance_max = config.max_coincidence + 1e-9
    enough = math.inf if chance_max >= 1 else -math.log1p(-chance_max) * day_s / config.post_seconds * (1 + 1e-6) + 1
    lows = _exit_lows(runs.owner, runs.sign, runs.ts, hashes, runs.owner[rows], -runs.sign[rows], runs.ts[rows], span,
                      enough)
    chance = np.where(lows >= 0, 1 - np.exp(-(lows / day_s) * config.post_seconds), np.inf)
    hopeful = chance <= config.max_coincidence + 1e-9
    if not hopeful.any():
        return False
    # Of the runs that pass, those of ``min_trades`` or more distinct decisions (``_bursts``' ``n``: a null is one
    # decision), exactly: counted only now, on the runs left (in most bench partitions some rare trader's one
    # order that swept a few levels), by their hashes, once these are found as many as the decisions among them
    # (a hash is a function of the decision, so none is then shared). Encoding every run's decisions by Arrow
    # first was 0.35 ms a bench partition.
    in_hopeful = hopeful[np.cumsum(ends) - ends]  # each row's run
    rows, ends = runs.rows[in_hopeful], ends[in_hopeful]
    if _hashes_exact(legs, hashes, rows):
        distinct = distinct_per_run(hashes[rows], ends)
    else:
        codes = dictionary_codes(_decisions_at(legs, rows)).indices.fill_null(-1).to_numpy()
        distinct = _distinct_per_run(codes.astype(np.int64), ends)
    return bool((distinct >= config.min_trades).any())


def _hashes_exact(legs: pl.DataFrame | pa.ChunkedArray, hashes: np.ndarray, rows: np.ndarray) -> bool:
    """Whether the decisions (``_exit_possible``'s ``legs``) of the legs ``rows`` have as many distinct ``hashes``
    as distinct values. Arrow strings in one or two chunks (the screen's buy ids, then its sell ids) are checked in
    place (``momentum_screens.hash_shared``: the strings of equal hashes compared), where taking them out and
    counting them by Arrow was ~0.15 ms of a bench partition (ten days of the 10M-trade market: 0.027 CPU-s);
    others are counted."""
    if isinstance(legs, pl.DataFrame):
        decisions = legs["decision"][rows]  # indexing: ``gather`` goes through an expression, 2.5 times dearer
        return bool(np.unique(hashes[rows]).size == decisions.n_unique())
    if legs.num_chunks in (1, 2) and not legs.null_count:
        first, last = legs.chunks[0], legs.chunks[-1]
        return not hash_shared(hashes, rows, len(first), *string_buffers(first)[:2], *string_buffers(last)[:2])
    return bool(np.unique(hashes[rows]).size == pc.count_distinct(_decisions_at(legs, rows), mode="all").as_py())


def _decisions_at(legs: pl.DataFrame | pa.ChunkedArray, rows: np.ndarray) -> pa.Array | pa.ChunkedArray:
    """The decisions (``_exit_possible``'s ``legs``) of the legs ``rows``, as Arrow values."""
    if isinstance(legs, pa.ChunkedArray):
        return legs.take(pa.array(rows))
    return legs["decision"][rows].to_arrow()


@njit(cache=True, nogil=True)
def _distinct_per_run(codes: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The number of distinct ``codes`` (-1 and up) in each run of rows (``ends``: true at each run's last row)."""
    seen = np.full(codes.max() + 2, -1, np.int64)  # the run a code was last seen in
    out = np.zeros(int(ends.sum()), np.int64)
    k = 0
    for i in range(codes.shape[0]):
        if seen[codes[i] + 1] != k:
            seen[codes[i] + 1] = k
            out[k] += 1
        k += ends[i]
    return out


def _exit_lows(owner: np.ndarray, side: np.ndarray, ts: np.ndarray, dec: np.ndarray, b_owner: np.ndarray,
               b_side: np.ndarray, b_end: np.ndarray, span: int, enough: float = math.inf) -> np.ndarray:
    """Per burst (its owner (0 and up), exit side ``b_side`` (-1, 1) and last time): -1 when the owner has no leg on
    that side in (end, end + ``span``], else a lower bound on its distinct decisions on that side with no leg
    there: the distinct hashes ``dec`` of its decisions on that side less those of its legs in the span. Each such
    hash is a decision's with no leg in the span, and distinct hashes are distinct decisions, so a collision only
    lowers it. Legs of no owner (-1) are left out. In one compiled pass (``momentum_screens.exit_lows``: legs
    gathered by owner and side by counting, hashes counted in hash sets), where NumPy's sorts by owner, side and
    time and of each owner and side's hashes were 1.45 ms a bench partition's runs (0.41 now, 0.31 with
    ``enough``). Where the bound exceeds ``enough`` anyway it may be given lower, but above ``enough`` (its legs in
    the span not counted)."""
    return exit_lows(owner, side, ts, dec, b_owner, b_side, b_end, span, enough)


def _reach(mkt: pl.DataFrame, bursts: pl.DataFrame, follow: dt.timedelta) -> pl.DataFrame:
    """Per burst (``owner``, ``burst``) with a trade from its start to ``follow`` after its end, the highest and
    lowest price traded then (``p_max``, ``p_min``). ``mkt`` is sorted by time: each burst's span is a run of it,
    read in one compiled pass when no time or price is missing (or NaN): the range join and group-by it replaces
    were 0.37 of the detector's 2.3 CPU-s over the bench market, this is 0.08."""
    spans = bursts.select("owner", "burst", "start", until=pl.col("end") + follow)
    price = mkt["price"]
    runs_of = _span_runs(mkt, spans, "start", "until")
    if runs_of is None or price.dtype != pl.Float64 or price.null_count() or price.is_nan().any():
        return span_join(mkt, spans, ts="ts", lo="start", hi="until") \
            .group_by("owner", "burst").agg(p_max=pl.col("price").max(), p_min=pl.col("price").min())
    lo, hi = runs_of
    p_max, p_min = _extremes(price.to_numpy(), lo, hi)
    return spans.select("owner", "burst", p_max=p_max, p_min=p_min).filter(pl.Series(hi > lo))


def _span_runs(mkt: pl.DataFrame, spans: pl.DataFrame, lo: str, hi: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per span, the run [start, stop) of ``mkt``'s rows (sorted by time) whose time lies in [``lo``, ``hi``]; None
    when a time is missing or of another type (``span_join`` then says what it makes of them)."""
    if mkt["ts"].null_count() or spans[lo].null_count() or spans[hi].null_count() \
            or spans[lo].dtype != mkt["ts"].dtype or spans[hi].dtype != mkt["ts"].dtype:
        return None
    ts = mkt["ts"].to_physical().to_numpy()
    start = np.searchsorted(ts, spans[lo].to_physical().to_numpy(), side="left")
    return start, np.maximum(np.searchsorted(ts, spans[hi].to_physical().to_numpy(), side="right"), start)


@njit(cache=True, nogil=True)
def _extremes(price: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest and smallest of ``price[lo[i]:hi[i]]`` per ``i`` (0 where the run is empty)."""
    top = np.zeros(lo.shape[0], np.float64)
    bottom = np.zeros(lo.shape[0], np.float64)
    for i in range(lo.shape[0]):
        if hi[i] > lo[i]:
            top[i] = price[lo[i]:hi[i]].max()
            bottom[i] = price[lo[i]:hi[i]].min()
    return top, bottom


def _without_rider(bursts: pl.DataFrame, legs: pl.DataFrame, news: pl.DataFrame | None, owners: pl.DataFrame,
                   follow: dt.timedelta, config: MomentumIgnitionConfig,
                   shared: dict[Any, Any] | None = None) -> pl.DataFrame:
    """Drop bursts whose move belongs to someone else's large order: another owner's single liquidity-taking
    order in the burst's direction, during the burst or its follow span, at least ``max_rival`` of the burst's
    size. A burst just ahead of such an order rode its impact (front running); it did not ignite the move.
    ``news`` are the order book's placements (None when the partition has no order events)."""
    if bursts.height == 0:
        return bursts
    taken = _orders_taken(legs.filter(pl.col("aggr")), news, owners, shared)
    rival = _largest_rival(taken.filter(pl.col("o_q") >= config.max_rival * num(bursts["q"].min())), bursts, follow)
    return bursts.with_columns(rival=rival) \
        .filter(pl.col("rival").fill_null(0.0) < config.max_rival * pl.col("q")).drop("rival")


def _orders_taken(aggr: pl.DataFrame, news: pl.DataFrame | None, owners: pl.DataFrame,
                  shared: dict[Any, Any] | None = None) -> pl.DataFrame:
    """Each liquidity-taking order (an owner's decision) with when it first traded, its size and its direction
    (``owner``, ``o_ts``, ``o_q``, ``o_sign``). A large order is as large as it was placed, however little of it a
    thin book (emptied by the rider just before) could fill; a market order that found nothing at all counts
    from its placement. ``news`` are the placements (None when the partition has no order events)."""
    fast = _orders_taken_fast(aggr, news, shared)
    if fast is not None:
        taken, missed = fast
    else:
        taken = aggr.group_by("owner", "decision").agg(
            o_ts=pl.col("ts").min(), o_q=pl.col("quantity").sum(), o_sign=pl.col("sign").first().cast(pl.Float64))
        if news is None:
            return taken
        # only the placements of the orders that took liquidity, and market orders (those that found nothing
        # to fill), are read below: the day's resting quotes are most placements
        news = news.filter((pl.col("order_type") == "market") | pl.col("order_id").is_in(taken["decision"].implode()))
        sizes = news.group_by("order_id").agg(size=pl.col("quantity").max())
        taken = taken.join(sizes.rename({"order_id": "decision"}), on="decision", how="left") \
            .with_columns(o_q=pl.max_horizontal("o_q", pl.col("size").fill_null(0.0))).drop("size")
        missed = news.filter(pl.col("order_type") == "market") \
            .join(taken.select(order_id="decision"), on="order_id", how="anti")
    if news is None:
        return taken
    missed = with_owner(missed.group_by("order_id").agg(
        placed=pl.col("ts").min(), size=pl.col("quantity").max(), account=pl.col("account").first(),
        side=pl.col("side").first()), owners, "account", "owner") \
        .select("owner", decision="order_id", o_ts="placed", o_q="size",
                o_sign=pl.when(pl.col("side") == "buy").then(1.0).otherwise(-1.0))
    return pl.concat([taken, missed.select(taken.columns)], how="vertical_relaxed")


def _orders_taken_fast(aggr: pl.DataFrame, news: pl.DataFrame | None, shared: dict[Any, Any] | None = None
                       ) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """The group-by of the liquidity-taking legs by owner and decision, the placed sizes joined to it, and the
    placements of market orders that took nothing (to be grouped by the caller), by compiled passes on exactly
    interned ids; None when a column they read has nulls or the ids cannot be made exact. ``shared``: the
    partition's ``Partition.shared`` (front running interns the same ids: ``taker_placements``)."""
    if aggr.height == 0 or any(aggr[c].null_count() for c in ("owner", "decision", "ts", "quantity")):
        return None
    if news is not None and news["ts"].null_count():
        return None
    found = taker_placements(aggr["decision"], news, shared)
    if found is None:
        return None
    ids, firsts, n_decisions, totals = found
    na = aggr.height
    if aggr["owner"].equals(aggr["owner"].gather(firsts[ids[:na]]), null_equal=True):
        # every decision is one owner's (as order ids are): the groups are the decisions, numbered in order of
        # first appearance already; interning the owners and ranking the pairs was 0.2 CPU-s over the bench market
        n_groups, group, rows = n_decisions, ids[:na], firsts[:n_decisions]
    else:
        owner_ids = exact_codes([aggr["owner"].to_arrow()])
        if owner_ids is None:
            return None
        pair = owner_ids[0] * n_decisions + ids[:na]
        _, first_rows, inverse = np.unique(pair, return_index=True, return_inverse=True)
        order = np.argsort(first_rows, kind="stable")  # groups in order of first appearance
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        n_groups, group, rows = order.size, rank[inverse], first_rows[order]
    o_q, o_ts, _ = group_totals(group, n_groups, aggr["quantity"].cast(pl.Float64).to_numpy(),
                                aggr["ts"].dt.epoch("us").to_numpy())
    if totals is not None:
        _, size, _, sized = totals
        placed = np.where(sized, size, 0.0)[ids[rows]]  # each group's decision's placed size, 0 if none
        o_q = np.where(placed > o_q, placed, o_q)  # the larger, as max(o_q, placed)
    taken = aggr.rechunk()[rows].select(
        "owner", "decision", o_ts=pl.Series(o_ts, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
        o_q=pl.Series(o_q), o_sign=pl.col("sign").cast(pl.Float64))
    if news is None:
        return taken, pl.DataFrame()
    market = news.select(pl.col("order_type") == "market").to_series().to_numpy()
    return taken, news.filter(pl.Series(market & (ids[na:] >= n_decisions)))


def _largest_rival(taken: pl.DataFrame, bursts: pl.DataFrame, follow: dt.timedelta) -> pl.Series:
    """Per burst (in its row order), another owner's largest order in its direction taken from its start to
    ``follow`` after its end, or null. Orders under ``max_rival`` x the smallest burst fail none and were dropped
    by the caller; the few left are found by time (sorted) for each burst, in one compiled pass over the bursts
    (with a Python loop over the bench market's 5,400 bursts this step was 0.19 CPU-s, now 0.09). An inequality
    join of every order with every burst was a third of the detector's time."""
    t = taken.drop_nulls(["owner", "o_ts"]).sort("o_ts")
    # owners as codes of one cast, so that the orders' and the bursts' owners compare (a null burst owner is
    # -1, unlike every order's owner)
    owner = pl.concat([t["owner"], bursts["owner"]]).cast(pl.Categorical).to_physical().cast(pl.Int64) \
        .fill_null(-1).to_numpy()
    step = int(follow.total_seconds() * 1_000_000)
    found, largest = _rivals(t["o_ts"].dt.epoch("us").to_numpy(), t["o_q"].cast(pl.Float64).to_numpy(),
                             t["o_sign"].cast(pl.Float64).to_numpy(), owner[:t.height], owner[t.height:],
                             bursts["start"].dt.epoch("us").to_numpy(), bursts["end"].dt.epoch("us").to_numpy() + step,
                             bursts["direction"].cast(pl.Float64).fill_null(np.nan).to_numpy())
    return pl.Series(largest, dtype=pl.Float64).scatter(np.flatnonzero(~found), None)


@njit(cache=True, nogil=True)
def _rivals(ts: np.ndarray, q: np.ndarray, sign: np.ndarray, owner: np.ndarray, b_owner: np.ndarray,
            start: np.ndarray, until: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per burst: whether an order (sorted by ``ts``) of another owner in its direction, with a quantity, was
    taken in [``start``, ``until``], and the largest such quantity."""
    found = np.zeros(start.shape[0], np.bool_)
    largest = np.zeros(start.shape[0], np.float64)
    for b in range(start.shape[0]):
        lo, hi = np.searchsorted(ts, start[b], "left"), np.searchsorted(ts, until[b], "right")
        for k in range(lo, hi):
            if sign[k] == direction[b] and owner[k] != b_owner[b] and not np.isnan(q[k]):
                if not found[b] or q[k] > largest[b]:
                    largest[b] = q[k]
                found[b] = True
    return found, largest


def _not_accumulating(hits: pl.DataFrame, legs: pl.DataFrame, config: MomentumIgnitionConfig) -> pl.DataFrame:
    """Drop bursts whose owner had already traded the burst's side on the book, in ``min_trades`` or more orders
    adding up to ``max_prior`` of the burst's quantity, in the ``prior_seconds`` before it. Such a burst adds to
    a position being built (a pump's accumulation, a wash ring's rounds): it did not start the move, and the
    exit test, which weighs the owner's trades back against its habit over the whole day, reads the selling of
    that position as an exit because the day's rate understates the habit of the moment."""
    if hits.height == 0:
        return hits
    prior = dt.timedelta(seconds=config.prior_seconds)
    mine = legs.filter(pl.col("owner").is_in(hits["owner"].unique())) \
        .select("owner", "ts", "quantity", "decision", side=pl.col("sign").cast(pl.Float64))
    spans = hits.select("owner", "burst", "direction", since=pl.col("start") - prior, start="start")
    before = span_join(mine, spans, key="owner", ts="ts", lo="since", hi="start", closed="left") \
        .filter(pl.col("side") == pl.col("direction")) \
        .group_by("owner", "burst").agg(q_prior=pl.col("quantity").sum(), n_prior=pl.col("decision").n_unique())
    building = (pl.col("q_prior").fill_null(0.0) >= config.max_prior * pl.col("q")) \
        & (pl.col("n_prior").fill_null(0) >= config.min_trades)
    return hits.join(before, on=["owner", "burst"], how="left").filter(~building).drop("q_prior", "n_prior")


def _one_sided_orders(hits: pl.DataFrame, news: pl.DataFrame | None, owners: pl.DataFrame,
                      config: MomentumIgnitionConfig) -> pl.DataFrame:
    """Keep bursts during which at most ``max_counter_orders`` of the owner's order placements were on the other
    side. A burst is one-sided in the fills by construction; a quoting programme (a quote stuffer, a market
    maker) whose quotes on one side happened to be hit in a row sent as many orders the other way meanwhile: it
    pushed nothing. ``news`` are the order book's placements (None when the partition has no order events)."""
    if news is None or hits.height == 0:
        return hits
    wanted = hits["owner"].unique()
    accounts = pl.concat([owners.filter(pl.col("owner").is_in(wanted))["account"], wanted]).unique()
    mine = with_owner(news.filter(pl.col("account").is_in(accounts)).select("ts", "account", "side"),
                      owners, "account", "owner")
    sent = span_join(mine, hits.select("owner", "burst", "start", "end", "direction"), key="owner", ts="ts",
                     lo="start", hi="end") \
        .group_by("owner", "burst").agg(
            n_sent=pl.len(),
            n_counter=(pl.when(pl.col("side") == "buy").then(1.0).otherwise(-1.0) != pl.col("direction")).sum())
    return hits.join(sent, on=["owner", "burst"], how="left") \
        .filter(pl.col("n_counter").fill_null(0) <= config.max_counter_orders * pl.col("n_sent").fill_null(0)) \
        .drop("n_sent", "n_counter")


class MomentumIgnitionDetector(Detector[MomentumIgnitionConfig]):
    name = "momentum_ignition"
    version = "1.3"
    typology = "momentum_ignition"
    config_model = MomentumIgnitionConfig
    description = "An aggressive one-sided burst moves the price, then its owner trades the other side."

    def describe(self, config: MomentumIgnitionConfig) -> WorkSpec:
        return WorkSpec(tables=("trades", "orders"), partition_by=("venue", "symbol", "date"),
                        columns={"trades": TRADE_COLUMNS, "orders": ORDER_COLUMNS,
                                 "accounts": ("venue", "account", "customer_id")},
                        broadcast=("accounts",))

    def kernel(self, part: Partition, config: MomentumIgnitionConfig) -> pa.Table:
        out = AlertBuilder(self)
        # most partitions stop here, before the trades' frame and their owners' names are made (None: the frame's
        # check below decides)
        screened = _arrow_exit_possible(part, config)
        if screened is False:
            return out.to_table()
        trades = frame(part, "trades", TRADE_COLUMNS)
        if trades.height < 10 or trades["aggressor"].null_count() == trades.height:
            return out.to_table()
        venue, symbol = part_venue(part, trades), part_symbol(part, trades)
        owners = owner_map(part, venue)
        owned = with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s")
        if screened is None:
            gap = _gap_us(config)
            runs = trade_runs(owned, gap, config.min_trades)  # None (nulls, not in time order): the full path decides
            # no burst may pass the exit test's chance filter (which reads only the legs' decisions: the trades
            # between two owners and their legs' frame are made after it)
            if runs is not None and not _exit_possible(runs, _leg_decisions(owned), day_seconds(runs), config):
                return out.to_table()
        t = owned.filter(pl.col("owner_b") != pl.col("owner_s"))
        # ``frame`` hands the trades in time order already (nulls last), and a sort of rows in order returns them
        # as they are: sorting them again was 0.13 of the detector's 2.3 CPU-s over the bench market.
        if t["ts"].null_count() or not t["ts"].is_sorted():
            t = t.sort("ts")
        day_s = span_seconds(t["ts"], 3600.0)
        legs = _legs(t)
        bursts = _bursts(legs, config)  # its runs by owners in string order, as the full path has them
        if bursts.height == 0:
            return out.to_table()
        sigma = minute_sigma(trades)
        mkt = t.select("ts", "quantity", "price")
        # Market volume during each burst and the last price before it, by inequality join on time.
        during = span_join(mkt, bursts.select("owner", "burst", "start", "end"), ts="ts", lo="start", hi="end") \
            .group_by("owner", "burst").agg(mkt=pl.col("quantity").sum())
        follow = dt.timedelta(seconds=config.follow_seconds)
        reach = _reach(mkt, bursts, follow)
        before = bursts.select("owner", "burst", "start").sort("start").join_asof(
            mkt.select(b_ts="ts", p_before="price").sort("b_ts"), left_on="start", right_on="b_ts",
            strategy="backward", allow_exact_matches=False)
        bursts = bursts.join(during, on=["owner", "burst"]).join(before.drop("start", "b_ts"), on=["owner", "burst"]) \
            .join(reach, on=["owner", "burst"])
        bursts = bursts.with_columns(direction=pl.col("q_signed").sign().cast(pl.Float64)).with_columns(
            move=(pl.when(pl.col("direction") > 0).then(pl.col("p_max")).otherwise(pl.col("p_min"))
                  / pl.coalesce("p_before", "p_first")).log(),
            span_min=((pl.col("end") - pl.col("start")).dt.total_seconds() / 60).clip(1.0, None),
        ).filter((pl.col("q") >= config.min_share * pl.col("mkt"))
                 & (pl.col("direction") * pl.col("move") >= config.min_move_sigmas * sigma * pl.col("span_min").sqrt()))
        news = placements(part, PLACEMENT_COLUMNS)
        bursts = _without_rider(bursts, legs, news, owners, follow, config, part.shared)
        if bursts.height == 0:
            return out.to_table()
        post = dt.timedelta(seconds=config.post_seconds)
        # the legs of the bursts' owners (a few dozen): all that the exit and rate steps below read, found by one
        # filter instead of a hash of every leg's owner in each (0.06 of the detector's 2.3 CPU-s over the bench
        # market)
        mine = legs.filter(pl.col("owner").is_in(bursts["owner"].unique().implode()))
        # the owner's own legs after each of its bursts: a hash join on the owner, then the time span
        back = span_join(mine, bursts.select("owner", "burst", "end", "direction", until=pl.col("end") + post),
                         key="owner", ts="ts", lo="end", hi="until", closed="right") \
            .filter(pl.col("sign") == -pl.col("direction")).rename({"owner": "b_owner"}) \
            .group_by("b_owner", "burst").agg(
                q_back=pl.col("quantity").sum(), n_back=pl.col("decision").n_unique(), back_ids=pl.col("trade_id"),
                back_last=pl.col("ts").max(),
                back_accounts=pl.col("account").unique(),
                back_vwap=(pl.col("price") * pl.col("quantity")).sum() / pl.col("quantity").sum())
        # the rates of the bursts' owners only: they are all the join below reads
        rates = mine.group_by("owner", "sign") \
            .agg(rate=pl.col("decision").n_unique() / day_s) \
            .with_columns(direction=(-pl.col("sign")).cast(pl.Float64)).drop("sign")
        hits = bursts.join(back.rename({"b_owner": "owner"}), on=["owner", "burst"]) \
            .join(rates, on=["owner", "direction"], how="left").with_columns(
                # The owner's other-side rate outside this exit: its own exit must not count as its habit.
                coincidence=chance_of_any((pl.col("rate").fill_null(0.0) - pl.col("n_back") / day_s).clip(0.0, None),
                                          config.post_seconds)).filter(
            (pl.col("q_back") >= config.min_reverse * pl.col("q")) & (pl.col("coincidence") <= config.max_coincidence)
)
        hits = _one_sided_orders(_not_accumulating(hits, mine, config), news, owners, config).sort("owner", "start")
        for row in hits.iter_rows(named=True):
            start, end = as_dt(row["start"]), as_dt(row["back_last"])
            if not ends_in_window(part.window, end):
                continue
            accounts = sorted(set(row["accounts"]) | set(row["back_accounts"]))
            verb, back_verb = ("bought", "sold") if row["direction"] > 0 else ("sold", "bought")
            out.add(venue=venue, symbol=symbol, accounts=accounts, start=start, end=end,
                    score=clip01(0.5 + row["q"] / row["mkt"] / 2 + abs(row["move"]) / sigma / 50),
                    evidence_ids=list(row["ids"]) + list(row["back_ids"]),
                    explanation=(f"account {names(accounts)} aggressively {verb} {fmt_qty(row['q'])} units of "
                                 f"{symbol} in {row['n']} trades within {fmt_span(start, as_dt(row['end']))} "
                                 f"({row['q'] / row['mkt']:.0%} of the volume), moving the price "
                                 f"{math.expm1(row['move']):+.2%}, then {back_verb} {fmt_qty(row['q_back'])} at "
                                 f"{row['back_vwap']:.6g} against its {row['vwap']:.6g} average."))
        return out.to_table()


DETECTOR = register(MomentumIgnitionDetector())
