"""sanctions_exposure: the share of an account's value received from, or sent to, addresses on
configurable lists (sanctioned, mixers, alert-list platforms, attribution tags) — directly, or within
N hops through other parties (each hop later than the previous and within a window) — with the path as
evidence. Indirect hops run through outside wallets, not through another platform account (a custodial
account pools funds, so the trace stops there; that account is alerted for its own exposure).

Lists are CSV files (``lists`` in the config): a header row with an ``address`` column (or ``wallet``),
optionally ``chain`` (else the address is written ``chain:address``) and ``name``/``label``. Addresses
are compared after normalising each chain's format: EVM hex (``0x…``) and bech32 (``bc1…``) are case
-insensitive and compared lower-case; base58 (Bitcoin legacy, Tron, Solana) is case-sensitive and kept
as is.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field

from harbour.core.errors import Invalid
from harbour.detect.aml.base import (
    EPOCH,
    GraphDetector,
    Pattern,
    add_alert,
    fmt_span,
    fmt_usd,
    hours,
    node_name,
)
from harbour.detect.aml.graph import TransferGraph, cached, graph_for, table_key
from harbour.detect.aml.kernels import followers, node_totals, precedents, spans
from harbour.detect.framework import AlertBuilder, Partition, register

BECH32 = re.compile(r"^[a-z]{1,83}1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{6,}$")
ADDRESS_COLUMNS = ("address", "wallet", "addr")
NAME_COLUMNS = ("name", "label", "entity", "tag")


class AddressList(BaseModel):
    path: str = Field(description="CSV file with an address column")
    category: str = Field("sanctioned", description="sanctioned, mixer, alert_platform, tag, ...")


class ExposureConfig(BaseModel):
    lists: list[AddressList] = Field(default_factory=list, description="address lists; empty = the lists found "
                                     "in the lake's reference/ folder (the generator writes one there)")
    max_hops: int = Field(2, ge=1, le=6, description="1 = direct only; N = through up to N-1 other parties")
    hop_hours: float = Field(72.0, gt=0, description="latest next hop after the previous one")
    min_direct_usd: float = Field(1.0, ge=0, description="any direct exposure of at least this value alerts")
    min_indirect_share: float = Field(0.25, ge=0, le=1,
                                      description="indirect exposure alerts at this share of the account's value")
    min_indirect_usd: float = Field(1_000.0, ge=0, description="indirect exposure of at least this value alerts "
                                    "too, whatever the account's other (possibly large) activity")
    follow_cap: int = Field(20, ge=1, description="onward transfers followed per hop and transfer")
    through_accounts: bool = Field(False, description="trace exposure on through a platform account (default: "
                                   "no; a custodial account pools its customers' funds, so tracing stops there as "
                                   "chain analytics stop at a service, and that account is alerted for its own "
                                   "exposure)")


def normalise_address(chain: str, address: str) -> str:
    """``chain:address`` in the canonical form used for matching."""
    chain = chain.strip().lower()
    a = address.strip()
    low = a.lower()
    if low.startswith("0x") or (BECH32.match(low) and (a == low or a == a.upper())):
        a = low
    return f"{chain}:{a}"


def read_list(path: Path) -> dict[str, str]:
    """Normalised ``chain:address`` -> entry name, from one CSV list."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = {c.lower().strip(): c for c in reader.fieldnames or []}
            addr_col = next((cols[c] for c in ADDRESS_COLUMNS if c in cols), None)
            if addr_col is None:
                raise Invalid(f"address list {path}: no address column (expected one of {ADDRESS_COLUMNS}); "
                              f"found {list(cols)}", field="lists")
            chain_col = cols.get("chain") or cols.get("network")
            name_col = next((cols[c] for c in NAME_COLUMNS if c in cols), None)
            out: dict[str, str] = {}
            for i, row in enumerate(reader, start=2):
                raw = (row.get(addr_col) or "").strip()
                if not raw:
                    continue
                chain = (row.get(chain_col) or "").strip() if chain_col else ""
                prefix, sep, rest = raw.partition(":")
                if sep and (not chain or prefix.lower() == chain.lower()):
                    chain, raw = prefix, rest  # written chain:address (with or without a chain column)
                if not chain:
                    chain, sep, raw = raw.partition(":")
                    if not sep:
                        raise Invalid(f"address list {path}, row {i}: address {raw!r} has no chain; add a chain "
                                      "column or write it as chain:address", field="lists")
                out[normalise_address(chain, raw)] = (row.get(name_col) or "").strip() if name_col else ""
            return out
    except OSError as exc:
        raise Invalid(f"address list {path} cannot be read: {exc}", field="lists") from exc


def default_lists(lake_root: Path | None = None) -> list[AddressList]:
    """Lists in ``<lake_root>/reference/`` whose file name says what they are (the configured lake when
    no root is given)."""
    from harbour.core.config import Settings

    ref = Path(lake_root if lake_root is not None else Settings().lake_root) / "reference"
    out = []
    for p in sorted(ref.glob("*.csv")) if ref.is_dir() else []:
        stem = p.stem.lower()
        for word, category in (("sanction", "sanctioned"), ("mixer", "mixer"), ("alert", "alert_platform"),
                               ("tag", "tag"), ("attribution", "tag")):
            if word in stem:
                out.append(AddressList(path=str(p), category=category))
                break
    return out


