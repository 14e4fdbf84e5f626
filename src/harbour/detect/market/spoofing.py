"""Spoofing: a large order on one side, never meant to execute, placed to help a trade on the other side.

See ``cancelled_pressure`` for the episode logic shared with layering. Spoofing episodes are those whose
bait sits at fewer than ``min_levels`` distinct prices (one or two big orders).
"""

from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.cancelled_pressure import (
    ORDER_COLUMNS,
    TRADE_COLUMNS,
    PressureConfig,
    coincident,
    episodes,
)
from harbour.detect.market.frames import as_dt, clip01, ends_in_window, fmt_qty, fmt_span, names, part_symbol


class SpoofingConfig(PressureConfig):
    """Same parameters as layering's episode search, so an episode is one or the other, never both."""

    max_repeat_chance: float = Field(
        3e-3, gt=0, le=1, description="as layering's, stricter: one or two big orders pulled while the owner traded "
        "the other side happen by chance among the many ordinary traders of a day; bait over several levels "
        "rarely does")


def emit_episodes(detector: Detector, out: AlertBuilder, part: Partition, eps, venue: str, word: str) -> None:
    """One alert per episode, shared by spoofing and layering."""
    import polars as pl

    symbol = part_symbol(part, pl.DataFrame({"symbol": [part.key.get("symbol")]}))
    for row in eps.iter_rows(named=True):
        start = as_dt(min(row["start"], row["opp_first"]))
        end = as_dt(max(row["end"], row["opp_last"]))
        if not ends_in_window(part.window, end):
            continue
        accounts = sorted(set(row["bait_accounts"]) | set(row["opp_accounts"]))
        opposite = "bought" if row["side"] == "sell" else "sold"
        where = (f"at {row['levels']} price levels {row['lo']:g}–{row['hi']:g}" if row["levels"] > 1
                 else f"at {row['lo']:g}")
        ratio = row["bait_qty"] / max(row["opp_qty"], 1e-12)
        out.add(venue=venue, symbol=symbol, accounts=accounts, start=start, end=end,
                score=clip01(0.55 + 0.1 * min(ratio, 4.0)),
                evidence_ids=list(row["orders"]) + list(row["opp_ids"]),
                explanation=(f"{word} by account {names(accounts)} on {symbol}: {row['n_orders']} {row['side']} "
                             f"order(s) for {fmt_qty(row['bait_qty'])} units {where} "
                             f"({row['bait_qty'] / max(row['n_orders'], 1) / max(row['median'], 1e-12):.0f}x the "
                             f"median order) were cancelled unfilled within {fmt_span(start, end)}, while the "
                             f"account {opposite} {fmt_qty(row['opp_qty'])} units on the other side in "
                             f"{row['opp_n']} trade(s)."))


class SpoofingDetector(Detector[SpoofingConfig]):
    name = "spoofing"
    version = "1.4"
    typology = "spoofing"
    config_model = SpoofingConfig
    description = "Large orders cancelled unfilled while the same owner trades on the other side."

    def describe(self, config: SpoofingConfig) -> WorkSpec:
        return WorkSpec(tables=("orders", "trades"), partition_by=("venue", "symbol", "date"),
                        columns={"orders": ORDER_COLUMNS, "trades": TRADE_COLUMNS,
                                 "accounts": ("venue", "account", "customer_id")},
                        broadcast=("accounts",))

    def kernel(self, part: Partition, config: SpoofingConfig) -> pa.Table:
        out = AlertBuilder(self)
        candidates, venue = episodes(part, config)
        eps = coincident(candidates, config)
        if eps.height:
            import polars as pl

            emit_episodes(self, out, part, eps.filter(pl.col("levels") < config.min_levels), venue, "Spoofing")
        return out.to_table()


DETECTOR = register(SpoofingDetector())
