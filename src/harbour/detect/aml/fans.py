"""Shared logic of fan-in and fan-out: a burst of distinct counterparties around one account."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from harbour.detect.aml import prefetch as ahead
from harbour.detect.aml.base import (
    Pattern,
    counterparties,
    fmt_span,
    fmt_usd,
    hours,
    node_bursts,
    node_name,
    rescanned,
    saturating,
)
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.aml.kernels import outside_hours


class FanConfig(BaseModel):
    window_hours: float = Field(24.0, gt=0, description="span in which the distinct counterparties must appear")
    min_counterparties: int = Field(5, ge=2, description="distinct senders (fan-in) / receivers (fan-out)")
    min_total_usd: float = Field(1_000.0, ge=0, description="value moved through the burst, in USD")
    max_recurring_share: float = Field(
        0.5, ge=0, le=1,
        description="skip a burst when more than this share of its counterparties were already counterparties "
                    "before it (payroll, regular suppliers: recurring relationships, not a sudden crowd)")
    min_surge: float = Field(
        3.0, ge=0,
        description="the burst's distinct counterparties (per window) are at least this multiple of the account's "
                    "usual active hours (hours with a transfer) per window outside the burst (a busy trader is not a "
                    "sudden crowd); "
                    "0 disables")
    payroll_max_cv: float = Field(
        0.3, ge=0,
        description="a corporate account paying platform customers amounts this uniform (coefficient of "
                    "variation at most this, within one payroll run) is treated as payroll, not a fan-out; "
                    "0 disables")
    payroll_run_gap_hours: float = Field(
        2.0, gt=0,
        description="a pause this long between a corporate account's payments to platform customers starts "
                    "another payroll run (each run is judged on its own amounts)")


def surge_of(g: TransferGraph, n_counterparties: int, t0: int, t1: int, outside: int, window: int) -> float:
    """The burst's distinct counterparties per window, over the account's usual activity per window (both
    directions, outside the burst's span [t0, t1], over the span of the data). Activity is counted in hours
    with a transfer (``outside``: such hours outside the span), not in transfers: a batch the account sends at
    once (a company's payroll run) is one event of its routine, and must not make a sudden crowd paying it the
    same day look usual."""
    burst = n_counterparties * window / max(t1 - t0, window)
    quiet = int(g.ts[-1] - g.ts[0]) - (t1 - t0)
    if quiet < window:  # the burst is most of the data: steady activity, nothing to surge above
        return 1.0 if t1 - t0 > window else float("inf")
    usual = outside / quiet * window
    return float(burst / usual) if usual > 0 else float("inf")


def surge(g: TransferGraph, node: int, edges: np.ndarray, window: int) -> float:
    """``surge_of`` for one node's burst ``edges``."""
    t0, t1 = int(g.ts[edges].min()), int(g.ts[edges].max())
    (src_i, ts_i), (dst_o, ts_o) = g.csr_view(True), g.csr_view(False)
    outside = outside_hours(int(node), t0, t1, g.in_ptr, src_i, ts_i, g.out_ptr, dst_o, ts_o, hours(1.0))
    return surge_of(g, np.unique(counterparties(g, node, edges)).size, t0, t1, int(outside), window)


def fan_context(g: TransferGraph, bursts: list[tuple[int, np.ndarray]], incoming: bool
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per burst, in one kernel call: distinct counterparties, how many of them were already counterparties
    (same direction) before it, its first and last time and the node's active hours outside that span."""
    from harbour.detect.aml.kernels import fan_context as kernel

    nodes = np.array([v for v, _ in bursts], np.int64)
    offs = np.concatenate(([0], np.cumsum([e.size for _, e in bursts]))).astype(np.int64)
    flat = np.concatenate([e for _, e in bursts]).astype(np.int64) if bursts else np.empty(0, np.int64)
    (src_i, ts_i), (dst_o, ts_o) = g.csr_view(True), g.csr_view(False)
    return kernel(nodes, flat, offs, incoming, g.in_ptr, src_i, ts_i, g.out_ptr, dst_o, ts_o,  # type: ignore
                  g.src, g.dst, g.ts, hours(1.0), np.zeros(g.n_nodes, np.int32))


def payroll_edges(g: TransferGraph, node: int, edges: np.ndarray, max_cv: float, run_gap: int) -> np.ndarray:
    """A mask of the burst's payroll: a corporate payer's payments to platform customers in runs (payments
    less than ``run_gap`` apart), each run's amounts this uniform. A company may pay two runs within a day
    (staff and contractors, two pay grades) at different levels; each run is uniform, the two together need
    not be. The customer's other transfers in the same burst (its own withdrawals, a linked account's
    payments) are not part of it."""
    out = np.zeros(edges.size, bool)
    if max_cv <= 0 or not g.corporate[node]:
        return out
    people = np.flatnonzero(g.is_account[g.dst[edges]] & ~g.institutional[g.dst[edges]])
    if people.size < 3:
        return out
    # the burst's edges are in time order: a run ends where the next payment comes more than run_gap later
    breaks = np.flatnonzero(np.diff(g.ts[edges[people]]) > run_gap) + 1
    for run in np.split(people, breaks):
        out[run[_uniform_payments(g.usd[edges[run]], max_cv)]] = True
    return out


def _uniform_payments(usd: np.ndarray, max_cv: float) -> np.ndarray:
    """A mask of one run's salaries: the payments around the run's median (a stray payment — a friend repaid
    — is not part of it), if there are three or more and they are this uniform."""
    none = np.zeros(usd.size, bool)
    if usd.size < 3:
        return none
    median = float(np.median(usd))
    pay = (usd >= 0.5 * median) & (usd <= 2.0 * median)
    amounts = usd[pay]
    if amounts.size < 3 or amounts.mean() <= 0:
        return none
    return pay if float(amounts.std() / amounts.mean()) <= max_cv else none


def is_crowd(g: TransferGraph, node: int, edges: np.ndarray, incoming: bool, min_size: int) -> bool:
    """Whether a fan's counterparties hold a crowd of ``min_size``: of those **new to the account** — not
    dealt with in the same direction before the burst, and never in the other direction (a two-way
    relationship: the customer's own wallet it also deposits from, a friend settling up) — the platform's
    accounts plus the outside parties of the busiest chain. A crowd pays (a dispersal pays out to) addresses
    on one chain, where one sum moves in one coin; a customer moving several coins to or from its own
    wallets on three chains, its regular contacts and an exchange account is not a crowd, though it has as
    many distinct counterparties."""
    others, first = np.unique(counterparties(g, node, edges), return_index=True)
    new = _new_to(g, node, others, int(g.ts[edges].min()), incoming)
    if np.count_nonzero(new) < min_size:
        return False  # the chains need not be read
    others, first = others[new], first[new]
    outside = ~g.is_account[others]
    if not outside.any():
        return int(others.size) >= min_size
    e = edges[first[outside]]
    party = np.where(g.src[e] == node, g.dst_party[e], g.src_party[e])
    _, per_chain = np.unique([str(s).split(":", 1)[0] for s in g.parties[party]], return_counts=True)
    return int(np.count_nonzero(~outside) + per_chain.max()) >= min_size


def _new_to(g: TransferGraph, node: int, others: np.ndarray, t0: int, incoming: bool) -> np.ndarray:
    """A mask of ``others`` that are new to ``node`` at ``t0``: no transfer with it in the burst's direction
    before ``t0`` and none in the other direction at any time in the data."""
    (src_i, ts_i), (dst_o, ts_o) = g.csr_view(True), g.csr_view(False)
    ins, outs = slice(g.in_ptr[node], g.in_ptr[node + 1]), slice(g.out_ptr[node], g.out_ptr[node + 1])
    if incoming:
        known = np.concatenate((src_i[ins][ts_i[ins] < t0], dst_o[outs]))
    else:
        known = np.concatenate((dst_o[outs][ts_o[outs] < t0], src_i[ins]))
    return ~np.isin(others, known)


Context = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _bursts_in_context(g: TransferGraph, cfg: FanConfig, claimed: np.ndarray, incoming: bool,
                       nodes: np.ndarray | None = None) -> tuple[list[tuple[int, np.ndarray]], Context]:
    """The fan bursts under ``claimed`` (of ``nodes`` only, if given) and their ``fan_context``."""
    bursts = node_bursts(g, incoming, ~claimed, hours(cfg.window_hours), cfg.min_counterparties, nodes=nodes)
    return bursts, fan_context(g, bursts, incoming)


def _prefetch_key(cfg: FanConfig, incoming: bool) -> str:
    return f"{incoming}:{cfg.window_hours}:{cfg.min_counterparties}"


def prefetch(g: TransferGraph, cfg: FanConfig, incoming: bool) -> None:
    """Start the fan bursts of every node, before any claims, beside the mining pass."""
    none = np.zeros(g.n_edges, bool)
    ahead.start(g, "fans", _prefetch_key(cfg, incoming), lambda: _bursts_in_context(g, cfg, none, incoming))


def bursts_in_context(g: TransferGraph, cfg: FanConfig, claimed: np.ndarray, incoming: bool
                      ) -> tuple[list[tuple[int, np.ndarray]], Context]:
    """``_bursts_in_context`` under ``claimed``. A node's bursts and their context depend on its own edges in
    the fan's direction only, so bursts prefetched before any claims are brought up to date by finding again
    just those of the nodes whose edges were claimed (in node order, as a whole pass lists them)."""
    early = ahead.take(g, "fans", _prefetch_key(cfg, incoming))
    if early is None:
        return _bursts_in_context(g, cfg, claimed, incoming)
    bursts, context = early
    e = np.flatnonzero(claimed)
    touched = np.unique(g.dst[e] if incoming else g.src[e])
    again, again_context = _bursts_in_context(g, cfg, claimed, incoming, touched)
    merged, keep, order = rescanned(bursts, again, touched)
    return merged, tuple(  # type: ignore[return-value]
        np.concatenate((old[keep], new))[order] for old, new in zip(context, again_context, strict=True))


def find_fans(g: TransferGraph, cfg: FanConfig, claimed: np.ndarray, incoming: bool, typology: str) -> list[Pattern]:
    out: list[Pattern] = []
    # the bursts, and what the tests below need of each, for all bursts in one kernel call
    bursts, context = bursts_in_context(g, cfg, claimed, incoming)
    n_now, n_prior, first, last, outside = (x.tolist() for x in context)
    for i, (v, e) in enumerate(bursts):
        total = float(g.usd[e].sum())
        # share of the burst's counterparties the node already dealt with (same direction) before it
        recurring = n_prior[i] / max(1, n_now[i])
        if total < cfg.min_total_usd or recurring > cfg.max_recurring_share:
            continue
        if cfg.min_surge > 0 and surge_of(g, n_now[i], first[i], last[i], outside[i],
                                          hours(cfg.window_hours)) < cfg.min_surge:
            continue
        if not incoming:
            pay = payroll_edges(g, v, e, cfg.payroll_max_cv, hours(cfg.payroll_run_gap_hours))
            if pay.any():  # what is left once the payroll is set aside must be a fan-out on its own
                e = e[~pay]
                total = float(g.usd[e].sum())
                if np.unique(counterparties(g, v, e)).size < cfg.min_counterparties or total < cfg.min_total_usd:
                    continue
        if not is_crowd(g, v, e, incoming, cfg.min_counterparties):
            continue  # counterparties known to the account or spread over chains: its own places, not a crowd
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
