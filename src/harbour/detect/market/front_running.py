"""Front running: trading ahead of a large order one could see, then unwinding into it.

The defining behaviour: a large order (a client's, or any owner's) arrives; just before it executes,
another owner takes the same side; once the large order moves the price, that owner unwinds — often
straight into the large order — at a better price. Four tests:

1. the order is large: its size (as placed when the order book is supplied: what a runner sees coming,
   however much of it a thin book could fill) is ``size_multiple`` times the symbol-day's median
   liquidity-taking order;
2. ahead: another owner took the same side in the ``pre_seconds`` before the order's first fill (or its
   placement when the order book is supplied): a material position (against the symbol's median trade),
   the main share of the market's volume in that span;
3. unwind: the same owner traded the other side, from the order's first fill to ``post_seconds`` after its
   last, for a good part of what it took and not much more (an unwind closes the position); a runner that
   traded back part of it with the large order itself, through an exit placed after its entry began (it put
   its exit where the order was coming), needs less of it (``into_*``, 1.5);
4. not its habit: the chance that the owner, at its rates over the rest of the day, would have taken that
   side just then with an order of that size *and* traded back just after with orders of the size it unwound
   with (``habit_size``) is tiny (``max_coincidence``);
5. profit from the impact (1.5): it unwound at a better price than it entered, or the market's price (other
   owners' trades, the large order's own fills left out) moved its way from before its entry to its unwind.
   The market's move counts as well as the runner's own prices: in a thin book a runner that pays the spread
   on the way in and out can lose on a move that came.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import BaseModel, Field

from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.frames import (
    ORDER_COLUMNS,
    PLACEMENT_COLUMNS,
    TRADE_COLUMNS,
    as_dt,
    chance_of_any,
    clip01,
    decision,
    ends_in_window,
    fmt_qty,
    fmt_span,
    frame,
    names,
    num,
    owner_map,
    part_symbol,
    part_venue,
    placements,
    span_seconds,
    with_owner,
)
from harbour.detect.market.front_running_orders import (
    NO_STRING,
    Halves,
    Takers,
    Unplaced,
    _large_unplaced,
    _Taken,
    _taken_of,
    arrow_trade_arrays,
    order_events,
    taker_legs,
    text,
    trade_arrays,
)
from harbour.detect.market.front_running_screens import (
    NearIndex,
    _Big,
    _habit_orders,
    _Legs,
    _may_pass_sizes,
    _micros,
    _near_frame,
    _size_pairs,
    big_of,
    big_of_taken,
    index_of,
    legs_of,
    legs_of_trades,
    span_micros,
)
from harbour.detect.market.lifecycles import group_totals, taker_placements


class FrontRunningConfig(BaseModel):
    size_multiple: float = Field(
        20.0, gt=0, description="size of the large order (as placed, when the order book is supplied, else as "
        "filled) against the symbol-day's median liquidity-taking order")
    pre_seconds: float = Field(30.0, gt=0, description="how long before the large order trading counts as 'ahead'")
    post_seconds: float = Field(600.0, gt=0, description="how long after the large order the unwind may take")
    min_ratio: float = Field(
        0.01, gt=0, description="position taken ahead as a share of the large order's size")
    max_ratio: float = Field(
        1.0, gt=0, description="largest position taken ahead, as a share of the large order: a runner rides the "
        "order's impact and cannot out-size it")
    min_share: float = Field(
        0.5, gt=0, le=1, description="position taken ahead (net of other-side trading) as a share of the market's "
        "volume in that span: the runner is the main taker just before the order")
    min_position_multiple: float = Field(
        5.0, gt=0, description="position taken ahead against the symbol-day's median trade: a material position, "
        "not a retail-sized trade that happened to come first")
    min_unwind: float = Field(
        0.5, gt=0, le=1, description="share of the position traded back afterwards: a runner rides the order's "
        "impact and closes most of its position (0.25 until session 5: ordinary traders who happened to trade "
        "ahead and later traded back a third or so of it passed)")
    max_unwind: float = Field(
        1.5, gt=0, description="most the other-side trading may exceed the position taken ahead; an unwind closes "
        "the position, while an account that trades far more either way is just active (4 until session 6: "
        "ordinary traders that traded back 1.5-1.9x what they took passed once the habit test weighed sizes; "
        "runners on the tuning lakes traded back 0.66-1.01x)")
    habit_size: float = Field(
        0.25, gt=0, description="the owner's orders that make its habit in the coincidence test: on the large "
        "order's side its liquidity-taking orders of at least this share of its average order ahead of the large "
        "order, on the other side its orders that traded at least this share of its average order in the unwind "
        "(its pace of taking and closing positions of that order of size, not of trading at all; 0.5 let through "
        "an ordinary trader on the clean market whose other sells were 0.2-0.6x its sell ahead; the unwind side "
        "is weighed so since 1.4)")
    max_coincidence: float = Field(
        5e-4, gt=0, le=1, description="largest chance that the owner's own habits explain the pattern: that it "
        "would have taken that side within 'ahead' span and traded the other side within the unwind span anyway, "
        "given how often it does each over the rest of the day (Poisson, its orders of that size on each side, "
        "see habit_size, at least one a day), ahead of any of "
        "the day's large orders (family-wise: a day with a hundred "
        "large orders gives an ordinary trader a hundred chances); busy traders are always 'ahead' of something "
        "and always trade back (1e-3 until 1.4, when the unwind side counted orders of any size: weighed by size "
        "the chances are smaller for everyone, and 1e-3 let through 7 more ordinary round trips on the tuning "
        "lakes)")
    min_aggressive: float = Field(
        0.5, ge=0, le=1, description="share of the position ahead taken by crossing the spread; getting ahead "
        "means taking liquidity, while a market maker's inventory builds passively")
    min_move: float = Field(
        0.0, ge=-1, description="the runner's gain from the large order's impact must exceed this share of the "
        "price (1.5): the better of its own return (unwind against entry price) and the market's move its way "
        "from before its entry to its unwind (the median price of other owners' trades, the large order's own "
        "fills left out). A runner trades ahead because the order will move the price and unwinds into the move; "
        "the market's move counts too because in a thin book a runner that pays the spread on the way in and out "
        "can lose on a move that came; -1 turns the test off")
    into_share: float = Field(
        0.2, gt=0, le=1, description="(1.5) a runner that traded back at least this share of its position with "
        "the large order itself, through orders it placed after its entry began (it put its exit where the "
        "order was coming), is judged with into_min_unwind and into_max_coincidence: that is the pattern's own "
        "move, not what an ordinary trader whose old resting order the large order happened to fill shows")
    into_min_unwind: float = Field(
        0.25, gt=0, le=1, description="min_unwind for a runner that unwound into the large order (into_share): "
        "part of its exit rested where the order's sweep fell short and was not filled")
    into_max_coincidence: float = Field(
        4e-3, gt=0, le=1, description="max_coincidence for a runner that unwound into the large order "
        "(into_share): its habit of trading that size is weighed less against an exit placed for that order")
    move_seconds: float = Field(
        300.0, gt=0, description="how long before the runner's entry the market's price is read (and after the "
        "unwind's last trade, at most 60 s of it)")


def _per_order(fills: pl.DataFrame, news: pl.DataFrame | None,
               shared: dict[Any, Any] | None = None) -> pl.DataFrame | None:
    """Per order that took liquidity, in order of its first fill: ``order_id``, ``qty`` (summed fills), ``first``
    and ``last`` fill times, ``account``, ``owner`` and ``side`` (of its first fill), ``placed`` (earliest
    placement) and ``size`` (largest placed quantity), null without placements — the group-by of the fills
    and the join of the placements, on exactly interned ids in compiled passes. None when the ids cannot be made
    exact or a column the passes read has nulls (the caller groups by the strings). ``shared``: the partition's
    ``Partition.shared`` (see ``taker_placements``)."""
    if fills.height == 0 or fills["quantity"].null_count() or fills["ts"].null_count():
        return None
    placements = news if news is not None and news.height else None
    if placements is not None and placements["ts"].null_count():
        return None
    found = taker_placements(fills["order_id"], placements, shared)
    if found is None:
        return None
    codes, firsts, n_ids, totals = found
    nf = fills.height
    qty, first, last = group_totals(codes[:nf], n_ids, fills["quantity"].cast(pl.Float64).to_numpy(),
                                    fills["ts"].dt.epoch("us").to_numpy())
    per = fills.rechunk()[firsts[:n_ids]].select("order_id", qty=pl.Series(qty), first=_us(first), last=_us(last),
                                       account="account", owner="owner", side="side")
    if totals is None:
        return per.with_columns(placed=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
                                size=pl.lit(None, dtype=pl.Float64))
    placed, size, has_placed, has_size = totals
    return per.with_columns(placed=_us(placed).scatter(np.flatnonzero(~has_placed), None),
                            size=pl.Series(size).scatter(np.flatnonzero(~has_size), None))


def _us(values: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))


def _takers(t: pl.DataFrame) -> Takers:
    """The legs of the orders that took liquidity (the buy legs of trades a buyer took, then the sell legs of
    those a seller took, each in trade order; legs without an order id left out): their rows in ``t``, whether
    each is a buy, and their order ids, the Series ``_large_by_frames`` hands ``taker_placements``."""
    took = []
    for side in ("buy", "sell"):
        # each step only where needed: a Polars call is ~0.1 ms here, most of this function
        took.append(t["aggressor"] == side)
        if t[f"{side}_order_id"].null_count():
            took[-1] = took[-1] & t[f"{side}_order_id"].is_not_null()
        if took[-1].null_count():
            took[-1] = took[-1].fill_null(False)
    ids = pl.concat([t["buy_order_id"].filter(took[0]), t["sell_order_id"].filter(took[1])]).alias("order_id")
    buys, sells = (np.flatnonzero(m.to_numpy()) for m in took)
    return np.concatenate([buys, sells]), np.arange(ids.len()) < buys.shape[0], ids


def _taken(takers: Takers, t: pl.DataFrame, news: pl.DataFrame | None,
           shared: dict[Any, Any] | None = None) -> _Taken | None:
    """``_Taken`` from compiled passes over exactly interned ids (``taker_placements``; ``shared``: the
    partition's ``Partition.shared``); None when the ids cannot be made exact or a column read has nulls, or a
    size is not a positive finite number (Polars' own order of NaN, the sign of a zero): the frames decide."""
    rows, _, ids = takers
    news = news if news is not None and news.height else None
    if rows.shape[0] == 0 or t["quantity"].null_count() or t["ts"].null_count() or (
            news is not None and news["ts"].null_count()):
        return None
    found = taker_placements(ids, news, shared)
    if found is None:
        return None
    codes, firsts, n_ids, totals = found
    return _taken_of(codes, firsts, n_ids, totals, t["quantity"].cast(pl.Float64).to_numpy()[rows],
                     _micros(t["ts"])[rows])


def _large_orders(t: pl.DataFrame, news: pl.DataFrame | None, owners: pl.DataFrame,
                  config: FrontRunningConfig, shared: dict[Any, Any] | None = None,
                  takers: Takers | None = None) -> pl.DataFrame:
    """The large orders (test 1) in order of first fill, then id: ``order_id``, ``qty`` (filled), ``first`` and
    ``last`` fill, ``c_account``, ``c_owner``, ``c_side`` (its first fill's), ``placed``, ``c_qty`` (its size:
    as placed, when larger than filled), ``c_ids`` (its fills' trade ids), ``ref`` (when a runner could see it
    coming: placed, or first filled), and the span the tests read, [``w0``, ``w1``]. The market orders placed
    that large that filled nothing are among them (``_missed``)."""
    # Only orders that take liquidity move the price; those are the ones worth running ahead of.
    takers = _takers(t) if takers is None else takers
    taken = _taken(takers, t, news, shared)
    if taken is not None:
        # The order as a runner sees it coming is its placed size, whatever of it the book could fill.
        least = config.size_multiple * num(pl.Series(taken.size).median())
        big = _large_by_codes(takers, taken, t, least, config)
        missed = _missed(news, takers[2], big["order_id"], least)
        if missed is None:  # as on ~98 partitions in 100 of the 10M-trade bench market
            return big
        per = big.lazy().drop("ref", "w0", "w1").rename(
            {"c_owner": "owner", "c_account": "account", "c_side": "side", "c_qty": "size", "c_ids": "ids"})
    else:
        per, large, least = _large_by_frames(t, news, config, shared)
        missed = _missed(news, takers[2], large, least)
    if missed is not None:
        missed = with_owner(missed, owners, "account", "owner")
        per = pl.concat([per, missed.lazy().select(per.collect_schema().names())], how="vertical_relaxed")
    # The span the tests read, [w0, w1], and the order's columns named apart from the legs' in the same query
    # (a collect of its own was ~0.15 ms a partition).
    pre, post = dt.timedelta(seconds=config.pre_seconds), dt.timedelta(seconds=config.post_seconds)
    return per.with_columns(ref=pl.min_horizontal(pl.coalesce("placed", "first"), "first")) \
        .sort("first", "order_id") \
        .rename({"owner": "c_owner", "account": "c_account", "side": "c_side", "size": "c_qty", "ids": "c_ids"}) \
        .with_columns(w0=pl.col("ref") - pre, w1=pl.col("last") + post).collect(engine="in-memory")


def _large_by_codes(takers: Takers, taken: _Taken, t: pl.DataFrame, least: float,
                    config: FrontRunningConfig) -> pl.DataFrame:
    """``_large_orders``' frame of the orders that took liquidity with a size of ``least`` or more, built from
    the compiled passes' arrays (``taken``) for those few orders only: gathering every taker's strings and the
    query that grouped the large orders' trade ids, sorted them and added their spans were ~1.5 ms a partition
    of the 10M-trade bench market. The screens read the arrays (``big_of_taken``): only a partition past them
    builds this frame."""
    rows, is_buy, _ = takers
    large = np.flatnonzero(taken.size >= least)
    first = taken.first[large]
    by = np.argsort(first, kind="stable")
    if (np.diff(first[by]) == 0).any():  # ties in time: then by id (ids are distinct)
        ids = _of_side(t, ("buy_order_id", "sell_order_id"), rows[taken.firsts[large]],
                       is_buy[taken.firsts[large]])[0].to_list()
        by = np.array(sorted(range(large.shape[0]), key=lambda k: (first[k], ids[k])), np.int64)
    large = large[by]
    buy = is_buy[taken.firsts[large]]
    first, placed, has_placed = taken.first[large], taken.placed[large], taken.has_placed[large]
    ref = np.where(has_placed, np.minimum(placed, first), first)
    pre, post = span_micros(config)
    c_side = pl.Series(["buy" if b else "sell" for b in buy.tolist()], dtype=pl.String)
    order_id, account, owner = _of_side(t, ("buy_order_id", "sell_order_id", "buyer", "seller", "owner_b", "owner_s"),
                                        rows[taken.firsts[large]], buy)
    return pl.DataFrame({
        "order_id": order_id, "qty": taken.qty[large], "first": _us(first), "last": _us(taken.last[large]),
        "c_account": account, "c_owner": owner, "c_side": c_side,
        "placed": _us(placed).scatter(np.flatnonzero(~has_placed), None), "c_qty": taken.size[large],
        "c_ids": _trade_ids(takers, taken, t, large), "ref": _us(ref), "w0": _us(ref - pre),
        "w1": _us(taken.last[large] + post)})


def _of_side(t: pl.DataFrame, pairs: tuple[str, ...], at: np.ndarray, buy: np.ndarray) -> list[pl.Series]:
    """Per pair of columns of ``t`` (buy side's, sell side's), their value at the rows ``at``: the first's where
    ``buy``, else the second's (one gather of the rows: ~0.1 ms each on this machine, against ~0.1 ms for all)."""
    rows = pl.DataFrame([t[c] for c in pairs])[at]
    pick = pl.Series(buy, dtype=pl.Boolean)
    return [rows[b].zip_with(pick, rows[s]) for b, s in zip(pairs[::2], pairs[1::2], strict=True)]


def _trade_ids(takers: Takers, taken: _Taken, t: pl.DataFrame, large: np.ndarray) -> pl.Series:
    """Per order of ``large`` (ids of ``taken``), its fills' trade ids in the takers' order."""
    rows = takers[0]
    rank = np.full(taken.size.shape[0], -1, np.int64)
    rank[large] = np.arange(large.shape[0])
    of = rank[taken.codes[:rows.shape[0]]]
    legs = np.flatnonzero(of >= 0)
    legs = legs[np.argsort(of[legs], kind="stable")]
    cut = np.searchsorted(of[legs], np.arange(large.shape[0] + 1))
    found = t["trade_id"][rows[legs]].to_arrow()
    return pl.Series(pa.LargeListArray.from_arrays(pa.array(cut, pa.int64()), found))


def _large_by_frames(t: pl.DataFrame, news: pl.DataFrame | None, config: FrontRunningConfig,
                     shared: dict[Any, Any] | None) -> tuple[pl.LazyFrame, pl.Series, float]:
    """The large orders that filled, as ``_large_orders``' columns before their spans (the order's own named
    as the legs'), by Polars queries (and ``_per_order``'s passes where they can read the ids); their ids, and the
    size that makes an order large. For the partitions ``_taken`` cannot read."""
    fills = pl.concat([
        t.lazy().filter(pl.col("aggressor") == "buy").select(
            "ts", "trade_id", "quantity", "price", order_id="buy_order_id", account="buyer", owner="owner_b",
            side=pl.lit("buy")),
        t.lazy().filter(pl.col("aggressor") == "sell").select(
            "ts", "trade_id", "quantity", "price", order_id="sell_order_id", account="seller", owner="owner_s",
            side=pl.lit("sell")),
    ]).drop_nulls("order_id").collect(engine="in-memory")
    per = _per_order(fills, news, shared)
    if per is None:
        per = fills.group_by("order_id").agg(
            qty=pl.col("quantity").sum(), first=pl.col("ts").min(), last=pl.col("ts").max(),
            account=pl.col("account").first(), owner=pl.col("owner").first(), side=pl.col("side").first())
        if news is not None:
            placed = news.join(per.select("order_id"), on="order_id", how="semi") \
                .group_by("order_id").agg(placed=pl.col("ts").min(), size=pl.col("quantity").max())
            per = per.join(placed, on="order_id", how="left")
        else:
            per = per.with_columns(placed=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
                                   size=pl.lit(None, dtype=pl.Float64))
    per = per.with_columns(size=pl.max_horizontal("qty", pl.col("size").fill_null(0.0)))
    least = config.size_multiple * num(per["size"].median())
    big = per.lazy().filter(pl.col("size") >= least)
    big = big.join(fills.lazy().join(big.select("order_id"), on="order_id", how="semi").group_by("order_id").agg(
        ids=pl.col("trade_id")), on="order_id", how="left")
    return big, per["order_id"].filter(per["size"] >= least), least


def _missed(news: pl.DataFrame | None, takers: pl.Series, large: pl.Series, least: float) -> pl.DataFrame | None:
    """The market orders placed with ``least`` or more that found nothing to fill (no order id among the
    ``takers``), as ``_large_orders``' rows; None when there is none. Most such placements are of the ``large``
    orders that did fill (takers all), so that is told first on a few ids: the query over every placement and
    taker was ~0.4 ms a partition of the 10M-trade bench market, where ~2 partitions in 100 have one."""
    if news is None or "order_type" not in news.columns:
        return None
    # The rows placed with ``least`` or more, and more (a NaN or null either side: Polars orders NaN above every
    # number): the market orders among them include every one the filter below keeps.
    few = pl.Series(~(news["quantity"].cast(pl.Float64).to_numpy() < least))
    ids = news["order_id"].filter(few).filter(news["order_type"].filter(few) == "market")
    if set(ids.to_list()) <= set(large.to_list()):
        return None
    missed = news.filter(few).filter((pl.col("order_type") == "market") & (pl.col("quantity") >= least)) \
        .join(takers.to_frame("order_id"), on="order_id", how="anti") \
        .select("order_id", "account", "side", first="ts", last="ts", placed="ts", size="quantity",
                qty=pl.lit(0.0), ids=pl.lit([], dtype=pl.List(pl.String)))
    return missed if missed.height else None


def _near_joined(legs: pl.DataFrame, big: pl.DataFrame, index: NearIndex, news: pl.DataFrame | None) -> pl.LazyFrame:
    """``_near``'s frame (``index``) without the large order's own owner's legs, with ``ahead`` (before the order's
    first fill) and ``same`` (on its side), and per leg whether it traded with the large order itself
    (``with_order``) and when the leg's own order was placed (``placed``): a runner that unwinds straight into
    the order put that exit there after its entry, knowing the order was coming. One lazy query: as eager steps
    these were a dozen fixed costs of ~0.1 ms on a partition of the 10M-trade bench market. Left lazy: the
    candidates' group-by reads it in the same collect (its filter of the ``sized`` legs goes ahead of the joins),
    and only a partition with a candidate left after the habits collects the frame (2 of the 180 partitions of
    ten days of that market: collecting it on every partition with a candidate was ~0.2 of its ~0.5 ms)."""
    near = _near_frame(legs, big, index).lazy().filter(pl.col("owner") != pl.col("c_owner")).with_columns(
        ahead=pl.col("ts") < pl.col("first"), same=pl.col("side") == pl.col("c_side"))
    fills = big.lazy().select("order_id", trade_id="c_ids").explode("trade_id").drop_nulls() \
        .with_columns(with_order=pl.lit(True))
    near = near.join(fills, on=["order_id", "trade_id"], how="left") \
        .with_columns(pl.col("with_order").fill_null(False))
    if news is None:
        return near.with_columns(placed=pl.lit(None, dtype=legs["ts"].dtype))
    # only the orders that traded with a large order: the day's placements are many, these few
    mine = near.filter(pl.col("with_order")).select(order_id="decision").unique()
    placed = news.lazy().join(mine, on="order_id", how="semi").group_by("order_id").agg(placed=pl.col("ts").min())
    return near.join(placed, left_on="decision", right_on="order_id", how="left")


def _candidates(near: pl.LazyFrame | pl.DataFrame, big: pl.DataFrame, median_trade: float,
                config: FrontRunningConfig) -> pl.DataFrame:
    """Per large order and owner near it whose position can pass the size tests (``sized``), its position ahead
    and unwind, the large order's columns, and ``into``; those that pass the size tests."""
    ahead_same = pl.col("ahead") & pl.col("same")
    after_other = ~pl.col("ahead") & ~pl.col("same")
    per = near.lazy().filter(pl.col("sized")).group_by("order_id", "owner").agg(
        q_pre=pl.col("quantity").filter(ahead_same).sum(),
        q_aggr=pl.col("quantity").filter(ahead_same & pl.col("aggr")).sum(),
        q_bad=pl.col("quantity").filter(pl.col("ahead") & ~pl.col("same")).sum(),
        q_out=pl.col("quantity").filter(after_other).sum(),
        p_in=(pl.col("price") * pl.col("quantity")).filter(ahead_same).sum(),
        p_out=(pl.col("price") * pl.col("quantity")).filter(after_other).sum(),
        n_pre=pl.col("decision").filter(ahead_same & pl.col("aggr")).n_unique(),
        n_out=pl.col("decision").filter(after_other).n_unique(),
        entry=pl.col("ts").filter(ahead_same).min(),
        q_into=pl.col("quantity").filter(after_other & pl.col("with_order") & (
            pl.col("placed") >= pl.col("ts").filter(ahead_same).min())).sum(),
    ).join(big.lazy().select("order_id", "c_qty", "c_side", "first", until="w1"), on="order_id") \
        .with_columns(into=pl.col("q_into") >= config.into_share * pl.col("q_pre"))
    return per.filter(
        (pl.col("q_pre") >= config.min_ratio * pl.col("c_qty"))
        & (pl.col("q_pre") <= config.max_ratio * pl.col("c_qty"))
        & ((pl.col("q_out") >= config.min_unwind * pl.col("q_pre"))
           | (pl.col("into") & (pl.col("q_out") >= config.into_min_unwind * pl.col("q_pre"))))
        & (pl.col("q_out") <= config.max_unwind * pl.col("q_pre"))
        & (pl.col("q_aggr") >= config.min_aggressive * pl.col("q_pre"))
        & (pl.col("q_pre") >= config.min_position_multiple * median_trade)
    ).collect(engine="in-memory")


def _with_habits(cand: pl.DataFrame, legs: pl.DataFrame, day_s: float, config: FrontRunningConfig) -> pl.LazyFrame:
    """The candidates with their owners' habits outside this episode, ``rate`` and ``rate_o`` (``_entry_habit``,
    ``_unwind_habit``), 0 for none: one lazy query with the coincidence test that reads them (as two collects and
    a third for the test, ~0.4 ms more a partition of the 10M-trade bench market)."""
    return cand.lazy().join(_entry_habit(cand, legs, day_s, config), on=["order_id", "owner"], how="left") \
        .join(_unwind_habit(cand, legs, day_s, config), on=["order_id", "owner"], how="left") \
        .with_columns(pl.col("rate").fill_null(0.0), pl.col("rate_o").fill_null(0.0))


def _entry_habit(cand: pl.DataFrame, legs: pl.DataFrame, day_s: float, config: FrontRunningConfig) -> pl.LazyFrame:
    """Per candidate (``order_id``, ``owner``) with one, its ``rate``: how often, per second, its owner took the
    large order's side with an order of the size it ran ahead with (at least ``habit_size`` of its average
    liquidity-taking order ahead), outside its entry. The chance that matters is that of taking *such* a
    position just then: an owner that buys a few units a dozen times a day is not, by that habit, likely to buy
    forty times the median trade in the seconds before a large order (session 6: 7 of 11 missed runners failed
    only the coincidence test, at their pace of small orders)."""
    unit = cand.lazy().select("order_id", "owner", "c_side", "entry", "first",
                              unit=config.habit_size * pl.col("q_aggr") / pl.col("n_pre").clip(1, None))
    decisions = legs.lazy().filter(pl.col("aggr")).join(cand.lazy().select("owner").unique(), on="owner",
                                                        how="semi") \
        .group_by("owner", "side", "decision").agg(q=pl.col("quantity").sum(), ts=pl.col("ts").min())
    outside = (pl.col("ts") < pl.col("entry")) | (pl.col("ts") >= pl.col("first"))
    return unit.join(decisions, left_on=["owner", "c_side"], right_on=["owner", "side"]) \
        .filter((pl.col("q") >= pl.col("unit")) & outside) \
        .group_by("order_id", "owner").agg(rate=pl.len() / day_s)


def _unwind_habit(cand: pl.DataFrame, legs: pl.DataFrame, day_s: float, config: FrontRunningConfig) -> pl.LazyFrame:
    """Per candidate (``order_id``, ``owner``) with one, its ``rate_o``: how often, per second, its owner traded
    the other side with an order of the size it unwound with (at least ``habit_size`` of its average order in the
    unwind), outside the unwind span.
    As on the entry side, the chance that matters is that of trading back *such* an amount just then: an owner
    that sells a few units a dozen times a day is not, by that habit, likely to sell back forty times the median
    trade in the minutes after a large order (session 7: 7 of 9 missed runners failed only the coincidence test,
    at their pace of small orders on the unwind side)."""
    other = pl.when(pl.col("c_side") == "buy").then(pl.lit("sell")).otherwise(pl.lit("buy"))
    unit = cand.lazy().select("order_id", "owner", "first", "until", side=other,
                              unit=config.habit_size * pl.col("q_out") / pl.col("n_out").clip(1, None))
    decisions = legs.lazy().join(cand.lazy().select("owner").unique(), on="owner", how="semi") \
        .group_by("owner", "side", "decision").agg(q=pl.col("quantity").sum(), ts=pl.col("ts").min())
    outside = (pl.col("ts") < pl.col("first")) | (pl.col("ts") > pl.col("until"))
    return unit.join(decisions, on=["owner", "side"]) \
        .filter((pl.col("q") >= pl.col("unit")) & outside) \
        .group_by("order_id", "owner").agg(rate_o=pl.len() / day_s)


def _with_market_since_entry(cand: pl.DataFrame, near: pl.DataFrame) -> pl.DataFrame:
    """The market's volume from each candidate's first trade ahead to the large order (each trade once, by its
    buy leg): a runner that acted seconds before the order is weighed against the trading of those seconds, not
    against the whole ``pre_seconds`` of a busy book's earlier trading."""
    market = near.filter(pl.col("ahead") & (pl.col("side") == "buy")).select("order_id", "ts", "quantity") \
        .join(cand.select("order_id", "owner", "entry"), on="order_id") \
        .filter(pl.col("ts") >= pl.col("entry")).group_by("order_id", "owner").agg(mkt=pl.col("quantity").sum())
    return cand.join(market, on=["order_id", "owner"])


def _with_market_move(hits: pl.DataFrame, t: pl.DataFrame, near: pl.DataFrame, big: pl.DataFrame,
                      config: FrontRunningConfig) -> pl.DataFrame:
    """Each candidate's ``move``: how far the market's price moved its way from before its entry to its unwind,
    as a share of the price. The price is the median of other owners' trades, without the large order's own
    fills (its sweep is the order's cost, not the market's level) nor the candidate's: over ``move_seconds``
    before the entry, and over the unwind's span and the minute after it. Where no other trade was there to
    read, the candidate's own average price on that leg stands in. Candidates are few (those that passed every
    other test), so each is read by binary search over the day's sorted trades."""
    if hits.height == 0:
        return hits.with_columns(move=pl.lit(None, dtype=pl.Float64))
    spans = near.filter(~pl.col("ahead") & ~pl.col("same")).join(hits.select("order_id", "owner"),
                                                                     on=["order_id", "owner"], how="semi") \
        .group_by("order_id", "owner").agg(u0=pl.col("ts").min(), u1=pl.col("ts").max())
    rows = hits.join(spans, on=["order_id", "owner"], how="left").join(big.select("order_id", "c_ids"), on="order_id")
    ts = t["ts"].to_physical().to_numpy()
    by_time = np.argsort(ts, kind="stable")
    ts = ts[by_time]
    price = t["price"].to_numpy()[by_time]
    owner_b, owner_s = t["owner_b"].to_numpy()[by_time], t["owner_s"].to_numpy()[by_time]
    trade_id = t["trade_id"].to_numpy()[by_time]
    unit = {"ns": 1e9, "us": 1e6, "ms": 1e3}[getattr(t["ts"].dtype, "time_unit", "us") or "us"]
    before, after = int(config.move_seconds * unit), int(60 * unit)
    times = [pl.col(c).cast(t["ts"].dtype).to_physical().alias(c) for c in ("entry", "u0", "u1")]

    def level(lo: int, hi: int, owner: str, skip: set) -> float | None:
        i, j = np.searchsorted(ts, lo, side="left"), np.searchsorted(ts, hi, side="right")
        keep = (owner_b[i:j] != owner) & (owner_s[i:j] != owner)
        if skip:
            keep &= ~np.isin(trade_id[i:j], list(skip))
        return float(np.median(price[i:j][keep])) if keep.any() else None

    moves = []
    for r in rows.select("owner", "c_side", "c_ids", "p_in", "q_pre", "p_out", "q_out", *times).iter_rows(named=True):
        skip = set(r["c_ids"] or [])
        pre = level(r["entry"] - before, r["entry"] - 1, r["owner"], skip) or r["p_in"] / r["q_pre"]
        post = level(r["u0"], r["u1"] + after, r["owner"], skip) if r["u0"] is not None else None
        post = post or r["p_out"] / r["q_out"]
        sign = 1 if r["c_side"] == "buy" else -1
        own = (r["p_out"] / r["q_out"]) / (r["p_in"] / r["q_pre"]) - 1
        moves.append(max((post / pre - 1) * sign, own * sign))
    return rows.with_columns(move=pl.Series(moves, dtype=pl.Float64)).drop("u0", "u1", "c_ids")


def _between_owners(owned: pl.DataFrame) -> pl.DataFrame:
    """The kernel's trades ``t``: those between two owners (a trade within one owner changes nothing)."""
    return owned.filter(pl.col("owner_b") != pl.col("owner_s"))


def _legs_frame(t: pl.DataFrame) -> pl.DataFrame:
    """Each trade's buy leg, then each one's sell leg: the leg's time, trade, price and quantity, its account and
    owner, ``side``, ``aggr`` (its side took liquidity, or the trade has no aggressor) and ``decision``."""
    return pl.concat([
        t.lazy().select("ts", "trade_id", "price", "quantity", account="buyer", owner="owner_b",
                        side=pl.lit("buy"), aggr=pl.col("aggressor").fill_null("buy") == "buy",
                        decision=decision(t, "buy_order_id")),
        t.lazy().select("ts", "trade_id", "price", "quantity", account="seller", owner="owner_s",
                        side=pl.lit("sell"), aggr=pl.col("aggressor").fill_null("sell") == "sell",
                        decision=decision(t, "sell_order_id")),
    ]).collect(engine="in-memory").rechunk()  # one chunk: rows are gathered from legs many times below


def _least_positions(c_qty: np.ndarray, median_trade: float, config: FrontRunningConfig) -> np.ndarray:
    """Per large order, the smallest position ahead that may pass the size tests (a positive multiple of a positive
    median trade is needed to alert), widened by 1e-9 against the order of addition (the tests are exact): owners
    below it are not ``sized``, and their unwind legs are left out. That replaces a group-by of every owner near
    every large order and a semi-join, and makes the joins smaller: 0.2 of the detector's 3.3 CPU-s over the
    bench market."""
    return np.maximum(config.min_ratio * c_qty, config.min_position_multiple * median_trade) * (1 - 1e-9)


class _Screen(NamedTuple):
    """What the screens (``_screened``) found: the ids of the large orders near which an owner may alert (none: no
    alert can come of the partition; None: any may), the large orders as the probe read them (``_large_unplaced``;
    None: the full path reads the placements' frame), and the legs as the screens read them (None: not read)."""

    orders: list[str] | None
    unplaced: Unplaced | None
    legs: _Legs | None


def _screened(part: Partition, config: FrontRunningConfig) -> _Screen:
    """``_Screen`` of the partition. The screens read the trades in place: off the Arrow trades, owners as codes, before
    any frame is built (``arrow_trade_arrays``), else off the owned trades frame (``trade_arrays``), else the kernel's
    frames. On ten days of the 10M-trade bench market the trades' frame filter, the takers' ids, the large orders' and
    the legs' frames and their hashes were ~4 ms of the kernel's ~8.6 a partition, and all but a few partitions stop
    here."""
    trades = arrow_trade_arrays(part, str(part.key["venue"])) if "venue" in part.key else None
    if trades is None:
        owned, owners = _owned(part)
        trades = trade_arrays(owned)
        if trades is None:
            return _screened_frames(owned, part, owners, config)
    taken_by = taker_legs(trades)
    unplaced = _large_unplaced(taken_by[2], trades.qty[taken_by[0]], trades.ts[taken_by[0]], order_events(part),
                               config)
    if unplaced is None:
        owned, owners = _owned(part)
        t = _between_owners(owned)
        large = big_of(_large_orders(t, placements(part, PLACEMENT_COLUMNS), owners, config, part.shared))
    else:
        large = big_of_taken(unplaced, taken_by, trades, order_events(part), config)
    day_s = 3600.0 if trades.ts.shape[0] == 0 else max(
        dt.timedelta(microseconds=int(trades.ts.max() - trades.ts.min())).total_seconds(), 3600.0)  # span_seconds
    median_trade, legs = num(pl.Series(trades.qty).median()), legs_of_trades(trades)
    return _Screen(_may_alert(legs, large, median_trade, day_s, config), unplaced, legs)


def _screened_frames(owned: pl.DataFrame, part: Partition, owners: pl.DataFrame, config: FrontRunningConfig
                     ) -> _Screen:
    """``_Screen`` of the kernel's frames, where the trades cannot be read in place."""
    t = _between_owners(owned)
    takers = _takers(t)
    unplaced = _unplaced_of_frames(takers, t, order_events(part), config)
    big = _large_orders(t, placements(part, PLACEMENT_COLUMNS), owners, config, part.shared, takers) \
        if unplaced is None or unplaced.missed.shape[0] else _large_by_codes(takers, unplaced.taken, t,
                                                                            unplaced.least, config)
    day_s, legs = span_seconds(t["ts"], 3600.0), legs_of(_legs_frame(t))
    return _Screen(_may_alert(legs, big_of(big), num(t["quantity"].median()), day_s, config), unplaced, legs)


def _owned(part: Partition) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The kernel's trades frame with each leg's owner's name (``owner_b``, ``owner_s``), and the owner map. Each is
    built once per partition (``frame``, ``owner_map`` and ``with_owner`` keep them): the screens and the kernel
    ask for them alike."""
    trades = frame(part, "trades", TRADE_COLUMNS)
    owners = owner_map(part, part_venue(part, trades))
    return with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s"), owners


def _trade_rows(part: Partition) -> int:
    """How many trades the kernel's frame holds (``frame``'s table: its rows, none dropped), without building it."""
    arrow = part.tables.get("trades")
    if arrow is None:
        arrow = part.broadcast.get("trades")
    return 0 if arrow is None else arrow.num_rows


def _unplaced_of_frames(takers: Takers, t: pl.DataFrame, orders: pa.Table | None,
                        config: FrontRunningConfig) -> Unplaced | None:
    """``_large_unplaced`` of the kernel's frames (None also where a quantity, a time or a taker's id is null)."""
    ids = text(takers[2])
    if t["quantity"].null_count() or t["ts"].null_count() or ids is None or ids.valid.shape[0]:
        return None
    rows = takers[0]
    return _large_unplaced(Halves(ids, NO_STRING), t["quantity"].cast(pl.Float64).to_numpy()[rows],
                           _micros(t["ts"])[rows], orders, config)


def _may_alert(legs: _Legs, big: _Big, median_trade: float, day_s: float, config: FrontRunningConfig
               ) -> list[str] | None:
    """The screens' answer on the legs and large orders as arrays (``_Screen.orders``): whether some owner near a
    large order may pass the size tests (none on 91 of the 180 partitions of ten days of the 10M-trade bench market),
    and then the unwind and coincidence tests (none on 85 of the other 89), and near which orders."""
    if big.w0.shape[0] == 0:
        return []
    index = index_of(legs, big, prune=median_trade > 0, least=_least_positions(big.c_qty, median_trade, config))
    pairs = _size_pairs(legs, big, index, median_trade, config)
    if not _may_pass_sizes(legs, big, index, median_trade, config, pairs):
        return []
    rows = _habit_orders(legs, big, index, median_trade, day_s, config, pairs)
    if rows is None:
        return None
    ids = big.ids_at(rows)
    return None if None in ids else [i for i in ids if i is not None]


def _index_near(legs: _Legs, big: pl.DataFrame, orders: list[str] | None, prune: bool, least: np.ndarray
                ) -> NearIndex:
    """``_near_index`` of the legs (as the screens read them: the legs frame's rows) near the large orders of
    ``orders`` only (ids; None: all), each order's row that of ``big``: an order's legs depend on it alone, so the
    others' are not searched (on the 1M-trade market's partitions past the screens, a few orders of hundreds)."""
    rows = np.arange(big.height) if orders is None else np.flatnonzero(big["order_id"].is_in(orders).to_numpy())
    order_rows, leg_rows, sized, owner = index_of(legs, big_of(big[rows]), prune, least[rows])
    return rows[order_rows], leg_rows, sized, owner


class FrontRunningDetector(Detector[FrontRunningConfig]):
    name = "front_running"
    version = "1.5"
    typology = "front_running"
    config_model = FrontRunningConfig
    description = "Another owner trades ahead of a large order and unwinds into it at a profit."

    def describe(self, config: FrontRunningConfig) -> WorkSpec:
        return WorkSpec(tables=("trades", "orders"), partition_by=("venue", "symbol", "date"),
                        columns={"trades": TRADE_COLUMNS, "orders": ORDER_COLUMNS,
                                 "accounts": ("venue", "account", "customer_id")},
                        broadcast=("accounts",))

    def kernel(self, part: Partition, config: FrontRunningConfig) -> pa.Table:
        out = AlertBuilder(self)
        if _trade_rows(part) < 10:
            return out.to_table()
        # Most partitions stop at the screens (``_screened``), which read the trades in place (off the Arrow trades,
        # owners as codes), probe the takers' placements on the Arrow order events and build no frame: the frames
        # below were ~4 ms a partition of the 10M-trade bench market, and the trades' frame with its owners' names
        # ~1.9 more (front running alone over its ten days: ~0.97 CPU-s with them on every partition, ~0.63 without).
        screen = _screened(part, config)
        if screen.orders is not None and not screen.orders:
            return out.to_table()
        owned, owners = _owned(part)
        venue, symbol = part_venue(part, owned), part_symbol(part, owned)
        t = _between_owners(owned)
        takers = _takers(t)
        if screen.unplaced is None or screen.unplaced.missed.shape[0]:
            big = _large_orders(t, placements(part, PLACEMENT_COLUMNS), owners, config, part.shared, takers)
        else:  # the probe's large orders: the screens' arrays took the same legs as ``_takers``
            big = _large_by_codes(takers, screen.unplaced.taken, t, screen.unplaced.least, config)
        legs = _legs_frame(t)
        median_trade = num(t["quantity"].median())
        least = _least_positions(big["c_qty"].cast(pl.Float64).to_numpy(), median_trade, config)
        index = _index_near(legs_of(legs) if screen.legs is None else screen.legs, big, screen.orders,
                            prune=median_trade > 0, least=least)
        day_s = span_seconds(t["ts"], 3600.0)
        joined = _near_joined(legs, big, index, placements(part, PLACEMENT_COLUMNS))
        per = _candidates(joined, big, median_trade, config)
        if per.height == 0:  # as on 2 of those 4: the habits cost 2 ms on no rows
            return out.to_table()
        # The owner's habits outside this episode: its own run-ahead and unwind must not count as its habit.
        # An owner seen only in this episode still has some habit: at least one such order a day.
        hits = _with_habits(per, legs, day_s, config) \
            .with_columns(coincidence=chance_of_any(pl.col("rate").clip(1.0 / day_s, None), config.pre_seconds)
                          * chance_of_any(pl.col("rate_o").clip(1.0 / day_s, None), config.post_seconds)
                          * big.height) \
            .filter(pl.col("coincidence") <= pl.when(pl.col("into")).then(config.into_max_coincidence)
                    .otherwise(config.max_coincidence)).collect(engine="in-memory")
        if hits.height == 0:
            # as on 37 of the bench market's 40 partitions: the steps below find nothing, in 0.09 CPU-s
            return out.to_table()
        near = joined.collect(engine="in-memory")
        hits = _with_market_since_entry(hits, near).filter(
            pl.col("q_pre") - pl.col("q_bad") >= config.min_share * pl.col("mkt")).sort("order_id", "owner")
        hits = _with_market_move(hits, t, near, big, config)
        if config.min_move > -1:
            hits = hits.filter(pl.col("move") > config.min_move)
        for row in hits.iter_rows(named=True):
            self._emit(out, part, near, big, row, venue, symbol)
        return out.to_table()

    def _emit(self, out: AlertBuilder, part: Partition, near: pl.DataFrame, big: pl.DataFrame, row: dict,
              venue: str, symbol: str | None) -> None:
        ev = near.filter((pl.col("order_id") == row["order_id"]) & (pl.col("owner") == row["owner"])
                         & (pl.col("ahead") == pl.col("same")))
        order = big.filter(pl.col("order_id") == row["order_id"]).row(0, named=True)
        accounts = sorted(ev["account"].unique().to_list())
        start = as_dt(ev["ts"].min())
        end = as_dt(max(ev["ts"].max(), order["last"]))
        if not ends_in_window(part.window, end):
            return
        buy_in, sell_out = row["p_in"] / row["q_pre"], row["p_out"] / row["q_out"]
        verb_in, verb_out = ("bought", "sold") if row["c_side"] == "buy" else ("sold", "bought")
        out.add(venue=venue, symbol=symbol, accounts=accounts, start=start, end=end,
                score=clip01(0.6 + row["q_pre"] / row["c_qty"]),
                evidence_ids=ev["trade_id"].to_list() + list(order["c_ids"]),
                explanation=(f"account {names(accounts)} {verb_in} {fmt_qty(row['q_pre'])} units of {symbol} at "
                             f"{buy_in:.6g} in the {fmt_span(start, as_dt(order['first']))} before "
                             f"{order['c_account']}'s {fmt_qty(row['c_qty'])}-unit {row['c_side']} order "
                             f"{row['order_id']} arrived, then {verb_out} {fmt_qty(row['q_out'])} at "
                             f"{sell_out:.6g} ({(sell_out / buy_in - 1) * (1 if row['c_side'] == 'buy' else -1):+.2%} "
                             f"on its entry)."))


DETECTOR = register(FrontRunningDetector())
