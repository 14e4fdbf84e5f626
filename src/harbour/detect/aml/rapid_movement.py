"""rapid_movement: funds arrive at an account and most of their value leaves again to other parties
within a short time (pass-through with little dwell), repeatedly or in a large sum. Edges already
explained by a more specific pattern (e.g. the mules of a scatter-gather) are not counted again."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from harbour.detect.aml.base import GraphDetector, Pattern, fmt_span, fmt_usd, hours, node_name, saturating
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.aml.kernels import _lower_bound, pass_through
from harbour.detect.framework import register


class RapidMovementConfig(BaseModel):
    dwell_hours: float = Field(6.0, gt=0, description="funds leave within this time after arriving")
    min_out_share: float = Field(0.8, gt=0, description="value sent on / value received, at least")
    max_out_share: float = Field(1.2, gt=0, description="... and at most (far more out is a different flow)")
    min_usd: float = Field(2_000.0, ge=0, description="value of the incoming transfer")


def find(g: TransferGraph, cfg: RapidMovementConfig, claimed: np.ndarray) -> list[Pattern]:
    dwell = hours(cfg.dwell_hours)
    usd = np.where(claimed, 0.0, g.usd)
    share, _ = pass_through(g.in_ptr, g.in_order, g.out_ptr, g.out_order, g.src, g.dst, g.ts, usd,
                            ~g.institutional & g.is_account, dwell, cfg.min_out_share, max(cfg.min_usd, 1e-9))
    hit = np.flatnonzero((share >= cfg.min_out_share) & (share <= cfg.max_out_share))
    by_node: dict[int, list[int]] = {}
    for arrival in hit.tolist():
        by_node.setdefault(int(g.dst[arrival]), []).append(arrival)
    out = []
    for v, ins in by_node.items():
        groups: list[list[int]] = []
        for arrival in ins:  # in time order: merge arrivals whose pass-through windows overlap
            if groups and g.ts[arrival] <= g.ts[groups[-1][-1]] + dwell:
                groups[-1].append(arrival)
            else:
                groups.append([arrival])
        for grp in groups:
            e_in = np.array(grp)
            lo = _lower_bound(g.ts, g.out_order, g.out_ptr[v], g.out_ptr[v + 1], int(g.ts[e_in[0]]) - 1)
            hi = _lower_bound(g.ts, g.out_order, lo, g.out_ptr[v + 1], int(g.ts[e_in[-1]]) + dwell)
            e_out = g.out_order[lo:hi]
            e_out = e_out[(usd[e_out] > 0) & (g.dst[e_out] != v)]
            e = np.concatenate((e_in, e_out))
            v_in, v_out = float(g.usd[e_in].sum()), float(g.usd[e_out].sum())
            dwell_h = (int(g.ts[e_out].max()) - int(g.ts[e_in].min())) / 3.6e9 if e_out.size else 0.0
            text = (f"account {node_name(g, v, e)} received {fmt_usd(v_in)} in {e_in.size} transfer(s) and sent "
                    f"{fmt_usd(v_out)} on in {e_out.size} transfer(s), the last {dwell_h:.1f} hours after the first "
                    f"arrival "
                    f"({fmt_span(g, e)})")
            out.append(Pattern("rapid_movement", v, np.array([v]), e, saturating(v_in, cfg.min_usd), text))
    return out


class RapidMovementDetector(GraphDetector):
    name = "aml_rapid_movement"
    version = "1.0"
    typology = "rapid_movement"
    config_model = RapidMovementConfig
    description = "Funds received and sent on within a short time."


register(RapidMovementDetector())
