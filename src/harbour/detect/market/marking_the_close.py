"""Marking the close: trading just before a daily reference time to move the reference ("closing") price.

The defining behaviour: in the last minutes before the reference time one owner's aggressive trades push
the price in one direction, dominating the market's volume there; the move is out of line with the
day, and the price tends to give it back afterwards. The reference time is configuration (default
08:00 UTC = 16:00 Hong Kong time, the close used by the generator; a venue with another fixing time
sets its own).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import BaseModel, Field

from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.frames import (
    as_dt,
    clip01,
    ends_in_window,
    fmt_qty,
    frame,
    names,
    owner_map,
    part_symbol,
    part_venue,
    with_owner,
)

TRADE_COLUMNS = ("venue", "symbol", "trade_id", "ts", "price", "quantity", "buyer", "seller", "aggressor")


class MarkingTheCloseConfig(BaseModel):
    reference_time_utc: dt.time = Field(
        dt.time(8, 0), description="daily reference (closing) time in UTC; 08:00 UTC is 16:00 in Hong Kong")
    pre_minutes: float = Field(15.0, gt=0, description="minutes before the reference time that are watched")
    min_share: float = Field(
        0.25, gt=0, le=1, description="the owner's aggressive volume in the watched minutes as a share of all "
        "volume there")
    min_trades: int = Field(3, ge=1, description="aggressive trades by the owner in the watched minutes")
    min_move_sigmas: float = Field(
        2.0, ge=0, description="price move over the watched minutes, in the owner's direction, against the day's "
        "robust minute volatility scaled to the window")
    concentration: float = Field(
        0.3, ge=0, le=1, description="share of the owner's day volume that falls in the watched minutes; an "
        "active trader who happens to trade then is not marking")


def _sigma(trades: pl.DataFrame) -> float:
    bars = trades.sort("ts").group_by_dynamic("ts", every="1m").agg(close=pl.col("price").last())
    r = np.diff(np.log(bars["close"].to_numpy()))
    if r.size < 3:
        return 1e-9
    return 1.4826 * float(np.median(np.abs(r - np.median(r)))) or float(np.std(r)) or 1e-9


class MarkingTheCloseDetector(Detector[MarkingTheCloseConfig]):
    name = "marking_the_close"
    version = "1.0"
    typology = "marking_the_close"
    config_model = MarkingTheCloseConfig
    description = "One owner's aggressive trades dominate and move the price just before the reference time."

    def describe(self, config: MarkingTheCloseConfig) -> WorkSpec:
        return WorkSpec(tables=("trades",), partition_by=("venue", "symbol", "date"),
                        columns={"trades": TRADE_COLUMNS, "accounts": ("venue", "account", "customer_id")},
                        broadcast=("accounts",))

    def kernel(self, part: Partition, config: MarkingTheCloseConfig) -> pa.Table:
        out = AlertBuilder(self)
        trades = frame(part, "trades", TRADE_COLUMNS)
        if trades.height < 5:
            return out.to_table()
        venue, symbol = part_venue(part, trades), part_symbol(part, trades)
        day = as_dt(trades["ts"].min()).date()
        ref = dt.datetime.combine(day, config.reference_time_utc, tzinfo=dt.UTC)
        w0 = ref - dt.timedelta(minutes=config.pre_minutes)
        win = trades.filter((pl.col("ts") >= w0) & (pl.col("ts") < ref))
        if win.height < config.min_trades:
            return out.to_table()
        before = trades.filter(pl.col("ts") < w0)
        p0 = float(before["price"][-1]) if before.height else float(win["price"][0])
        move = math.log(float(win.sort("ts")["price"][-1]) / p0)
        sigma = _sigma(trades) * math.sqrt(config.pre_minutes)
        owners = owner_map(part, venue)
        t = with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s")
        # Aggressor side when known; otherwise each trade counts for both sides (no side is favoured).
        side = pl.col("aggressor").fill_null("both")
        legs = pl.concat([
            t.filter(side.is_in(["buy", "both"])).select("ts", "trade_id", "price", "quantity", account="buyer",
                                                        owner="owner_b", sign=pl.lit(1)),
            t.filter(side.is_in(["sell", "both"])).select("ts", "trade_id", "price", "quantity", account="seller",
                                                         owner="owner_s", sign=pl.lit(-1)),
        ]).with_columns(inwin=(pl.col("ts") >= w0) & (pl.col("ts") < ref))
        day_vol = pl.concat([t.select(owner="owner_b", q="quantity"), t.select(owner="owner_s", q="quantity")]) \
            .group_by("owner").agg(day_vol=pl.col("q").sum())
        win_vol = float(win["quantity"].sum())
        cand = legs.filter(pl.col("inwin")).group_by("owner", "sign").agg(
            n=pl.len(), q=pl.col("quantity").sum(), ids=pl.col("trade_id"), accounts=pl.col("account").unique(),
            start=pl.col("ts").min(), end=pl.col("ts").max(),
        ).join(day_vol, on="owner").filter(
            (pl.col("n") >= config.min_trades) & (pl.col("q") >= config.min_share * win_vol)
            & (pl.col("q") >= config.concentration * pl.col("day_vol"))
            & (pl.col("sign") * move >= config.min_move_sigmas * sigma)).sort("owner", "sign")
        for row in cand.iter_rows(named=True):
            start, end = as_dt(row["start"]), as_dt(row["end"])
            if not ends_in_window(part.window, end):
                continue
            verb = "bought" if row["sign"] > 0 else "sold"
            out.add(venue=venue, symbol=symbol, accounts=row["accounts"], start=start, end=end,
                    score=clip01(0.5 + row["q"] / win_vol / 2 + abs(move) / sigma / 40),
                    evidence_ids=row["ids"],
                    explanation=(f"in the {config.pre_minutes:g} minutes before the {ref:%H:%M} UTC reference time "
                                 f"account {names(row['accounts'])} aggressively {verb} {fmt_qty(row['q'])} units of "
                                 f"{symbol} in {row['n']} trades ({row['q'] / win_vol:.0%} of the volume) and the "
                                 f"price moved {math.expm1(move):+.2%} ({abs(move) / sigma:.1f}x its usual range)."))
        return out.to_table()


DETECTOR = register(MarkingTheCloseDetector())
