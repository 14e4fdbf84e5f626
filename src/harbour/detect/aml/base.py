"""What every transfer-graph typology shares: the pattern record, the detector shape and the alert rules.

Alert rules (docs/detectors/aml.md):

- ``accounts``: every party of the pattern's *actors* that appears in its evidence — for a fan-in, the
  collector and the senders; innocent far ends (e.g. a peel chain's cash-out addresses) are left out
  where the pattern tells them apart. A venue account is written as its account id (as in trades and
  labels: ``12345678``, the venue being the alert's or evident from the evidence), a chain address as
  ``chain:address``.
- ``venue``: for a star (fan-in/out, gather-scatter, structuring, rapid movement, exposure) the venue
  of the central account — the venue most of its evidence transfers touch through that account; for a
  group (cycle, scatter-gather, bipartite, stack, peel chain) the venue holding most of the group's
  accounts, ties going to the first account's venue; if neither is a venue account, the venue that
  reported the first evidence transfer.
- ``start``/``end``: the first and last evidence transfer; ``evidence_ids``: the transfer ids.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import BaseModel

from harbour.detect.aml.graph import TransferGraph, graph_for
from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec

HOUR_US = 3_600_000_000
GROUP_TYPOLOGIES = frozenset({"cycle", "scatter_gather", "bipartite", "stack", "peel_chain"})
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass
class Pattern:
    """One found instance of a typology: actor nodes, evidence edges, a score and a checkable sentence."""

    typology: str
    center: int  # node id of the central / first actor, -1 if none
    nodes: np.ndarray  # node ids of the actors
    edges: np.ndarray  # edge ids (evidence)
    score: float
    explanation: str


def hours(h: float) -> int:
    return int(h * HOUR_US)


def to_dt(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=int(us))


def fmt_time(us: int) -> str:
    return to_dt(us).strftime("%Y-%m-%d %H:%M UTC")


def fmt_usd(x: float) -> str:
    return f"${x:,.0f}"


def fmt_span(g: TransferGraph, edges: np.ndarray) -> str:
    t = g.ts[edges]
    span_h = (int(t.max()) - int(t.min())) / HOUR_US
    return f"within {span_h:.1f} hours ({fmt_time(int(t.min()))} to {fmt_time(int(t.max()))})"


def node_name(g: TransferGraph, node: int, edges: np.ndarray) -> str:
    """The party (or parties, for a customer with several accounts) behind ``node`` in ``edges``."""
    names = _node_parties(g, node, edges)
    if not names:
        return g.parties[node]
    if len(names) == 1:
        return names[0]
    return f"{names[0]} (and linked account{'s' if len(names) > 2 else ''} {', '.join(names[1:])})"


def _node_parties(g: TransferGraph, node: int, edges: np.ndarray) -> list[str]:
    """The node's parties in ``edges``, most frequent first, ties in order of first appearance."""
    parties = np.concatenate((g.src_party[edges][g.src[edges] == node], g.dst_party[edges][g.dst[edges] == node]))
    if parties.size == 0:
        return []
    if (parties == parties[0]).all():  # the usual case: one account behind the node
        return [g.parties[int(parties[0])]]
    uniq, first, counts = np.unique(parties, return_index=True, return_counts=True)
    return [g.parties[int(p)] for p in uniq[np.lexsort((first, -counts))].tolist()]


def pattern_accounts(g: TransferGraph, p: Pattern) -> list[str]:
    e = p.edges
    src_in = np.isin(g.src[e], p.nodes)
    dst_in = np.isin(g.dst[e], p.nodes)
    parties = np.unique(np.concatenate((g.src_party[e][src_in], g.dst_party[e][dst_in])))
    return [account_id(g, int(x)) for x in parties]


def account_id(g: TransferGraph, party: int) -> str:
    """``12345678`` for the venue account ``HBX:12345678``; a chain address stays ``chain:address``."""
    name = str(g.parties[party])
    venue = g.party_venue[party]
    return name[len(venue) + 1:] if venue and name.startswith(venue + ":") else name


