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
    node_name,
    out_runs_under,
    saturating,
)
from harbour.detect.aml.fans import surge
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.aml.kernels import (
    count_between,
    distinct_between,
    meshed_count,
    parallel_count,
    passed_on,
    split_candidates,
    split_may_hold,
)
from harbour.detect.framework import register


class GatherScatterConfig(BaseModel):
    window_hours: float = Field(48.0, gt=0, description="span of the scattering")
    gap_hours: float = Field(24.0, gt=0, description="the gathering: transfers received this long before the "
                             "scattering begins")
    min_senders: int = Field(3, ge=2, description="distinct senders into the hub")
    min_receivers: int = Field(3, ge=2, description="distinct receivers out of the hub")
    min_value_ratio: float = Field(0.25, ge=0, description="value scattered / value gathered, at least")
    max_value_ratio: float = Field(4.0, gt=0, description="value scattered / value gathered, at most (a hub may "
                                   "add money it already held)")
    max_early_share: float = Field(0.25, ge=0, le=1,
                                   description="at most this share of the value received may arrive while the "
                                               "scattering runs (interleaved in-out is rapid movement)")
    max_imbalance: float = Field(4.0, ge=1, description="the larger side (senders or receivers) is at most this "
                                 "multiple of the smaller; beyond it, the larger fan is the pattern")
    max_meshed_share: float = Field(0.75, ge=0, le=1,
                                    description="at most this share of senders may pay two or more parties (or "
                                                "of receivers be paid by two or more) in the span: else the hub is "
                                                "one node of a mesh (a stack)")
    pass_hours: float = Field(6.0, gt=0, description="an arrival the hub sends on (to another party, about the "
                              "same value) within this time is a pass-through, not gathered")
    pass_share: float = Field(0.1, ge=0, lt=1, description="... 'about the same value': within this share of it")
    max_parallel: int = Field(0, ge=0, description="other accounts paid by the hub's senders and paying its "
                              "receivers (from gap_hours before the scattering to its end), at most; more: the hub "
                              "is one of a stack's middle layer")
    max_overlap: float = Field(0.34, ge=0, le=1,
                               description="at most this share of receivers may also be senders (else it is "
                                           "a busy two-way account, not a pass-through hub)")
    min_surge: float = Field(3.0, ge=0, description="the hub's distinct senders and receivers per gap_hours are at "
                             "least this multiple of its usual active hours per gap_hours outside the pattern's "
                             "span (as for fans: a customer who deposits and withdraws every day is not a "
                             "collection point); 0 disables")


def _meshed(g: TransferGraph, nodes: np.ndarray, span: tuple[int, int], usable: np.ndarray, senders: bool) -> float:
    """Share of ``nodes`` with two or more distinct counterparties (paid if senders, else payers) in span."""
    ptr, order = (g.out_ptr, g.out_order) if senders else (g.in_ptr, g.in_order)
    other_c, ts_c = g.csr_view(not senders)
    return meshed_count(ptr, order, other_c, ts_c, usable, nodes, *span) / max(1, nodes.size)  # type: ignore


def _parallel(g: TransferGraph, h: int, senders: np.ndarray, receivers: np.ndarray, span: tuple[int, int],
              usable: np.ndarray, marks: np.ndarray) -> int:
    """Accounts other than the hub that the senders pay and that pay the receivers within the span: the
    hub is then one of several parallel middle accounts (a layer of a stack), not a lone collection point.
    ``marks``: zeroed int8 per node (left zeroed)."""
    return parallel_count(g.out_ptr, g.out_order, *g.csr_view(False), g.in_ptr, g.in_order,  # type: ignore
                          *g.csr_view(True), usable, g.is_account, h, senders, receivers, *span, marks)


def _passed_on(g: TransferGraph, h: int, e_in: np.ndarray, t1: int, cfg: GatherScatterConfig,
               usable: np.ndarray) -> np.ndarray:
    """A mask of the arrivals the hub passed straight on before ``t1``: an outflow to another party of about
    the same value (``pass_share``) within ``pass_hours``. That money was not gathered."""
    return passed_on(g.out_ptr, g.out_order, *g.csr_view(False), usable, g.usd, g.src, g.ts, h,  # type: ignore
                     e_in, t1, hours(cfg.pass_hours), cfg.pass_share)


