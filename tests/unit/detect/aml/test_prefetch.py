"""Work prefetched beside the mining pass gives what the finders compute on their own."""

from __future__ import annotations

import numpy as np
import pytest

from harbour.detect.aml import prefetch
from harbour.detect.aml.graph import build_graph
from harbour.detect.aml.miner import TYPOLOGY_ORDER, _mine, resolve_configs
from harbour.detect.aml.scenarios import Scenario


def _graph(seed: int):  # type: ignore[no-untyped-def]
    sc = Scenario(seed=seed)
    sc.background(accounts=80, transfers=3_000)
    for day, typology in enumerate(("stack", "peel_chain", "gather_scatter", "stack")):
        sc.inject(typology, day=0.5 + day * 0.8)
    transfers, accounts, _ = sc.tables()
    return build_graph(transfers, accounts)


def _serial(g) -> dict[str, list[tuple[int, list[int], list[int]]]]:  # type: ignore[no-untyped-def]
    configs, claimed, out = resolve_configs(), np.zeros(g.n_edges, bool), {}
    for typology, finder, _ in TYPOLOGY_ORDER:
        found = finder(g, configs[typology], claimed.copy())
        for p in found:
            claimed[p.edges] = True
        out[typology] = [(p.center, p.nodes.tolist(), p.edges.tolist()) for p in found]
    return out


def test_the_miner_with_prefetching_finds_what_the_finders_find_one_by_one() -> None:
    g = _graph(21)
    mined = {t: [(p.center, p.nodes.tolist(), p.edges.tolist()) for p in ps]
             for t, ps in _mine(g, resolve_configs()).items()}
    assert mined == _serial(g)
    assert mined["stack"] and mined["peel_chain"]  # the prefetched paths had something to find


def test_take_outside_a_session_or_for_another_graph_is_none() -> None:
    g, other = _graph(22), _graph(23)
    assert prefetch.take(g, "x", "k") is None
    with prefetch.session(g):
        prefetch.start(g, "x", "k", lambda: 41 + 1)
        prefetch.start(other, "x", "k", lambda: 0)  # no session for it: ignored
        assert prefetch.take(other, "x", "k") is None
        assert prefetch.take(g, "x", "k") == 42
        assert prefetch.take(g, "x", "k") is None  # once
        prefetch.start(g, "y", "k", lambda: 1)
    assert prefetch.take(g, "y", "k") is None  # dropped with the session


def test_pass_through_judged_again_at_the_claims_equals_a_whole_pass_under_them() -> None:
    from harbour.detect.aml.base import hours
    from harbour.detect.aml.rapid_movement import RapidMovementConfig, pass_through_runs

    g = _graph(24)
    cfg = RapidMovementConfig()
    args = (hours(cfg.dwell_hours), cfg.min_out_share, cfg.max_out_share, cfg.min_usd)
    before = pass_through_runs(g, g.usd, *args)
    rng = np.random.default_rng(3)
    for n in (5, 60, 400):
        claimed = np.zeros(g.n_edges, bool)
        claimed[rng.choice(g.n_edges, n, replace=False)] = True
        if n == 400:  # and passing arrivals themselves, which must stop passing
            claimed[np.flatnonzero(before)[::2]] = True
        usd = np.where(claimed, 0.0, g.usd)
        e = np.flatnonzero(claimed)
        again = pass_through_runs(g, usd, *args, nodes=np.union1d(g.src[e], g.dst[e]), hit=before.copy())
        whole = pass_through_runs(g, usd, *args)
        assert (again == whole).all() and before.any()
        if n == 400:
            assert (whole != before).any()  # the claims changed something that was judged again