def pattern_venue(g: TransferGraph, p: Pattern) -> str:
    e = p.edges
    if p.typology in GROUP_TYPOLOGIES:
        parties = np.concatenate((g.src_party[e][np.isin(g.src[e], p.nodes)],
                                  g.dst_party[e][np.isin(g.dst[e], p.nodes)]))
        venues = Counter(g.party_venue[x] for x in np.unique(parties).tolist() if g.party_venue[x])
        if venues:
            best = max(venues.values())
            top = [v for v, c in venues.items() if c == best]
            if len(top) == 1 or p.center < 0:
                return sorted(top)[0]
    if p.center >= 0:
        parties = np.concatenate((g.src_party[e][g.src[e] == p.center], g.dst_party[e][g.dst[e] == p.center]))
        own = [g.party_venue[x] for x in parties.tolist() if g.party_venue[x]]
        if own:
            return str(Counter(own).most_common(1)[0][0])
    first = e[np.argmin(g.ts[e])]
    return str(g.row_venue[first])


def add_alert(out: AlertBuilder, g: TransferGraph, p: Pattern) -> None:
    e = p.edges
    out.add(venue=pattern_venue(g, p), symbol=None, accounts=pattern_accounts(g, p),
            start=to_dt(int(g.ts[e].min())), end=to_dt(int(g.ts[e].max())), score=min(1.0, max(0.0, p.score)),
            evidence_ids=[str(x) for x in g.transfer_ids[e]], explanation=p.explanation)


def saturating(x: float, at: float) -> float:
    """A score in (0, 1): 0.5 at the threshold, approaching 1 as ``x`` grows past it."""
    return float(x / (x + at)) if x > 0 else 0.0


class GraphDetector(Detector[Any]):
    """Base of the transfer-graph typologies: the whole window at once (patterns cross venues), the
    accounts table broadcast to link customers, and one shared miner so that a transfer claimed by a
    more specific pattern (e.g. scatter-gather) is not alerted again as a fan-out."""

    lookback_hours: ClassVar[float] = 72.0
    columns: ClassVar[tuple[str, ...]] = ("venue", "transfer_id", "ts", "usd_value", "kind", "from_party", "to_party")

    def describe(self, config: Any) -> WorkSpec:
        return WorkSpec(tables=("transfers",), partition_by=(), lookback=dt.timedelta(hours=self.lookback_hours),
                        columns={"transfers": self.columns}, broadcast=("accounts",))

    def kernel(self, part: Partition, config: Any) -> pa.Table:
        from harbour.detect.aml.miner import mine  # the miner imports every typology module

        transfers = part.tables["transfers"]
        out = AlertBuilder(self)
        if transfers.num_rows == 0:
            return out.to_table()
        g = graph_for(transfers, part.broadcast.get("accounts"))
        start_us = int((part.window.start - EPOCH).total_seconds() * 1_000_000) if part.window.start else None
        for p in mine(g, {self.typology: config}).get(self.typology, []):
            if start_us is not None and int(g.ts[p.edges].max()) < start_us:
                continue  # look-back context only
            add_alert(out, g, p)
        return out.to_table()


Finder = Callable[[TransferGraph, BaseModel, np.ndarray], list[Pattern]]


