"""The temporal transfer graph every AML typology reads.

Parties (``venue:account`` or ``chain:address``) are interned to integers once; accounts that belong to
one customer (the ``accounts`` table's ``customer_id``) on any venue collapse into one *node*, so money
that leaves a customer's account on one venue and arrives at the same customer's account on another is
seen as one actor. Edges are transfers; a transfer between two accounts of one customer is a self-loop
and is kept out of the pattern search (it moves no money between actors).

Arrays are numpy so numba kernels can walk them: ``src``/``dst`` node ids, ``ts`` in microseconds,
``usd`` value, ``row`` (index into the transfers table). ``out_order``/``in_order`` sort edges by
(node, ts) with CSR pointers ``out_ptr``/``in_ptr``.

Example::

    g = build_graph(transfers, accounts)
    g.out_edges(node)  # edge indices sorted by time
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harbour.core.errors import Invalid
from harbour.core.memory import small_pages

REQUIRED_COLUMNS = ("venue", "transfer_id", "ts", "usd_value", "kind", "from_party", "to_party")
# Exchange-owned wallets (hot/omnibus) and market makers send and receive from crowds by design; they
# are never the centre of a laundering pattern in the graph typologies.
INSTITUTIONAL_TYPES = ("house", "market_maker")
KIND_CODES = {"deposit": 0, "withdrawal": 1, "internal": 2, "onchain": 3}


@dataclass
class TransferGraph:
    transfers: pa.Table
    parties: LazyStrings  # party id -> party string
    party_node: np.ndarray  # party id -> node id
    party_venue: LazyStrings  # party id -> venue string if the party is a venue account, else ""
    institutional: np.ndarray  # node id -> bool (house / market-maker account)
    is_account: np.ndarray  # node id -> bool (a customer account on a venue, not a bare chain address)
    corporate: np.ndarray  # node id -> bool (a corporate customer)
    n_nodes: int
    src: np.ndarray
    dst: np.ndarray
    src_party: np.ndarray
    dst_party: np.ndarray
    ts: np.ndarray
    usd: np.ndarray
    kind: np.ndarray  # int8 codes of KIND_CODES, -1 unknown
    row_venue: LazyStrings  # venue column of each edge
    transfer_ids: LazyStrings
    out_order: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    out_ptr: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    in_order: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    in_ptr: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    window_start_us: int | None = None
    _csr_views: dict[bool, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    _csr_usd: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list, repr=False)

    @property
    def n_edges(self) -> int:
        return int(self.src.shape[0])

    def out_edges(self, node: int) -> np.ndarray:
        return self.out_order[self.out_ptr[node]:self.out_ptr[node + 1]]

    def in_edges(self, node: int) -> np.ndarray:
        return self.in_order[self.in_ptr[node]:self.in_ptr[node + 1]]

    def csr_view(self, incoming: bool) -> tuple[np.ndarray, np.ndarray]:
        """(counterparty, time) of each position of the in- or out-order, gathered once per graph: the burst
        kernels slide over them in sequence (every burst search of a mining pass shares them)."""
        if incoming not in self._csr_views:
            order, other = (self.in_order, self.src) if incoming else (self.out_order, self.dst)
            self._csr_views[incoming] = (other[order], self.ts[order])
        return self._csr_views[incoming]

    def csr_usd(self) -> tuple[np.ndarray, np.ndarray]:
        """(usd[in_order], usd[out_order]), gathered once per graph: cycles and peel chains both read values
        in CSR order (two random gathers of the whole table each, else)."""
        if not self._csr_usd:
            from harbour.detect.aml.kernels import together

            self._csr_usd.append(tuple(together(lambda: self.usd[self.in_order],  # type: ignore[arg-type]
                                                lambda: self.usd[self.out_order])))
        return self._csr_usd[0]


def _check_columns(transfers: pa.Table) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in transfers.column_names]
    if missing:
        raise Invalid(f"transfers table lacks column(s) {missing}; the transfers contract (DESIGN.md) requires "
                      f"{list(REQUIRED_COLUMNS)}", field="transfers", details={"missing": missing})


def _ts_us(col: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_timestamp(col.type) and col.type.unit != "us":
        col = col.cast(pa.timestamp("us", tz=col.type.tz))
    return np.asarray(col.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


class LazyStrings:
    """Arrow strings indexed like a numpy array, converted to Python only for the rows asked for (a few
    thousand pattern rows out of millions)."""

    def __init__(self, arr: pa.Array | pa.ChunkedArray) -> None:
        self.arr = arr

    def __len__(self) -> int:
        return len(self.arr)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, int | np.integer):
            return self.arr[int(idx)].as_py()
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return np.asarray(self.arr.take(pa.array(idx.astype(np.int64))).to_pylist(), dtype=object)

    def tolist(self) -> list[Any]:
        return self.arr.to_pylist()  # type: ignore[no-any-return]


def _strings(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A party column as strings: string columns are read in place, others are cast."""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col
    return col.cast(pa.large_string())


