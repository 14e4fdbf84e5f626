"""Incident planners, one per typology; ``plan_incidents`` makes the whole plan before any day is written."""

from __future__ import annotations

from collections.abc import Callable

from harbour.data.generate.config import KNOBS
from harbour.data.generate.incidents.base import Incident
from harbour.data.generate.rand import stream
from harbour.data.generate.world import World

Planner = Callable[[World, int, str], Incident | None]
PLANNERS: dict[str, Planner] = {}


def planner(typology: str) -> Callable[[Planner], Planner]:
    def deco(fn: Planner) -> Planner:
        PLANNERS[typology] = fn
        return fn
    return deco


def plan_incidents(world: World) -> tuple[list[Incident], dict[str, str]]:
    from harbour.data.generate.incidents import aml, market, market2  # noqa: F401  (registers the planners)

    incidents: list[Incident] = []
    skipped: dict[str, str] = {}
    for typology, count in world.config.incident_counts().items():
        fn = PLANNERS.get(typology)
        if fn is None:
            if count:
                skipped[typology] = "not implemented yet"
            continue
        for n in range(count):
            inc = fn(world, n, typology)
            if inc is None:
                skipped[typology] = "not possible with these options (e.g. needs two venues or a minor symbol)"
                continue
            incidents.append(inc)
    return incidents, skipped


def rng_for(world: World, typology: str, n: int):
    return stream(world.config.seed, "plan", typology, n)


def knobs(world: World):
    return KNOBS[world.config.difficulty]
