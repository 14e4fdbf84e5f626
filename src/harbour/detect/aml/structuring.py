"""structuring: one customer (all of its linked accounts) moves several amounts each just under a
reporting threshold into or out of the platform within a window — splitting a sum to stay below the
line — or a group of accounts on one venue does so together (smurfing: two or more accounts moving four
or more just-under amounts in one direction within a short span, at least one of them more than once).
Thresholds are config values in USD (default: HK$120,000 at 7.8 HKD/USD, and US$10,000)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from harbour.detect.aml import prefetch as ahead
from harbour.detect.aml.base import (
    GraphDetector,
    Pattern,
    fmt_span,
    fmt_usd,
    hours,
    node_bursts,
    node_name,
    rescanned,
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
    group_window_hours: float = Field(24.0, gt=0, description="span of a group's just-under transfers")
    group_min_transfers: int = Field(4, ge=2, description="just-under transfers in that span by two or more "
                                     "accounts, at least one of which made two or more of them")
    min_share: float = Field(0.5, gt=0, le=1,
                             description="just-under transfers / all the account's transfers in that direction "
                                         "over the same span (a payroll with some amounts near the line is not "
                                         "structuring)")


def near_threshold(usd: np.ndarray, cfg: StructuringConfig) -> np.ndarray:
    hit = np.zeros(usd.shape[0], bool)
    for t in cfg.thresholds_usd:
        hit |= (usd >= t * (1 - cfg.band)) & (usd < t)
    return hit


def _candidates(g: TransferGraph, cfg: StructuringConfig) -> np.ndarray:
    """Transfers just under a line that cross the platform's edge (into or out of a customer account)."""
    return near_threshold(g.usd, cfg) & (g.is_account[g.src] != g.is_account[g.dst])


def _bursts(g: TransferGraph, cfg: StructuringConfig, mask: np.ndarray, incoming: bool,
            nodes: np.ndarray | None = None) -> list[tuple[int, np.ndarray]]:
    return node_bursts(g, incoming, mask, hours(cfg.window_hours), cfg.min_transfers, distinct=False, nodes=nodes)


def prefetch(g: TransferGraph, cfg: StructuringConfig) -> None:
    """Start the candidates and both directions' bursts under no claims beside the mining pass."""
    def work() -> tuple[np.ndarray, list[tuple[int, np.ndarray]], list[tuple[int, np.ndarray]]]:
        candidates = _candidates(g, cfg)
        return candidates, _bursts(g, cfg, candidates, True), _bursts(g, cfg, candidates, False)

    ahead.start(g, "structuring", cfg.model_dump_json(), work)


def _bursts_under(g: TransferGraph, cfg: StructuringConfig, mask: np.ndarray, incoming: bool,
                  candidates: np.ndarray, prefetched: list[tuple[int, np.ndarray]] | None
                  ) -> list[tuple[int, np.ndarray]]:
    """The bursts under ``mask``. A node's bursts depend on its own edges in that direction only, so those found
    under no claims are brought up to date by finding again just the nodes of the candidates masked since
    (claimed by earlier typologies, or by this pass's other direction)."""
    if prefetched is None:
        return _bursts(g, cfg, mask, incoming)
    gone = np.flatnonzero(candidates & ~mask)
    touched = np.unique(g.dst[gone] if incoming else g.src[gone])
    again = _bursts(g, cfg, mask, incoming, touched) if touched.size else []
    merged, _, _ = rescanned(prefetched, again, touched)
    return merged


def find(g: TransferGraph, cfg: StructuringConfig, claimed: np.ndarray) -> list[Pattern]:
    # Reporting thresholds bite where money enters or leaves the platform (one end a venue account, the
    # other outside); between two of its customers the platform sees the whole flow (a payroll of
    # salaries near the line is not a split).
    early = ahead.take(g, "structuring", cfg.model_dump_json())
    candidates = _candidates(g, cfg) if early is None else early[0]
    mask = ~claimed & candidates
    out = []
    for incoming in (True, False):
        prefetched = None if early is None else early[1 if incoming else 2]
        for v, e in _bursts_under(g, cfg, mask, incoming, candidates, prefetched):
            allx = g.in_edges(v) if incoming else g.out_edges(v)
            t = g.ts[allx]
            # the share is over the window around the burst, not just between its first and last amount: a
            # payroll of fifty payments has a few near the line close together, all the rest away from it
            half = hours(cfg.window_hours) // 2
            span = allx[(t >= g.ts[e].min() - half) & (t <= g.ts[e].max() + half) & (g.src[allx] != g.dst[allx])]
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
    return out + find_groups(g, cfg, mask)


