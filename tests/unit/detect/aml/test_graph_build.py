"""Building the transfer graph: party interning straight from Arrow buffers (chunked and sliced columns,
nulls, duplicates, several string types) against a plain-Python reference, and the whole graph's party
arrays against the semantics graph.py documents."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from harbour.detect.aml.graph import build_graph
from harbour.detect.aml.interning import csr_order, intern_columns, prefix_in, take_strings


def reference_ids(values: list[Any]) -> tuple[list[int], list[int]]:
    """Ids in order of first appearance (nulls are one value) and the first row of each id."""
    ids: dict[Any, int] = {}
    firsts = []
    codes = []
    for row, v in enumerate(values):
        if v not in ids:
            ids[v] = len(ids)
            firsts.append(row)
        codes.append(ids[v])
    return codes, firsts


def chunked(values: list[Any], cuts: list[int], typ: pa.DataType = pa.string()) -> pa.ChunkedArray:
    """``values`` cut into chunks at ``cuts``; every chunk a slice of a larger array (non-zero offset)."""
    bounds = [0, *cuts, len(values)]
    chunks = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        padded = pa.array(["pad"] + values[a:b] + ["pad"], typ)
        chunks.append(padded.slice(1, b - a))
    return pa.chunked_array(chunks, typ)


def parties(rng: np.random.Generator, n: int, distinct: int) -> list[Any]:
    """Party-like strings of many lengths (0 to 60 bytes: whole words, tails, short strings), some null."""
    pool = [f"{rng.choice(['HBX', 'eth', 'btc', 'K:L'])}:{'x' * int(rng.integers(0, 50))}{i}" for i in range(distinct)]
    pool += ["", "a", "HBX", "é€", "eth:0x" + "0" * 40, "eth:0x" + "0" * 39 + "1"]
    values: list[Any] = [pool[i] for i in rng.integers(0, len(pool), n)]
    for i in rng.integers(0, n, n // 50):
        values[i] = None
    return values


@pytest.mark.parametrize("typ", [pa.string(), pa.large_string()])
@pytest.mark.parametrize(("n", "distinct"), [(1, 1), (2_000, 300), (90_000, 40_000)])
def test_intern_columns_numbers_parties_by_first_appearance(typ: pa.DataType, n: int, distinct: int) -> None:
    rng = np.random.default_rng(n)
    first, second = parties(rng, n, distinct), parties(rng, n // 2 + 1, distinct)
    cols = [chunked(first, sorted({n // 3, n // 2} - {0})), chunked(second, [], typ)]
    both = first + second
    codes, firsts = intern_columns(cols)
    want_codes, want_firsts = reference_ids(both)
    assert codes.tolist() == want_codes
    assert firsts.tolist() == want_firsts
    strings = take_strings(cols, firsts)
    assert strings.to_pylist() == [both[r] for r in want_firsts]
    assert strings.null_count == (None in both)


def test_intern_columns_separates_lookalike_strings() -> None:
    """Strings one byte apart, at every position of the whole words and of the tail, keep their own ids."""
    base = "eth:0x" + "7" * 37
    values = [base[:k] + c + base[k + 1:] for k in range(len(base)) for c in "0123456789abcdef"]
    values += [base[:k] for k in range(len(base) + 1)] + [base + "\x00", "\x00"]
    codes, firsts = intern_columns([pa.array(values)])
    assert codes.tolist() == reference_ids(values)[0]
    assert len(firsts) == len(set(values))


def test_intern_columns_reads_other_string_types_as_their_text() -> None:
    values = ["HBX:1", "eth:0xab", "HBX:1", "KLN:22", "eth:0xab"]
    plain, _ = intern_columns([pa.array(values)])
    for col in (pa.array(values).dictionary_encode(), pa.array(values, pa.string_view())):
        codes, firsts = intern_columns([col])
        assert codes.tolist() == plain.tolist()
        assert take_strings([col], firsts).to_pylist() == ["HBX:1", "eth:0xab", "KLN:22"]


def test_prefix_in_matches_the_text_before_the_first_colon() -> None:
    strings = pa.array(["HBX:1", "HBX", "HBXX:1", "KLN:a:b", "eth:0x1", "", None, ":x", "K:L:1"])
    names = pa.array(["KLN", "HBX", "", "K:L"])
    # "" names the empty prefix (":x", "") and "K:L" holds a ':' so no prefix can equal it
    assert prefix_in(strings, names).tolist() == [1, 1, -1, 0, -1, 2, -1, 2, -1]


@pytest.mark.parametrize(("m", "n"), [(0, 0), (0, 5), (1, 1), (5_000, 3), (60_000, 50_000), (30_000, 3_000_000)])
def test_csr_order_is_a_stable_sort_by_key(m: int, n: int) -> None:
    rng = np.random.default_rng(m + n)
    keys = (rng.zipf(1.3, m) * 7_919 % n if n else np.zeros(0)).astype(np.int64)
    other = rng.integers(0, 1 << 40, m)
    ts = np.sort(rng.integers(0, 1 << 50, m))
    value = rng.lognormal(5, 2, m)
    order, ptr, other_o, ts_o, value_o = csr_order(keys, n, other, ts, value)
    want = np.argsort(keys, kind="stable")
    assert order.tolist() == want.tolist()
    assert ptr.tolist() == np.concatenate(([0], np.cumsum(np.bincount(keys, minlength=n)))).tolist()
    assert other_o.tolist() == other[want].tolist() and ts_o.tolist() == ts[want].tolist()
    assert value_o.tolist() == value[want].tolist()


def reference_graph(from_party: list[Any], to_party: list[Any], venues: list[str], accounts: dict[str, list[Any]]
                    ) -> dict[str, list[Any]]:
    """graph.py's documented semantics written the obvious way (transfers already in time order)."""
    codes, firsts = reference_ids(from_party + to_party)
    names = [(from_party + to_party)[r] for r in firsts]
    n = len(names)
    key_row: dict[str, int] = {}
    for j, (v, a) in enumerate(zip(accounts["venue"], accounts["account"], strict=True)):
        key_row.setdefault(f"{v}:{a}", j)
    known = set(venues) | set(accounts["venue"])
    party_venue = []
    for p in names:
        if p in key_row:
            party_venue.append(accounts["venue"][key_row[p]])
        else:
            prefix = None if p is None else p.split(":", 1)[0]
            party_venue.append(prefix if prefix in known else "")
    node = list(range(n))
    first_of_customer: dict[str, int] = {}
    for pid, p in enumerate(names):
        if p in key_row:
            node[pid] = first_of_customer.setdefault(accounts["customer_id"][key_row[p]], pid)
    flags = {"is_account": [False] * n, "institutional": [False] * n, "corporate": [False] * n}
    for pid, p in enumerate(names):
        kind = accounts["account_type"][key_row[p]] if p in key_row else ""
        flags["is_account"][node[pid]] |= party_venue[pid] != ""
        flags["institutional"][node[pid]] |= kind in ("house", "market_maker")
        flags["corporate"][node[pid]] |= kind == "corporate"
    m = len(from_party)
    return {"parties": names, "party_venue": party_venue, "party_node": node, "src_party": codes[:m],
            "dst_party": codes[m:], "src": [node[c] for c in codes[:m]], "dst": [node[c] for c in codes[m:]], **flags}