def listed_parties(g: TransferGraph, lists: dict[str, dict[str, str]]) -> dict[int, tuple[str, str]]:
    """party id -> (category, entry name) for parties on any list."""
    entries = {a: (cat, name) for cat, lst in lists.items() for a, name in lst.items()}
    if not entries:
        return {}
    # Whatever matches, exactly or lowered, equals an entry once lower-cased whole: one lower + one lookup
    # over all parties keeps only those (and parties without a ':', spelled oddly) for the full test below.
    # Millions of parties -> a handful, so the splits and regexes run on a handful.
    everything = g.parties.arr
    lower_keys = pc.utf8_lower(pa.array(list(entries), pa.string()))
    maybe = pc.or_(pc.is_in(pc.utf8_lower(everything), value_set=lower_keys),
                   pc.invert(pc.match_substring(everything, ":")))
    subset = np.flatnonzero(np.asarray(maybe.fill_null(False).to_numpy(zero_copy_only=False)))
    parties = everything.take(pa.array(subset))
    chain = pc.utf8_lower(pc.list_element(pc.split_pattern(parties, ":", max_splits=1), 0))
    rest = pc.replace_substring_regex(parties, pattern="^[^:]*:", replacement="")
    exact = pc.binary_join_element_wise(chain, rest, ":")
    lowered = pc.binary_join_element_wise(chain, pc.utf8_lower(rest), ":")
    keys = pa.array(list(entries), pa.string())
    hit = pc.or_(pc.is_in(exact, value_set=keys), pc.is_in(lowered, value_set=keys))
    out = {}
    for p in np.flatnonzero(np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False))).tolist():
        e = str(exact[p]) if str(exact[p]) in entries else str(lowered[p])
        out[int(subset[p])] = entries[e]
    return out


def _propagate(g: TransferGraph, seeds: np.ndarray, forward: bool, cfg: ExposureConfig, listed: np.ndarray
               ) -> tuple[list[np.ndarray], dict[int, int]]:
    """Edges reached hop by hop from the seed edges, and each reached edge's parent edge (-1 for seeds)."""
    # a few thousand edges are reached out of millions: a dict of parents, and a mask that numpy leaves
    # untouched (zeroed pages) except where it is set, instead of a parent slot for every edge
    reached = np.zeros(g.n_edges, bool)
    reached[seeds] = True
    parent = dict.fromkeys(seeds.tolist(), -1)
    hops = [seeds]
    usable = np.ones(g.n_edges, bool)
    frontier = seeds
    for _ in range(cfg.max_hops - 1):
        if not cfg.through_accounts:
            # hops run through outside wallets only: a venue account pools its customers' funds
            frontier = frontier[~g.is_account[g.dst[frontier] if forward else g.src[frontier]]]
        if frontier.size == 0:
            break
        if forward:
            idx, nxt = followers(frontier, g.out_ptr, g.out_order, g.src, g.dst, g.ts, usable,
                                 hours(cfg.hop_hours), cfg.follow_cap, g.csr_view(False))
            ok = ~listed[g.dst[nxt]]
        else:
            idx, nxt = precedents(frontier, g.in_ptr, g.in_order, g.src, g.dst, g.ts, usable,
                                  hours(cfg.hop_hours), cfg.follow_cap)
            ok = ~listed[g.src[nxt]]
        idx, nxt = idx[ok], nxt[ok]
        new = ~reached[nxt]
        nxt, idx = nxt[new], idx[new]
        nxt, first = np.unique(nxt, return_index=True)
        reached[nxt] = True
        parent.update(zip(nxt.tolist(), frontier[idx[first]].tolist(), strict=True))
        hops.append(nxt)
        frontier = nxt
    return hops, parent


def _path(g: TransferGraph, e: int, parent: dict[int, int]) -> list[int]:
    out = [e]
    while parent[out[-1]] >= 0:
        out.append(int(parent[out[-1]]))
    return out


def _seeds(g: TransferGraph, listed: np.ndarray, forward: bool) -> np.ndarray:
    """Edges from (forward) or to a listed node whose other end is not listed, in edge order: read through
    the listed nodes' CSR ranges (a few thousand nodes), not tested over every edge."""
    ptr, order, other = (g.out_ptr, g.out_order, g.dst) if forward else (g.in_ptr, g.in_order, g.src)
    nodes = np.flatnonzero(listed)
    e = order[spans(ptr[nodes], ptr[nodes + 1])]
    return np.sort(e[~listed[other[e]]])


