"""gather_scatter: a hub collects from several distinct senders and then pays the money out to several
distinct receivers (a collection point between two crowds of mules). The hub is the centre; senders
and receivers are actors."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from harbour.detect.aml.base import (
    GraphDetector,
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
from harbour.detect.framework import register


class GatherScatterConfig(BaseModel):
    window_hours: float = Field(48.0, gt=0, description="span of the gathering and of the scattering each")
    gap_hours: float = Field(48.0, ge=0, description="latest start of the scattering after the gathering ends")
    min_senders: int = Field(3, ge=2, description="distinct senders into the hub")
    min_receivers: int = Field(3, ge=2, description="distinct receivers out of the hub")
    min_value_ratio: float = Field(0.25, ge=0, description="value scattered / value gathered, at least")
    max_value_ratio: float = Field(4.0, gt=0, description="value scattered / value gathered, at most (a hub may "
                                   "add money it already held)")
    max_early_share: float = Field(0.25, ge=0, le=1,
                                   description="at most this share of the scattering may happen before the "
                                               "gathering ends (interleaved in-out is rapid movement)")
    max_meshed_share: float = Field(0.5, ge=0, le=1,
                                    description="at most this share of senders may pay two or more parties (or "
                                                "of receivers be paid by two or more) in the span: else the hub is "
                                                "one node of a mesh (a stack)")
    max_overlap: float = Field(0.34, ge=0, le=1,
                               description="at most this share of receivers may also be senders (else it is "
                                           "a busy two-way account, not a pass-through hub)")


def _meshed(g: TransferGraph, nodes: np.ndarray, span: tuple[int, int], usable: np.ndarray, senders: bool) -> float:
    """Share of ``nodes`` with two or more distinct counterparties (paid if senders, else payers) in span."""
    hits = 0
    for v in nodes.tolist():
        e = g.out_edges(v) if senders else g.in_edges(v)
        e = e[usable[e] & (g.ts[e] >= span[0]) & (g.ts[e] <= span[1])]
        hits += int(np.unique(counterparties(g, v, e)).size >= 2)
    return hits / max(1, nodes.size)


def find(g: TransferGraph, cfg: GatherScatterConfig, claimed: np.ndarray) -> list[Pattern]:
    usable = ~claimed
    window = hours(cfg.window_hours)
    ins: dict[int, list[np.ndarray]] = {}
    for v, e in node_bursts(g, True, usable, window, cfg.min_senders):
        ins.setdefault(v, []).append(e)
    out: list[Pattern] = []
    for h, e_out in node_bursts(g, False, usable, window, cfg.min_receivers):
        for e_in in ins.get(h, []):
            t_in0, t_in1 = int(g.ts[e_in].min()), int(g.ts[e_in].max())
            t_out0 = int(g.ts[e_out].min())
            if not (t_in0 <= t_out0 <= t_in1 + hours(cfg.gap_hours)):
                continue
            sent = e_out[g.ts[e_out] >= t_in0]
            senders = np.unique(counterparties(g, h, e_in))
            receivers = np.unique(counterparties(g, h, sent))
            if receivers.size < cfg.min_receivers:
                continue
            early = float((g.ts[sent] < t_in1).mean())
            overlap = np.intersect1d(senders, receivers).size / receivers.size
            if early > cfg.max_early_share:
                continue
            span = (t_in0, int(g.ts[sent].max()))
            if _meshed(g, senders, span, usable, True) > cfg.max_meshed_share or \
                    _meshed(g, receivers, span, usable, False) > cfg.max_meshed_share:
                continue
            v_in, v_out = float(g.usd[e_in].sum()), float(g.usd[sent].sum())
            ratio = v_out / v_in if v_in > 0 else 0.0
            if overlap > cfg.max_overlap or not cfg.min_value_ratio <= ratio <= cfg.max_value_ratio:
                continue
            e = np.concatenate((e_in, sent))
            text = (f"account {node_name(g, h, e)} gathered {fmt_usd(v_in)} from {senders.size} distinct senders "
                    f"and scattered {fmt_usd(v_out)} to {receivers.size} distinct receivers {fmt_span(g, e)}")
            score = saturating(min(senders.size / cfg.min_senders, receivers.size / cfg.min_receivers), 1.0)
            out.append(Pattern("gather_scatter", h, np.concatenate(([h], senders, receivers)), e, score, text))
            break
    return out


class GatherScatterDetector(GraphDetector):
    name = "aml_gather_scatter"
    version = "1.0"
    typology = "gather_scatter"
    config_model = GatherScatterConfig
    description = "A hub collects from many senders, then pays out to many receivers."


register(GatherScatterDetector())
