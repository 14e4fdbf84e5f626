"""Layering: bait orders stacked at several price levels on one side, cancelled once a trade on the
other side is done. The episode logic is shared with spoofing (``cancelled_pressure``); layering episodes
are those whose bait spans ``min_levels`` or more distinct prices.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register
from harbour.detect.market.cancelled_pressure import ORDER_COLUMNS, TRADE_COLUMNS, PressureConfig, coincident, episodes
from harbour.detect.market.spoofing import emit_episodes


class LayeringConfig(PressureConfig):
    """Same parameters as spoofing's episode search, so an episode is one or the other, never both."""


class LayeringDetector(Detector[LayeringConfig]):
    name = "layering"
    version = "1.4"
    typology = "layering"
    config_model = LayeringConfig
    description = "Orders at several price levels cancelled unfilled while the same owner trades on the other side."

    def describe(self, config: LayeringConfig) -> WorkSpec:
        return WorkSpec(tables=("orders", "trades"), partition_by=("venue", "symbol", "date"),
                        columns={"orders": ORDER_COLUMNS, "trades": TRADE_COLUMNS,
                                 "accounts": ("venue", "account", "customer_id")},
                        broadcast=("accounts",))

    def kernel(self, part: Partition, config: LayeringConfig) -> pa.Table:
        out = AlertBuilder(self)
        candidates, venue = episodes(part, config)
        eps = coincident(candidates, config)
        if eps.height:
            emit_episodes(self, out, part, eps.filter(pl.col("levels") >= config.min_levels), venue, "Layering")
        return out.to_table()


DETECTOR = register(LayeringDetector())
