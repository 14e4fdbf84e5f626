"""cycle: money that leaves an account comes back to it (or to another account of the same customer,
on any venue) through 2..N other parties, each hop later than the previous one, within a window, with
each hop carrying a similar value (a round trip of one sum, not unrelated payments that happen to close
a loop)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from harbour.detect.aml.base import GraphDetector, Pattern, fmt_span, fmt_usd, hours, node_name, saturating
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.aml.kernels import temporal_cycles
from harbour.detect.framework import register


class CycleConfig(BaseModel):
    window_hours: float = Field(72.0, gt=0, description="first to last hop of one cycle")
    min_length: int = Field(3, ge=2, description="hops; 2 would flag every refund")
    max_length: int = Field(8, ge=2, le=12, description="hops; longer loops are not searched")
    min_hop_ratio: float = Field(0.5, gt=0, description="a hop carries at least this share of the previous hop")
    max_hop_ratio: float = Field(2.0, gt=0, description="... and at most this multiple of it")
    min_usd: float = Field(500.0, ge=0, description="value of the first hop")
    max_hop_fanout: int = Field(50, ge=1, description="a party paying more parties than this within the window "
                                "is a hub; cycles are not traced through it")
    search_budget: int = Field(2_000, ge=10, description="edge expansions per start edge (bounds hub blow-up)")


def active_nodes(g: TransferGraph, usable: np.ndarray) -> np.ndarray:
    """Nodes that can lie on a cycle: with usable in- and out-edges to others, not institutional."""
    # the edges that cannot be used are few (claimed ones, self-loops): a node has a usable out-edge if it
    # has more out-edges (its CSR degree) than unusable ones, with no pass over a mask of every usable edge
    bad = np.flatnonzero(~usable | (g.src == g.dst))
    has_out = np.diff(g.out_ptr) > np.bincount(g.src[bad], minlength=g.n_nodes)
    has_in = np.diff(g.in_ptr) > np.bincount(g.dst[bad], minlength=g.n_nodes)
    return has_out & has_in & ~g.institutional


def find(g: TransferGraph, cfg: CycleConfig, claimed: np.ndarray) -> list[Pattern]:
    usable = ~claimed
    active = active_nodes(g, usable)
    # An edge that cannot start a cycle (too small) can still be a later hop; filter starts afterwards.
    flat, offsets = temporal_cycles(g.in_ptr, g.in_order, g.out_ptr, g.out_order, g.usd, active,
                                    hours(cfg.window_hours), cfg.min_length, cfg.max_length,
                                    cfg.min_hop_ratio, cfg.max_hop_ratio, cfg.search_budget, cfg.min_usd,
                                    cfg.max_hop_fanout, g.csr_view(True), g.csr_view(False), g.csr_usd())
    groups: dict[tuple[int, ...], list[np.ndarray]] = {}
    for i in range(offsets.size - 1):
        e = flat[offsets[i]:offsets[i + 1]]
        if claimed[e].any() or g.usd[e[0]] < cfg.min_usd or not g.is_account[g.src[e]].any():
            continue
        groups.setdefault(tuple(sorted(g.src[e].tolist())), []).append(e)
    out = []
    for cycles in groups.values():
        e = np.unique(np.concatenate(cycles))
        first = cycles[0]
        nodes = g.src[first]
        hops = first.size
        path = " -> ".join(node_name(g, int(v), e) for v in nodes) + " -> " + node_name(g, int(nodes[0]), e)
        text = (f"funds went round a {hops}-hop cycle {path}: {fmt_usd(float(g.usd[first[0]]))} out and "
                f"{fmt_usd(float(g.usd[first[-1]]))} back {fmt_span(g, first)}"
                + (f" ({len(cycles)} round trips)" if len(cycles) > 1 else ""))
        out.append(Pattern("cycle", int(nodes[0]), np.unique(nodes), e, saturating(len(cycles) + hops, 3), text))
    return out


class CycleDetector(GraphDetector):
    name = "aml_cycle"
    version = "1.0"
    typology = "cycle"
    config_model = CycleConfig
    description = "Temporal cycles of 3 to 8 hops returning a similar sum to its origin."


register(CycleDetector())
