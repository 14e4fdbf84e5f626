"""``lifecycles.seeded_lives`` (the lives of the orders of a few events, for the spoofing/layering screen) against a
plain reading of the events and trade sides by their strings, on random ids of every length around the 8 and 16
bytes its check of an id reads as words, and with hashes thinned so that ids collide: a collision is reported
whenever a string shares a seeded id's hash but not its bytes, and never otherwise."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from harbour.detect.market.lifecycles import seeded_lives
from harbour.detect.market.pressure_screen import _buffers, _hashes


def _pool(rng: np.random.Generator, n: int) -> list[str]:
    """Ids of 1 to 24 bytes, many sharing their first or last bytes (a word read at the wrong place would match)."""
    stem = "ABCDEFGHIJKLMNOPQRSTUVWX"
    out = set()
    while len(out) < n:
        k = int(rng.integers(1, 25))
        body = stem[:k]
        at = int(rng.integers(0, k))
        out.add(body[:at] + "abcdefghij"[int(rng.integers(0, 10))] + body[at + 1:])
    return sorted(out)


def _plain(ids: list[str], h: np.ndarray, seed: np.ndarray, kind: np.ndarray, qty: np.ndarray, ts: np.ndarray,
           sides: list[tuple[list[str | None], np.ndarray, np.ndarray]], trade_q: np.ndarray
           ) -> tuple[list[list[float]], bool]:
    """The lives as the docstring of ``seeded_lives`` tells them, and whether no string shares a seeded id's hash
    without its bytes."""
    seeded: dict[str, int] = {}
    for i in np.flatnonzero(seed).tolist():
        seeded.setdefault(ids[i], len(seeded))
    by_hash = {int(h[i]): ids[i] for i in np.flatnonzero(seed).tolist()}
    strings = [(s, int(x)) for s, x in zip(ids, h.tolist(), strict=True)]
    strings += [(s, int(x)) for names, hs, _ in sides for s, x in zip(names, hs.tolist(), strict=True) if s is not None]
    ok = all(by_hash.get(x, s) == s for s, x in strings)
    n = len(seeded)
    lives = [[-1] * n, [-1] * n, [math.inf] * n, [-math.inf] * n, [-math.inf] * n, [-math.inf] * n, [0.0] * n,
             [0] * n, [0] * n]
    first, first_new, placed, cancelled, size, new_size, filled, named, took = lives
    for i, s in enumerate(ids):
        c = seeded.get(s)
        if c is None:
            continue
        first[c] = i if first[c] < 0 else first[c]
        if kind[i] == 1:
            first_new[c] = i if first_new[c] < 0 else first_new[c]
            placed[c], new_size[c] = min(placed[c], ts[i]), max(new_size[c], qty[i])
        elif kind[i] == 2:
            cancelled[c] = max(cancelled[c], ts[i])
        size[c] = max(size[c], qty[i])
    for names, _, side_took in sides:
        for j, s in enumerate(names):
            c = seeded.get(s) if s is not None else None
            if c is not None:
                filled[c] += trade_q[j]
                named[c] += 1
                took[c] += int(side_took[j])
    return lives, ok


@pytest.mark.parametrize("seed", range(12))
def test_seeded_lives_are_the_plain_reading(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = _pool(rng, 40)
    n, m = 300, 60
    ids = [pool[k] for k in rng.integers(0, len(pool), n)]
    kind = rng.integers(0, 3, n).astype(np.int8)
    qty, ts = rng.integers(1, 50, n).astype(np.float64), rng.integers(0, 1000, n).astype(np.int64)
    seed_mask = rng.random(n) < 0.15
    sides = []
    for _ in range(2):
        names = [None if rng.random() < 0.2 else pool[k] for k in rng.integers(0, len(pool), m)]
        sides.append((names, rng.random(m) < 0.5))
    trade_q = rng.integers(1, 9, m).astype(np.float64)
    ev = _buffers(pa.chunked_array([pa.array(ids, pa.string())]))
    side_bufs = [_buffers(pa.chunked_array([pa.array(names, pa.string())])) for names, _ in sides]
    for mask in (np.uint64(2**64 - 1), np.uint64(0xF000000000000000), np.uint64(0)):
        h = _hashes(ev) & mask
        side_h = [_hashes(b) & mask for b in side_bufs]
        got, ok = seeded_lives(ev, h, seed_mask, kind, qty, ts, side_bufs[0], side_h[0], sides[0][1], side_bufs[1],
                               side_h[1], sides[1][1], trade_q)
        expect, expect_ok = _plain(ids, h, seed_mask, kind, qty, ts,
                                   [(names, hs, took) for (names, took), hs in zip(sides, side_h, strict=True)],
                                   trade_q)
        assert ok == expect_ok, mask
        if ok:
            as_lists = [a.tolist() for a in got]
            none = np.iinfo(np.int64)
            as_lists[2] = [math.inf if x == none.max else x for x in as_lists[2]]
            as_lists[3] = [-math.inf if x == none.min else x for x in as_lists[3]]
            assert as_lists == expect, mask
        if mask == np.uint64(2**64 - 1):
            assert ok  # the full hashes of these few ids do not collide


@pytest.mark.parametrize(("seeded", "other"), [
    ("ABCDEFGHIJ1", "ABCDEFGHIJ2"),  # one length, the first word alike
    ("ABCDEFGHABCDEFGH", "ABCDEFGH"),  # the first and last words alike, not the length
    ("ABCDEFGHIJKLMNOPQRS1", "ABCDEFGHIJKLMNOPQRS2"),  # longer than two words
    ("AB1", "AB2"),  # shorter than a word
])
def test_an_id_sharing_a_hash_and_words_with_a_seeded_one_is_a_collision(seeded: str, other: str) -> None:
    ids = [seeded, other, seeded]
    ev = _buffers(pa.chunked_array([pa.array(ids, pa.string())]))
    h = np.zeros(3, np.uint64)  # every hash alike: the bytes decide
    empty = (_buffers(pa.chunked_array([pa.array([], pa.string())])), np.zeros(0, np.uint64), np.zeros(0, np.bool_))
    args = (ev, h, np.array([True, False, False]), np.ones(3, np.int8), np.ones(3), np.arange(3, dtype=np.int64),
            *empty, *empty, np.zeros(0))
    assert not seeded_lives(*args)[1]
    alone = (_buffers(pa.chunked_array([pa.array([seeded, seeded], pa.string())])), h[:2], np.array([True, False]),
             np.ones(2, np.int8), np.ones(2), np.arange(2, dtype=np.int64), *empty, *empty, np.zeros(0))
    lives, ok = seeded_lives(*alone)
    assert ok and lives[0].tolist() == [0]
