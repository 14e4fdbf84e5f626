"""The AML miner's fast paths give what the plain numpy they replaced gives, on random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from harbour.detect.aml.kernels import busiest_windows, node_totals, run_hops
from harbour.detect.aml.scatter_gather import _distinct_triples


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
