"""Shared logic of bipartite and stack: groups of accounts paying groups of accounts, found as connected
components of *mesh* transfers — transfers whose sender pays several parties or whose receiver is paid by
several, within a window — among parties that are not crowd hubs (a payroll or a collection account
with many counterparties is a star, not a mesh)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from harbour.detect.aml import prefetch as ahead
from harbour.detect.aml.base import hours
from harbour.detect.aml.graph import TransferGraph


class LayeredConfig(BaseModel):
    window_hours: float = Field(24.0, gt=0, description="span in which a party's several counterparties appear, "
                                "and the longest span of the whole group's transfers")
    episode_gap_hours: float = Field(12.0, gt=0, description="a pause this long in an account's mesh transfers "
                                     "ends its part in one scheme")
    min_side: int = Field(2, ge=2, description="parties on each side (senders, receivers) at least")
    min_transfers: int = Field(4, ge=2, description="transfers in the group, at least")
    min_total_usd: float = Field(2_000.0, ge=0, description="value moved by the group, at least (friends "
                                 "settling a dinner bill form small many-to-many webs too)")
    max_parties: int = Field(60, ge=4, description="larger components are ordinary busy flow, not one scheme")
    min_density: float = Field(0.5, gt=0, le=1,
                               description="bipartite: pairs that transact / possible sender-receiver pairs")
    max_fan: int = Field(8, ge=2, description="transfers of a burst in which a party has more distinct "
                         "counterparties than this in the window (one direction) are a star, left out of meshes")
    min_mesh_share: float = Field(0.6, ge=0, le=1,
                                  description="bipartite: share of senders paying >= 2 receivers, and of receivers "
                                              "paid by >= 2 senders, at least")


def many_to_many_edges(g: TransferGraph, cfg: LayeredConfig, claimed: np.ndarray) -> np.ndarray:
    """Transfers between platform accounts whose sender pays >= 2 distinct parties or whose receiver is
    paid by >= 2, in the window, with neither end a hub. A scan prefetched under fewer claims (``prefetch``)
    is brought up to these claims instead of scanning the table again."""
    scan = _take_prefetched(g, cfg)
    scan = _scan(g, cfg, claimed) if scan is None else _rescan(g, cfg, scan, claimed)
    flag = scan.mesh[0] | scan.mesh[1]
    return np.nonzero(flag & scan.usable & ~(scan.star[0] | scan.star[1]) & g.is_account[g.src]
                      & g.is_account[g.dst])[0]


@dataclass
class MeshScan:
    """The burst flags behind ``many_to_many_edges`` under some claims, per direction (runs of a sender's
    out-edges, runs of a receiver's in-edges): direction by direction, a node's flags depend on its own
    edges only, which is what lets ``_rescan`` redo just the nodes that more claims touch."""

    claimed: np.ndarray
    usable: np.ndarray
    star: tuple[np.ndarray, np.ndarray]
    mesh: tuple[np.ndarray, np.ndarray]


def _star_skip(g: TransferGraph) -> np.ndarray:
    # every party can be a star's centre (a chain address paying many accounts takes its edges out of their count)
    return g.institutional


def _mesh_skip(g: TransferGraph) -> np.ndarray:
    # the mesh scans only centre on accounts: an edge whose sender (out-scan) or receiver (in-scan) is a
    # chain address is no account-to-account transfer, whatever its burst (a third of the table's edges)
    return g.institutional | ~g.is_account


def _scan(g: TransferGraph, cfg: LayeredConfig, claimed: np.ndarray) -> MeshScan:
    usable = ~claimed & ~g.institutional[g.src] & ~g.institutional[g.dst]
    window = hours(cfg.window_hours)
    # a crowd around one party (a collection account, a payroll) is a star: its transfers stay out
    star = _burst_edges(g, usable, window, cfg.max_fan + 1, _star_skip(g))
    mesh = _burst_edges(g, usable & ~(star[0] | star[1]), window, 2, _mesh_skip(g))
    return MeshScan(claimed.copy(), usable, star, mesh)


def _rescan(g: TransferGraph, cfg: LayeredConfig, scan: MeshScan, claimed: np.ndarray) -> MeshScan:
    """``_scan(g, cfg, claimed)`` from a scan under a subset of these claims: only the nodes whose edges
    changed are scanned again, star test first, then the mesh test around every edge whose use changed."""
    if (scan.claimed & ~claimed).any():
        return _scan(g, cfg, claimed)  # not a subset: no shortcut
    new = np.flatnonzero(claimed & ~scan.claimed)
    if new.size == 0:
        return scan
    window = hours(cfg.window_hours)
    usable = scan.usable.copy()
    usable[new] = False
    star, star_changed = _burst_edges_again(g, usable, window, cfg.max_fan + 1, _star_skip(g), scan.star, new)
    changed = np.union1d(new, star_changed)
    mesh, _ = _burst_edges_again(g, usable & ~(star[0] | star[1]), window, 2, _mesh_skip(g), scan.mesh, changed)
    return MeshScan(claimed.copy(), usable, star, mesh)


def _burst_edges_again(g: TransferGraph, mask: np.ndarray, window_us: int, min_count: int, skip: np.ndarray,
                       before: tuple[np.ndarray, np.ndarray], edges: np.ndarray
                       ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """``_burst_edges`` after the mask changed at ``edges``: the out-scan of their senders and the in-scan of
    their receivers are redone; every other node's runs stand. Also the edges whose flag changed."""
    from harbour.detect.aml.kernels import burst_marks_of, spans

    after = []
    changed = []
    for incoming, ends in ((False, g.src), (True, g.dst)):
        ptr, order = (g.in_ptr, g.in_order) if incoming else (g.out_ptr, g.out_order)
        nodes = np.unique(ends[edges])
        own = order[spans(ptr[nodes], ptr[nodes + 1])]  # these nodes' edges
        marks = before[incoming].copy()
        marks[own] = False
        burst_marks_of(nodes, ptr, order, g.csr_view(incoming), mask, skip, int(window_us), int(min_count), marks)
        after.append(marks)
        changed.append(own[marks[own] != before[incoming][own]])
    return (after[0], after[1]), np.unique(np.concatenate(changed))


def _burst_edges(g: TransferGraph, mask: np.ndarray, window_us: int, min_count: int, skip: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the ``mask`` edges inside a burst run (``min_count`` distinct counterparties in the window)
    of their sender's out-edges, and of their receiver's in-edges, ``skip`` nodes not taken as the centre:
    the burst scans flag the runs' edges as they close them (no second pass over the runs' edges, read at
    random by edge id)."""
    from harbour.detect.aml.kernels import bursts

    out = []
    for incoming in (False, True):
        ptr, order, other, this = (g.in_ptr, g.in_order, g.src, g.dst) if incoming else \
            (g.out_ptr, g.out_order, g.dst, g.src)
        marks = np.zeros(g.n_edges, bool)
        bursts(ptr, order, other, this, g.ts, mask, skip, int(window_us), int(min_count), True,
               np.zeros(g.n_nodes, np.int32), g.csr_view(incoming), marks)
        out.append(marks)
    return out[0], out[1]


# --- the scan started early, beside the typologies mined before stack and bipartite -----------------------


def _config_key(cfg: LayeredConfig) -> str:
    return LayeredConfig(**cfg.model_dump()).model_dump_json()


def prefetch(g: TransferGraph, cfg: LayeredConfig, claimed: np.ndarray) -> None:
    """Start the mesh scan of ``g`` under ``claimed`` beside the mining pass (the claims known so far; the
    typologies mined before stack add a few thousand more, which ``_rescan`` then takes in)."""
    claimed = claimed.copy()  # the caller goes on claiming
    ahead.start(g, "mesh", _config_key(cfg), lambda: _scan(g, cfg, claimed))


def _take_prefetched(g: TransferGraph, cfg: LayeredConfig) -> MeshScan | None:
    return ahead.take(g, "mesh", _config_key(cfg))  # type: ignore[no-any-return]


def episodes(g: TransferGraph, cand: np.ndarray, gap: int) -> np.ndarray:
    """Per candidate edge, (sender episode, receiver episode): an account's mesh transfers split where
    they pause longer than ``gap``, so one account caught up in two schemes on different days does not
    glue them into one component."""
    from harbour.detect.aml.kernels import episode_ids

    t_cand = g.ts[cand]
    if t_cand.size < 2 or bool((t_cand[1:] >= t_cand[:-1]).all()):  # edges come in time order: merge, not sort
        seg = episode_ids(g.src[cand], g.dst[cand], t_cand, g.n_nodes, gap)
        return np.stack((seg[:cand.size], seg[cand.size:]))
    node = np.concatenate((g.src[cand], g.dst[cand]))
    ts = np.concatenate((t_cand, t_cand))
    order = np.lexsort((ts, node))
    n, t = node[order], ts[order]
    new = np.ones(order.size, bool)
    new[1:] = (n[1:] != n[:-1]) | (t[1:] - t[:-1] > gap)
    seg = np.empty(order.size, np.int64)
    seg[order] = np.cumsum(new) - 1
    return np.stack((seg[:cand.size], seg[cand.size:]))


_LAST: dict[str, object] = {}


def components(g: TransferGraph, cfg: LayeredConfig, claimed: np.ndarray) -> list[np.ndarray]:
    """``_components``, shared by stack and bipartite in one mining pass: the second caller (same graph,
    same parameters) reuses the first's components, minus those its claims have touched."""
    key = (id(g), LayeredConfig(**cfg.model_dump()).model_dump_json())
    if _LAST.get("key") == key and _LAST.get("graph") is g:
        out = []
        for e in _LAST["comps"]:  # type: ignore[attr-defined]
            if not claimed[e].any():
                out.append(e)
            else:  # the first caller took part of it (a stack glued to a bipartite group): the rest may stand
                out += _pieces(g, cfg, e[~claimed[e]])
        return out
    comps = _components(g, cfg, claimed)
    _LAST.update(key=key, graph=g, comps=comps)
    return comps


def _components(g: TransferGraph, cfg: LayeredConfig, claimed: np.ndarray) -> list[np.ndarray]:
    """Edge sets of the connected components of mesh transfers between platform accounts (account
    episodes as vertices), small, coordinated and large enough to be one scheme."""
    cand = many_to_many_edges(g, cfg, claimed)
    window = hours(cfg.window_hours)
    if cand.size == 0:
        return []
    ends = episodes(g, cand, hours(cfg.episode_gap_hours))
    n_seg = int(ends.max()) + 1
    adj = coo_matrix((np.ones(cand.size), (ends[0], ends[1])), shape=(n_seg, n_seg))
    _, label = connected_components(adj, directed=False)
    edge_label = label[ends[0]]
    # cheap per-component filters first (millions of edges, mostly tiny components)
    n_lab = int(label.max()) + 1
    n_edges = np.bincount(edge_label, minlength=n_lab)
    value = np.bincount(edge_label, g.usd[cand], minlength=n_lab)
    ok = (n_edges >= cfg.min_transfers) & (value >= cfg.min_total_usd)
    keep = ok[edge_label]
    cand, edge_label = cand[keep], edge_label[keep]
    # parties per component, counted once for the components left: one too large to be a scheme is left out
    lab64 = edge_label.astype(np.int64) * g.n_nodes
    pairs = np.unique(np.concatenate((lab64 + g.src[cand], lab64 + g.dst[cand])))
    n_parties = np.bincount(pairs // g.n_nodes, minlength=n_lab)
    keep = ((n_parties >= 4) & (n_parties <= cfg.max_parties))[edge_label]
    cand, edge_label = cand[keep], edge_label[keep]
    order = np.argsort(edge_label, kind="stable")
    bounds = np.flatnonzero(np.diff(edge_label[order])) + 1
    out: list[np.ndarray | None] = []  # None: the next long component's pieces go here
    long: list[np.ndarray] = []  # the busiest window of each long component
    if cand.size:
        grouped = cand[order]
        # every component's time span at once (tens of thousands of components on a busy table)
        t, starts = g.ts[grouped], np.concatenate(([0], bounds))
        ends = np.append(bounds, grouped.size)
        spans = np.maximum.reduceat(t, starts) - np.minimum.reduceat(t, starts)
        # One scheme moves its money in one coordinated span; a web of friends trades all week. A
        # component that runs longer is judged by its busiest window: a scheme account's own ordinary
        # payments hours before or after the scheme hang on at the ends and must not sink it with them.
        is_long = spans > window
        long = _busiest_windows(g, grouped, starts[is_long], ends[is_long], window)
        out = [None if x else grouped[a:b] for a, b, x in zip(starts.tolist(), ends.tolist(), is_long.tolist(),
                                                               strict=True)]
    # the busiest windows' connected pieces, all in one pass (thousands of small graphs on a busy table)
    pieces = iter(_pieces_of_many(g, cfg, long))
    flat: list[np.ndarray] = []
    for kept in out:
        flat += [kept] if kept is not None else next(pieces)
    return flat


def _busiest_windows(g: TransferGraph, grouped: np.ndarray, starts: np.ndarray, ends: np.ndarray, window: int
                     ) -> list[np.ndarray]:
    """Per stretch ``grouped[starts[k]:ends[k]]``, its edges (in time order, ties in their given order) in
    the window span that holds most of them (the earliest such span on ties): one sort and one kernel for
    thousands of long components."""
    from harbour.detect.aml.kernels import busiest_windows

    which = np.repeat(np.arange(starts.size), ends - starts)
    e = np.concatenate([grouped[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]) \
        if starts.size else grouped[:0]
    e = e[np.lexsort((g.ts[e], which))]
    offs = np.concatenate(([0], np.cumsum(ends - starts)))
    lo, n = busiest_windows(g.ts[e], offs, window)
    return [e[a:a + k] for a, k in zip(lo.tolist(), n.tolist(), strict=True)]


def _pieces_of_many(g: TransferGraph, cfg: LayeredConfig, edge_sets: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Per edge set, its connected pieces still large enough to be a scheme (in order of their smallest
    node, edges in their given order), for all sets in one connected-components pass, with (set, node)
    as the vertex so that sets sharing an account stay apart."""
    if not edge_sets:
        return []
    sizes = np.array([e.size for e in edge_sets])
    e = np.concatenate(edge_sets)
    which = np.repeat(np.arange(len(edge_sets), dtype=np.int64), sizes)
    keys = np.concatenate((which * g.n_nodes + g.src[e], which * g.n_nodes + g.dst[e]))
    vertex, ends = np.unique(keys, return_inverse=True)
    adj = coo_matrix((np.ones(e.size), (ends[:e.size], ends[e.size:])), shape=(vertex.size, vertex.size))
    _, label = connected_components(adj, directed=False)
    # a vertex's label orders pieces by smallest node within the set; edges keep their order
    edge_label = label[ends[:e.size]]
    n_lab = int(label.max()) + 1
    n_edges = np.bincount(edge_label, minlength=n_lab)
    value = np.bincount(edge_label, g.usd[e], minlength=n_lab)
    n_parties = np.bincount(label, minlength=n_lab)
    t_min = np.full(n_lab, np.iinfo(np.int64).max)
    t_max = np.full(n_lab, np.iinfo(np.int64).min)
    np.minimum.at(t_min, edge_label, g.ts[e])
    np.maximum.at(t_max, edge_label, g.ts[e])
    ok = ((n_parties >= 4) & (n_parties <= cfg.max_parties) & (n_edges >= cfg.min_transfers)
          & (value >= cfg.min_total_usd) & (t_max - t_min <= hours(cfg.window_hours)))
    out: list[list[np.ndarray]] = [[] for _ in edge_sets]
    if not ok.any():
        return out
    order = np.argsort(edge_label, kind="stable")
    starts = np.searchsorted(edge_label[order], np.arange(n_lab + 1))
    # labels of one set are numbered in vertex order, sets in turn: walking labels in order keeps each
    # set's pieces in that order
    set_of_label = which[order[starts[:-1].clip(max=max(0, e.size - 1))]]
    for lab in np.flatnonzero(ok).tolist():
        out[int(set_of_label[lab])].append(e[order[starts[lab]:starts[lab + 1]]])
    return out


def _pieces(g: TransferGraph, cfg: LayeredConfig, e: np.ndarray) -> list[np.ndarray]:
    """The connected pieces of a component's left-over edges that are still large enough to be a scheme."""
    return _pieces_of_many(g, cfg, [e])[0] if e.size >= max(1, cfg.min_transfers) else []


def role_counts(g: TransferGraph, comps: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per component, how many accounts pay, are paid, and both: what ``roles`` would give, for all
    components at once (most components of a busy table fail on these counts alone)."""
    if not comps:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    e = np.concatenate(comps)
    which = np.repeat(np.arange(len(comps), dtype=np.int64), [c.size for c in comps]) * g.n_nodes
    s, d = np.unique(which + g.src[e]), np.unique(which + g.dst[e])
    both = np.intersect1d(s, d, assume_unique=True)
    n = len(comps)
    return (np.bincount(s // g.n_nodes, minlength=n), np.bincount(d // g.n_nodes, minlength=n),
            np.bincount(both // g.n_nodes, minlength=n))


def roles(g: TransferGraph, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(senders only, receivers only, both) among the component's nodes."""
    s, d = np.unique(g.src[e]), np.unique(g.dst[e])
    both = np.intersect1d(s, d, assume_unique=True)  # s and d are unique already: skip re-sorting them
    return np.setdiff1d(s, both, assume_unique=True), np.setdiff1d(d, both, assume_unique=True), both


def _pairs(g: TransferGraph, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distinct (a, b) node pairs packed as a * n_nodes + b (np.unique on one int64 column is several times
    quicker than on two with axis=1)."""
    return np.unique(a.astype(np.int64) * g.n_nodes + b)


def density_and_mesh(g: TransferGraph, e: np.ndarray, senders: np.ndarray, receivers: np.ndarray
                     ) -> tuple[float, float]:
    """(pairs that transact / possible sender-receiver pairs, the smaller of the shares of senders paying
    >= 2 receivers and of receivers paid by >= 2 senders). ``senders`` and ``receivers`` are exactly the
    distinct senders and receivers of ``e`` (sorted): every edge and every pair counts, with no membership
    tests (thousands of small components on a busy table)."""
    ends = _pairs(g, g.src[e], g.dst[e])
    dens = ends.size / max(1, senders.size * receivers.size)
    return dens, min(_two_or_more(ends // g.n_nodes, senders), _two_or_more(ends % g.n_nodes, receivers))


def _two_or_more(own: np.ndarray, side: np.ndarray) -> float:
    """Share of ``side`` nodes holding >= 2 of the distinct pairs whose end is ``own``."""
    counts = np.bincount(np.searchsorted(side, own), minlength=side.size)
    return float((counts >= 2).mean()) if side.size else 0.0
