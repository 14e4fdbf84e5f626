"""stack: layered many-to-many movement — a group of senders pays a middle group, and the middle group,
having received from several senders, pays a further group (bipartite layers stacked, each hop later).
The centre is the earliest sender."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from harbour.detect.aml.base import GraphDetector, Pattern, fmt_span, fmt_usd, hours, node_name, saturating
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.aml.layered import LayeredConfig, components, role_counts, roles
from harbour.detect.framework import register


class StackConfig(LayeredConfig):
    pass


def _forwards_later(g: TransferGraph, e: np.ndarray, middle: np.ndarray) -> bool:
    """Most middle accounts receive before they pay on (a layer, not a busy two-way group)."""
    ok = 0
    for v in middle.tolist():
        t_in = g.ts[e][g.dst[e] == v]
        t_out = g.ts[e][g.src[e] == v]
        ok += int(np.median(t_in) <= np.median(t_out))
    return ok * 2 > middle.size


def _out_edges(g: TransferGraph, nodes: np.ndarray) -> np.ndarray:
    """The out-edges of ``nodes``, node after node (each node's in time order)."""
    from harbour.detect.aml.kernels import spans

    return g.out_order[spans(g.out_ptr[nodes], g.out_ptr[nodes + 1])]


def _bridged(g: TransferGraph, cfg: StackConfig, comps: list[np.ndarray], claimed: np.ndarray) -> list[np.ndarray]:
    """Groups joined by one-to-one hops: a layer whose accounts each pass their money on to one account of
    the next layer is no mesh, but an account that received in one group and then pays an account that
    pays on in another group links the two into layers. Joined groups that fit in the window are one."""
    if len(comps) < 2:
        return comps
    comp_of = np.full(g.n_nodes, -1, np.int64)
    first_in = np.full(g.n_nodes, np.iinfo(np.int64).max)
    last_out = np.full(g.n_nodes, np.iinfo(np.int64).min)
    # all components at once (thousands on a busy table): a node in two components keeps the later one's
    # number, as assigning component by component in turn would leave it
    e = np.concatenate(comps)
    k = np.repeat(np.arange(len(comps), dtype=np.int64), [c.size for c in comps])
    np.maximum.at(comp_of, g.src[e], k)
    np.maximum.at(comp_of, g.dst[e], k)
    np.minimum.at(first_in, g.dst[e], g.ts[e])
    np.maximum.at(last_out, g.src[e], g.ts[e])
    # a bridge leaves an account of a component: only those accounts' out-edges are read (in edge order,
    # as a test over every edge of the table would list them), not all edges of the table
    bridge = np.sort(_out_edges(g, np.flatnonzero(comp_of >= 0)))
    a, b = comp_of[g.src[bridge]], comp_of[g.dst[bridge]]
    keep = (b >= 0) & (a != b) & ~claimed[bridge]
    bridge, a, b = bridge[keep], a[keep], b[keep]
    window = hours(cfg.window_hours)
    t = g.ts[bridge]
    ok = (first_in[g.src[bridge]] < t) & (t < last_out[g.dst[bridge]]) \
        & (t - first_in[g.src[bridge]] <= window) & (last_out[g.dst[bridge]] - t <= window)
    bridge, a, b = bridge[ok], a[ok], b[ok]
    if bridge.size == 0:
        return comps
    n = len(comps)
    adj = coo_matrix((np.ones(bridge.size), (a, b)), shape=(n, n))
    _, label = connected_components(adj, directed=False)
    out = []
    # each label's components in index order, from one stable sort (not one scan of all labels per label)
    by_label = np.argsort(label, kind="stable")
    cuts = np.flatnonzero(np.diff(label[by_label])) + 1
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), by_label.size], strict=True):
        members = by_label[lo:hi]
        if members.size == 1:
            out.append(comps[int(members[0])])
            continue
        e = np.concatenate([comps[int(k)] for k in members] + [bridge[np.isin(a, members)]])
        parties = np.unique(np.concatenate((g.src[e], g.dst[e]))).size
        if int(g.ts[e].max() - g.ts[e].min()) <= window and parties <= cfg.max_parties:
            out.append(e)
        else:
            out += [comps[int(k)] for k in members]
    return out


def find(g: TransferGraph, cfg: StackConfig, claimed: np.ndarray) -> list[Pattern]:
    out = []
    comps = _bridged(g, cfg, components(g, cfg, claimed), claimed)
    _, _, n_middle = role_counts(g, comps)
    is_middle = np.zeros(g.n_nodes, bool)  # the current component's middle accounts (set and cleared again)
    for e in (comps[k] for k in np.flatnonzero(n_middle >= cfg.min_side).tolist()):
        senders, receivers, middle = roles(g, e)
        if middle.size < cfg.min_side:
            continue  # most components: no layer in between (cheap exit before the set work below)
        # the layered flow is what passes through the middle accounts; a sender paying a pure receiver
        # directly belongs to another group glued on through a shared account (left for bipartite)
        is_middle[middle] = True
        e = e[is_middle[g.src[e]] | is_middle[g.dst[e]]]
        senders = np.unique(g.src[e])
        senders = senders[~is_middle[senders]]
        receivers = np.unique(g.dst[e])
        receivers = receivers[~is_middle[receivers]]
        is_middle[middle] = False
        if middle.size < cfg.min_side or senders.size < cfg.min_side or receivers.size < 1:
            continue
        if not _forwards_later(g, e, middle):
            continue
        first = int(g.src[e[np.argmin(g.ts[e])]])
        text = (f"{senders.size} accounts (from {node_name(g, first, e)}) paid {middle.size} middle accounts, which "
                f"paid {receivers.size} further accounts: {e.size} transfers totalling "
                f"{fmt_usd(float(g.usd[e].sum()))} in stacked layers {fmt_span(g, e)}")
        out.append(Pattern("stack", first, np.concatenate((senders, middle, receivers)), e,
                           saturating(middle.size + senders.size, 2 * cfg.min_side), text))
    return out


class StackDetector(GraphDetector):
    name = "aml_stack"
    version = "1.0"
    typology = "stack"
    config_model = StackConfig
    description = "Layered many-to-many transfers through a middle group of accounts."


register(StackDetector())
