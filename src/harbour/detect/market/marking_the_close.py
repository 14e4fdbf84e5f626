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
    windows_minutes: tuple[float, ...] = Field(
        (2.0, 5.0, 15.0), description="spans before the reference time that are each examined; marking is often "
        "crammed into the last minutes, sometimes spread over a quarter hour")
    min_share: float = Field(
        0.3, gt=0, le=1, description="aggressive one-sided volume of the marking owners (at most max_group of them) "
        "in a watched span as a share of all volume there")
    max_group: int = Field(3, ge=1, description="owners acting together that are alerted as one group")
    min_member_share: float = Field(0.08, gt=0, le=1, description="smallest share for an owner to count in the group")
    min_trades: int = Field(3, ge=1, description="aggressive trades by the group in the watched span")
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
        owners = owner_map(part, venue)
        t = with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s")
        # Aggressor side when known; otherwise each trade counts for both sides (no side is favoured).
        side = pl.col("aggressor").fill_null("both")
        legs = pl.concat([
            t.filter(side.is_in(["buy", "both"])).select("ts", "trade_id", "price", "quantity", account="buyer",
                                                        owner="owner_b", sign=pl.lit(1)),
            t.filter(side.is_in(["sell", "both"])).select("ts", "trade_id", "price", "quantity", account="seller",
                                                         owner="owner_s", sign=pl.lit(-1)),
        ])
        day_vol = pl.concat([t.select(owner="owner_b", q="quantity"), t.select(owner="owner_s", q="quantity")]) \
            .group_by("owner").agg(day_vol=pl.col("q").sum())
        sigma_1m = _sigma(trades)
        best: dict | None = None
        for minutes in sorted(config.windows_minutes):
            found = self._window(t, legs, day_vol, ref, minutes, sigma_1m, config)
            if found and (best is None or found["strength"] > best["strength"]):
                best = found
        if best is not None and ends_in_window(part.window, best["end"]):
            self._emit(out, venue, symbol, ref, best)
        return out.to_table()

    def _window(self, t: pl.DataFrame, legs: pl.DataFrame, day_vol: pl.DataFrame, ref: dt.datetime, minutes: float,
                sigma_1m: float, config: MarkingTheCloseConfig) -> dict | None:
        w0 = ref - dt.timedelta(minutes=minutes)
        win = t.filter((pl.col("ts") >= w0) & (pl.col("ts") < ref))
        if win.height < config.min_trades:
            return None
        before = t.filter(pl.col("ts") < w0)
        p0 = float(before["price"][-1]) if before.height else float(win["price"][0])
        move = math.log(float(win["price"][-1]) / p0)
        sigma = sigma_1m * math.sqrt(minutes)
        sign = 1 if move > 0 else -1
        win_vol = float(win["quantity"].sum())
        per = legs.filter((pl.col("ts") >= w0) & (pl.col("ts") < ref) & (pl.col("sign") == sign)) \
            .group_by("owner").agg(n=pl.len(), q=pl.col("quantity").sum(), ids=pl.col("trade_id"),
                                   accounts=pl.col("account").unique(), start=pl.col("ts").min(),
                                   end=pl.col("ts").max()) \
            .join(day_vol, on="owner").filter(
                (pl.col("q") >= config.min_member_share * win_vol)
                & (pl.col("q") >= config.concentration * pl.col("day_vol"))) \
            .sort(["q", "owner"], descending=[True, False]).head(config.max_group)
        q = float(per["q"].sum()) if per.height else 0.0
        n = int(per["n"].sum()) if per.height else 0
        if (n < config.min_trades or q < config.min_share * win_vol
                or abs(move) < config.min_move_sigmas * sigma):
            return None
        return {"minutes": minutes, "q": q, "n": n, "share": q / win_vol, "move": move, "sigmas": abs(move) / sigma,
                "sign": sign, "accounts": sorted({a for accs in per["accounts"] for a in accs}),
                "ids": [i for ids in per["ids"] for i in ids], "start": as_dt(per["start"].min()),
                "end": as_dt(per["end"].max()), "strength": q / win_vol * abs(move) / sigma}

    def _emit(self, out: AlertBuilder, venue: str, symbol: str | None, ref: dt.datetime, f: dict) -> None:
        verb = "bought" if f["sign"] > 0 else "sold"
        out.add(venue=venue, symbol=symbol, accounts=f["accounts"], start=f["start"], end=f["end"],
                score=clip01(0.5 + f["share"] / 2 + f["sigmas"] / 40), evidence_ids=f["ids"],
                explanation=(f"in the {f['minutes']:g} minutes before the {ref:%H:%M} UTC reference time account(s) "
                             f"{names(f['accounts'])} aggressively {verb} {fmt_qty(f['q'])} units of {symbol} in "
                             f"{f['n']} trades ({f['share']:.0%} of the volume) and the price moved "
                             f"{math.expm1(f['move']):+.2%} ({f['sigmas']:.1f}x its usual range)."))


DETECTOR = register(MarkingTheCloseDetector())
