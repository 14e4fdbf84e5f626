"""quote_stuffing's check before the owners are looked up (``_may_stuff``): a run of buckets each with ``min_rate``
messages of all accounts, at most ``max_gap_buckets`` quiet buckets apart, must hold ``min_messages``. It is the
plain definition of such runs, never turns away a stream in which some owner's spell has ``min_messages``
(random streams full of ties, unowned events and fills), and is taken on a clean book-day and not on one with a
stuffing incident, whose alert is the one of the full reading."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harbour.detect.market.quote_stuffing as qs
from harbour.detect.framework import REGISTRY
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"


def _plain_busy(bucket: np.ndarray, message: np.ndarray, threshold: float, max_gap: int, least: int) -> bool:
    counts: dict[int, int] = {}
    for b, m in zip(bucket.tolist(), message.tolist(), strict=True):
        counts[b] = counts.get(b, 0) + int(m)
    runs: list[list[int]] = []
    for b in sorted(b for b, n in counts.items() if n >= threshold):
        if runs and b - runs[-1][1] <= max_gap + 1:
            runs[-1][1] = b
        else:
            runs.append([b, b])
    return any(sum(n for b, n in counts.items() if lo <= b <= hi) >= least for lo, hi in runs)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(0, 400), owners=st.integers(1, 5),
       threshold=st.sampled_from([1.0, 2.0, 3.5, 6.0]), max_gap=st.integers(0, 3), least=st.integers(1, 60))
def test_the_screen_is_the_plain_runs_and_never_drops_a_spell(seed: int, n: int, owners: int, threshold: float,
                                                                max_gap: int, least: int) -> None:
    rng = np.random.default_rng(seed)
    bucket = np.sort(rng.integers(0, 40, n)).astype(np.int64)
    owner = rng.integers(-1, owners, n).astype(np.int32)
    message = rng.random(n) < 0.8
    busy = qs._busy_run(bucket, message, threshold, max_gap, least)
    assert busy == _plain_busy(bucket, message, threshold, max_gap, least)
    s_owner, s_b0, s_b1 = qs._hot_spells(owner, bucket, message, owners, threshold, max_gap)
    spell = qs._spell_of(owner, bucket, s_owner, s_b0, s_b1, owners)
    msgs = np.bincount(spell[(spell >= 0) & message], minlength=s_owner.size)
    if (msgs >= least).any():  # an owner's spell with enough messages: the screen lets the stream through
        assert busy


def _market(stuffed: bool) -> ScenarioMarket:
    m = ScenarioMarket(seed=3, venues=(VENUE,), trades_per_day=3000)
    if stuffed:
        si.quote_stuffing(m, "QS1", m.at(12))
    return m.build()


@pytest.mark.parametrize("stuffed", [False, True])
def test_the_exit_is_taken_on_a_clean_day_only(stuffed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    d = REGISTRY.get("quote_stuffing")
    part = _market(stuffed).partition(VENUE)
    read = []
    events = qs._events
    monkeypatch.setattr(qs, "_events", lambda *a: read.append(1) or events(*a))
    got = d.kernel(part, d.default_config())
    assert bool(read) == stuffed
    monkeypatch.setattr(qs, "_may_stuff", lambda *a: True)  # the full reading
    want = d.kernel(replace(part, shared={}), d.default_config())
    assert got.equals(want)
    assert got.num_rows == int(stuffed)


def test_unsorted_events_keep_their_rows() -> None:
    """Events out of time order are sorted once, before the screen; the owners follow the same order."""
    m = _market(True)
    d = REGISTRY.get("quote_stuffing")
    part = m.partition(VENUE)
    orders: pa.Table = part.tables["orders"]
    shuffled = orders.take(pa.array(np.random.default_rng(0).permutation(orders.num_rows)))
    got = d.kernel(replace(part, tables={**part.tables, "orders": shuffled}, shared={}), d.default_config())
    want = d.kernel(part, d.default_config())
    assert got.num_rows == want.num_rows == 1
    assert got.column("accounts").to_pylist() == want.column("accounts").to_pylist()