def _split(g: TransferGraph, cfg: GatherScatterConfig, h: int, sent: np.ndarray, usable: np.ndarray,
           marks: np.ndarray) -> tuple[int, Pattern] | None:
    """The gather-scatter around hub ``h`` if its scattering is ``sent`` (a time-ordered run), else None.
    ``marks``: zeroed int8 per node (left zeroed)."""
    t_out0 = int(g.ts[sent[0]])
    sent = sent[g.ts[sent] <= t_out0 + hours(cfg.window_hours)]
    t_out1 = int(g.ts[sent].max())
    all_in = g.in_edges(h)
    all_in = all_in[usable[all_in] & (g.src[all_in] != h)]
    # the gathering: what arrived in the window before the scattering began and stayed until then
    t_gap = t_out0 - hours(cfg.gap_hours)
    window_in = all_in[(g.ts[all_in] >= t_gap) & (g.ts[all_in] < t_out0)]
    if np.unique(g.src[window_in]).size < cfg.min_senders:
        return None  # cheap exit: the accumulated part can only have fewer senders
    e_in = window_in[~_passed_on(g, h, window_in, t_out0, cfg, usable)]
    senders = np.unique(counterparties(g, h, e_in))
    receivers = np.unique(counterparties(g, h, sent))
    if senders.size < cfg.min_senders or receivers.size < cfg.min_receivers:
        return None
    if max(senders.size, receivers.size) > cfg.max_imbalance * min(senders.size, receivers.size):
        return None  # one side dominates: that side's fan is the pattern
    # every test below must hold; the surge goes first, as it turns away four splits in five on a busy
    # table (an account that deposits and withdraws every day) before the set work of the others
    e = np.concatenate((e_in, sent))
    if cfg.min_surge > 0 and surge(g, h, e, hours(cfg.gap_hours)) < cfg.min_surge:
        return None
    v_in, v_out = float(g.usd[e_in].sum()), float(g.usd[sent].sum())
    # money still arriving while it is paid out: interleaved in-out is rapid movement, not a hub
    during = all_in[(g.ts[all_in] >= t_out0) & (g.ts[all_in] <= t_out1)]
    early = float(g.usd[during].sum()) / (v_in + float(g.usd[during].sum())) if v_in > 0 else 1.0
    ratio = v_out / v_in if v_in > 0 else 0.0
    overlap = np.intersect1d(senders, receivers).size / receivers.size
    if early > cfg.max_early_share or overlap > cfg.max_overlap \
            or not cfg.min_value_ratio <= ratio <= cfg.max_value_ratio:
        return None
    span = (int(g.ts[e_in].min()), t_out1)
    if _meshed(g, senders, span, usable, True) > cfg.max_meshed_share or \
            _meshed(g, receivers, span, usable, False) > cfg.max_meshed_share:
        return None
    # a stack's parallel middle accounts move the same layer's money in the same episode, each on its own
    # clock: one may pay on after this hub's last payment, so look as far after the scattering as before it
    parallel_span = (t_out0 - hours(cfg.gap_hours), t_out1 + hours(cfg.gap_hours))
    if _parallel(g, h, senders, receivers, parallel_span, usable, marks) > cfg.max_parallel:
        return None
    text = (f"account {node_name(g, h, e)} gathered {fmt_usd(v_in)} from {senders.size} distinct senders "
            f"and then scattered {fmt_usd(v_out)} to {receivers.size} distinct receivers {fmt_span(g, e)}")
    score = saturating(min(senders.size / cfg.min_senders, receivers.size / cfg.min_receivers), 1.0)
    pattern = Pattern("gather_scatter", h, np.concatenate(([h], senders, receivers)), e, score, text)
    return min(senders.size, receivers.size), pattern


def find(g: TransferGraph, cfg: GatherScatterConfig, claimed: np.ndarray) -> list[Pattern]:
    usable = ~claimed
    window = hours(cfg.window_hours)
    out: list[Pattern] = []
    nodes, lo, hi = out_runs_under(g, claimed, window, cfg.min_receivers)
    # cheap filter: the hub must have received at least min_senders transfers before or during the burst
    t0 = g.ts[g.out_order[lo]]
    t1 = g.ts[g.out_order[hi]]
    n_in = count_between(g.in_ptr, g.in_order, g.ts, nodes, t0 - hours(cfg.gap_hours) - 1, t1)
    keep = n_in >= cfg.min_senders
    nodes, lo, t0, t1 = nodes[keep], lo[keep], t0[keep], t1[keep]
    hi = hi[keep]
    senders = distinct_between(g.in_ptr, g.in_order, g.src, g.ts, nodes, t0 - hours(cfg.gap_hours) - 1, t1,
                               np.zeros(g.n_nodes, np.int32))
    keep = senders >= cfg.min_senders
    # every candidate split of every hub first (where the scattering starts: the burst's start or a payment
    # that follows an arrival, since bursts carry ordinary transfers at their edges; where it ends: the burst's
    # end or before new money arrives), then the tests that need no set work, for all of them in kernels;
    # only the splits that pass them go through the full check, and each burst keeps its best split
    hubs, lo, hi = nodes[keep], lo[keep], hi[keep]
    run_of, flat, offs = split_candidates(g.out_order, g.in_ptr, g.in_order, g.src, g.dst, g.ts, usable, hubs, lo,
                                          hi, cfg.min_receivers, 4)
    if run_of.size == 0:
        return out
    may = split_may_hold(g.in_ptr, g.in_order, g.src, g.dst, g.ts, g.usd, usable, hubs[run_of], flat, offs,
                         hours(cfg.gap_hours), window, cfg.min_senders, cfg.min_receivers, cfg.max_imbalance,
                         cfg.max_early_share, cfg.max_value_ratio, np.zeros(g.n_nodes, np.int32))
    best: dict[int, tuple[int, Pattern]] = {}  # per burst run, its split with most senders/receivers
    marks = np.zeros(g.n_nodes, np.int8)
    for i in np.flatnonzero(may).tolist():
        run = int(run_of[i])
        p = _split(g, cfg, int(hubs[run]), flat[offs[i]:offs[i + 1]], usable, marks)
        if p is not None and (run not in best or p[0] > best[run][0]):
            best[run] = p
    return out + [best[run][1] for run in sorted(best)]


class GatherScatterDetector(GraphDetector):
    name = "aml_gather_scatter"
    version = "1.0"
    typology = "gather_scatter"
    config_model = GatherScatterConfig
    description = "A hub collects from many senders, then pays out to many receivers."


register(GatherScatterDetector())
