"""The AML miner's fast paths give what the plain numpy they replaced gives, on random inputs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from harbour.detect.aml.kernels import bursts, busiest_windows, node_totals, run_hops
from harbour.detect.aml.scatter_gather import _distinct_triples
from harbour.detect.aml.travel_rule import _other_venue_party


@pytest.mark.parametrize("n", [0, 1, 7, 5_000])
def test_distinct_triples_match_unique_over_columns(n: int) -> None:
    rng = np.random.default_rng(n)
    run = np.sort(rng.integers(0, max(1, n // 20), n))
    target, mid = rng.integers(0, 30, n), rng.integers(0, 30, n)
    expected = np.unique(np.stack((run, target, mid)), axis=1)
    got = _distinct_triples(run, target, mid, 30)
    assert got.shape == expected.shape and (got == expected).all()


def test_busiest_windows_match_a_search_per_start() -> None:
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 40, 50)
    offs = np.concatenate(([0], np.cumsum(sizes)))
    t = np.concatenate([np.sort(rng.integers(0, 100, k)) for k in sizes])
    lo, n = busiest_windows(t, offs, 10)
    for k in range(sizes.size):
        part = t[offs[k]:offs[k + 1]]
        n_in = np.searchsorted(part, part + 10, side="right") - np.arange(part.size)
        assert lo[k] - offs[k] == int(np.argmax(n_in)) and n[k] == int(n_in.max())


def _csr(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    return np.concatenate(([0], np.cumsum(np.bincount(keys, minlength=n)))), order


def test_node_totals_match_bincounts() -> None:
    rng = np.random.default_rng(2)
    n, m = 30, 400
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    usd = rng.lognormal(5, 2, m)
    out_ptr, out_order = _csr(src, n)
    in_ptr, in_order = _csr(dst, n)
    real = src != dst
    expected = np.bincount(src[real], usd[real], n) + np.bincount(dst[real], usd[real], n)
    nodes = np.arange(n)
    got = node_totals(nodes, out_ptr, out_order, dst[out_order], in_ptr, in_order, src[in_order], usd)
    assert (got == expected).all()  # the same sums in the same order: equal to the last bit


def test_run_hops_match_the_masked_positions() -> None:
    rng = np.random.default_rng(3)
    n, m = 20, 300
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    out_ptr, out_order = _csr(src, n)
    usable, skip = rng.random(m) < 0.8, rng.random(n) < 0.2
    nodes = np.flatnonzero(np.diff(out_ptr) > 0)[::3]  # runs of nodes that pay someone, as bursts give
    lo = out_ptr[nodes] + 1 * (np.diff(out_ptr)[nodes] > 1)  # a run need not start at the node's first edge
    hi = out_ptr[nodes + 1] - 1
    edges, run = run_hops(out_order, dst[out_order], usable, skip, nodes, lo, hi)
    want = [(int(e), k) for k, v in enumerate(nodes) for e in out_order[lo[k]:hi[k] + 1]
            if usable[e] and dst[e] != v and not skip[dst[e]]]
    assert list(zip(edges.tolist(), run.tolist(), strict=True)) == want


def test_burst_marks_match_a_pass_over_the_runs() -> None:
    rng = np.random.default_rng(3)
    n_nodes, n_edges = 60, 3_000
    src, dst = rng.integers(0, n_nodes, n_edges), rng.integers(0, n_nodes, n_edges)
    ts = np.sort(rng.integers(0, 5_000, n_edges))
    mask, skip = rng.random(n_edges) < 0.8, rng.random(n_nodes) < 0.1
    ptr, order = _csr(src, n_nodes)
    for min_count in (2, 4):
        marks = np.zeros(n_edges, bool)
        _, lo, hi = bursts(ptr, order, dst, src, ts, mask, skip, 300, min_count, True,
                           np.zeros(n_nodes, np.int32), None, marks)
        expected = np.zeros(n_edges, bool)
        for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
            e = order[a:b + 1]
            expected[e[mask[e] & (dst[e] != src[e])]] = True
        assert lo.size and (marks == expected).all()


def test_other_venue_party_matches_prefix_tests() -> None:
    rng = np.random.default_rng(4)
    n = 2_000
    spellings = np.array(["HBX:1", "KLN:2", "KLN", "VCT:3", "eth:0xab", "HBXX:4", "HB", "", "X:Y:1"], object)
    venue = pa.array(rng.choice(np.array(["HBX", "KLN", "VCT", "ZZZ"], object), n).tolist())
    parties = [pa.array([None if rng.random() < 0.05 else s for s in rng.choice(spellings, n).tolist()])
               for _ in range(2)]
    table = pa.table({"venue": venue, "from_party": parties[0], "to_party": parties[1]})
    rows = rng.random(n) < 0.6
    venues = ["HBX", "KLN", "X:Y", "VCT"]
    expected = np.zeros(n, bool)
    for v in ("HBX", "KLN", "VCT"):  # the spelled tests of each venue, without ':'
        spelled = np.zeros(n, bool)
        for p in parties:
            spelled |= np.asarray(pc.fill_null(pc.or_(pc.starts_with(p, v + ":"), pc.equal(p, v)), False))
        expected |= spelled & np.asarray(pc.not_equal(venue, v))
    got = _other_venue_party(table, venues, rows)
    assert expected[rows].any() and (got == (expected & rows)).all()


def _runs_by_brute_force(ptr: np.ndarray, order: np.ndarray, other: np.ndarray, ts: np.ndarray, mask: np.ndarray,
                         skip: np.ndarray, window: int, min_count: int) -> list[tuple[int, int, int]]:
    """Every valid position's window [first position within ``window`` before it, it], kept when it holds
    ``min_count`` distinct valid counterparties; overlapping windows of a node merged into runs."""
    out = []
    for v in range(ptr.size - 1):
        if skip[v]:
            continue
        a, b = int(ptr[v]), int(ptr[v + 1])
        t = ts[order[a:b]]
        run: list[int] = []
        for r in range(a, b):
            e = order[r]
            if not mask[e] or other[e] == v:
                continue
            left = a + int(np.searchsorted(t, ts[e] - window, side="left"))
            seen = {int(other[x]) for x in order[left:r + 1] if mask[x] and other[x] != v}
            if len(seen) < min_count:
                continue
            if run and left <= run[1]:
                run[1] = r
            else:
                if run:
                    out.append((v, run[0], run[1]))
                run = [left, r]
        if run:
            out.append((v, run[0], run[1]))
    return out


def test_distinct_bursts_match_brute_force_on_quiet_and_crowded_nodes() -> None:
    # the kernel skips nodes whose edges never crowd min_count into a window: quiet nodes (a few edges a
    # day) and busy ones (bursts) must both give exactly the runs a window-by-window count gives
    rng = np.random.default_rng(7)
    n_nodes, n_edges = 40, 4_000
    src = np.where(rng.random(n_edges) < 0.5, rng.integers(0, 4, n_edges), rng.integers(0, n_nodes, n_edges))
    dst = rng.integers(0, n_nodes, n_edges)
    ts = np.sort(rng.integers(0, 200_000, n_edges))
    mask, skip = rng.random(n_edges) < 0.85, rng.random(n_nodes) < 0.1
    ptr, order = _csr(src, n_nodes)
    for min_count in (3, 5, 9):
        nodes, lo, hi = bursts(ptr, order, dst, src, ts, mask, skip, 2_000, min_count, True,
                               np.zeros(n_nodes, np.int32))
        want = _runs_by_brute_force(ptr, order, dst, ts, mask, skip, 2_000, min_count)
        assert want and list(zip(nodes.tolist(), lo.tolist(), hi.tolist(), strict=True)) == want


@pytest.mark.parametrize("incoming", [False, True])
def test_node_bursts_on_a_sparse_mask_equal_the_full_scan(incoming: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from harbour.detect.aml import base
    from harbour.detect.aml.graph import build_graph
    from harbour.detect.aml.scenarios import Scenario

    sc = Scenario(seed=11)
    sc.background(accounts=30, transfers=6_000)
    transfers, accounts, _ = sc.tables()
    g = build_graph(transfers, accounts)
    rng = np.random.default_rng(5)
    for share in (0.05, 0.12):
        mask = rng.random(g.n_edges) < share
        for distinct, need in ((False, 3), (True, 2), (True, 3)):
            monkeypatch.setattr(base, "SPARSE", 0)  # never sparse: the full scan
            full = base.node_bursts(g, incoming, mask, 48 * 3_600_000_000, need, distinct)
            monkeypatch.setattr(base, "SPARSE", 10**9)  # always sparse
            sparse = base.node_bursts(g, incoming, mask, 48 * 3_600_000_000, need, distinct)
            assert full and [(v, e.tolist()) for v, e in full] == [(v, e.tolist()) for v, e in sparse]


def test_a_mesh_scan_brought_up_to_more_claims_equals_a_scan_under_them() -> None:
    # stack's mesh scan starts before the typologies ahead of it have claimed their transfers; redoing only
    # the nodes the new claims touch must give every flag a whole scan under all the claims gives
    from harbour.detect.aml import layered
    from harbour.detect.aml.graph import build_graph
    from harbour.detect.aml.scenarios import Scenario
    from harbour.detect.aml.stack import StackConfig

    sc = Scenario(seed=12)
    sc.background(accounts=40, transfers=5_000)
    transfers, accounts, _ = sc.tables()
    g = build_graph(transfers, accounts)
    cfg = StackConfig(max_fan=4)
    rng = np.random.default_rng(8)
    early = np.zeros(g.n_edges, bool)
    early[rng.choice(g.n_edges, 50, replace=False)] = True
    before = layered._scan(g, cfg, early)
    for more in (0, 30, 600):
        claimed = early.copy()
        claimed[rng.choice(g.n_edges, more, replace=False)] = True
        want, got = layered._scan(g, cfg, claimed), layered._rescan(g, cfg, before, claimed)
        flags = [(want.usable, got.usable), *zip(want.star, got.star, strict=True),
                 *zip(want.mesh, got.mesh, strict=True)]
        assert all((w == x).all() for w, x in flags)
        changed = sum(int((w != b).sum()) for w, b in zip((*want.star, *want.mesh), (*before.star, *before.mesh),
                                                          strict=True))
        assert (changed > 0) == (more > 0)
    fewer = layered._rescan(g, cfg, before, np.zeros(g.n_edges, bool))  # claims dropped: a whole scan again
    assert (fewer.usable == layered._scan(g, cfg, np.zeros(g.n_edges, bool)).usable).all()