def burst_runs(g: TransferGraph, incoming: bool, mask: np.ndarray, window_us: int, min_count: int,
               distinct: bool = True, skip_node: np.ndarray | None = None, nodes: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(node, lo, hi) of each burst run, positions into the in- or out-order (see ``node_bursts``). ``nodes``
    (sorted, unique): only these."""
    from harbour.detect.aml.kernels import bursts

    ptr, order, other, this = (g.in_ptr, g.in_order, g.src, g.dst) if incoming else \
        (g.out_ptr, g.out_order, g.dst, g.src)
    skip = (g.institutional | ~g.is_account) if skip_node is None else skip_node
    scratch = np.zeros(g.n_nodes, np.int32)
    return bursts(ptr, order, other, this, g.ts, mask, skip, int(window_us), int(min_count), distinct,  # type: ignore
                  scratch, g.csr_view(incoming), None, nodes)


def _runs_key(window_us: int, min_count: int) -> str:
    return f"{window_us}:{min_count}"


def prefetch_out_runs(g: TransferGraph, window_us: int, min_count: int) -> None:
    """Start every node's outgoing burst runs (distinct receivers), under no claims, beside the mining pass:
    scatter-gather and gather-scatter both begin with them (the same runs under their defaults)."""
    from harbour.detect.aml import prefetch as ahead

    none = np.ones(g.n_edges, bool)
    ahead.start(g, "out_runs", _runs_key(window_us, min_count),
                lambda: burst_runs(g, False, none, window_us, min_count))


def out_runs_under(g: TransferGraph, claimed: np.ndarray, window_us: int, min_count: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``burst_runs`` of the outgoing edges under ``~claimed``. A node's runs depend on its own outgoing edges only,
    so runs prefetched under no claims are brought up to date by finding again just those of the senders of
    claimed edges (in node order, as a whole pass lists them)."""
    from harbour.detect.aml import prefetch as ahead

    early = ahead.take(g, "out_runs", _runs_key(window_us, min_count), keep=True)
    if early is None:
        return burst_runs(g, False, ~claimed, window_us, min_count)
    nodes, lo, hi = early
    touched = np.unique(g.src[np.flatnonzero(claimed)])
    if touched.size == 0:
        return nodes, lo, hi
    again = burst_runs(g, False, ~claimed, window_us, min_count, nodes=touched)
    keep = ~np.isin(nodes, touched)
    merged = [np.concatenate((old[keep], new)) for old, new in zip((nodes, lo, hi), again, strict=True)]
    order = np.argsort(merged[0], kind="stable")  # a node's runs stay together and in time order
    return merged[0][order], merged[1][order], merged[2][order]


SPARSE = 8  # a mask holding under 1/SPARSE of the edges is scanned on its own positions only


def node_bursts(g: TransferGraph, incoming: bool, mask: np.ndarray, window_us: int, min_count: int,
                distinct: bool = True, skip_node: np.ndarray | None = None, nodes: np.ndarray | None = None
                ) -> list[tuple[int, np.ndarray]]:
    """Per node, runs of its (incoming or outgoing) edges where a ``window_us`` span holds at least
    ``min_count`` edges (distinct counterparties if ``distinct``). Masked-out edges are invisible; the
    returned edge ids are the unmasked ones of each run. ``nodes`` (sorted, unique): only these."""
    from harbour.detect.aml.kernels import bursts, spans

    if incoming:
        ptr, order, other, this = g.in_ptr, g.in_order, g.src, g.dst
    else:
        ptr, order, other, this = g.out_ptr, g.out_order, g.dst, g.src
    # Only a platform's customer account can be the centre: a bare chain address fanning in or out is
    # typically a platform's own hot wallet sweeping deposit addresses, outside any customer's conduct.
    skip = (g.institutional | ~g.is_account) if skip_node is None else skip_node
    scratch = np.zeros(g.n_nodes, np.int32)
    gathered = g.csr_view(incoming)
    if np.count_nonzero(mask) * SPARSE < mask.size:
        # A sparse mask (structuring's amounts near a line: a few percent of the table): scan only the
        # unmasked positions, kept in order. The runs hold the same unmasked edges: a window's first masked
        # position is the first unmasked one at or after the full scan's window start, so runs merge alike.
        pos = np.flatnonzero(mask[order])
        ptr, order = np.searchsorted(pos, ptr).astype(ptr.dtype), order[pos]
        gathered = (gathered[0][pos], gathered[1][pos])
    nodes, lo, hi = bursts(ptr, order, other, this, g.ts, mask, skip, int(window_us), int(min_count), distinct,
                           scratch, gathered, None, nodes)
    # every run's unmasked edges in one array, then one slice per run (tens of thousands of runs)
    lengths = hi - lo + 1
    e = order[spans(lo, hi + 1)]
    keep = mask[e] & (other[e] != this[e])
    ends = np.cumsum(np.add.reduceat(keep.astype(np.int64), np.cumsum(lengths) - lengths)) if lengths.size else lengths
    e = e[keep]
    return [(v, e[b - n:b]) for v, n, b in zip(nodes.tolist(), np.diff(ends, prepend=0).tolist(), ends.tolist(),
                                               strict=True)]


def rescanned(bursts: list[tuple[int, np.ndarray]], again: list[tuple[int, np.ndarray]], touched: np.ndarray
              ) -> tuple[list[tuple[int, np.ndarray]], np.ndarray, np.ndarray]:
    """``bursts`` of a whole pass with those of the ``touched`` nodes replaced by ``again`` (found anew for just
    those nodes), in node order as a whole pass lists them; also which of ``bursts`` were kept, and the order
    that puts the kept ones followed by ``again`` in node order (for arrays that go with the bursts)."""
    node = np.array([v for v, _ in bursts], np.int64)
    keep = np.flatnonzero(~np.isin(node, touched))
    merged = [bursts[i] for i in keep.tolist()] + again
    order = np.argsort(np.array([v for v, _ in merged], np.int64), kind="stable")  # a node's bursts stay together
    return [merged[i] for i in order.tolist()], keep, order


def counterparties(g: TransferGraph, node: int, edges: np.ndarray) -> np.ndarray:
    """The other end of each edge, seen from ``node``."""
    return np.where(g.src[edges] == node, g.dst[edges], g.src[edges])
