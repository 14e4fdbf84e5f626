"""scatter_gather: one source splits funds over several intermediaries, which each pass them on to one
common destination later (layering through mules, then reassembly). The source, intermediaries and
destination are the actors; the centre is the source."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from harbour.detect.aml.base import (
    GraphDetector,
    Pattern,
    fmt_span,
    fmt_usd,
    hours,
    node_name,
    out_runs_under,
    saturating,
)
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.aml.kernels import followers, run_hops
from harbour.detect.framework import register


class ScatterGatherConfig(BaseModel):
    window_hours: float = Field(48.0, gt=0, description="span of the scatter, and from each scatter hop to its "
                                                        "onward hop")
    min_intermediaries: int = Field(3, ge=2, description="distinct intermediaries that reach one destination")
    max_fanning_share: float = Field(0.5, ge=0, le=1,
                                     description="at most this share of intermediaries may pay two or more "
                                                 "parties onward, or be paid by another platform account than the "
                                                 "source (else they are a layer of a stack)")
    follow_cap: int = Field(50, ge=1, description="onward transfers examined per intermediary hop")


def _shared_share(g: TransferGraph, source: int, dest: int, mids: np.ndarray, span: tuple[int, int],
                  usable: np.ndarray) -> float:
    """Share of the intermediaries also paid, within the span, by another platform account than the source."""
    shared = 0
    for m in mids.tolist():
        e = g.in_edges(m)
        e = e[usable[e] & (g.ts[e] >= span[0]) & (g.ts[e] <= span[1])]
        payers = g.src[e]
        others = payers[(payers != source) & (payers != dest) & (payers != m) & g.is_account[payers]
                        & ~g.institutional[payers]]
        shared += int(others.size > 0)
    return shared / max(1, mids.size)


def _distinct_triples(run: np.ndarray, target: np.ndarray, mid: np.ndarray, n_nodes: int) -> np.ndarray:
    """The distinct (run, target, mid) columns in lexicographic order, as ``np.unique(..., axis=1)`` gives
    them: (run, target) packed into one number and one two-key sort (half a million rows on a busy table;
    ``np.unique`` over columns sorts them as opaque records, several times slower)."""
    key = run.astype(np.int64) * n_nodes + target
    order = np.lexsort((mid, key))
    key, mid = key[order], mid[order]
    new = np.ones(key.size, bool)
    new[1:] = (key[1:] != key[:-1]) | (mid[1:] != mid[:-1])
    key = key[new]
    return np.stack((key // n_nodes, key % n_nodes, mid[new].astype(np.int64)))


def find(g: TransferGraph, cfg: ScatterGatherConfig, claimed: np.ndarray) -> list[Pattern]:
    usable = ~claimed
    window = hours(cfg.window_hours)
    sources, lo, hi = out_runs_under(g, claimed, window, cfg.min_intermediaries)
    if sources.size == 0:
        return []
    # every scatter hop of every burst at once, then every onward hop at once
    scatter, run = run_hops(g.out_order, g.csr_view(False)[0], usable, g.institutional, sources, lo, hi)
    idx, fol = followers(scatter, g.out_ptr, g.out_order, g.src, g.dst, g.ts, usable, window, cfg.follow_cap,
                         g.csr_view(False))
    f_run, targets, mids = run[idx], g.dst[fol], g.src[fol]
    keep = (targets != sources[f_run]) & ~g.institutional[targets]
    triples = _distinct_triples(f_run[keep], targets[keep], mids[keep], g.n_nodes)
    if triples.size == 0:
        return []
    # the triples are sorted: each (run, target) pair's mids are one stretch of them
    first = np.flatnonzero(np.diff(triples[:2], prepend=-1, axis=1).any(axis=0))
    pairs, counts = triples[:2, first], np.diff(first, append=triples.shape[1])
    out: list[Pattern] = []
    for r, t in pairs[:, counts >= cfg.min_intermediaries].T.tolist():
        s = int(sources[r])
        sel = keep & (f_run == r) & (targets == t)
        mid_set = np.unique(mids[sel])
        # mules pass the money to the one destination; intermediaries that pay several parties in the
        # same span are a layer of a mesh (a stack), not a scatter-gather
        onward = triples[:, (triples[0] == r) & np.isin(triples[2], mid_set)]
        fanning = np.bincount(np.searchsorted(mid_set, onward[2]), minlength=mid_set.size) >= 2
        if fanning.mean() > cfg.max_fanning_share:
            continue
        first = scatter[idx[sel]]
        e = np.unique(np.concatenate((first, fol[sel])))
        # ... and mules are paid by the source, not also by other accounts of the scheme: intermediaries
        # that several accounts pay are the middle layer of a stack
        if _shared_share(g, s, t, mid_set, (int(g.ts[e].min()) - window, int(g.ts[e].max())), usable) \
                > cfg.max_fanning_share:
            continue
        if claimed[e].any():
            continue
        text = (f"account {node_name(g, s, e)} sent {fmt_usd(float(g.usd[np.unique(first)].sum()))} to "
                f"{mid_set.size} intermediaries, which passed {fmt_usd(float(g.usd[fol[sel]].sum()))} on to "
                f"{node_name(g, t, e)} {fmt_span(g, e)}")
        nodes = np.concatenate(([s, t], mid_set))
        out.append(Pattern("scatter_gather", s, nodes, e, saturating(mid_set.size, cfg.min_intermediaries), text))
        claimed[e] = True  # one source's other destinations compete for what is left
    return out


class ScatterGatherDetector(GraphDetector):
    name = "aml_scatter_gather"
    version = "1.0"
    typology = "scatter_gather"
    config_model = ScatterGatherConfig
    description = "Funds split over intermediaries and reassembled at one destination."


register(ScatterGatherDetector())
