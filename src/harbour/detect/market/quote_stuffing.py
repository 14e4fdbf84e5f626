"""Quote stuffing: floods of order messages that are placed and cancelled at once, to clog the venue's
feed and slow other participants, not to trade.

The defining behaviour: one owner's new/amend/cancel messages reach ``min_rate`` per second for a spell,
far above the market's message rate at that time (``min_share`` of all messages in the spell), nearly
every order placed is cancelled, and almost nothing executes. Market makers send many messages too,
but steadily, and their quotes trade.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa
from pydantic import BaseModel, Field

from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.frames import (
    as_dt,
    clip01,
    ends_in_window,
    fmt_span,
    frame,
    names,
    owner_map,
    part_symbol,
    part_venue,
    with_owner,
)

ORDER_COLUMNS = ("venue", "symbol", "order_id", "account", "ts", "event")


class QuoteStuffingConfig(BaseModel):
    bucket_ms: int = Field(1000, ge=1, description="time bucket for message rates, in milliseconds")
    min_rate: float = Field(
        20.0, gt=0, description="messages per second from one owner that make a bucket 'hot'")
    max_gap_buckets: int = Field(2, ge=1, description="quiet buckets allowed inside one spell")
    min_messages: int = Field(100, ge=1, description="messages in a spell before it is judged")
    min_share: float = Field(
        0.5, gt=0, le=1, description="the owner's share of all messages on the symbol during the spell")
    min_cancel_ratio: float = Field(0.9, gt=0, le=1, description="cancelled (or expired) orders over placed orders")
    max_fill_ratio: float = Field(0.05, ge=0, le=1, description="orders with a fill over orders placed")


class QuoteStuffingDetector(Detector[QuoteStuffingConfig]):
    name = "quote_stuffing"
    version = "1.0"
    typology = "quote_stuffing"
    config_model = QuoteStuffingConfig
    description = "Bursts of placed-and-cancelled orders far above the market's message rate, with no fills."

    def describe(self, config: QuoteStuffingConfig) -> WorkSpec:
        return WorkSpec(tables=("orders",), partition_by=("venue", "symbol", "date"),
                        columns={"orders": ORDER_COLUMNS, "accounts": ("venue", "account", "customer_id")},
                        broadcast=("accounts",))

    def kernel(self, part: Partition, config: QuoteStuffingConfig) -> pa.Table:
        out = AlertBuilder(self)
        orders = frame(part, "orders", ORDER_COLUMNS)
        if orders.height < config.min_messages:
            return out.to_table()
        venue, symbol = part_venue(part, orders), part_symbol(part, orders)
        bucket_us = config.bucket_ms * 1000
        owners = owner_map(part, venue)
        msgs = orders.filter(pl.col("event") != "fill").select(
            "account", bucket=pl.col("ts").dt.epoch("us") // bucket_us)
        # Count per account first (millions of rows → thousands), then fold accounts into owners.
        counts = with_owner(msgs.group_by("account", "bucket").agg(n=pl.len()), owners, "account", "owner") \
            .group_by("owner", "bucket").agg(n=pl.col("n").sum())
        per_sec = config.bucket_ms / 1000.0
        hot = counts.filter(pl.col("n") >= config.min_rate * per_sec).sort("owner", "bucket")
        if hot.height == 0:
            return out.to_table()
        hot = hot.with_columns(new=(pl.col("bucket").diff().over("owner").fill_null(config.max_gap_buckets + 2)
                                    > config.max_gap_buckets + 1).cast(pl.Int32))
        hot = hot.with_columns(spell=pl.col("new").cum_sum().over("owner"))
        spells = hot.group_by("owner", "spell").agg(b0=pl.col("bucket").min(), b1=pl.col("bucket").max() + 1)
        # All messages per bucket (for the owner's share), and the hot owners' own events.
        all_per_bucket = msgs.group_by("bucket").agg(n_all=pl.len())
        totals = spells.join_where(all_per_bucket, pl.col("bucket") >= pl.col("b0"), pl.col("bucket") < pl.col("b1")) \
            .group_by("owner", "spell").agg(all_msgs=pl.col("n_all").sum()).rename({"owner": "sp_owner"})
        hot_accounts = owners.join(spells.select("owner").unique(), on="owner", how="semi").select("account")
        mine = with_owner(orders.join(pl.concat([hot_accounts, spells.select(account="owner")]).unique(),
                                      on="account", how="semi"), owners, "account", "owner") \
            .with_columns(bucket=pl.col("ts").dt.epoch("us") // bucket_us).sort("bucket") \
            .join_asof(spells.sort("b0"), left_on="bucket", right_on="b0", by="owner", strategy="backward",
                       check_sortedness=False) \
            .filter(pl.col("bucket") < pl.col("b1")).with_columns(sp_owner=pl.col("owner"))
        stats = mine.group_by("sp_owner", "spell").agg(
            msgs=(pl.col("event") != "fill").sum(), placed=(pl.col("event") == "new").sum(),
            cancelled=pl.col("event").is_in(["cancel", "expire"]).sum(),
            filled=pl.col("order_id").filter(pl.col("event") == "fill").n_unique(),
            start=pl.col("ts").min(), end=pl.col("ts").max(), ids=pl.col("order_id").unique(),
            accounts=pl.col("account").unique(),
        ).join(totals, on=["sp_owner", "spell"]).filter(
            (pl.col("msgs") >= config.min_messages) & (pl.col("msgs") >= config.min_share * pl.col("all_msgs"))
            & (pl.col("cancelled") >= config.min_cancel_ratio * pl.col("placed"))
            & (pl.col("filled") <= config.max_fill_ratio * pl.col("placed"))).sort("sp_owner", "start")
        for row in stats.iter_rows(named=True):
            start, end = as_dt(row["start"]), as_dt(row["end"])
            if not ends_in_window(part.window, end):
                continue
            secs = max((end - start).total_seconds(), config.bucket_ms / 1000.0)
            rate = row["msgs"] / secs
            out.add(venue=venue, symbol=symbol, accounts=row["accounts"], start=start, end=end,
                    score=clip01(0.5 + row["msgs"] / row["all_msgs"] / 2 + min(rate / config.min_rate, 10) / 40),
                    evidence_ids=row["ids"],
                    explanation=(f"account {names(row['accounts'])} sent {row['msgs']} order messages on {symbol} in "
                                 f"{fmt_span(start, end)} ({rate:.0f} per second, {row['msgs'] / row['all_msgs']:.0%}"
                                 f" of all messages then): {row['placed']} orders placed, {row['cancelled']} "
                                 f"cancelled, {row['filled']} filled."))
        return out.to_table()


DETECTOR = register(QuoteStuffingDetector())
