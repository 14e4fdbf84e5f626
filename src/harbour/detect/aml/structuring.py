"""structuring: one customer (all of its linked accounts) moves several amounts each just under a
reporting threshold within a window — splitting a sum to stay below the line. Thresholds are config
values in USD (default: HK$120,000 at 7.8 HKD/USD, and US$10,000)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from harbour.detect.aml.base import (
    GraphDetector,
    Pattern,
    fmt_span,
    fmt_usd,
    hours,
    node_bursts,
    node_name,
    saturating,
)
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.framework import register

HKD_PER_USD = 7.8


class StructuringConfig(BaseModel):
    thresholds_usd: list[float] = Field(
        default_factory=lambda: [round(120_000 / HKD_PER_USD, 2), 10_000.0],
        description="reporting thresholds in USD; an amount in [t * (1 - band), t) is just under t")
    band: float = Field(0.15, gt=0, lt=1, description="how far under a threshold counts as 'just under'")
    window_hours: float = Field(72.0, gt=0, description="span in which the just-under amounts fall")
    min_transfers: int = Field(3, ge=2, description="just-under transfers in the window, in one direction")
    min_share: float = Field(0.5, gt=0, le=1,
                             description="just-under transfers / all the account's transfers in that direction "
                                         "over the same span (a payroll with some amounts near the line is not "
                                         "structuring)")


def near_threshold(usd: np.ndarray, cfg: StructuringConfig) -> np.ndarray:
    hit = np.zeros(usd.shape[0], bool)
    for t in cfg.thresholds_usd:
        hit |= (usd >= t * (1 - cfg.band)) & (usd < t)
    return hit


def find(g: TransferGraph, cfg: StructuringConfig, claimed: np.ndarray) -> list[Pattern]:
    mask = ~claimed & near_threshold(g.usd, cfg)
    out = []
    for incoming in (True, False):
        for v, e in node_bursts(g, incoming, mask, hours(cfg.window_hours), cfg.min_transfers, distinct=False):
            allx = g.in_edges(v) if incoming else g.out_edges(v)
            t = g.ts[allx]
            span = allx[(t >= g.ts[e].min()) & (t <= g.ts[e].max()) & (g.src[allx] != g.dst[allx])]
            if e.size < cfg.min_share * span.size:
                continue
            total = float(g.usd[e].sum())
            near = min(cfg.thresholds_usd, key=lambda t: abs(t - float(np.median(g.usd[e]))))
            verb = "received" if incoming else "sent"
            text = (f"account {node_name(g, v, e)} {verb} {e.size} transfers each just under the "
                    f"{fmt_usd(near)} reporting threshold (from {fmt_usd(float(g.usd[e].min()))} to "
                    f"{fmt_usd(float(g.usd[e].max()))}, totalling {fmt_usd(total)}) {fmt_span(g, e)}")
            # The counterparties are usually the customer's own wallets: the customer alone is the actor.
            out.append(Pattern("structuring", v, np.array([v]), e, saturating(e.size, cfg.min_transfers), text))
            mask[e] = False
    return out


class StructuringDetector(GraphDetector):
    name = "aml_structuring"
    version = "1.0"
    typology = "structuring"
    config_model = StructuringConfig
    description = "Several amounts just under a reporting threshold within a window."


register(StructuringDetector())
