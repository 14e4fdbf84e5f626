"""Shared logic of fan-in and fan-out: a burst of distinct counterparties around one account."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from harbour.detect.aml.base import (
    Pattern,
    counterparties,
    fmt_span,
    fmt_usd,
    hours,
    node_bursts,
    node_name,
    saturating,
)
from harbour.detect.aml.graph import TransferGraph


class FanConfig(BaseModel):
    window_hours: float = Field(24.0, gt=0, description="span in which the distinct counterparties must appear")
    min_counterparties: int = Field(5, ge=2, description="distinct senders (fan-in) / receivers (fan-out)")
    min_total_usd: float = Field(1_000.0, ge=0, description="value moved through the burst, in USD")
    max_recurring_share: float = Field(
        0.5, ge=0, le=1,
        description="skip a burst when more than this share of its counterparties were already counterparties "
                    "before it (payroll, regular suppliers: recurring relationships, not a sudden crowd)")
    payroll_max_cv: float = Field(
        0.3, ge=0,
        description="a corporate account paying platform customers amounts this uniform (coefficient of "
                    "variation at most this) is treated as payroll, not a fan-out; 0 disables")


def recurring_share(g: TransferGraph, node: int, edges: np.ndarray, incoming: bool) -> float:
    """Share of the burst's counterparties the node already dealt with (same direction) before it."""
    t0 = int(g.ts[edges].min())
    allx = g.in_edges(node) if incoming else g.out_edges(node)
    before = allx[g.ts[allx] < t0]
    if before.size == 0:
        return 0.0
    prior = set(counterparties(g, node, before).tolist())
    now = set(counterparties(g, node, edges).tolist())
    return len(now & prior) / max(1, len(now))


def looks_like_payroll(g: TransferGraph, node: int, edges: np.ndarray, max_cv: float) -> bool:
    """A company paying people: corporate payer, receivers are platform customers, uniform amounts."""
    if max_cv <= 0 or not g.corporate[node]:
        return False
    amounts = g.usd[edges]
    cv = float(amounts.std() / amounts.mean()) if amounts.mean() > 0 else 0.0
    return bool(g.is_account[g.dst[edges]].mean() >= 0.8 and cv <= max_cv)


def find_fans(g: TransferGraph, cfg: FanConfig, claimed: np.ndarray, incoming: bool, typology: str) -> list[Pattern]:
    out: list[Pattern] = []
    for v, e in node_bursts(g, incoming, ~claimed, hours(cfg.window_hours), cfg.min_counterparties):
        total = float(g.usd[e].sum())
        if total < cfg.min_total_usd or recurring_share(g, v, e, incoming) > cfg.max_recurring_share:
            continue
        if not incoming and looks_like_payroll(g, v, e, cfg.payroll_max_cv):
            continue
        others = np.unique(counterparties(g, v, e))
        name = node_name(g, v, e)
        if incoming:
            text = (f"account {name} received {e.size} transfers from {others.size} distinct senders totalling "
                    f"{fmt_usd(total)} {fmt_span(g, e)}")
        else:
            text = (f"account {name} sent {e.size} transfers to {others.size} distinct receivers totalling "
                    f"{fmt_usd(total)} {fmt_span(g, e)}")
        score = saturating(others.size, cfg.min_counterparties)
        out.append(Pattern(typology, v, np.concatenate(([v], others)), e, score, text))
    return out
