"""What every injected incident is: a plan made up front, then behaviour injected into books or transfers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from harbour.data.generate.config import DifficultyKnobs
    from harbour.data.generate.flow import BookContext, Instructions
    from harbour.data.generate.transfers import TransferBatch
    from harbour.data.generate.world import World


@dataclass
class Incident:
    """One labelled incident. ``accounts`` are account indices on ``venue`` (see ``extra_accounts`` for
    accounts on other venues)."""

    incident_id: str
    typology: str
    venue: str
    symbol: str | None
    day: int
    accounts: list[int]
    knobs: DifficultyKnobs
    params: dict[str, Any] = field(default_factory=dict)
    extra_accounts: list[tuple[str, int]] = field(default_factory=list)
    both_sides: bool = False  # evidence trades need both sides from this incident (wash trades)

    # --- market incidents -------------------------------------------------------------------------------------
    def books(self) -> list[tuple[str, str, int]]:
        return [(self.venue, self.symbol, self.day)] if self.symbol else []

    def overlay(self, venue: str, day: int, mid: np.ndarray) -> None:
        """Move this venue's mid (in place) where the market reacts to the incident."""

    def inject(self, ctx: BookContext, rng: np.random.Generator, ins: Instructions, tag: int) -> None:
        """Add the incident's orders to the book's instructions, with keys tagged ``tag``."""

    # --- transfer incidents -----------------------------------------------------------------------------------
    def transfers(self, world: World, batch: TransferBatch, rng: np.random.Generator, tag: int) -> None:
        """Add the incident's transfers (tagged ``tag``) to the venue-day's batch."""

    def label_accounts(self, world: World) -> list[str]:
        va = world.accounts[self.venue]
        out = [va.account[i] for i in self.accounts]
        out += [world.accounts[v].account[i] for v, i in self.extra_accounts]
        return out


def jitter(rng: np.random.Generator, value: float, noise: float, size: int | None = None) -> Any:
    """``value`` times a log-normal factor whose spread grows with the difficulty's noise."""
    return value * rng.lognormal(0.0, noise, size)
