"""Shared logic of spoofing and layering: orders that were never meant to execute.

The defining behaviour: an account rests large order(s) on one side of the book, trades on the OTHER
side while those orders stand, and cancels them (unfilled) soon after. The orders create the impression
of demand or supply; the trade on the other side is the point. Four tests make an *episode*:

1. bona fide? — the orders are cancelled (or expire) with at most ``max_fill_ratio`` of them filled,
   within ``max_lifetime`` of being placed, and each is large against the symbol-day's typical order;
2. the other side — while they stand (plus ``grace``), the same owner executes on the opposite side;
3. imbalance — the resting quantity outweighs the executed quantity (``min_imbalance``): the bait is
   there to move others, so it is larger than the trade it serves.
4. a real trade — that execution is itself material (``min_opposite_multiple`` of the median order): the
   trade is the point of the scheme, not a few units that happened to cross while a big order stood.

Overlapping candidate orders of one owner and side form one episode. Spoofing and layering differ in
shape: layering spreads the bait over ``min_levels`` or more price levels; spoofing uses fewer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from numba import njit
from pydantic import BaseModel, Field

from harbour.detect.framework import Partition
from harbour.detect.market import pressure_screen
from harbour.detect.market.frames import (
    ORDER_COLUMNS,
    PLACEMENT_COLUMNS,
    TRADE_COLUMNS,
    chance_of_any,
    frame,
    num,
    owner_map,
    placements,
    poisson_tail,
    run_starts,
    span_seconds,
    stable_sort,
    string_ranks,
    with_owner,
)
from harbour.detect.market.lifecycles import exact_codes, order_lifecycles, trade_fills


class PressureConfig(BaseModel):
    size_multiple: float = Field(
        3.0, gt=0, description="each bait order's size against the median new-order size of the symbol-day")
    max_fill_ratio: float = Field(
        0.1, ge=0, le=1, description="largest filled share of a bait order; genuine orders get filled")
    max_lifetime_s: float = Field(
        120.0, gt=0, description="seconds from placement to cancel; bait is pulled quickly once it has served")
    grace_s: float = Field(
        5.0, ge=0, description="seconds after the last cancel in which an opposite-side execution still counts")
    min_imbalance: float = Field(
        2.0, gt=0, description="bait quantity over the owner's opposite-side executed quantity in the episode "
        "(bait twice the genuine order at least; when the genuine order fills in full, a spoofer's ratio is often "
        "2-5, and market makers are told apart by the coincidence and own-size tests, not by this ratio)")
    max_coincidence: float = Field(
        0.01, gt=0, le=1, description="largest chance that the owner's opposite-side execution fell inside the "
        "episode by coincidence, given how often the owner trades that side (Poisson), multiplied over all its "
        "candidate episodes of the day; a market maker filled every few seconds always has a fill under some big "
        "quote, a spoofer's fill is timed to its bait")
    max_repeat_chance: float = Field(
        0.01, gt=0, le=1, description="largest chance that as many of the owner's candidate episodes as did had an "
        "opposite-side execution by coincidence (Poisson, over the sum of the episodes' chances): one coincidence "
        "among an ordinary trader's many big orders is expected, a spoofer's fills come under its bait episode "
        "after episode")
    min_order_multiple: float = Field(
        6.0, gt=0, description="the largest bait order of an episode against the symbol-day's median order; bait "
        "must look like real size to move anyone (8 until session 6, when the opposite-size test below took over "
        "the honest traders' one-off big orders that 8 had kept out)")
    min_levels: int = Field(
        3, ge=2, description="distinct bait prices that make an episode layering; fewer make it spoofing")
    own_size_multiple: float = Field(
        3.0, gt=0, description="the episode's bait against the median size of the owner's own orders that "
        "traded, leaving out the orders it placed on the other side while one of its episodes stood and big orders "
        "it pulled at most half filled; a market maker's big quote is within its usual range, a spoofer's bait is "
        "not")
    min_opposite_multiple: float = Field(
        0.5, ge=0, description="the owner's execution on the other side in the episode against the symbol-day's "
        "median order: the trade the bait serves is the point of the scheme, a real trade; an honest trader's one "
        "big order that happened to stand while it traded a few units the other way is not spoofing (session 6: 12 "
        "of the 19 spoofing strays on the tuning lakes traded under 0.5x the median order; 95% of the incidents' "
        "episodes traded 0.86x or more)")


def _fills(trades: pl.DataFrame) -> pl.DataFrame:
    """Filled quantity per order id that traded (both sides of every trade)."""
    return trade_fills(trades).group_by("order_id").agg(filled=pl.col("q").sum())


def _lifecycles(orders: pl.DataFrame, fills: pl.DataFrame) -> pl.DataFrame:
    """One row per order of ``orders``: owner, side, price, placed/cancelled times, largest open quantity, and
    its filled quantity from ``fills``."""
    life = orders.group_by("order_id").agg(
        account=pl.col("account").first(), side=pl.col("side").first(), order_type=pl.col("order_type").first(),
        price=pl.col("price").filter(pl.col("event") == "new").first(),
        placed=pl.col("ts").filter(pl.col("event") == "new").min(),
        cancelled=pl.col("ts").filter(pl.col("event").is_in(["cancel", "expire"])).max(),
        size=pl.col("quantity").max(),
    )
    return life.join(fills, on="order_id", how="left").with_columns(pl.col("filled").fill_null(0.0))


@dataclass(frozen=True)
class Candidates:
    """A symbol-day's candidate episodes (the owner traded the other side in them), before the coincidence
    thresholds, which each detector applies with its own (``coincident``), and the executions of their owners,
    from which the episodes that pass draw their evidence, with when the executions' orders were placed
    (``placed``: ``ex_order``, ``ex_placed``, one row an order)."""

    found: pl.DataFrame
    ex: pl.DataFrame
    median: float
    placed: pl.DataFrame

    @staticmethod
    def none() -> Candidates:
        return Candidates(pl.DataFrame(), pl.DataFrame(), 0.0, pl.DataFrame())


# What ``_episodes`` answers where the screen (``pressure_screen``) says no episode may alert.
_SCREENED_OUT = Candidates.none()


def coincident(cands: Candidates, config: PressureConfig) -> pl.DataFrame:
    """The episodes whose owner's timing is more than a coincidence by ``config``'s thresholds, with their
    evidence."""
    eps = cands.found
    if eps.height:
        eps = eps.filter((pl.col("coincidence") <= config.max_coincidence)
                         & (pl.col("repeat_chance") <= config.max_repeat_chance))
    return _with_evidence(eps, cands.ex, cands.placed, cands.median)


def executions(owned: pl.DataFrame, wanted: pl.DataFrame) -> pl.DataFrame:
    """The legs of ``wanted``'s owners on its sides (``owner``, ``side``), from the trades with both sides' owners
    (``owned``: ``owner_b``, ``owner_s``): trade_id, ts, price, quantity, account, side, the side's order id and
    owner; the buys, then the sells, each in trade order. The trades' owners are the look-up the partition's other
    venue-symbol-day kernels make and keep (``with_owner``): picking the owners' accounts, filtering the legs by
    them, looking the legs' owners up again and keeping the wanted owner-sides by a join on two strings was 0.38
    CPU-s a rep over the bench market."""
    def side(name: str, account: str, order_id: str, owner: str) -> pl.DataFrame:
        owners = wanted.filter(pl.col("side") == name)["owner"]
        return owned.filter(pl.col(owner).is_in(owners.implode())).select(
            "trade_id", "ts", "price", "quantity", account=account, side=pl.lit(name), ex_order=order_id, owner=owner)
    return pl.concat([side("buy", "buyer", "buy_order_id", "owner_b"),
                      side("sell", "seller", "sell_order_id", "owner_s")])


def _resting(bait: pl.DataFrame, trades: pl.DataFrame) -> pl.DataFrame:
    """Bait rests in the book. An order that took liquidity is an attempt to trade (a marketable limit whose
    rest was cancelled), not bait. Without aggressor flags, a buy priced above the last trade (a sell below)
    is taken to have crossed; the last trade is a poor guide to a thin book's touch, so flags come first."""
    if "aggressor" in trades.columns and trades["aggressor"].null_count() < trades.height:
        taker = pl.when(pl.col("aggressor") == "buy").then(pl.col("buy_order_id")) \
            .when(pl.col("aggressor") == "sell").then(pl.col("sell_order_id"))
        # the few takers among the bait's ids first: hashing every liquidity-taking order id of the day to
        # drop a handful of bait orders was most of this step
        took = trades.select(order_id=taker).filter(pl.col("order_id").is_in(bait["order_id"].implode()))["order_id"]
        # a filter, not an anti-join (a bait order without an id is kept, as the join keeps it): the buyers' and
        # the sellers' takers picked apart, put together, made unique and joined were ~0.5 ms a partition
        return bait.filter(~pl.col("order_id").is_in(took.implode()).fill_null(False))
    last = trades.select(t_ts="ts", last="price").sort("t_ts")
    return bait.sort("placed").join_asof(last, left_on="placed", right_on="t_ts", strategy="backward") \
        .filter(pl.col("last").is_null()
                | pl.when(pl.col("side") == "buy").then(pl.col("price") <= pl.col("last"))
                .otherwise(pl.col("price") >= pl.col("last"))).drop("t_ts", "last")


