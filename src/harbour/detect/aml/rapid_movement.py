"""rapid_movement: funds arrive at an account and (nearly) all of their value leaves again to other
parties within a short time — a pass-through with little dwell, no more going out than came in, and
nothing else kept from what arrived meanwhile. Arrivals are tested one by one and as runs of arrivals
within the dwell time of the first (two deposits passed on as two withdrawals are one pass-through of
their sum). Edges already explained by a more specific pattern (e.g. the mules of a scatter-gather) are
not counted again."""

from __future__ import annotations

import numpy as np
from numba import njit
from pydantic import BaseModel, Field

from harbour.detect.aml import prefetch as ahead
from harbour.detect.aml.base import GraphDetector, Pattern, fmt_span, fmt_usd, hours, node_name, saturating
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.aml.kernels import NO_NODES, _lower_bound, _run, ranges, spans, window_after
from harbour.detect.framework import register


class RapidMovementConfig(BaseModel):
    dwell_hours: float = Field(6.0, gt=0, description="funds leave within this time after arriving")
    min_out_share: float = Field(0.9, gt=0, description="value sent on / value received, at least (what stays "
                                 "behind is fees and rounding, not a balance kept); what arrives at the same "
                                 "accounts before the money has left counts as received")
    max_out_share: float = Field(1.02, gt=0, description="... and at most, of all that left, refunds to the senders "
                                 "included: a pass-through sends on no more than arrived (the 2% allow for the "
                                 "coin's price moving between the two transfers' USD values, and rounding); more "
                                 "out is the account spending money it already held")
    min_usd: float = Field(2_000.0, ge=0, description="value received, at least")


@njit(cache=True, nogil=True, inline="always")
def _among(w: int, senders: np.ndarray, n_senders: int) -> bool:
    """Whether ``w`` is one of ``senders[:n_senders]`` (a payment to it is a refund)."""
    for k in range(n_senders):  # noqa: SIM110 - a loop, not any() over a generator, in nopython mode
        if w == senders[k]:
            return True
    return False


@njit(cache=True, nogil=True)
def _sent_on(v: int, lo: int, hi: int, senders: np.ndarray, n_senders: int, out_order: np.ndarray,
             dst_o: np.ndarray, usd: np.ndarray, cap: float) -> tuple[float, float]:
    """Value ``v`` sent at out-order positions [lo, hi) to parties other than itself and the given senders
    (a refund to the sender is not a pass-through), and all it sent to others there, refunds included.
    Once that second sum exceeds ``cap`` (> 0) the scan stops and returns what it has: with no negative
    value the full sums can only be larger (float addition of non-negative terms never shrinks a sum), so
    a test ``gone <= cap`` fails either way. Callers pass ``cap`` <= 0 when values may be negative."""
    hi = min(hi, lo + 256)  # bound the scan at hubs; the first 256 payments decide
    total = 0.0
    refunded = 0.0
    for q in range(lo, hi):
        if cap > 0.0 and total + refunded > cap:
            break  # a hub paying out far more than arrived: no pass-through, the rest need not be read
        w = dst_o[q]
        if w == v:
            continue
        if _among(w, senders, n_senders):
            refunded += usd[out_order[q]]
        else:
            total += usd[out_order[q]]
    return total, total + refunded


@njit(cache=True, nogil=True)
def _left_in_time(v: int, lo: int, hi: int, senders: np.ndarray, n_senders: int, parties: np.ndarray,
                  out_order: np.ndarray, dst_o: np.ndarray, ts_o: np.ndarray, q: int, q_end: int,
                  in_order: np.ndarray, src_i: np.ndarray, ts_i: np.ndarray, usd: np.ndarray, src_party: np.ndarray,
                  dst_party: np.ndarray, value: float, lo_share: float) -> bool:
    """Whether ``value``, arrived at ``v``'s accounts ``parties[:n_senders]``, had left — at least
    ``lo_share`` of everything that had arrived at the accounts it passes through — by some payment at
    out-order positions [lo, hi). What arrives meanwhile (in-order positions q.. in time, up to ``q_end``)
    at those accounts (the receiving ones, and the paying ones once they pay) stays in their balance unless
    it leaves too: an account that received $8k and $10k and sent $7.6k on has kept most of it, though
    $7.6k is 95% of the first arrival. A deposit on another account of the same customer is not in that
    balance. Payments to ``v`` itself and to the given senders (refunds) are not money passed on. Bounded
    like ``_sent_on``."""
    hi = min(hi, lo + 256)
    through = np.empty(n_senders + hi - lo, np.int64)  # the accounts the money passes through
    through[:n_senders] = parties[:n_senders]
    n_through = n_senders
    arrived = value
    out = 0.0
    for p in range(lo, hi):
        w = dst_o[p]
        if w == v or _among(w, senders, n_senders):
            continue  # money kept, or a refund: not passed on
        through[n_through] = src_party[out_order[p]]
        n_through += 1
        while q < q_end and ts_i[q] <= ts_o[p]:  # what arrived before this payment is in the balance
            f = in_order[q]
            if src_i[q] != v and usd[f] > 0.0:
                for k in range(n_through):
                    if dst_party[f] == through[k]:
                        arrived += usd[f]
                        break
            q += 1
        out += usd[out_order[p]]
        if out >= lo_share * arrived:
            return True
    return False


