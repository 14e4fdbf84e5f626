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
                             "(each keeps its main role), not counting those whose minor role only reaches the "
                             "group's edge")
    max_edge_share: float = Field(0.5, ge=0, le=1, description="a two-way account whose minor transfers reach only "
                                  "parties at the group's edge, moving less than this share of its main role's "
                                  "value, is no layer (a receiver paying a friend, not passing the money on)")


def core_density(g: TransferGraph, e: np.ndarray, min_side: int) -> float:
    """Pairs that transact / possible pairs among the group's meshed accounts: senders paying two or more of
    its receivers and receivers paid by two or more of its senders. An account joined to the group by one
    transfer (a sender's ordinary payment to a friend the same day) is at its edge, not in the mesh; how many
    such accounts a group may have is the mesh share's test, so they do not also thin its density."""
    pairs = np.unique(g.src[e].astype(np.int64) * g.n_nodes + g.dst[e])
    s, r = pairs // g.n_nodes, pairs % g.n_nodes
    s_ids, s_deg = np.unique(s, return_counts=True)
    r_ids, r_deg = np.unique(r, return_counts=True)
    core_s, core_r = s_ids[s_deg >= 2], r_ids[r_deg >= 2]
    if core_s.size < min_side or core_r.size < min_side:
        return 0.0
    inside = np.isin(s, core_s) & np.isin(r, core_r)
    return float(np.count_nonzero(inside)) / float(core_s.size * core_r.size)


def _without_exchanges(g: TransferGraph, e: np.ndarray) -> np.ndarray:
    """``e`` less the transfers between two parties that pay each other within it: two friends settling
    up, or a customer and its own account elsewhere, are an exchange beside the group, not a layer through
    which its money passes (which pays parties other than the ones that paid it)."""
    key = g.src[e].astype(np.int64) * g.n_nodes + g.dst[e]
    back = g.dst[e].astype(np.int64) * g.n_nodes + g.src[e]
    return e[~np.isin(key, back)]


def _layers(g: TransferGraph, e: np.ndarray, both: np.ndarray, max_edge_share: float) -> np.ndarray:
    """The two-way accounts of ``both`` that may be a layer the group's money passes through. Not one: an
    account whose minor role (the direction with fewer transfers) only reaches parties joined to the group
    by it alone, and moves a small share of what its main role does — a receiver's linked account paying a
    friend the same day, not money passed on to another set of accounts."""
    src, dst, usd = g.src[e], g.dst[e], g.usd[e]
    layers = []
    for v in both.tolist():
        out, inn = src == v, dst == v
        minor, main = (inn, out) if np.count_nonzero(out) > np.count_nonzero(inn) else (out, inn)
        others = np.unique(np.where(out, dst, src)[minor])
        # a party at the edge: every transfer of the group it takes part in is with v
        touches = np.isin(src, others) | np.isin(dst, others)
        at_edge = bool(((src[touches] == v) | (dst[touches] == v)).all())
        if not at_edge or float(usd[minor].sum()) >= max_edge_share * float(usd[main].sum()):
            layers.append(v)
    return np.array(layers, dtype=both.dtype)


def _meshed_sides(g: TransferGraph, comps: list[np.ndarray], sizes: np.ndarray, keep: np.ndarray,
                  min_side: int) -> np.ndarray:
    """Per component, whether it has ``min_side`` senders paying two or more distinct receivers and as many
    receivers paid by two or more senders, over all its transfers at once (no loop per component). Setting
    transfers aside below only lowers those counts, so a component short of them has a core density of 0."""
    out = np.zeros(len(comps), bool)
    picked = np.flatnonzero(keep)
    if picked.size == 0:
        return out
    e = np.concatenate([comps[k] for k in picked.tolist()])
    comp = np.repeat(picked, sizes[picked])
    out[picked] = True
    for centre, other in ((g.src[e], g.dst[e]), (g.dst[e], g.src[e])):
        key = comp * np.int64(g.n_nodes) + centre  # (component, account) as one number
        order = np.lexsort((other, key))
        key, other = key[order], other[order]
        first = np.ones(key.size, bool)
        first[1:] = (key[1:] != key[:-1]) | (other[1:] != other[:-1])
        accounts, counterparties = np.unique(key[first], return_counts=True)  # per (component, account)
        meshed = np.bincount(accounts[counterparties >= 2] // g.n_nodes, minlength=len(comps))
        out &= meshed >= min_side
    return out


def find(g: TransferGraph, cfg: BipartiteConfig, claimed: np.ndarray) -> list[Pattern]:
    out = []
    comps = components(g, cfg, claimed)
    n_pay, n_paid, n_both = role_counts(g, comps)
    # cheap exits for all components at once: a side too small even if every two-way account joined it, or
    # too few transfers (setting exchanges aside and giving two-way accounts one role only removes some)
    sizes = np.fromiter((c.size for c in comps), np.int64, len(comps))
    keep = (n_pay + n_both >= cfg.min_side) & (n_paid + n_both >= cfg.min_side) & (sizes >= cfg.min_transfers)
    keep &= _meshed_sides(g, comps, sizes, keep, cfg.min_side)
    for k in np.flatnonzero(keep).tolist():
        e = comps[k] if n_both[k] == 0 else _without_exchanges(g, comps[k])
        if e.size < cfg.min_transfers:
            continue
        senders, receivers, both = roles(g, e)
        if both.size > cfg.max_two_way and _layers(g, e, both, cfg.max_edge_share).size > cfg.max_two_way:
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
        if senders.size < cfg.min_side or receivers.size < cfg.min_side:
            continue
        # here senders and receivers are exactly e's distinct senders and receivers (both branches above)
        _, mesh = density_and_mesh(g, e, senders, receivers)
        dens = core_density(g, e, cfg.min_side)
        if dens < cfg.min_density or mesh < cfg.min_mesh_share:
            continue
        first = int(g.src[e[np.argmin(g.ts[e])]])
        text = (f"{senders.size} accounts (from {node_name(g, first, e)}) paid {receivers.size} accounts in "
                f"{e.size} transfers totalling {fmt_usd(float(g.usd[e].sum()))}, {dens:.0%} of sender-receiver "
                f"pairs transacting among those with several counterparties, {fmt_span(g, e)}")
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