def _pulled(bait: pl.DataFrame, news: pl.DataFrame) -> pl.DataFrame:
    """Bait its owner pulled. An order cancelled in the very matching event (same time stamp) in which the same
    account's order on the other side arrived was cancelled by that order — the venue's self-trade prevention
    removing the resting order the incoming one would have traded with (the account was willing to trade at
    the bait's own price), or a reversal in one message — not pulled after the trade it served."""
    # only placements at the very time stamps some bait was cancelled can match (an integer test first)
    at_cancels = news.filter(pl.col("ts").is_in(bait["cancelled"].drop_nulls().unique().implode()))
    reversing = at_cancels.join(bait.select("account").unique(), on="account", how="semi").select(
        "account", cancelled="ts", side=pl.when(pl.col("side") == "buy").then(pl.lit("sell")).otherwise(pl.lit("buy")))
    return bait.join(reversing, on=["account", "cancelled", "side"], how="anti")


def episodes(part: Partition, config: PressureConfig) -> tuple[Candidates, str]:
    """Candidate spoofing/layering episodes of one venue-symbol-day, and the venue code. Spoofing and layering
    search the same episodes; the second of them on a partition takes the first's (``Partition.shared``)."""
    inputs = (part.tables.get("orders"), part.tables.get("trades"), part.broadcast.get("accounts"))
    # The repeat threshold is applied by each detector (``coincident``), so it is not part of the key; the
    # coincidence threshold also screens owners out early (``_owners_who_may_alert``), so it is (spoofing and layering
    # share it by default, and then the search).
    memo = ("cancelled_pressure.episodes", tuple(id(t) for t in inputs),
            PressureConfig(**config.model_dump(include=set(PressureConfig.model_fields)
                                               - {"max_repeat_chance"})).model_dump_json())
    if memo not in part.shared:
        found = _episodes(part, config)
        if found[0] is _SCREENED_OUT:
            # not kept: the screen's answer also depends on max_repeat_chance (it keeps its own figures)
            return Candidates.none(), found[1]
        part.shared[memo] = (found, inputs)  # the inputs stay alive, so their ids stay theirs
    kept: tuple[Candidates, str] = part.shared[memo][0]
    return kept


