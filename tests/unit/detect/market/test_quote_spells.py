"""quote_stuffing's compiled spell search against the plain definition on random message streams: hot buckets
per owner (>= threshold messages), joined into spells across at most max_gap quiet buckets, and each event
placed in its owner's spell."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harbour.detect.market.quote_stuffing import _hot_spells, _spell_of


def _plain(owner, bucket, message, threshold, max_gap):
    counts: dict[tuple[int, int], int] = {}
    for o, b, m in zip(owner, bucket, message, strict=True):
        if m and o >= 0:
            counts[(o, b)] = counts.get((o, b), 0) + 1
    spells: list[tuple[int, int, int]] = []
    for o in sorted({o for o, _ in counts}):
        hot = sorted(b for (oo, b), n in counts.items() if oo == o and n >= threshold)
        for b in hot:
            if spells and spells[-1][0] == o and b - (spells[-1][2] - 1) <= max_gap + 1:
                spells[-1] = (o, spells[-1][1], b + 1)
            else:
                spells.append((o, b, b + 1))
    return spells


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(0, 400), owners=st.integers(1, 5),
       threshold=st.sampled_from([1.0, 2.0, 3.5]), max_gap=st.integers(0, 3))
def test_spells_match_the_definition(seed: int, n: int, owners: int, threshold: float, max_gap: int) -> None:
    rng = np.random.default_rng(seed)
    bucket = np.sort(rng.integers(0, 40, n)).astype(np.int64)
    owner = rng.integers(-1, owners, n).astype(np.int32)
    message = rng.random(n) < 0.8
    s_owner, s_b0, s_b1 = _hot_spells(owner, bucket, message, owners, threshold, max_gap)
    got = sorted(zip(s_owner.tolist(), s_b0.tolist(), s_b1.tolist(), strict=True))
    assert got == _plain(owner, bucket, message, threshold, max_gap)
    of = _spell_of(owner, bucket, s_owner, s_b0, s_b1, owners)
    for i in range(n):
        inside = [s for s in range(s_owner.size)
                  if s_owner[s] == owner[i] and s_b0[s] <= bucket[i] < s_b1[s]]
        assert of[i] == (inside[0] if inside else -1)