@pytest.mark.parametrize("incoming", [True, False])
def test_fan_bursts_found_again_at_the_claims_equal_a_whole_pass_under_them(incoming: bool) -> None:
    from harbour.detect.aml.fans import FanConfig, _bursts_in_context, bursts_in_context

    g = _graph(25)
    cfg = FanConfig(min_counterparties=3)
    rng = np.random.default_rng(4)
    unclaimed, _ = _bursts_in_context(g, cfg, np.zeros(g.n_edges, bool), incoming)
    for n in (0, 40, 500):
        claimed = np.zeros(g.n_edges, bool)
        claimed[rng.choice(g.n_edges, n, replace=False)] = True
        whole, whole_context = _bursts_in_context(g, cfg, claimed, incoming)
        with prefetch.session(g):
            from harbour.detect.aml.fans import prefetch as start

            start(g, cfg, incoming)
            again, again_context = bursts_in_context(g, cfg, claimed, incoming)
        assert whole and [(v, e.tolist()) for v, e in whole] == [(v, e.tolist()) for v, e in again]
        assert all((a == b).all() for a, b in zip(whole_context, again_context, strict=True))
        if n == 500:  # the claims changed the bursts that were found again
            assert [(v, e.tolist()) for v, e in whole] != [(v, e.tolist()) for v, e in unclaimed]


def test_structuring_with_its_bursts_prefetched_finds_what_a_whole_pass_finds() -> None:
    """Both directions' bursts found under no claims and brought up to date at the claims (and at the edges the
    incoming pass takes before the outgoing one) give the patterns of a pass that finds everything itself."""
    from harbour.detect.aml.structuring import StructuringConfig, _candidates, find
    from harbour.detect.aml.structuring import prefetch as start

    sc = Scenario(seed=26)
    sc.background(accounts=80, transfers=3_000)
    for day in range(6):
        sc.inject("structuring", day=0.5 + day * 0.7)
    transfers, accounts, _ = sc.tables()
    g = build_graph(transfers, accounts)
    cfg = StructuringConfig()
    candidates = np.flatnonzero(_candidates(g, cfg))
    rng = np.random.default_rng(5)

    def patterns(found):  # type: ignore[no-untyped-def]
        return [(p.center, p.nodes.tolist(), p.edges.tolist(), p.explanation) for p in found]

    unclaimed = patterns(find(g, cfg, np.zeros(g.n_edges, bool)))
    for n in (0, 3, 12):
        claimed = np.zeros(g.n_edges, bool)
        claimed[rng.choice(g.n_edges, 40, replace=False)] = True
        claimed[rng.choice(candidates, n, replace=False)] = True  # claims that fall on the bursts' own edges
        whole = patterns(find(g, cfg, claimed.copy()))
        with prefetch.session(g):
            start(g, cfg)
            again = patterns(find(g, cfg, claimed.copy()))
        assert whole and again == whole
        if n == 12:
            assert whole != unclaimed  # the claims changed what was found


def test_outgoing_burst_runs_found_again_at_the_claims_equal_a_whole_pass_under_them() -> None:
    """Scatter-gather's and gather-scatter's runs: prefetched under no claims, kept for both takers, and brought
    up to date at each one's claims."""
    from harbour.detect.aml.base import burst_runs, hours, out_runs_under, prefetch_out_runs

    g = _graph(27)
    window, min_count = hours(48), 3
    rng = np.random.default_rng(6)
    unclaimed = burst_runs(g, False, np.ones(g.n_edges, bool), window, min_count)
    with prefetch.session(g):
        prefetch_out_runs(g, window, min_count)
        for n in (0, 40, 500, 40):  # the prefetched runs serve every taker
            claimed = np.zeros(g.n_edges, bool)
            claimed[rng.choice(g.n_edges, n, replace=False)] = True
            whole = burst_runs(g, False, ~claimed, window, min_count)
            again = out_runs_under(g, claimed, window, min_count)
            assert whole[0].size and all((a == b).all() for a, b in zip(whole, again, strict=True))
            if n == 500:  # the claims changed the runs that were found again
                assert any(a.shape != b.shape or (a != b).any() for a, b in zip(whole, unclaimed, strict=True))
