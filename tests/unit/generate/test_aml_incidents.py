"""AML incidents have the shape that defines their typology, on every random draw."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from harbour.data.generate.config import KNOBS, Difficulty
from harbour.data.generate.incidents.aml import Bipartite


class _Batch:
    """Records the incident's transfers as (sender, receiver) account pairs."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Any, Any]] = []

    def party(self, account: int) -> int:
        return account

    def add(self, ts: int, asset: str, usd: float, kind: str, src: Any, dst: Any, **extra: object) -> None:
        self.pairs.append((src, dst))


def test_every_bipartite_sender_pays_two_receivers_and_every_receiver_is_paid_by_two() -> None:
    """Many-to-many by definition: drawn sparse (a sender paying a single receiver), the group is fan-outs
    sharing a receiver, which no mesh test can tell from ordinary flow."""
    incomplete = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(6, 13))
        inc = Bipartite("INC", "bipartite", "VCT", None, 0, list(range(n)), KNOBS[Difficulty.default])
        batch = _Batch()
        inc.transfers(None, batch, rng, 0)  # type: ignore[arg-type]
        distinct = set(batch.pairs)
        pays, paid = Counter(s for s, _ in distinct), Counter(d for _, d in distinct)
        assert set(pays) == set(range(n // 2)) and set(paid) == set(range(n // 2, n))
        assert min(pays.values()) >= 2 and min(paid.values()) >= 2, (seed, sorted(distinct))
        incomplete += len(distinct) < (n // 2) * (n - n // 2)
    assert incomplete > 100  # still not every pair transacts: groups vary in density