@njit(cache=True, nogil=True)
def _pass_through_runs(in_ptr: np.ndarray, in_order: np.ndarray, src_i: np.ndarray, ts_i: np.ndarray,
                       out_ptr: np.ndarray, out_order: np.ndarray, dst_o: np.ndarray, ts_o: np.ndarray,
                       usd: np.ndarray, eligible: np.ndarray, dwell: int, lo_share: float, hi_share: float,
                       min_usd: float, nonneg: bool, src_party: np.ndarray, dst_party: np.ndarray, v0: int, v1: int,
                       hit: np.ndarray, nodes: np.ndarray) -> None:
    """A mask of the arrivals that pass through: an arrival whose value (alone, or summed with the arrivals
    before it within ``dwell`` of the run's first) is sent on to others within ``dwell`` after the last of
    them, at a share in [lo_share, hi_share]. The upper bound holds for everything that left, refunds to the
    senders included: an account that passes an arrival on and also pays its sender back is spending
    money it already held, not passing the arrival through. Arrivals with value 0 (claimed) are invisible.

    Receivers v0..v1-1 (or nodes[v0:v1] if ``nodes`` is not empty), written into ``hit``. Each receiver's arrivals
    are read in time order, so the bounds of what it sent on (from the arrival, from the run's first arrival, up to
    ``dwell`` after the arrival) only move forward: three pointers over its out-edges instead of two binary searches
    per arrival. ``src_i``, ``ts_i``: sender and time at each position of ``in_order``; ``dst_o``, ``ts_o``:
    receiver and time at each position of ``out_order``."""
    senders = np.empty(64, np.int64)  # the current run's senders
    parties = np.empty(64, np.int64)  # ... and the accounts (parties) of ``v`` they paid
    sender = np.empty(1, np.int64)  # the one arrival tested alone (its own buffers: the run's stay intact)
    party = np.empty(1, np.int64)
    stop = hi_share if nonneg else 0.0  # see _sent_on: scans stop early only when no value is negative
    for i in range(v0, v1):
        v = nodes[i] if nodes.shape[0] else i
        if not eligible[v] or in_ptr[v + 1] == in_ptr[v] or out_ptr[v + 1] == out_ptr[v]:
            continue
        b = out_ptr[v + 1]
        at = out_ptr[v]  # first out-edge at or after the arrival
        since = at  # first out-edge at or after the run's first arrival
        end = at  # first out-edge more than ``dwell`` after the arrival
        run_start = -1  # position in in_order of the run's first arrival
        run_value = 0.0
        n_senders = 0
        for p in range(in_ptr[v], in_ptr[v + 1]):
            e = in_order[p]
            if src_i[p] == v or usd[e] <= 0.0:
                continue
            t = ts_i[p]
            # times are integer microseconds: after t - 1 is at or after t
            at, end = window_after(ts_o, at, end, b, t - 1, t + dwell)
            # alone
            sender[0] = src_i[p]
            party[0] = dst_party[e]
            if usd[e] >= min_usd:
                out, gone = _sent_on(v, at, end, sender, 1, out_order, dst_o, usd, stop * usd[e])
                if lo_share * usd[e] <= out and gone <= hi_share * usd[e] and _left_in_time(
                        v, at, end, sender, 1, party, out_order, dst_o, ts_o, p + 1, in_ptr[v + 1], in_order,
                        src_i, ts_i, usd, src_party, dst_party, usd[e], lo_share):
                    hit[e] = True
            # as part of a run of arrivals within the dwell time of the run's first one
            if run_start < 0 or t - ts_i[run_start] > dwell or n_senders >= 64:
                run_start, run_value, n_senders = p, 0.0, 0
                since = at  # the run's first arrival is this one
            run_value += usd[e]
            senders[n_senders] = src_i[p]
            parties[n_senders] = dst_party[e]
            n_senders += 1
            if n_senders >= 2 and run_value >= min_usd:
                out, gone = _sent_on(v, since, end, senders, n_senders, out_order, dst_o, usd, stop * run_value)
                # the run's money must not have left before it arrived: out counted from its first arrival
                if lo_share * run_value <= out and gone <= hi_share * run_value and _left_in_time(
                        v, since, end, senders, n_senders, parties, out_order, dst_o, ts_o, p + 1, in_ptr[v + 1],
                        in_order, src_i, ts_i, usd, src_party, dst_party, run_value, lo_share):
                    for q in range(run_start, p + 1):
                        f = in_order[q]
                        if src_i[q] != v and usd[f] > 0.0:
                            hit[f] = True


