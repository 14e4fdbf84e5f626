"""Graph features per account and UTC day, for the learned scorer.

One sample is one actor (a customer node: all its linked accounts) on one UTC day it was active. Its
features describe that day and the look-back before it: counts, distinct counterparties and values in
and out, the busiest 24-hour window of distinct counterparties, value passed through within hours,
amounts just under a reporting threshold, amount and timing statistics, and whether the rule-based
miner placed the actor in each pattern (cycle, scatter-gather, ...) or in exposure to a listed address.
Everything is vectorised over the edge arrays (bincount, np.unique on packed keys).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harbour.detect.aml.base import Pattern, hours
from harbour.detect.aml.graph import TransferGraph
from harbour.detect.aml.kernels import bursts, pass_through
from harbour.detect.aml.miner import GRAPH_TYPOLOGIES
from harbour.detect.aml.structuring import StructuringConfig, near_threshold

DAY_US = 86_400_000_000


@dataclass
class NodeDays:
    node: np.ndarray  # node id per sample
    day: np.ndarray  # UTC day number (days since 1970-01-01) per sample
    X: np.ndarray  # float32 (samples x features)
    names: list[str]


def _node_day_index(g: TransferGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Samples (node, day) of every actor on the days it sent or received, and each edge's sample on its
    sending side and receiving side (-1 for self-loops)."""
    day = g.ts // DAY_US
    real = g.src != g.dst
    keys = np.concatenate((g.src[real] * 100_000 + day[real], g.dst[real] * 100_000 + day[real]))
    uniq, inv = np.unique(keys, return_inverse=True)
    n_real = int(real.sum())
    out_sample = np.full(g.n_edges, -1, np.int64)
    in_sample = np.full(g.n_edges, -1, np.int64)
    out_sample[real] = inv[:n_real]
    in_sample[real] = inv[n_real:]
    return uniq // 100_000, uniq % 100_000, out_sample, in_sample


def _distinct(sample: np.ndarray, other: np.ndarray, n: int) -> np.ndarray:
    ok = sample >= 0
    pairs = np.unique(np.stack((sample[ok], other[ok])), axis=1)
    return np.bincount(pairs[0], minlength=n).astype(np.float64)


def _busiest_window(g: TransferGraph, incoming: bool, window: int, node_of_sample: np.ndarray) -> np.ndarray:
    """Per node, the most distinct counterparties met within any ``window`` (from burst runs of >= 2)."""
    if incoming:
        ptr, order, other, this = g.in_ptr, g.in_order, g.src, g.dst
    else:
        ptr, order, other, this = g.out_ptr, g.out_order, g.dst, g.src
    best = np.zeros(g.n_nodes)
    for k in (2, 3, 5, 8, 13):
        nodes, _, _ = bursts(ptr, order, other, this, g.ts, np.ones(g.n_edges, np.bool_), g.institutional, window, k,
                             True, np.zeros(g.n_nodes, np.int32))
        best[nodes] = k
    return best[node_of_sample]


def node_day_features(g: TransferGraph, patterns: dict[str, list[Pattern]],
                      structuring: StructuringConfig | None = None) -> NodeDays:
    node, day, out_s, in_s = _node_day_index(g)
    n = node.size
    cols: dict[str, np.ndarray] = {}
    o, i = out_s >= 0, in_s >= 0
    cols["out_count"] = np.bincount(out_s[o], minlength=n).astype(np.float64)
    cols["in_count"] = np.bincount(in_s[i], minlength=n).astype(np.float64)
    cols["out_usd"] = np.bincount(out_s[o], g.usd[o], minlength=n)
    cols["in_usd"] = np.bincount(in_s[i], g.usd[i], minlength=n)
    cols["out_distinct"] = _distinct(out_s, g.dst, n)
    cols["in_distinct"] = _distinct(in_s, g.src, n)
    cols["net_flow_share"] = (cols["in_usd"] - cols["out_usd"]) / np.maximum(cols["in_usd"] + cols["out_usd"], 1.0)
    cols["max_out_usd"] = np.zeros(n)
    np.maximum.at(cols["max_out_usd"], out_s[o], g.usd[o])
    cols["max_in_usd"] = np.zeros(n)
    np.maximum.at(cols["max_in_usd"], in_s[i], g.usd[i])
    cols["mean_usd"] = (cols["out_usd"] + cols["in_usd"]) / np.maximum(cols["out_count"] + cols["in_count"], 1)
    near = near_threshold(g.usd, structuring or StructuringConfig.model_validate({}))
    cols["near_threshold"] = np.bincount(out_s[o & near], minlength=n) + np.bincount(in_s[i & near], minlength=n)
    cols["to_accounts_share"] = np.bincount(out_s[o], g.is_account[g.dst[o]].astype(float), minlength=n) / \
        np.maximum(cols["out_count"], 1)
    cols["from_accounts_share"] = np.bincount(in_s[i], g.is_account[g.src[i]].astype(float), minlength=n) / \
        np.maximum(cols["in_count"], 1)
    share, _ = pass_through(g.in_ptr, g.in_order, g.out_ptr, g.out_order, g.src, g.dst, g.ts, g.usd,
                            ~g.institutional, hours(6), 1.0)
    cols["max_pass_through_6h"] = np.zeros(n)
    np.maximum.at(cols["max_pass_through_6h"], in_s[i], np.minimum(share[i], 2.0))
    # timing: spread of the day's activity (hours between first and last transfer)
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, np.iinfo(np.int64).min)
    for s in (out_s, in_s):
        ok = s >= 0
        np.minimum.at(first, s[ok], g.ts[ok])
        np.maximum.at(last, s[ok], g.ts[ok])
    cols["active_hours"] = (last - first) / 3.6e9
    cols["busiest_24h_in"] = _busiest_window(g, True, hours(24), node)
    cols["busiest_24h_out"] = _busiest_window(g, False, hours(24), node)
    cols["institutional"] = g.institutional[node].astype(float)
    cols["corporate"] = g.corporate[node].astype(float)
    cols["is_account"] = g.is_account[node].astype(float)
    # the rule-based miner's verdicts, as features: did the actor take part in each pattern that day?
    sample_of = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(node, day, strict=True))} if patterns else {}
    for typology in (*GRAPH_TYPOLOGIES, "sanctions_exposure"):
        col = np.zeros(n)
        for p in patterns.get(typology, []):
            days = np.unique(g.ts[p.edges] // DAY_US)
            for v in p.nodes.tolist():
                for d in days.tolist():
                    k = sample_of.get((v, d))
                    if k is not None:
                        col[k] = 1.0
        cols[f"in_{typology}"] = col
    cols["in_any_pattern"] = np.max(np.column_stack([cols[f"in_{t}"] for t in GRAPH_TYPOLOGIES]), axis=1)
    names = list(cols)
    X = np.column_stack([cols[c] for c in names]).astype(np.float32)
    return NodeDays(node, day, X, names)
