"""Cross-venue manipulation: trading on one venue to move a price that another venue uses as a reference,
and profiting on that other venue.

The defining behaviour: on venue A the price dislocates from the other venues' prices for the same
symbol (beyond ``min_sigmas`` times A's usual basis noise and ``min_dislocation``), the dislocation is
driven by one owner's aggressive trades (``min_share`` of A's volume in the spell, in its direction),
and the same customer — linked across venues by ``accounts.customer_id`` — trades on another venue
while the reference is distorted, in the direction that profits from it (selling there while A is
pushed up, buying while it is pushed down). The alert is raised on the venue that was moved (where the
manipulating trades are) and names the customer's accounts there; the explanation names the other venue.

Partitioned by symbol and day across all venues, so every venue's prices are in one kernel.
"""

from __future__ import annotations

import datetime as dt
import math

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
    owner_map,
    with_owner,
)

TRADE_COLUMNS = ("venue", "symbol", "trade_id", "ts", "price", "quantity", "buyer", "seller", "aggressor")


class CrossVenueConfig(BaseModel):
    bar_seconds: int = Field(60, ge=1, description="bar length for comparing venue prices")
    min_sigmas: float = Field(3.0, gt=0, description="dislocation against the venue's robust basis noise")
    min_dislocation: float = Field(0.003, ge=0, description="smallest dislocation (log) worth a look: 0.3%")
    max_gap_bars: int = Field(3, ge=0, description="quiet bars allowed inside one dislocation spell")
    min_share: float = Field(
        0.3, gt=0, le=1, description="the driving owner's aggressive volume in the dislocation's direction, as a "
        "share of the venue's volume in the spell")
    min_trades: int = Field(3, ge=1, description="aggressive trades by the driving owner in the spell")
    benefit_minutes: float = Field(
        30.0, ge=0, description="minutes around the spell in which the owner's trades on another venue count")
    min_benefit_ratio: float = Field(
        0.25, ge=0, description="the owner's opposite trading on the other venues against its driving quantity; a "
        "token trade elsewhere is not a position that profits")
    require_benefit: bool = Field(
        True, description="require the owner's profitable trading on another venue; off = alert on any driven "
        "dislocation (broader, noisier)")


def _bars(t: pl.DataFrame, seconds: int) -> pl.DataFrame:
    b = t.with_columns(bar=pl.col("ts").dt.truncate(f"{seconds}s")).group_by("venue", "bar").agg(
        vwap=(pl.col("price") * pl.col("quantity")).sum() / pl.col("quantity").sum())
    venues = b["venue"].unique().sort().to_list()
    wide = b.pivot(on="venue", index="bar", values="vwap").sort("bar")
    # Each venue's reference is the median of the OTHER venues, so the moved venue cannot hide in it.
    rows = []
    for v in venues:
        others = [pl.col(w) for w in venues if w != v]
        rows.append(wide.select("bar", venue=pl.lit(v), p=pl.col(v),
                                ref=pl.concat_list(others).list.drop_nulls().list.median()))
    long = pl.concat(rows).drop_nulls(["p", "ref"])
    return long.with_columns(dev=(pl.col("p") / pl.col("ref")).log())


