"""wash_trade's link screen sums each pair of owners in one compiled pass (``_pair_totals``) where numpy's unique with
its inverse and counts sorted the pairs: the same links, in the same order, so the same components, as session 19's
``_link_components`` found them. On random trades with few and many owners, self-trades (left out before), ties of
quantity, zeros of either sign, and configurations that link few or many pairs."""

from __future__ import annotations

import numpy as np
import pytest

import harbour.detect.market.wash_trade as w


def _session19_link_components(c: w._Codes, config: w.WashTradeConfig) -> np.ndarray | None:
    cross = c.buyer != c.seller
    b, s, q = c.buyer[cross], c.seller[cross], c.quantity[cross]
    if b.size == 0:
        return None
    k = c.owners
    owner_vol = np.bincount(b, q, k) + np.bincount(s, q, k)
    pairs, which, n = np.unique(np.minimum(b, s) * k + np.maximum(b, s), return_inverse=True, return_counts=True)
    vol = np.bincount(which, q) * (1 + w._SLACK)
    vol_lo, vol_hi = owner_vol[pairs // k], owner_vol[pairs % k]
    link = ((n >= config.min_edge_trades) & (vol >= config.min_edge_share * np.maximum(vol_lo, vol_hi))
            & (vol * 2 * float(q.sum()) >= config.min_lift * vol_lo * vol_hi))
    if not link.any():
        return None
    lo, hi = (pairs[link] // k).tolist(), (pairs[link] % k).tolist()
    comp = np.full(k, -1, dtype=np.int64)
    for owner, root in w._components(zip(lo, hi, strict=True)).items():
        comp[owner] = root
    return comp


def _codes(rng: np.random.Generator) -> w._Codes:
    owners = int(rng.integers(1, 400))
    n = int(rng.integers(0, 3000))
    hot = rng.integers(0, owners, max(1, owners // 10))  # a few busy owners trade with each other often
    pick = np.where(rng.random((2, n)) < 0.5, rng.choice(hot, (2, n)), rng.integers(0, owners, (2, n)))
    q = rng.choice([0.5, 1.0, 2.25, 0.1, 7.0], n) * rng.choice([1.0, 1.0, 1.0, 1e-3], n)
    q[rng.random(n) < 0.01] = 0.0
    q[rng.random(n) < 0.01] = -0.0
    return w._Codes(pick[0].astype(np.int64), pick[1].astype(np.int64), owners, q, np.arange(n, dtype=np.int64))


@pytest.mark.parametrize("seed", range(10))
def test_links_and_components_are_session19s(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(40):
        c = _codes(rng)
        config = w.WashTradeConfig(min_edge_trades=int(rng.integers(1, 6)),
                                   min_edge_share=float(rng.choice([1e-9, 0.05, 0.2, 0.5])),
                                   min_lift=float(rng.choice([1e-9, 1.0, 5.0, 50.0])))
        got, want = w._link_components(c, config), _session19_link_components(c, config)
        assert (got is None) == (want is None), case
        if got is not None and want is not None:
            assert got.tolist() == want.tolist(), case
        assert w._may_group(c, config) == w._may_group(c, config)  # and the screen built on it runs


def test_pair_totals_are_numpys_sums() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        c = _codes(rng)
        if c.buyer.size == 0:
            continue
        keys, counts, vols = w._pair_totals(c.buyer, c.seller, c.quantity, c.owners)
        pairs, which, n = np.unique(np.minimum(c.buyer, c.seller) * c.owners + np.maximum(c.buyer, c.seller),
                                    return_inverse=True, return_counts=True)
        by = np.argsort(keys)
        assert keys[by].tolist() == pairs.tolist()
        assert counts[by].tolist() == n.tolist()
        sums = np.bincount(which, c.quantity)
        assert np.array_equal(vols[by].view(np.int64), sums.view(np.int64))  # bit for bit, zeros' signs too
        first = np.unique(keys, return_index=True)[1]
        assert np.array_equal(np.sort(first), np.arange(keys.size))  # each key once