def test_build_graph_matches_the_plain_reference() -> None:
    rng = np.random.default_rng(7)
    n_acc = 3_000
    acc_venue = [["HBX", "KLN", "V:X"][i] for i in rng.integers(0, 3, n_acc)]
    accounts = {"venue": acc_venue, "account": [f"{i % 2_500}" for i in range(n_acc)],  # some keys twice
                "customer_id": [f"C{i}" for i in rng.integers(0, 2_200, n_acc)],
                "account_type": [["individual", "corporate", "house", "market_maker"][i]
                                 for i in rng.choice(4, n_acc, p=[0.85, 0.1, 0.03, 0.02])]}
    keys = [f"{v}:{a}" for v, a in zip(accounts["venue"], accounts["account"], strict=True)]
    pool = keys[:2_500] + [f"eth:0x{i:040x}" for i in range(3_000)] + ["KLN:unlisted", "HBX", "VCT:9"]
    rows = 40_000
    from_party = [pool[i] for i in rng.integers(0, len(pool), rows)]
    to_party = [pool[i] for i in rng.integers(0, len(pool), rows)]
    venues = [["HBX", "KLN"][i] for i in rng.integers(0, 2, rows)]
    transfers = pa.table({
        "venue": chunked(venues, [7_000]), "transfer_id": pa.array([f"T{i}" for i in range(rows)]),
        "ts": pa.array(np.arange(rows) * 1_000_000, pa.timestamp("us", tz="UTC")),
        "usd_value": pa.array(rng.random(rows) * 1e4),
        "kind": pa.array([["deposit", "withdrawal", "internal", "onchain"][i] for i in rng.integers(0, 4, rows)]),
        "from_party": chunked(from_party, [1, 20_000, 33_333]),
        "to_party": chunked(to_party, [5_000], pa.large_string()),
    })
    acc_table = pa.Table.from_batches(pa.table(accounts).to_batches(max_chunksize=1_000))
    g = build_graph(transfers, acc_table)
    want = reference_graph(from_party, to_party, venues, accounts)
    assert g.parties.tolist() == want["parties"]
    assert g.party_venue.tolist() == want["party_venue"]
    for name in ("party_node", "src_party", "dst_party", "src", "dst", "is_account", "institutional", "corporate"):
        assert getattr(g, name).tolist() == want[name], name
    assert g.n_nodes == len(want["parties"])
    # the out-order lists each node's edges in time (= row) order
    assert g.out_order.tolist() == sorted(range(rows), key=lambda e: (g.src[e], e))
    assert g.in_ptr[-1] == rows and g.in_order.tolist() == sorted(range(rows), key=lambda e: (g.dst[e], e))


