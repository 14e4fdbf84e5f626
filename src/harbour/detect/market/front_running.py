"""Front running: trading ahead of a large order one could see, then unwinding into it.

The defining behaviour: a large order (a client's, or any owner's) arrives; just before it executes,
another owner takes the same side; once the large order moves the price, that owner unwinds — often
straight into the large order — at a better price. Three tests:

1. the order is large: its filled quantity is ``size_multiple`` times the symbol-day's median order;
2. ahead: another owner traded the same side in the ``pre_seconds`` before the order's first fill (or its
   placement when the order book is supplied), a material share of the order's size and of the market's
   volume in that span;
3. unwind: the same owner traded the other side, from the order's first fill to ``post_seconds`` after its
   last, for most of what it took. (Profit is reported, not required: a runner who unwinds clumsily into
   a thin book still ran ahead.)
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa
from pydantic import BaseModel, Field

from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.frames import (
    as_dt,
    clip01,
    ends_in_window,
    fmt_qty,
    fmt_span,
    frame,
    names,
    num,
    owner_map,
    part_symbol,
    part_venue,
    span_seconds,
    with_owner,
)

TRADE_COLUMNS = ("venue", "symbol", "trade_id", "ts", "price", "quantity", "buyer", "seller", "aggressor",
                 "buy_order_id", "sell_order_id")
ORDER_COLUMNS = ("order_id", "ts", "event")


class FrontRunningConfig(BaseModel):
    size_multiple: float = Field(
        20.0, gt=0, description="filled quantity of the large order against the symbol-day's median filled order")
    pre_seconds: float = Field(30.0, gt=0, description="how long before the large order trading counts as 'ahead'")
    post_seconds: float = Field(600.0, gt=0, description="how long after the large order the unwind may take")
    min_ratio: float = Field(
        0.05, gt=0, description="position taken ahead as a share of the large order's quantity")
    max_ratio: float = Field(
        1.0, gt=0, description="largest position taken ahead, as a share of the large order: a runner rides the "
        "order's impact and cannot out-size it")
    min_share: float = Field(
        0.25, gt=0, le=1, description="position taken ahead as a share of the market's volume in that span")
    min_unwind: float = Field(0.5, gt=0, le=1, description="share of the position unwound afterwards")
    max_unwind: float = Field(
        4.0, gt=0, description="most the other-side trading may exceed the position taken ahead; an unwind closes "
        "the position, while an account that trades far more either way is just active")
    max_coincidence: float = Field(
        0.01, gt=0, le=1, description="largest chance that the owner would have taken that side within the 'ahead' "
        "span anyway, given how often it does so over the day (Poisson); busy traders are always 'ahead' of something")
    min_aggressive: float = Field(
        0.5, ge=0, le=1, description="share of the position ahead taken by crossing the spread; getting ahead "
        "means taking liquidity, while a market maker's inventory builds passively")


def _large_orders(t: pl.DataFrame, orders: pl.DataFrame, config: FrontRunningConfig) -> pl.DataFrame:
    # Only orders that take liquidity move the price; those are the ones worth running ahead of.
    fills = pl.concat([
        t.filter(pl.col("aggressor") == "buy").select(
            "ts", "trade_id", "quantity", "price", order_id="buy_order_id", account="buyer", owner="owner_b",
            side=pl.lit("buy")),
        t.filter(pl.col("aggressor") == "sell").select(
            "ts", "trade_id", "quantity", "price", order_id="sell_order_id", account="seller", owner="owner_s",
            side=pl.lit("sell")),
    ]).drop_nulls("order_id")
    per = fills.group_by("order_id").agg(
        qty=pl.col("quantity").sum(), first=pl.col("ts").min(), last=pl.col("ts").max(),
        account=pl.col("account").first(), owner=pl.col("owner").first(), side=pl.col("side").first(),
        ids=pl.col("trade_id"), vwap=(pl.col("price") * pl.col("quantity")).sum() / pl.col("quantity").sum())
    median = num(per["qty"].median())
    big = per.filter(pl.col("qty") >= config.size_multiple * median)
    if orders.height and big.height:
        placed = orders.join(big.select("order_id"), on="order_id", how="semi") \
            .filter(pl.col("event") == "new").group_by("order_id").agg(placed=pl.col("ts").min())
        big = big.join(placed, on="order_id", how="left")
    else:
        big = big.with_columns(placed=pl.lit(None, dtype=pl.Datetime("us", "UTC")))
    return big.with_columns(ref=pl.min_horizontal(pl.coalesce("placed", "first"), "first")).sort("first", "order_id")


class FrontRunningDetector(Detector[FrontRunningConfig]):
    name = "front_running"
    version = "1.0"
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
        trades = frame(part, "trades", TRADE_COLUMNS)
        if trades.height < 10:
            return out.to_table()
        venue, symbol = part_venue(part, trades), part_symbol(part, trades)
        owners = owner_map(part, venue)
        t = with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s") \
            .filter(pl.col("owner_b") != pl.col("owner_s"))
        big = _large_orders(t, frame(part, "orders", ORDER_COLUMNS), config)
        if big.height == 0:
            return out.to_table()
        legs = pl.concat([
            t.select("ts", "trade_id", "price", "quantity", account="buyer", owner="owner_b", side=pl.lit("buy"),
                     aggr=pl.col("aggressor").fill_null("buy") == "buy"),
            t.select("ts", "trade_id", "price", "quantity", account="seller", owner="owner_s", side=pl.lit("sell"),
                     aggr=pl.col("aggressor").fill_null("sell") == "sell"),
        ])
        pre, post = dt.timedelta(seconds=config.pre_seconds), dt.timedelta(seconds=config.post_seconds)
        big = big.rename({"owner": "c_owner", "account": "c_account", "side": "c_side", "qty": "c_qty",
                          "ids": "c_ids", "vwap": "c_vwap"}).with_columns(
            w0=pl.col("ref") - pre, w1=pl.col("last") + post)
        near = legs.join_where(big, pl.col("ts") >= pl.col("w0"), pl.col("ts") <= pl.col("w1")) \
            .filter(pl.col("owner") != pl.col("c_owner")).with_columns(
                ahead=pl.col("ts") < pl.col("first"), same=pl.col("side") == pl.col("c_side"))
        mkt_ahead = near.filter(pl.col("ahead") & (pl.col("side") == "buy")).group_by("order_id") \
            .agg(mkt=pl.col("quantity").sum())
        per = near.group_by("order_id", "owner").agg(
            q_pre=pl.col("quantity").filter(pl.col("ahead") & pl.col("same")).sum(),
            q_aggr=pl.col("quantity").filter(pl.col("ahead") & pl.col("same") & pl.col("aggr")).sum(),
            q_bad=pl.col("quantity").filter(pl.col("ahead") & ~pl.col("same")).sum(),
            q_out=pl.col("quantity").filter(~pl.col("ahead") & ~pl.col("same")).sum(),
            p_in=(pl.col("price") * pl.col("quantity")).filter(pl.col("ahead") & pl.col("same")).sum(),
            p_out=(pl.col("price") * pl.col("quantity")).filter(~pl.col("ahead") & ~pl.col("same")).sum(),
        ).join(big.select("order_id", "c_qty", "c_side"), on="order_id").join(mkt_ahead, on="order_id")
        day_s = span_seconds(t["ts"], 3600.0)
        rates = legs.filter(pl.col("aggr")).group_by("owner", "side").agg(rate=pl.len() / day_s) \
            .rename({"side": "c_side"})
        per = per.join(rates, on=["owner", "c_side"], how="left").with_columns(
            coincidence=1 - (-pl.col("rate").fill_null(0.0) * config.pre_seconds).exp())
        hits = per.filter(
            (pl.col("q_pre") >= config.min_ratio * pl.col("c_qty"))
            & (pl.col("q_pre") <= config.max_ratio * pl.col("c_qty"))
            & (pl.col("q_pre") - pl.col("q_bad") >= config.min_share * pl.col("mkt"))
            & (pl.col("q_out") >= config.min_unwind * pl.col("q_pre"))
            & (pl.col("q_out") <= config.max_unwind * pl.col("q_pre"))
            & (pl.col("q_aggr") >= config.min_aggressive * pl.col("q_pre"))
            & (pl.col("coincidence") <= config.max_coincidence)

        ).sort("order_id", "owner")
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
                             f"{row['order_id']} executed, then {verb_out} {fmt_qty(row['q_out'])} at "
                             f"{sell_out:.6g} ({(sell_out / buy_in - 1) * (1 if row['c_side'] == 'buy' else -1):+.2%} "
                             f"on its entry)."))


DETECTOR = register(FrontRunningDetector())
