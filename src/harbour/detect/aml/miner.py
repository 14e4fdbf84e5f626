"""The typology miner: runs every transfer-graph typology over one graph, most specific first, and lets a
transfer explain only one pattern — a scatter-gather's first hops are not alerted again as a fan-out, nor
its mules as rapid movement. Results are cached per graph and configuration, so the ten detectors of a
run (each asking for its own typology) share one pass."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pydantic import BaseModel

from harbour.core.memory import small_pages
from harbour.detect.aml import (
    bipartite,
    cycle,
    fan_in,
    fan_out,
    fans,
    gather_scatter,
    layered,
    peel_chain,
    prefetch,
    rapid_movement,
    scatter_gather,
    stack,
    structuring,
)
from harbour.detect.aml.base import Pattern, hours, prefetch_out_runs
from harbour.detect.aml.graph import TransferGraph, cached

# Priority: a more specific shape claims its transfers before a more general one looks at them.
TYPOLOGY_ORDER: tuple[tuple[str, Any, type[BaseModel]], ...] = (
    ("cycle", cycle.find, cycle.CycleConfig),
    ("peel_chain", peel_chain.find, peel_chain.PeelChainConfig),
    ("scatter_gather", scatter_gather.find, scatter_gather.ScatterGatherConfig),
    ("gather_scatter", gather_scatter.find, gather_scatter.GatherScatterConfig),
    ("stack", stack.find, stack.StackConfig),
    ("bipartite", bipartite.find, bipartite.BipartiteConfig),
    ("structuring", structuring.find, structuring.StructuringConfig),
    ("fan_in", fan_in.find, fan_in.FanInConfig),
    ("fan_out", fan_out.find, fan_out.FanOutConfig),
    ("rapid_movement", rapid_movement.find, rapid_movement.RapidMovementConfig),
)
GRAPH_TYPOLOGIES = tuple(t for t, _, _ in TYPOLOGY_ORDER)


def resolve_configs(overrides: dict[str, Any] | None = None) -> dict[str, BaseModel]:
    overrides = overrides or {}
    return {t: (overrides.get(t) or model()) for t, _, model in TYPOLOGY_ORDER}


def mine(g: TransferGraph, overrides: dict[str, Any] | None = None) -> dict[str, list[Pattern]]:
    """Patterns per typology. ``overrides`` maps typology -> its config (others take their defaults)."""
    configs = resolve_configs(overrides)
    key = ("mine", id(g), tuple((t, c.model_dump_json()) for t, c in configs.items()))
    return cached(key, g, lambda: _mine(g, configs))  # type: ignore[no-any-return]


def _mine(g: TransferGraph, configs: dict[str, BaseModel],
          timings: dict[str, tuple[float, float]] | None = None) -> dict[str, list[Pattern]]:
    """Every typology in priority order. ``timings``, if given, receives (wall, CPU) seconds per typology."""
    claimed = np.zeros(g.n_edges, bool)
    found: dict[str, list[Pattern]] = {}
    with small_pages(), prefetch.session(g):
        # Whole-table scans of later typologies start now on a side thread: peel chains' next hops (claims
        # only cut chains afterwards), stack's mesh scan, the fans' and structuring's bursts and rapid movement's
        # pass-through test (claims matter only where they fall, a few thousand edges, and each brings its scan
        # up to date), after scatter-gather's and gather-scatter's outgoing burst runs (one scan when their windows
        # and counts agree, as by default), which the main pass needs first. On 10M rows each result is ready
        # before its finder asks, but for peel chains' next hops (about 0.1 s of waiting).
        runs = {(hours(configs["scatter_gather"].window_hours), configs["scatter_gather"].min_intermediaries),  # type: ignore[attr-defined]
                (hours(configs["gather_scatter"].window_hours), configs["gather_scatter"].min_receivers)}  # type: ignore[attr-defined]
        for window_us, min_count in sorted(runs):
            prefetch_out_runs(g, window_us, min_count)
        peel_chain.prefetch(g, configs["peel_chain"])  # type: ignore[arg-type]
        layered.prefetch(g, configs["stack"], claimed)  # type: ignore[arg-type]
        fans.prefetch(g, configs["fan_in"], incoming=True)  # type: ignore[arg-type]
        fans.prefetch(g, configs["fan_out"], incoming=False)  # type: ignore[arg-type]
        structuring.prefetch(g, configs["structuring"])  # type: ignore[arg-type]
        rapid_movement.prefetch(g, configs["rapid_movement"])  # type: ignore[arg-type]
        for typology, finder, _ in TYPOLOGY_ORDER:
            wall, cpu = time.perf_counter(), time.process_time()
            patterns = finder(g, configs[typology], claimed.copy())
            for p in patterns:
                claimed[p.edges] = True
            found[typology] = patterns
            if timings is not None:
                timings[typology] = (time.perf_counter() - wall, time.process_time() - cpu)
    return found