class CrossVenueDetector(Detector[CrossVenueConfig]):
    name = "cross_venue"
    version = "1.0"
    typology = "cross_venue"
    config_model = CrossVenueConfig
    description = "One owner pushes a venue's price away from the others while trading the other way elsewhere."

    def describe(self, config: CrossVenueConfig) -> WorkSpec:
        return WorkSpec(tables=("trades",), partition_by=("symbol", "date"),
                        columns={"trades": TRADE_COLUMNS, "accounts": ("venue", "account", "customer_id")},
                        broadcast=("accounts",))

    def kernel(self, part: Partition, config: CrossVenueConfig) -> pa.Table:
        out = AlertBuilder(self)
        trades = frame(part, "trades", TRADE_COLUMNS)
        if trades.height < 10 or trades["venue"].n_unique() < 2:
            return out.to_table()
        symbol = str(part.key.get("symbol") or trades["symbol"][0])
        bars = _bars(trades, config.bar_seconds)
        scale = bars.group_by("venue").agg(
            med=pl.col("dev").median(), mad=(pl.col("dev") - pl.col("dev").median()).abs().median() * 1.4826)
        bar = dt.timedelta(seconds=config.bar_seconds)
        hot = bars.join(scale, on="venue").with_columns(z=(pl.col("dev") - pl.col("med"))).filter(
            (pl.col("z").abs() >= config.min_dislocation)
            & (pl.col("z").abs() >= config.min_sigmas * pl.col("mad"))).with_columns(
            direction=pl.col("z").sign()).sort("venue", "direction", "bar")
        if hot.height == 0:
            return out.to_table()
        gap = bar * (config.max_gap_bars + 1)
        hot = hot.with_columns(new=(pl.col("bar").diff().over("venue", "direction").fill_null(gap * 2) > gap)
                               .cast(pl.Int32))
        spells = hot.with_columns(spell=pl.col("new").cum_sum().over("venue", "direction")) \
            .group_by("venue", "direction", "spell").agg(
                s0=pl.col("bar").min(), s1=pl.col("bar").max() + bar, peak=pl.col("z").abs().max(),
                # The push is the run-up to the largest dislocation; after it the price only decays back.
                push_end=pl.col("bar").sort_by(pl.col("z").abs()).last() + bar) \
            .sort("venue", "s0")
        owners = owner_map(part)
        t = trades.with_columns(key=pl.concat_str([pl.col("venue"), pl.lit(":"), pl.col("buyer")]))
        t = with_owner(t, owners, "key", "owner_b").drop("key")
        t = t.with_columns(key=pl.concat_str([pl.col("venue"), pl.lit(":"), pl.col("seller")]))
        t = with_owner(t, owners, "key", "owner_s").drop("key")
        legs = pl.concat([
            t.select("venue", "ts", "trade_id", "price", "quantity", account="buyer", owner="owner_b",
                     sign=pl.lit(1), aggr=pl.col("aggressor") != "sell"),
            t.select("venue", "ts", "trade_id", "price", "quantity", account="seller", owner="owner_s",
                     sign=pl.lit(-1), aggr=pl.col("aggressor") != "buy"),
        ])
        found: list[dict] = []
        # Each venue's legs sorted by time once; a spell is then a binary-searched slice, not a scan.
        by_venue = {v: df.sort("ts") for (v,), df in legs.partition_by("venue", as_dict=True).items()}
        for sp in _spells_with_a_driver(spells, legs, config).iter_rows(named=True):
            found.extend(self._spell(part, legs, by_venue, sp, symbol, config))
        for alert in _keep_moved_venue(found):
            out.add(**alert["alert"])
        return out.to_table()

    def _spell(self, part: Partition, legs: pl.DataFrame, by_venue: dict[str, pl.DataFrame], sp: dict, symbol: str,
               config: CrossVenueConfig) -> list[dict]:
        venue, direction = sp["venue"], int(sp["direction"])
        mine = by_venue[venue]
        lo = int(mine["ts"].search_sorted(sp["s0"], side="left"))
        hi = int(mine["ts"].search_sorted(sp["push_end"], side="left"))
        here = mine.slice(lo, hi - lo)
        vol = float(here.filter(pl.col("sign") == 1)["quantity"].sum())
        drivers = here.filter(pl.col("aggr") & (pl.col("sign") == direction)).group_by("owner").agg(
            n=pl.len(), q=pl.col("quantity").sum(), ids=pl.col("trade_id"), accounts=pl.col("account").unique(),
            start=pl.col("ts").min(), end=pl.col("ts").max(),
        ).filter((pl.col("n") >= config.min_trades) & (pl.col("q") >= config.min_share * vol)).sort("owner")
        around = dt.timedelta(minutes=config.benefit_minutes)
        found: list[dict] = []
        for d in drivers.iter_rows(named=True):
            elsewhere = legs.filter((pl.col("venue") != venue) & (pl.col("owner") == d["owner"])
                                    & (pl.col("ts") >= sp["s0"] - around) & (pl.col("ts") < sp["s1"] + around)
                                    & (pl.col("sign") == -direction))
            if config.require_benefit and (elsewhere.height == 0 or float(elsewhere["quantity"].sum())
                                           < config.min_benefit_ratio * d["q"]):
                continue
            start = as_dt(min([d["start"], *elsewhere["ts"].to_list()]))
            end = as_dt(max([d["end"], *elsewhere["ts"].to_list()]))
            if not ends_in_window(part.window, end):
                continue
            verb = "bought" if direction > 0 else "sold"
            other = ""
            if elsewhere.height:
                other_venues = ", ".join(sorted(elsewhere["venue"].unique().to_list()))
                other_accounts = names(elsewhere["account"].unique().to_list())
                other = (f", while the same customer's account(s) {other_accounts} on {other_venues} "
                         f"{'sold' if direction > 0 else 'bought'} {fmt_qty(float(elsewhere['quantity'].sum()))} "
                         f"units there")
            found.append({"owner": d["owner"], "peak": sp["peak"], "start": start, "end": end, "alert": dict(
                venue=venue, symbol=symbol, accounts=d["accounts"], start=start, end=end,
                    score=clip01(0.5 + d["q"] / max(vol, 1e-12) / 2 + (0.2 if elsewhere.height else 0.0)),
                    evidence_ids=list(d["ids"]) + elsewhere["trade_id"].to_list(),
                    explanation=(f"account {names(d['accounts'])} aggressively {verb} {fmt_qty(d['q'])} units of "
                                 f"{symbol} on {venue} in {d['n']} trades ({d['q'] / max(vol, 1e-12):.0%} of its "
                                 f"volume in {fmt_span(as_dt(sp['s0']), as_dt(sp['push_end']))}) as its price moved "
                                 f"{math.expm1(sp['peak']) * direction:+.2%} away from the other venues{other}."))})
        return found