def _orders(part: Partition) -> pl.DataFrame:
    """The partition's order events with the columns the episode search reads. Columns are dropped before
    leaving Arrow: converting the symbol (and the venue, when the partition key names it) of millions of
    events only to ignore them was a tenth of the search."""
    arrow = part.tables.get("orders")
    if arrow is None:
        return frame(part, "orders", ORDER_COLUMNS)
    unused = {"symbol"} | ({"venue"} if part.key.get("venue") else set())
    keep = [c for c in ORDER_COLUMNS if c in arrow.column_names and c not in unused]
    return frame(Partition(part.key, {"orders": arrow.select(keep)}, part.window), "orders", keep)


def _life_stories(part: Partition, trades: pl.DataFrame, median: float, config: PressureConfig) -> pl.DataFrame:
    """The lifecycles (``_lifecycles``) of the orders big enough to be bait and of those that traded (the
    owners' genuine orders); the rest of the day's quotes need none. Built by one compiled pass over the
    events (``order_lifecycles``); by grouping the events by their string ids when the ids cannot be made
    exact that way."""
    arrow = part.tables["orders"]
    if arrow.column("ts").null_count == 0:
        life = order_lifecycles(arrow, trades, config.size_multiple * median)
        if life is not None:
            return life
    orders = _orders(part)
    # The traded orders' fills are summed once: their ids are the traded orders (a semi-join needs no unique).
    fills = _fills(trades)
    big_ids = orders.filter((pl.col("event") == "new") & (pl.col("order_type") == "limit")
                            & (pl.col("quantity") >= config.size_multiple * median)).select("order_id")
    wanted = pl.concat([big_ids, fills.select("order_id")])
    return _lifecycles(orders.join(wanted, on="order_id", how="semi"), fills)


