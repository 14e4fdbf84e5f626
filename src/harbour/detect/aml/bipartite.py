"""bipartite: a group of senders pays a group of receivers, most senders paying several receivers and
most receivers paid by several senders, densely and within a window — many-to-many movement between two
sets of accounts with no pass-through layer (a layer in between is a ``stack``). Venue: the one holding
most of the accounts."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from harbour.detect.aml.base import GraphDetector, Pattern, fmt_span, fmt_usd, node_name, saturating
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.aml.layered import LayeredConfig, components, density_and_mesh, role_counts, roles
from harbour.detect.framework import register


class BipartiteConfig(LayeredConfig):
    max_two_way: int = Field(1, ge=0, description="accounts that both pay and are paid within the group, at most "
                             "(each keeps its main role)")


def _mesh_core(g: TransferGraph, e: np.ndarray) -> np.ndarray:
    """The transfers among the group's meshed accounts: repeatedly set aside the receivers paid by one sender
    of the group and the senders paying one receiver (an account joined to the group by a single pair is at
    its edge — a member's ordinary payment to a friend — not in the many-to-many mesh)."""
    while e.size:
        pairs = np.unique(g.src[e].astype(np.int64) * g.n_nodes + g.dst[e])
        s, r = pairs // g.n_nodes, pairs % g.n_nodes
        s_ids, s_deg = np.unique(s, return_counts=True)
        r_ids, r_deg = np.unique(r, return_counts=True)
        edge_s, edge_r = s_ids[s_deg < 2], r_ids[r_deg < 2]
        if edge_s.size == 0 and edge_r.size == 0:
            break
        e = e[~np.isin(g.src[e], edge_s) & ~np.isin(g.dst[e], edge_r)]
    return e


def _without_exchanges(g: TransferGraph, e: np.ndarray) -> np.ndarray:
    """``e`` less the transfers between two parties that pay each other within it: two friends settling
    up, or a customer and its own account elsewhere, are an exchange beside the group, not a layer through
    which its money passes (which pays parties other than the ones that paid it)."""
    key = g.src[e].astype(np.int64) * g.n_nodes + g.dst[e]
    back = g.dst[e].astype(np.int64) * g.n_nodes + g.src[e]
    return e[~np.isin(key, back)]


def find(g: TransferGraph, cfg: BipartiteConfig, claimed: np.ndarray) -> list[Pattern]:
    out = []
    comps = components(g, cfg, claimed)
    n_pay, n_paid, n_both = role_counts(g, comps)
    # cheap exits for all components at once: (nobody two-way) a side too small; components with two-way
    # accounts are looked at once their exchanges are set aside
    keep = (n_both > 0) | ((n_pay >= cfg.min_side) & (n_paid >= cfg.min_side))
    for k in np.flatnonzero(keep).tolist():
        e = comps[k] if n_both[k] == 0 else _without_exchanges(g, comps[k])
        if e.size < cfg.min_transfers:
            continue
        senders, receivers, both = roles(g, e)
        if both.size > cfg.max_two_way:
            continue  # a pass-through layer: a stack, or ordinary two-way flow
        if both.size:
            # an account that both pays and is paid keeps its main role; its minor transfers drop out
            paid = np.array([np.count_nonzero(g.src[e] == v) for v in both.tolist()])
            got = np.array([np.count_nonzero(g.dst[e] == v) for v in both.tolist()])
            senders = np.union1d(senders, both[paid > got])
            receivers = np.union1d(receivers, both[paid <= got])
            e = e[np.isin(g.src[e], senders) & np.isin(g.dst[e], receivers)]
            # ... and so do the parties reached only through those minor transfers
            senders, receivers = np.unique(g.src[e]), np.unique(g.dst[e])
        # the group is its mesh: a sender's one payment to someone the rest of the group does not pay (a
        # friend, the same day) is at its edge, not part of it
        e = _mesh_core(g, e)
        senders, receivers = np.unique(g.src[e]), np.unique(g.dst[e])
        if senders.size < cfg.min_side or receivers.size < cfg.min_side or e.size < cfg.min_transfers \
                or float(g.usd[e].sum()) < cfg.min_total_usd:
            continue
        # here senders and receivers are exactly e's distinct senders and receivers
        dens, mesh = density_and_mesh(g, e, senders, receivers)
        if dens < cfg.min_density or mesh < cfg.min_mesh_share:
            continue
        first = int(g.src[e[np.argmin(g.ts[e])]])
        text = (f"{senders.size} accounts (from {node_name(g, first, e)}) paid {receivers.size} accounts in "
                f"{e.size} transfers totalling {fmt_usd(float(g.usd[e].sum()))}, {dens:.0%} of sender-receiver "
                f"pairs transacting, {fmt_span(g, e)}")
        out.append(Pattern("bipartite", first, np.concatenate((senders, receivers)), e,
                           saturating(dens * min(senders.size, receivers.size), 1.0), text))
    return out


class BipartiteDetector(GraphDetector):
    name = "aml_bipartite"
    version = "1.0"
    typology = "bipartite"
    config_model = BipartiteConfig
    description = "Many-to-many transfers between two groups of accounts."


register(BipartiteDetector())
