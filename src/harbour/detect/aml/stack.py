"""stack: layered many-to-many movement — a group of senders pays a middle group, and the middle group,
having received from several senders, pays a further group (bipartite layers stacked, each hop later).
The centre is the earliest sender."""

from __future__ import annotations

import numpy as np

from harbour.detect.aml.base import GraphDetector, Pattern, fmt_span, fmt_usd, node_name, saturating
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.aml.layered import LayeredConfig, components, roles
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


def find(g: TransferGraph, cfg: StackConfig, claimed: np.ndarray) -> list[Pattern]:
    out = []
    for e in components(g, cfg, claimed):
        senders, receivers, middle = roles(g, e)
        # the layered flow is what passes through the middle accounts; a sender paying a pure receiver
        # directly belongs to another group glued on through a shared account (left for bipartite)
        e = e[np.isin(g.src[e], middle) | np.isin(g.dst[e], middle)]
        senders = np.setdiff1d(np.unique(g.src[e]), middle)
        receivers = np.setdiff1d(np.unique(g.dst[e]), middle)
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
