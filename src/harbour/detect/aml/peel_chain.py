"""peel_chain: a sum moves along a chain of parties, each keeping or peeling off a small part to another
party and passing most of the rest on to the next, each hop later than the previous, so the carried
value shrinks hop by hop. Actors are the chain's parties and the platform accounts that receive the
peel-offs; peel-offs to bare addresses are evidence only. At least one actor must be a platform account."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from harbour.detect.aml import prefetch as ahead
from harbour.detect.aml.base import GraphDetector, Pattern, fmt_span, fmt_usd, hours, node_name, saturating
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.aml.kernels import _lower_bound, chain_lengths, peel_next
from harbour.detect.framework import register


class PeelChainConfig(BaseModel):
    hop_hours: float = Field(24.0, gt=0, description="latest next hop after the previous one")
    min_hops: int = Field(4, ge=3, description="chain length in transfers")
    keep_min: float = Field(0.5, gt=0, lt=1, description="a hop passes on at least this share (and under 100%)")
    peel_max: float = Field(0.35, gt=0, lt=1, description="a peel-off is at most this share of the incoming value")
    min_peel_share: float = Field(0.5, ge=0, le=1, description="share of intermediate hops with a peel-off")
    min_usd: float = Field(1_000.0, ge=0, description="value of the first hop")
    max_hops: int = Field(64, ge=4, description="chains are cut at this length")


def _peels(g: TransferGraph, e: int, window: int, peel_max: float) -> np.ndarray:
    v = int(g.dst[e])
    lo = _lower_bound(g.ts, g.out_order, g.out_ptr[v], g.out_ptr[v + 1], int(g.ts[e]))
    hi = _lower_bound(g.ts, g.out_order, lo, g.out_ptr[v + 1], int(g.ts[e]) + window)
    f = g.out_order[lo:hi]
    r = g.usd[f] / g.usd[e] if g.usd[e] > 0 else np.zeros(f.size)
    return f[(r > 0) & (r <= peel_max) & (g.dst[f] != v)]


def next_hops(g: TransferGraph, cfg: PeelChainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(next hop or -1, peeled) per edge, before any claims (see ``kernels.peel_next``)."""
    return peel_next(g.in_ptr, g.in_order, g.out_ptr, g.out_order, g.usd, ~g.institutional, hours(cfg.hop_hours),
                     cfg.keep_min, cfg.peel_max, 0.0, g.csr_view(True), g.csr_view(False), g.csr_usd())


def prefetch(g: TransferGraph, cfg: PeelChainConfig) -> None:
    """Start ``next_hops`` beside the mining pass: claims only cut chains afterwards."""
    ahead.start(g, "peel_next", cfg.model_dump_json(), lambda: next_hops(g, cfg))


def find(g: TransferGraph, cfg: PeelChainConfig, claimed: np.ndarray) -> list[Pattern]:
    window = hours(cfg.hop_hours)
    nxt, peeled = ahead.take(g, "peel_next", cfg.model_dump_json()) or next_hops(g, cfg)
    # a hop from or to a claimed transfer does not continue a chain; the hops are few (a few percent of the
    # edges), so the tests run on them, not on every edge
    hop = np.flatnonzero(nxt >= 0)
    dead = claimed[hop] | claimed[nxt[hop]]
    nxt[hop[dead]] = -1
    hop = hop[~dead]
    has_prev = np.zeros(g.n_edges, bool)
    has_prev[nxt[hop]] = True
    starts = hop[~has_prev[hop] & (g.usd[hop] >= cfg.min_usd)]
    hops, peels = chain_lengths(nxt, peeled, starts, cfg.max_hops)
    ok = (hops >= cfg.min_hops) & (peels >= np.ceil(cfg.min_peel_share * (hops - 1)))
    out = []
    for s in starts[ok].tolist():
        chain = [s]
        while nxt[chain[-1]] >= 0 and len(chain) < cfg.max_hops:
            chain.append(int(nxt[chain[-1]]))
        main = np.array(chain)
        side = [_peels(g, e, window, cfg.peel_max) for e in chain[:-1]]
        e = np.unique(np.concatenate([main, *side]))
        peel_to = np.concatenate([g.dst[x] for x in side]) if side else np.empty(0, np.int64)
        # Actors: the chain, and the platform accounts that take the peel-offs (where the money is cashed
        # in); peel-offs to bare addresses are evidence only.
        nodes = np.unique(np.concatenate((g.src[main], g.dst[main][:-1], peel_to[g.is_account[peel_to]])))
        if not g.is_account[nodes].any():
            continue  # wholly on-chain, no platform customer involved
        peeled_usd = float(sum(g.usd[x].sum() for x in side))
        text = (f"{fmt_usd(float(g.usd[main[0]]))} left {node_name(g, int(g.src[main[0]]), e)} and moved along "
                f"{main.size} hops, shrinking to {fmt_usd(float(g.usd[main[-1]]))} as {fmt_usd(peeled_usd)} was "
                f"peeled off in {sum(x.size > 0 for x in side)} side transfers, {fmt_span(g, main)}")
        out.append(Pattern("peel_chain", int(g.src[main[0]]), nodes, e, saturating(main.size, cfg.min_hops), text))
    return out


class PeelChainDetector(GraphDetector):
    name = "aml_peel_chain"
    version = "1.0"
    typology = "peel_chain"
    config_model = PeelChainConfig
    description = "A shrinking sum moves along a chain, peeling off small amounts at each hop."


register(PeelChainDetector())