def _episodes(part: Partition, config: PressureConfig) -> tuple[Candidates, str]:
    arrow = part.tables.get("orders")
    if arrow is None or arrow.num_rows == 0:
        return Candidates.none(), ""
    venue = str(part.key.get("venue") or arrow.column("venue")[0].as_py())
    owners = owner_map(part, venue)
    # Most days no owner can have an episode that alerts: a screen on the Arrow tables says so before the search's
    # ~90 data-frame operations (pressure_screen).
    if not pressure_screen.may_alert(part, config, owners):
        return _SCREENED_OUT, venue
    trades = frame(part, "trades", TRADE_COLUMNS)
    news = placements(part, PLACEMENT_COLUMNS)
    assert news is not None
    median = num(news["quantity"].median())
    # Only orders big enough to be bait, and those that traded (the owners' genuine orders), need their
    # life story; reducing to them first keeps the aggregation off the millions of ordinary quotes.
    # Owners are looked up once for every life story: the genuine orders and the bait are both read from them
    # (two look-ups, of 30k and 8k rows a partition, before).
    life = with_owner(_life_stories(part, trades, median, config), owners, "account", "owner")
    own_life = life.filter(pl.col("filled") > 0)
    life = life.filter(pl.col("order_type") == "limit").drop_nulls(["placed", "price"])
    bait = life.filter(
        pl.col("cancelled").is_not_null()
        & (pl.col("filled") <= config.max_fill_ratio * pl.col("size"))
        & (pl.col("size") >= config.size_multiple * median)
        & ((pl.col("cancelled") - pl.col("placed")) <= dt.timedelta(seconds=config.max_lifetime_s))
    )
    if bait.height == 0:
        return Candidates.none(), venue
    # The owner's usual size is that of its orders that traded, not of big orders it pulled with most of them
    # unfilled (bait or not: one that took a little at the touch before it was pulled, or bait hit for a tenth of
    # it, is no measure of what the owner trades).
    pulled = life.filter(pl.col("cancelled").is_not_null() & (pl.col("filled") <= 0.5 * pl.col("size"))
                         & (pl.col("size") >= config.size_multiple * median)).select("order_id")
    usual = own_life.join(pulled, on="order_id", how="anti")
    bait = _resting(_pulled(bait, news), trades).sort("owner", "side", "placed")
    # Overlapping bait orders of one owner and side form one episode.
    bait = bait.with_columns(_episode_numbers(bait))
    eps = bait.group_by("owner", "side", "ep").agg(
        start=pl.col("placed").min(), end=pl.col("cancelled").max(), orders=pl.col("order_id"),
        bait_accounts=pl.col("account").unique(), bait_qty=pl.col("size").sum(), n_orders=pl.len(),
        levels=pl.col("price").n_unique(), lo=pl.col("price").min(), hi=pl.col("price").max(),
        max_life=(pl.col("cancelled") - pl.col("placed")).max(), biggest=pl.col("size").max(),
    )
    big = eps.filter(pl.col("biggest") >= config.min_order_multiple * median)
    eps = big.join(_own_medians(usual, eps.join(big.select("owner").unique(), on="owner", how="semi")),
                   on="owner", how="left") \
        .filter(pl.col("bait_qty") >= config.own_size_multiple * pl.col("own_median").fill_null(median))
    # Only the executions of the owners still judged are read from here on (everything after is per owner);
    # the day's span, the rates' denominator, is all the trades'.
    day_s = span_seconds(trades["ts"], 3600.0) if trades.height else 86400.0
    # and of those, only the side opposite some episode of the owner's: every later step (running totals, rates,
    # evidence) is per owner and side, so a market maker's fills on the side it never pulled bait from are not read
    wanted = eps.select("owner", side=pl.when(pl.col("side") == "buy").then(pl.lit("sell")).otherwise(pl.lit("buy"))) \
        .unique()
    ex = executions(with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s"), wanted)
    # When each execution's order was placed: a genuine order placed while the bait stands may fill just after.
    # Only the evidence reads it, for the few legs near an episode that passed (``_with_evidence``): looking up
    # every leg's order here was 0.27 CPU-s a rep over the bench market.
    placed = own_life.select(ex_order="order_id", ex_placed="placed")
    return _with_opposite(eps, ex, median, day_s, config, placed), venue


def _episode_numbers(bait: pl.DataFrame) -> pl.Series:
    """Each bait order's episode (``ep``, from 1) within its owner and side, ``bait`` sorted by owner, side and
    placement: an order placed after every earlier order of its owner and side was cancelled begins the next
    one. One compiled pass over the sorted rows; the three window expressions it replaces (the running latest
    cancel, the cut, the running count, each regrouping the rows by their string keys) were ~0.7 ms a partition.
    Rows with a null owner or side are one group, as a window over them makes them."""
    heads = bait.select(pl.any_horizontal([pl.col(k).ne_missing(pl.col(k).shift(1)) for k in ("owner", "side")])) \
        .to_series().to_numpy().copy()
    heads[:1] = True
    return pl.Series("ep", _numbered(heads, bait["placed"].to_physical().to_numpy(),
                                     bait["cancelled"].to_physical().to_numpy()), dtype=pl.Int32)


@njit(cache=True, nogil=True)
def _numbered(heads: np.ndarray, placed: np.ndarray, cancelled: np.ndarray) -> np.ndarray:
    """``_episode_numbers``' values: the run restarts at each head; within it, a row placed after the latest
    cancel of the rows before it starts a new episode."""
    ep = np.empty(heads.shape[0], np.int32)
    number, reach = 0, 0
    for i in range(heads.shape[0]):
        if heads[i]:
            number, reach = 1, cancelled[i]
        else:
            if placed[i] > reach:
                number += 1
            reach = max(reach, cancelled[i])
        ep[i] = number
    return ep


def _own_medians(own_life: pl.DataFrame, eps: pl.DataFrame) -> pl.DataFrame:
    """Per owner, the median size of its orders that traded (pulled big orders left out by the caller),
    leaving out those placed on the other side while one of its candidate bait episodes stood: those are the
    pattern (the genuine orders the bait served), not the owner's habit. Counted in, they measured a spoofer with
    no other trading against its own genuine orders, and bait 2-3x them failed ``own_size_multiple`` (session 6:
    5 of the 9 missed spoofs that had an episode). Owners with nothing left are compared with the market. Only
    the owners of ``eps`` (the episodes whose bait is big enough to judge, with all their candidate episodes)
    are measured."""
    spans = eps.select("owner", start="start", end="end",
                       opp=pl.when(pl.col("side") == "buy").then(pl.lit("sell")).otherwise(pl.lit("buy"))) \
        .sort("start")
    mine = own_life.join(spans.select("owner").unique(), on="owner", how="semi") \
        .select("owner", "size", opp="side", placed="placed").drop_nulls("placed").sort("placed")
    during = mine.join_asof(spans, left_on="placed", right_on="start", by=["owner", "opp"], strategy="backward",
                            check_sortedness=False)
    return during.filter(pl.col("end").is_null() | (pl.col("placed") > pl.col("end"))) \
        .group_by("owner").agg(own_median=pl.col("size").median())


def _near_episodes(ex: pl.DataFrame, found: pl.DataFrame) -> pl.DataFrame:
    """The executions (in their order) that may fall in one of ``found``'s episodes on their owner's side: those
    after an episode's start and no later than the latest stop of the episodes begun by then. A superset of the
    rows the evidence join keeps, found by one as-of join, so that a market maker's thousands of fills are not
    crossed with its episodes."""
    spans = found.select("owner", side="opp_side", e_start="start", stop="stop").sort("e_start") \
        .with_columns(reach=pl.col("stop").cum_max().over("owner", "side")).drop("stop")
    rows = ex.with_row_index("_row").sort("ts").join_asof(
        spans, left_on="ts", right_on="e_start", by=["owner", "side"], strategy="backward", check_sortedness=False)
    return rows.filter(pl.col("ts") <= pl.col("reach")).sort("_row").drop("_row", "e_start", "reach")


@njit(cache=True, nogil=True)
def _segment_sums(q: np.ndarray, new: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running sums of ``q`` and ``new`` that restart where ``starts`` is set, added one row at a time."""
    cum_q = np.empty(q.size, dtype=np.float64)
    cum_n = np.empty(q.size, dtype=np.int64)
    total_q, total_n = 0.0, 0
    for i in range(q.size):
        if starts[i]:
            total_q, total_n = 0.0, 0
        total_q += q[i]
        total_n += new[i]
        cum_q[i] = total_q
        cum_n[i] = total_n
    return cum_q, cum_n


def _first_in_run(ex: pl.DataFrame, starts: np.ndarray) -> np.ndarray:
    """1 where a row's decision first appears in its owner-and-side run (the runs are contiguous), else 0: on
    exactly interned decision ids, one pass; on the strings when they cannot be interned (nulls, a collision)."""
    found = exact_codes([ex["decision"].to_arrow()]) if ex.height else None
    if found is None:
        first = pl.struct("owner", "side", "decision").is_first_distinct().cast(pl.Int64)
        return ex.select(first).to_series().to_numpy()
    codes, firsts = found
    return _new_in_run(codes, starts, len(firsts))


@njit(cache=True, nogil=True)
def _new_in_run(codes: np.ndarray, starts: np.ndarray, n_ids: int) -> np.ndarray:
    seen_in = np.full(n_ids, -1, np.int64)  # the last run each id was seen in
    new = np.zeros(codes.shape[0], np.int64)
    run = -1
    for i in range(codes.shape[0]):
        if starts[i]:
            run += 1
        if seen_in[codes[i]] != run:
            seen_in[codes[i]] = run
            new[i] = 1
    return new


def _running_totals(ex: pl.DataFrame, starts: np.ndarray) -> list[pl.Series | pl.Expr]:
    """Per owner and side (``ex`` is sorted by them; ``starts``: their runs' first rows): the running executed
    quantity and count of distinct decisions. One pass over the contiguous runs instead of two window expressions
    that regroup the rows by their string keys; the additions are the same, in the same order."""
    if ex["quantity"].null_count():
        return [pl.col("quantity").cum_sum().over("owner", "side").alias("cum_q"),
                pl.col("decision").is_first_distinct().cast(pl.Int64).cum_sum().over("owner", "side").alias("cum_n")]
    # a decision is new the first time it appears in its owner-and-side run (a trade id standing in for a
    # missing order id is on both sides)
    cum_q, cum_n = _segment_sums(ex["quantity"].cast(pl.Float64).to_numpy(), _first_in_run(ex, starts), starts)
    return [pl.Series("cum_q", cum_q, dtype=pl.Float64), pl.Series("cum_n", cum_n, dtype=pl.Int64)]


def _totals_around(eps: pl.DataFrame, ex: pl.DataFrame, starts: np.ndarray) -> list[pl.Series]:
    """For each episode, its owner's running totals on the episode's opposite side (``ex``: sorted by owner, side
    and time, with ``cum_q`` and ``cum_n``; ``starts``: its owner-and-side runs' first rows) at the last execution
    before ``start`` (``q0``, ``n0``) and at the last one at or before ``stop`` (``q1``, ``n1``); 0 where there is
    none. Executions at one time stamp are all in or all out. Each episode finds its run by one small join on the
    run heads, then its two rows by binary search in the run's times: two as-of joins by the string keys, each
    sorting the executions again, and the joins of their results back to the episodes were a quarter of the
    episode search."""
    if ex["ts"].null_count() or ex["cum_q"].null_count():
        return _totals_by_asof(eps, ex)
    rows = np.flatnonzero(starts)
    heads = ex[rows].select("owner", opp_side="side").with_columns(run=pl.Series(rows, dtype=pl.Int64))
    lo = eps.select("owner", "opp_side").join(heads, on=["owner", "opp_side"], how="left", maintain_order="left") \
        ["run"].fill_null(-1).to_numpy()
    bounds = np.append(rows, ex.height).astype(np.int64)
    q0, n0, q1, n1 = _around(ex["ts"].to_physical().to_numpy(), ex["cum_q"].to_numpy(), ex["cum_n"].to_numpy(),
                             bounds, lo.astype(np.int64), eps["start"].to_physical().to_numpy(),
                             eps["stop"].to_physical().to_numpy())
    return [pl.Series("q0", q0), pl.Series("n0", n0), pl.Series("q1", q1), pl.Series("n1", n1)]


def _totals_by_asof(eps: pl.DataFrame, ex: pl.DataFrame) -> list[pl.Series]:
    """``_totals_around`` by as-of joins, for executions with a missing time or quantity (not in the contract, but
    an as-of join simply never matches a null time, and a null running total counts as 0)."""
    keyed = ex.select("owner", opp_side="side", ts="ts", cum_q="cum_q", cum_n="cum_n").sort("ts", maintain_order=True)
    at = eps.select("owner", "opp_side", "start", "stop").with_row_index("_ep")
    before = at.sort("start").join_asof(keyed, left_on="start", right_on="ts", by=["owner", "opp_side"],
                                        strategy="backward", allow_exact_matches=False, check_sortedness=False)
    upto = at.sort("stop").join_asof(keyed, left_on="stop", right_on="ts", by=["owner", "opp_side"],
                                     strategy="backward", check_sortedness=False)
    before, upto = before.sort("_ep"), upto.sort("_ep")
    return [before["cum_q"].fill_null(0.0).alias("q0"), before["cum_n"].fill_null(0).alias("n0"),
            upto["cum_q"].fill_null(0.0).alias("q1"), upto["cum_n"].fill_null(0).alias("n1")]


@njit(cache=True, nogil=True)
def _around(ts: np.ndarray, cum_q: np.ndarray, cum_n: np.ndarray, bounds: np.ndarray, lo: np.ndarray,
            start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``_totals_around``'s values: episode i's run begins at row ``lo[i]`` (-1: none) and ends where the next run
    begins (``bounds``, run heads in order and the row count)."""
    n = lo.shape[0]
    q0, q1 = np.zeros(n, np.float64), np.zeros(n, np.float64)
    n0, n1 = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for i in range(n):
        a = lo[i]
        if a < 0:
            continue
        z = bounds[np.searchsorted(bounds, a) + 1]
        b = a + np.searchsorted(ts[a:z], start[i], side="left") - 1  # the last row strictly before the start
        if b >= a:
            q0[i], n0[i] = cum_q[b], cum_n[b]
        u = a + np.searchsorted(ts[a:z], stop[i], side="right") - 1  # the last row at or before the stop
        if u >= a:
            q1[i], n1[i] = cum_q[u], cum_n[u]
    return q0, n0, q1, n1


def _by_owner_side_time(ex: pl.DataFrame) -> pl.DataFrame:
    """``stable_sort(ex, ["owner", "side", "ts"])``. The executions come as the buys, then the sells, each side in
    the time order of the trades: then the rows' order within their owner and side is already by time, and a
    stable sort by owner and side alone (one integer key) gives the same order; sorting by the three keys again
    was ~0.4 ms a partition. Any other order, or a null among the keys, takes ``stable_sort``."""
    n = ex.height
    if n < 2 or any(ex[c].null_count() for c in ("owner", "side", "ts")):
        return stable_sort(ex, ["owner", "side", "ts"])
    is_sell = ex.select(pl.col("side") == "sell").to_series().to_numpy()
    n_buy = n - int(is_sell.sum())
    ts = ex["ts"].to_physical().to_numpy()
    if is_sell[:n_buy].any() or not (ex["side"][:n_buy] == "buy").all() \
            or (np.diff(ts[:n_buy]) < 0).any() or (np.diff(ts[n_buy:]) < 0).any():
        return stable_sort(ex, ["owner", "side", "ts"])
    # "buy" sorts before "sell": the block a row is in is its side's rank
    key = string_ranks(ex["owner"])[0] * 2 + is_sell
    return ex.rechunk()[np.argsort(key, kind="stable")]


def _with_opposite(eps: pl.DataFrame, ex: pl.DataFrame, median: float, day_s: float,
                   config: PressureConfig, placed: pl.DataFrame) -> Candidates:
    """Attach the owner's opposite-side executions during each episode (running sums read by binary search, so a
    busy market maker's thousands of fills are never crossed with its episodes) and the chances that they
    coincided, keeping the episodes with such an execution; each detector then applies its own thresholds to the
    chances and attaches the evidence (``coincident``)."""
    # Executions are counted in decisions (orders): one order sweeping five levels is one act of trading.
    ex = _by_owner_side_time(ex).with_columns(decision=pl.coalesce("ex_order", "trade_id"))
    starts = ex.select(run_starts(["owner", "side"])).to_series().to_numpy()  # one for the totals, rates and look-ups
    ex = ex.with_columns(_running_totals(ex, starts))
    # the distinct decisions of each owner and side: the running count at the last row of its run (the row before
    # the next run's first; the first row is always a first, so it rolls round to the last)
    rate = ex.filter(pl.Series(np.roll(starts, -1))).select("owner", "side", rate=pl.col("cum_n") / day_s)
    grace = dt.timedelta(seconds=config.grace_s)
    # An owner that pulls big orders all day will see some of them coincide with its own fills: the chance is
    # judged over all its candidate episodes (family-wise), not one at a time.
    eps = eps.with_columns(opp_side=pl.when(pl.col("side") == "buy").then(pl.lit("sell")).otherwise(pl.lit("buy")),
                           stop=pl.col("end") + grace, n_eps=pl.len().over("owner"))
    found = eps.with_columns(_totals_around(eps, ex, starts)) \
        .join(rate.rename({"side": "opp_side"}), on=["owner", "opp_side"], how="left") \
        .with_columns(opp_qty=pl.col("q1") - pl.col("q0"), opp_n=pl.col("n1") - pl.col("n0"),
                      span_s=(pl.col("stop") - pl.col("start")).dt.total_seconds()) \
        .with_columns(coincidence=chance_of_any(pl.col("rate").fill_null(0.0) * pl.col("n_eps"), pl.col("span_s"))) \
        .with_columns(hit=(pl.col("opp_n") > 0) & (pl.col("bait_qty") >= config.min_imbalance * pl.col("opp_qty"))
                      & (pl.col("opp_qty") >= config.min_opposite_multiple * median))
    found = _owners_who_may_alert(found, config.max_coincidence)
    if found.height == 0:
        return Candidates(pl.DataFrame(), ex, median, placed)
    # For the repeat test the owner's habit is its pace outside the episodes that coincided (at least one a day):
    # a spoofer's own genuine orders, one per episode, are the pattern, not its habit.
    # (The executions inside them are summed over the owner and side by a window: a filter, a group-by and a
    # join back were ~0.3 ms a partition.)
    inside = pl.when(pl.col("hit")).then(pl.col("opp_n")).otherwise(0).sum().over("owner", "opp_side")
    found = found.with_columns(chance=chance_of_any(
        (pl.col("rate").fill_null(0.0) * day_s - inside).clip(1.0, None) / day_s, pl.col("span_s")))
    # A spoofer's fills come under its bait episode after episode; an ordinary trader's coincide now and then.
    # So the owner's episodes are also judged together: k of them coincided, against the sum of their chances
    # (Poisson) — one coincidence among a few big orders happens across a day's many traders, three out of three
    # does not. (A market maker's fills are not independent of its quotes; the test above keeps it out.)
    fam = found.group_by("owner").agg(k=pl.col("hit").sum(), lam=pl.col("chance").sum()).filter(pl.col("k") > 0)
    fam = fam.with_columns(repeat_chance=pl.Series(
        [poisson_tail(int(k), float(lam)) for k, lam in zip(fam["k"], fam["lam"], strict=True)], dtype=pl.Float64))
    # With k >= 2 coincident episodes the repeat test above is the family-wise judgement (k of n at the owner's
    # pace); each episode is then judged at that pace alone, not again as "one of n". The family-wise single
    # test stays for an owner with one coincidence (a lone fill under one of its many big orders). The owner of
    # every episode kept (a hit) is in ``fam`` (k >= 1): one left join gives both its k and its repeat chance.
    found = found.join(fam.select("owner", "k", "repeat_chance"), on="owner", how="left").with_columns(
        coincidence=pl.when(pl.col("k") > 1).then(chance_of_any(pl.col("rate").fill_null(0.0), pl.col("span_s")))
        .otherwise(pl.col("coincidence"))).filter(pl.col("hit")).drop("k", "hit", "chance", "span_s")
    return Candidates(found, ex, median, placed)


# Slack on the coincidence bound of ``_may_coincide``: far above the rounding of the chance's few operations
# (relative error ~1e-15), so an episode at the threshold is never screened out.
_BOUND_SLACK = 1e-9


def _owners_who_may_alert(found: pl.DataFrame, max_coincidence: float) -> pl.DataFrame:
    """The episodes of the owners with at least one episode that may still alert: it coincided with an execution
    on the other side (``hit``) and its chance may pass ``max_coincidence``. An episode's chance is that of a
    Poisson arrival at the owner's opposite-side pace over its span, times the owner's number of episodes unless
    several coincided: at least ``chance_of_any(rate, span_s)``, the bound tested here. Whole owners are kept or
    dropped, as every later figure (the pace outside the episodes, the family test) is per owner. Most of a day's
    candidate episodes are those of owners that trade too often for a fill under their big order to mean anything,
    or whose big orders saw no fill of theirs: the family test and its joins are skipped for them (on ten days of
    the bench market, for 157 of the 180 partitions)."""
    if found.height == 0:
        return found
    bound = 1 - np.exp(-found["rate"].fill_null(0.0).to_numpy() * found["span_s"].to_numpy())
    may = found["hit"].fill_null(False).to_numpy() & (bound <= max_coincidence + _BOUND_SLACK)
    if not may.any():
        return found.clear()
    owners = found["owner"].filter(pl.Series(may)).unique()
    return found.filter(pl.col("owner").is_in(owners.implode()))


def _with_evidence(found: pl.DataFrame, ex: pl.DataFrame, placed: pl.DataFrame, median: float) -> pl.DataFrame:
    """The episodes of ``found`` with the owner's executions that are their evidence; those with none left out.
    The bait must still stand when the other side trades: an execution while it stands, or one (within the
    grace) of an order placed while it stood. Bait pulled before the genuine order was even sent helped nothing.
    Run on the episodes that passed the coincidence thresholds only: a market maker's hundreds of episodes that
    fail them, crossed with its fills, were a sixth of the search. ``placed``: when the executions' orders were
    placed (one row an order)."""
    if found.height == 0:
        return found
    near = _near_episodes(ex, found)
    # placement times of those legs' orders only (one row an order, so the left join keeps every leg once)
    near = near.join(placed.filter(pl.col("ex_order").is_in(near["ex_order"].drop_nulls().implode())),
                     on="ex_order", how="left")
    detail = found.select("owner", "side", "ep", "opp_side", "start", "end", "stop").join(
        near.rename({"side": "opp_side", "account": "ex_account", "ts": "ex_ts"}), on=["owner", "opp_side"]) \
        .filter((pl.col("ex_ts") >= pl.col("start")) & (pl.col("ex_ts") <= pl.col("stop"))
                & ((pl.col("ex_ts") < pl.col("end"))
                   | pl.col("ex_placed").is_between(pl.col("start"), pl.col("end")))) \
        .group_by("owner", "side", "ep").agg(
            opp_ids=pl.col("trade_id"), opp_accounts=pl.col("ex_account").unique(),
            opp_first=pl.col("ex_ts").min(), opp_last=pl.col("ex_ts").max())
    return found.join(detail, on=["owner", "side", "ep"]).with_columns(median=pl.lit(median)) \
        .sort("owner", "side", "start")