DETECTOR = register(CrossVenueDetector())


def _spells_with_a_driver(spells: pl.DataFrame, legs: pl.DataFrame, config: CrossVenueConfig) -> pl.DataFrame:
    """Only the spells in which some owner's aggressive trades could be the driver (one as-of join for all
    spells, instead of slicing the legs spell by spell)."""
    spells = spells.with_row_index("sid")
    assigned = legs.sort("ts").join_asof(spells.select("sid", "venue", "s0", "push_end", "direction").sort("s0"),
                                         left_on="ts", right_on="s0", by="venue", strategy="backward",
                                         check_sortedness=False).filter(pl.col("ts") < pl.col("push_end"))
    vol = assigned.filter(pl.col("sign") == 1).group_by("sid").agg(vol=pl.col("quantity").sum())
    ok = assigned.filter(pl.col("aggr") & (pl.col("sign") == pl.col("direction"))) \
        .group_by("sid", "owner").agg(n=pl.len(), q=pl.col("quantity").sum()).join(vol, on="sid") \
        .filter((pl.col("n") >= config.min_trades) & (pl.col("q") >= config.min_share * pl.col("vol"))) \
        .select("sid").unique()
    return spells.join(ok, on="sid", how="semi").drop("sid").sort("venue", "s0")


def _keep_moved_venue(found: list[dict]) -> list[dict]:
    """One customer seen driving two venues at once (pushing A, trading the other way on B, which dislocates
    B too): the venue that was *moved* is the one that left the others furthest behind."""
    kept: list[dict] = []
    for a in sorted(found, key=lambda f: (-f["peak"], f["alert"]["venue"], f["start"])):
        clash = any(k["owner"] == a["owner"] and k["alert"]["venue"] != a["alert"]["venue"]
                    and a["start"] <= k["end"] and k["start"] <= a["end"] for k in kept)
        if not clash:
            kept.append(a)
    return sorted(kept, key=lambda f: (f["alert"]["venue"], f["start"]))