def test_build_graph_without_accounts_links_nothing() -> None:
    from_party = ["HBX:1", "eth:0xa", "HBX:1", "KLN:2"]
    to_party = ["eth:0xa", "KLN:2", "btc:bc1", "HBX:1"]
    transfers = pa.table({
        "venue": ["HBX", "HBX", "HBX", "KLN"], "transfer_id": ["a", "b", "c", "d"],
        "ts": pa.array([1, 2, 3, 4], pa.timestamp("us", tz="UTC")), "usd_value": [1.0, 2.0, 3.0, 4.0],
        "kind": ["withdrawal", "deposit", "withdrawal", "internal"], "from_party": from_party, "to_party": to_party,
    })
    g = build_graph(transfers, None)
    assert g.parties.tolist() == ["HBX:1", "eth:0xa", "KLN:2", "btc:bc1"]
    assert g.party_venue.tolist() == ["HBX", "", "KLN", ""]
    assert g.party_node.tolist() == [0, 1, 2, 3]
    assert g.src.tolist() == [0, 1, 0, 2] and g.dst.tolist() == [1, 2, 3, 0]


def test_build_graph_names_the_accounts_columns_it_lacks() -> None:
    from harbour.core.errors import Invalid

    transfers = pa.table({
        "venue": ["HBX"], "transfer_id": ["a"], "ts": pa.array([1], pa.timestamp("us", tz="UTC")),
        "usd_value": [1.0], "kind": ["withdrawal"], "from_party": ["HBX:1"], "to_party": ["eth:0xa"],
    })
    accounts = pa.table({"venue": ["HBX"], "account": ["1"]})  # no customer_id
    with pytest.raises(Invalid, match=r"accounts table lacks column\(s\) \['customer_id'\]"):
        build_graph(transfers, accounts)