def find(g: TransferGraph, cfg: ExposureConfig, lists: dict[str, dict[str, str]]) -> list[Pattern]:
    hits = listed_parties(g, lists)
    if not hits:
        return []
    listed_party = np.zeros(len(g.parties), bool)
    listed_party[list(hits)] = True
    listed = np.zeros(g.n_nodes, bool)
    listed[g.party_node[listed_party]] = True
    fwd_hops, fwd_parent = _propagate(g, _seeds(g, listed, True), True, cfg, listed)
    bwd_hops, bwd_parent = _propagate(g, _seeds(g, listed, False), False, cfg, listed)
    is_account = g.is_account & ~g.institutional & ~listed
    # exposure edges per account node: (edge, hop, direction)
    rows: dict[int, list[tuple[int, int, bool]]] = {}
    for forward, hop_list in ((True, fwd_hops), (False, bwd_hops)):
        for h, edges in enumerate(hop_list, start=1):
            nodes = g.dst[edges] if forward else g.src[edges]
            for e, v in zip(edges[is_account[nodes]].tolist(), nodes[is_account[nodes]].tolist(), strict=True):
                rows.setdefault(v, []).append((e, h, forward))
    # each exposed account's value, in and out, self-transfers aside (summed in edge order, as a bincount
    # over every edge would): only for these accounts, read through the CSR
    exposed = np.fromiter(rows, np.int64, len(rows))
    total = dict(zip(rows, node_totals(exposed, g.out_ptr, g.out_order, g.csr_view(False)[0], g.in_ptr,
                                       g.in_order, g.csr_view(True)[0], g.usd), strict=True))
    out = []
    for v, items in rows.items():
        direct = sum(g.usd[e] for e, h, _ in items if h == 1)
        indirect = sum(g.usd[e] for e, h, _ in items if h > 1)
        share = min(1.0, (direct + indirect) / total[v]) if total[v] > 0 else 0.0
        material = indirect > 0 and (share >= cfg.min_indirect_share or indirect >= cfg.min_indirect_usd)
        if direct < cfg.min_direct_usd and not material:
            continue
        if direct < cfg.min_direct_usd and indirect <= 0:
            continue
        out.append(_pattern(g, v, items, fwd_parent, bwd_parent, hits, direct, indirect, share))
    return out


def _pattern(g: TransferGraph, v: int, items: list[tuple[int, int, bool]], fwd_parent: dict[int, int],
             bwd_parent: dict[int, int], hits: dict[int, tuple[str, str]], direct: float, indirect: float,
             share: float) -> Pattern:
    paths = [(_path(g, e, fwd_parent if fw else bwd_parent), fw) for e, _, fw in items]
    edges = np.unique(np.concatenate([np.array(p) for p, _ in paths]))
    path, fw = min(paths, key=lambda x: len(x[0]))
    ends = g.src_party[path[-1]] if fw else g.dst_party[path[-1]]
    category, entry = hits.get(int(ends), ("listed", ""))
    hop_names = [g.parties[g.src_party[e]] for e in reversed(path)] + [g.parties[g.dst_party[path[0]]]] if fw else \
        [g.parties[g.src_party[path[0]]]] + [g.parties[g.dst_party[e]] for e in path]
    who = f"{category} address {g.parties[ends]}" + (f" ({entry})" if entry else "")
    verb = "received from" if fw else "sent to"
    text = (f"account {node_name(g, v, edges)} {verb} {who}: {fmt_usd(direct)} directly and {fmt_usd(indirect)} "
            f"through other parties, {share:.0%} of its value, {fmt_span(g, edges)}; path "
            + " -> ".join(hop_names))
    return Pattern("sanctions_exposure", v, np.array([v]), edges, max(share, 0.5 if direct > 0 else share), text)


class SanctionsExposureDetector(GraphDetector):
    name = "aml_sanctions_exposure"
    version = "1.0"
    typology = "sanctions_exposure"
    config_model = ExposureConfig
    description = "Value received from or sent to listed addresses, directly or within N hops."
    lookback_hours = 72.0

    def bind_to_lake(self, config: ExposureConfig, lake_root: Path | None) -> ExposureConfig:
        # The lists in the lake being read, fixed before the run so every worker (and Spark) sees them.
        if config.lists or lake_root is None:
            return config
        return config.model_copy(update={"lists": default_lists(lake_root)})

    def kernel(self, part: Partition, config: ExposureConfig) -> pa.Table:
        transfers = part.tables["transfers"]
        out = AlertBuilder(self)
        sources = config.lists or default_lists()
        if transfers.num_rows == 0 or not sources:
            return out.to_table()
        lists: dict[str, dict[str, str]] = {}
        for src in sources:
            lists.setdefault(src.category, {}).update(read_list(Path(src.path)))
        g = graph_for(transfers, part.broadcast.get("accounts"))
        key = ("exposure", table_key(transfers), config.model_dump_json())
        patterns = cached(key, g, lambda: find(g, config, lists))
        start_us = int((part.window.start - EPOCH).total_seconds() * 1_000_000) if part.window.start else None
        for p in patterns:
            if start_us is None or int(g.ts[p.edges].max()) >= start_us:
                add_alert(out, g, p)
        return out.to_table()


register(SanctionsExposureDetector())