def find_groups(g: TransferGraph, cfg: StructuringConfig, mask: np.ndarray) -> list[Pattern]:
    """Just-under transfers left over by the per-customer pass, grouped per venue and time span."""
    # smurfs deposit or withdraw (the mask holds transfers that enter or leave the platform only)
    e_all = np.flatnonzero(mask & (g.src != g.dst))
    actor = np.where(g.is_account[g.src[e_all]], g.src[e_all], g.dst[e_all])
    keep = ~g.institutional[actor]
    e_all, actor = e_all[keep], actor[keep]
    # one direction and one threshold per group: money split to stay under one line, going in or going out
    side = np.where(g.dst[e_all] == actor, "in", "out")
    line = np.zeros(e_all.size, np.int64)
    for k, t in enumerate(cfg.thresholds_usd):
        line[(g.usd[e_all] >= t * (1 - cfg.band)) & (g.usd[e_all] < t)] = k
    venue = g.row_venue[e_all].astype(str) + "/" + side + "/" + line.astype(str)
    out = []
    window = hours(cfg.group_window_hours)
    for v in np.unique(venue).tolist():
        sel = venue == v
        e, who = e_all[sel], actor[sel]
        t = g.ts[e]
        i = 0
        while i < e.size:
            j = int(np.searchsorted(t, t[i] + window, side="right"))
            members, counts = np.unique(who[i:j], return_counts=True)
            # smurfs repeat: the group needs an account with two or more just-under amounts in the span
            # (ordinary customers whose deposits happen to land near the line rarely do it twice a day)
            if members.size >= 2 and (counts >= 2).any() and j - i >= cfg.group_min_transfers:
                grp = e[i:j]
                names = ", ".join(_names(g, members, grp))
                text = (f"{members.size} accounts ({names}) moved {grp.size} amounts each just under a reporting "
                        f"threshold (from {fmt_usd(float(g.usd[grp].min()))} to {fmt_usd(float(g.usd[grp].max()))}, "
                        f"totalling {fmt_usd(float(g.usd[grp].sum()))}) {fmt_span(g, grp)}")
                out.append(Pattern("structuring", int(members[np.argmax(counts)]), members, grp,
                                   saturating(grp.size, cfg.group_min_transfers), text))
                i = j
            else:
                i += 1
    return out


def _names(g: TransferGraph, members: np.ndarray, edges: np.ndarray) -> list[str]:
    """``node_name`` of each of ``members`` (sorted node ids) in ``edges``, all at once: a smurfing group on a
    busy table has hundreds of members. A member seen through one party only (the usual case) is that
    party's name; any other goes through ``node_name``."""
    node = np.concatenate((g.src[edges], g.dst[edges]))
    party = np.concatenate((g.src_party[edges], g.dst_party[edges]))
    at = np.searchsorted(members, node).clip(max=members.size - 1)
    inside = members[at] == node
    lo = np.full(members.size, np.iinfo(np.int64).max)
    hi = np.full(members.size, -1, np.int64)
    np.minimum.at(lo, at[inside], party[inside])
    np.maximum.at(hi, at[inside], party[inside])
    single = lo == hi
    names = np.empty(members.size, object)
    names[single] = g.parties[lo[single]]
    for k in np.flatnonzero(~single).tolist():
        names[k] = node_name(g, int(members[k]), edges)
    return names.tolist()  # type: ignore[no-any-return]


class StructuringDetector(GraphDetector):
    name = "aml_structuring"
    version = "1.0"
    typology = "structuring"
    config_model = StructuringConfig
    description = "Several amounts just under a reporting threshold within a window."


register(StructuringDetector())