def pass_through_runs(g: TransferGraph, usd: np.ndarray, dwell: int, lo_share: float, hi_share: float,
                      min_usd: float, nodes: np.ndarray | None = None, hit: np.ndarray | None = None) -> np.ndarray:
    """See ``_pass_through_runs``: the mask of passing arrivals, receivers shared out among threads (each
    writes only its own receivers' arrivals). With ``nodes`` (sorted receivers) and ``hit``: only those
    receivers are judged again, their arrivals' flags in ``hit`` replaced (the others stand)."""
    src_i, ts_i = g.csr_view(True)
    dst_o, ts_o = g.csr_view(False)
    eligible = ~g.institutional & g.is_account
    nonneg = bool((usd >= 0).all())
    if nodes is None:
        hit, nodes, bounds = np.zeros(g.n_edges, np.bool_), NO_NODES, ranges(g.n_nodes, g.in_ptr)
    else:
        assert hit is not None
        hit[g.in_order[spans(g.in_ptr[nodes], g.in_ptr[nodes + 1])]] = False
        bounds = [(0, nodes.size)]
    _run(lambda v0, v1: _pass_through_runs(g.in_ptr, g.in_order, src_i, ts_i, g.out_ptr, g.out_order, dst_o, ts_o,
                                          usd, eligible, dwell, lo_share, hi_share, min_usd, nonneg, g.src_party,
                                          g.dst_party, v0, v1, hit, nodes),
         bounds)
    return hit


def _passing(g: TransferGraph, cfg: RapidMovementConfig, usd: np.ndarray, claimed: np.ndarray) -> np.ndarray:
    """The passing arrivals under ``claimed`` (``usd``: values with the claimed ones 0). A receiver is judged on
    its own in- and out-edges only, so a mask prefetched before any claims is brought up to date by judging
    again just the ends of the claimed transfers."""
    args = (hours(cfg.dwell_hours), cfg.min_out_share, cfg.max_out_share, max(cfg.min_usd, 1e-9))
    early = ahead.take(g, "pass_through", cfg.model_dump_json())
    if early is None:
        return pass_through_runs(g, usd, *args)
    e = np.flatnonzero(claimed)
    return pass_through_runs(g, usd, *args, nodes=np.union1d(g.src[e], g.dst[e]), hit=early)


def prefetch(g: TransferGraph, cfg: RapidMovementConfig) -> None:
    """Start the pass-through test of every receiver, before any claims, beside the mining pass."""
    args = (hours(cfg.dwell_hours), cfg.min_out_share, cfg.max_out_share, max(cfg.min_usd, 1e-9))
    ahead.start(g, "pass_through", cfg.model_dump_json(), lambda: pass_through_runs(g, g.usd, *args))


def find(g: TransferGraph, cfg: RapidMovementConfig, claimed: np.ndarray) -> list[Pattern]:
    dwell = hours(cfg.dwell_hours)
    usd = np.where(claimed, 0.0, g.usd)
    hit = np.flatnonzero(_passing(g, cfg, usd, claimed))
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
            e_out = e_out[(usd[e_out] > 0) & (g.dst[e_out] != v) & ~np.isin(g.dst[e_out], g.src[e_in])]
            e = np.concatenate((e_in, e_out))
            v_in, v_out = float(g.usd[e_in].sum()), float(g.usd[e_out].sum())
            dwell_h = (int(g.ts[e_out].max()) - int(g.ts[e_in].min())) / 3.6e9 if e_out.size else 0.0
            text = (f"account {node_name(g, v, e)} received {fmt_usd(v_in)} in {e_in.size} transfer(s) and sent "
                    f"{fmt_usd(v_out)} on in {e_out.size} transfer(s), the last {dwell_h:.1f} hours after the first "
                    f"arrival ({fmt_span(g, e)})")
            out.append(Pattern("rapid_movement", v, np.array([v]), e, saturating(v_in, cfg.min_usd), text))
    return out


class RapidMovementDetector(GraphDetector):
    name = "aml_rapid_movement"
    version = "1.0"
    typology = "rapid_movement"
    config_model = RapidMovementConfig
    description = "Funds received and sent on within a short time."


register(RapidMovementDetector())