def _bools(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _account_keys(accounts: pa.Table | None) -> pa.ChunkedArray | None:
    """``venue:account`` of each account: the party string its transfers carry."""
    if accounts is None or accounts.num_rows == 0:
        return None
    return pc.binary_join_element_wise(accounts["venue"].cast(pa.string()), accounts["account"].cast(pa.string()),
                                       ":")


def _account_of(parties: pa.Array, keys: pa.Array, key_ids: np.ndarray) -> np.ndarray:
    """Per party, the first account row whose key is the party (``pc.index_in``), -1 if none: read from the
    keys' ids (interned with the parties) and checked string by string on the matches; a hash collision, or
    nulls (which index_in matches to each other), take the plain path."""
    from harbour.detect.aml.interning import all_equal, first_rows

    if not (parties.null_count or keys.null_count):
        pos = first_rows(key_ids, len(parties))
        hit = np.flatnonzero(pos >= 0)
        if all_equal(parties, hit, keys, pos[hit]):
            return pos
    return np.asarray(pc.index_in(parties, value_set=keys).fill_null(-1).to_numpy(zero_copy_only=False), np.int64)


class _Accounts(NamedTuple):
    """What party linking reads from the accounts table, per account row."""

    venue: pa.Array
    customer: np.ndarray  # customer code
    n_customers: int
    institutional: np.ndarray | None  # None without an account_type column
    corporate: np.ndarray | None


ACCOUNT_COLUMNS = ("venue", "account", "customer_id")


def _account_columns(accounts: pa.Table | None) -> _Accounts | None:
    if accounts is None or accounts.num_rows == 0:
        return None
    missing = [c for c in ACCOUNT_COLUMNS if c not in accounts.column_names]
    if missing:  # customers are linked through these; a KeyError deep in the build would name no table
        raise Invalid(f"accounts table lacks column(s) {missing}; linking a customer's accounts needs "
                      f"{list(ACCOUNT_COLUMNS)}", field="accounts", details={"missing": missing})
    cust = accounts["customer_id"].combine_chunks().dictionary_encode()
    institutional = corporate = None
    if "account_type" in accounts.column_names:
        types = accounts["account_type"].combine_chunks()
        institutional = _bools(pc.is_in(types, value_set=pa.array(INSTITUTIONAL_TYPES)))
        corporate = _bools(pc.equal(types, "corporate"))
    return _Accounts(accounts["venue"].combine_chunks().cast(pa.string()),
                     np.asarray(cust.indices.to_numpy(zero_copy_only=False)), len(cust.dictionary), institutional,
                     corporate)


def _customer_nodes(parties: pa.Array, acc: _Accounts | None, venue_names: pa.Array, keys: pa.ChunkedArray | None,
                    key_ids: np.ndarray) -> tuple[np.ndarray, pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """party -> node (min party id of the same customer), party -> venue ("" for chain addresses),
    party -> has a venue, party -> institutional, party -> corporate. ``keys``: the accounts' party strings
    (see ``_account_keys``), ``key_ids``: their party ids (>= the number of parties if none)."""
    from harbour.detect.aml.interning import index_of, prefix_in

    n_parties = len(parties)
    node = np.arange(n_parties, dtype=np.int64)
    institutional = np.zeros(n_parties, dtype=bool)
    corporate = np.zeros(n_parties, dtype=bool)
    # Parties spelled venue:account belong to that venue even when the accounts table lacks them.
    known = venue_names
    if acc is not None:
        known = pc.unique(pa.concat_arrays([venue_names, acc.venue]))
    names = known.drop_null()
    which = prefix_in(parties, names)  # party -> index into names, -1 for none
    if acc is not None and keys is not None:
        pos = _account_of(parties, keys.combine_chunks(), key_ids)
        party_idx = np.flatnonzero(pos >= 0)
        acc_idx = pos[party_idx]
        if party_idx.size:
            cust_code = acc.customer[acc_idx]
            rep = np.full(acc.n_customers, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(rep, cust_code, party_idx)
            node[party_idx] = rep[cust_code]
            # an account's own venue wins over the party's spelling (a venue whose name holds a ':')
            venue_of = index_of(acc.venue, names)[acc_idx]
            which[party_idx[venue_of >= 0]] = venue_of[venue_of >= 0]
            if acc.institutional is not None and acc.corporate is not None:
                institutional[party_idx] = acc.institutional[acc_idx]
                corporate[party_idx] = acc.corporate[acc_idx]
    party_venue = pc.fill_null(names.take(pa.array(which, mask=which < 0)), "")
    has_venue = np.append(_bools(pc.not_equal(names, "")), False)[which]  # which == -1 reads the False
    return node, party_venue, has_venue, institutional, corporate


def _edge_columns(transfers: pa.Table) -> tuple[pa.ChunkedArray, pa.Array, np.ndarray, np.ndarray]:
    """Venue strings and distinct venues, kind codes, USD values of each edge."""
    from harbour.detect.aml.interning import index_of

    venue_col = transfers["venue"].cast(pa.string())
    kind = index_of(transfers["kind"], pa.array(list(KIND_CODES)), np.int8)
    usd = np.asarray(transfers["usd_value"].to_numpy(zero_copy_only=False), dtype=np.float64)
    # in place unless the array is Arrow's own memory (read-only): one copy of 80 MB less for 10M rows
    return venue_col, pc.unique(venue_col), kind, np.nan_to_num(usd, copy=not usd.flags.writeable)


def build_graph(transfers: pa.Table, accounts: pa.Table | None = None) -> TransferGraph:
    """Intern parties, link customers, order edges by time and index them by sender and receiver."""
    with small_pages():  # about 1.4 GB of fresh arrays on 10M transfers: see core/memory.py
        return _build_graph(transfers, accounts)


def _build_graph(transfers: pa.Table, accounts: pa.Table | None) -> TransferGraph:
    from harbour.detect.aml.interning import csr_order, intern_columns, take_strings
    from harbour.detect.aml.kernels import together

    _check_columns(transfers)
    # columns are combined one by one where numpy needs them; copying the whole table costs seconds
    ts = _ts_us(transfers["ts"])
    if ts.size > 1 and bool((ts[1:] < ts[:-1]).any()):
        # Kernels rely on time order; sort once here rather than in every kernel.
        order = np.argsort(ts, kind="stable")
        transfers = transfers.take(pa.array(order))
        ts = ts[order]
    n = transfers.num_rows
    ends = [_strings(transfers["from_party"]), _strings(transfers["to_party"])]
    keys = _account_keys(accounts)
    # The edge and account columns are read on a thread of their own while the parties are interned on the
    # kernel pool's (all release the GIL): queued on the pool, they would hold up the interning's second half.
    # The accounts' keys are interned after both columns, so the parties' ids are those of the two alone.
    with ThreadPoolExecutor(1, thread_name_prefix="aml-graph") as side:
        columns = side.submit(lambda: (_edge_columns(transfers), _account_columns(accounts)))
        codes, firsts = intern_columns([*ends, *([keys] if keys is not None else [])])
        (venue_col, venues, kind, usd), acc = columns.result()
    n_parties = int(np.searchsorted(firsts, 2 * n))
    parties_arr = take_strings(ends, firsts[:n_parties])
    node_of, party_venue, has_venue, inst_party, corp_party = _customer_nodes(parties_arr, acc, venues, keys,
                                                                              codes[2 * n:])
    corporate = np.zeros(n_parties, dtype=bool)
    corporate[node_of[corp_party]] = True
    src_party, dst_party = codes[:n], codes[n:2 * n]
    institutional = np.zeros(n_parties, dtype=bool)
    institutional[node_of[inst_party]] = True
    is_account = np.zeros(n_parties, dtype=bool)
    is_account[node_of[has_venue]] = True
    src, dst = together(lambda: node_of[src_party], lambda: node_of[dst_party])
    g = TransferGraph(
        transfers=transfers, parties=LazyStrings(parties_arr), party_node=node_of,
        party_venue=LazyStrings(party_venue), institutional=institutional, is_account=is_account,
        corporate=corporate, n_nodes=n_parties, src=src, dst=dst,
        src_party=src_party, dst_party=dst_party, ts=ts, usd=usd, kind=kind,
        row_venue=LazyStrings(venue_col), transfer_ids=LazyStrings(transfers["transfer_id"]),
    )
    # Self-loops (one customer's own accounts) stay in the arrays; kernels skip edges with src == dst.
    # Edges are in time order, so a stable sort by node keeps time order within each node.
    # The (counterparty, time) views every burst search reads, and the values cycles and peel chains read,
    # are written in the same pass.
    (g.out_order, g.out_ptr, dst_o, ts_out, usd_out), (g.in_order, g.in_ptr, src_o, ts_in, usd_in) = together(
        lambda: csr_order(g.src, n_parties, g.dst, g.ts, g.usd),
        lambda: csr_order(g.dst, n_parties, g.src, g.ts, g.usd))
    g._csr_views[False] = (dst_o, ts_out)
    g._csr_views[True] = (src_o, ts_in)
    g._csr_usd.append((usd_in, usd_out))
    return g


# --- a small per-process cache: every AML detector of one run reads the same graph --------------------

_CACHE: OrderedDict[tuple[Any, ...], tuple[pa.Table, Any]] = OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 4


def table_key(table: pa.Table | None) -> tuple[Any, ...]:
    """Identity of an Arrow table's data (same buffers -> same key) without hashing its contents."""
    if table is None:
        return ("none",)
    addr = []
    for name in table.column_names[:3]:
        col = table[name]
        addr.append(tuple(b.address if b is not None else 0 for ch in col.chunks[:1] for b in ch.buffers()))
    return (id(table), table.num_rows, tuple(addr))


def cached(key: tuple[Any, ...], keep: pa.Table, build: Any) -> Any:
    """Memoise ``build()`` under ``key``; ``keep`` is held so the key's addresses stay valid."""
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key][1]
    value = build()
    with _LOCK:
        _CACHE[key] = (keep, value)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def graph_for(transfers: pa.Table, accounts: pa.Table | None) -> TransferGraph:
    key = ("graph", table_key(transfers), table_key(accounts))
    return cached(key, transfers, lambda: build_graph(transfers, accounts))  # type: ignore[no-any-return]
