"""Front running's second session-20 pass against the version it replaces (kept here as the reference), on random
inputs:

- ``front_running_orders._numbered`` reads a string of 8 to 16 bytes in its loop (any other through
  ``_keyed_apart``): its answers (codes, first strings, slots, hashes, keys) are the earlier version's on random
  strings of every length from 0 to 24 bytes — in two halves of two kinds (Arrow's read-only bytes and a writable
  copy), sliced (offsets not from 0), at the very end of their buffers, long runs of one string, ties of every
  kind — with the hashes whole or forced to be shared (``_HASH_BITS``), so that every match is told apart by the
  keys; and ``Halves.codes_at`` (nulls given a number of their own) answers as through the earlier version.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from numba import njit

import harbour.detect.market.front_running_orders as fro
from harbour.data.arrow_strings import string_buffers

ALPHABET = list("ab\u00e9XY0")

# The hash bits (kept, forced): whole; all shared; a few low bits kept; the top bits forced (every slot's top bits
# match, so every look-up compares keys).
HASH_BITS = [
    (np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0)),
    (np.uint64(0), np.uint64(0x5EED)),
    (np.uint64(0x3), np.uint64(0xABCD000000000000)),
    (np.uint64(0x00000000FFFFFFFF), np.uint64(0x1234567800000000)),
]


@njit(cache=True, nogil=True)
def _numbered_s20(a_sp: np.ndarray, a_data: np.ndarray, b_sp: np.ndarray, b_data: np.ndarray, keep: np.uint64,
                  force: np.uint64) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The earlier ``_numbered``: every string hashed and keyed by ``_keyed`` inlined."""
    n, na = a_sp.shape[0] // 2 + b_sp.shape[0] // 2, a_sp.shape[0] // 2
    codes, rep, hashes = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.uint64)
    keys = np.empty(3 * n, np.uint64)
    room = 64
    while room < 2 * n:
        room *= 2
    slots = np.zeros(room, np.uint64)
    n_ids = 0
    p_n, p_w0, p_w1 = np.intp(-1), np.uint64(0), np.uint64(0)
    for i in range(n):
        if i < na:
            h, kn, w0, w1 = fro._keyed(a_sp, a_data, 2 * i, keep, force)
        else:
            h, kn, w0, w1 = fro._keyed(b_sp, b_data, 2 * (i - na), keep, force)
        if i and kn == p_n and w0 == p_w0 and w1 == p_w1 and (
                kn <= 16 or fro._same_pair(a_sp, a_data, b_sp, b_data, i, i - 1)):
            codes[i] = codes[i - 1]
            continue
        p_n, p_w0, p_w1 = kn, w0, w1
        if kn <= 16:
            s = fro._short_slot(slots, keys, h, kn, w0, w1)
        elif i < na:
            s = fro._long_slot(slots, keys, rep, h, kn, w0, w1, a_sp, a_data, 2 * i, a_sp, a_data, b_sp, b_data)
        else:
            s = fro._long_slot(slots, keys, rep, h, kn, w0, w1, b_sp, b_data, 2 * (i - na), a_sp, a_data, b_sp,
                               b_data)
        if slots[s] != 0:
            codes[i] = fro._id_in(slots[s])
            continue
        slots[s] = fro._slot_value(h, n_ids)
        codes[i], rep[n_ids], hashes[n_ids] = n_ids, i, h
        keys[3 * n_ids], keys[3 * n_ids + 1], keys[3 * n_ids + 2] = np.uint64(kn), w0, w1
        n_ids += 1
    return codes, rep[:n_ids], slots, hashes[:n_ids], keys[:3 * n_ids]


def _strings(rng: np.random.Generator, n: int, longest: int = 25) -> list[str]:
    """Random strings of 0 to ``longest`` - 1 characters (some of two bytes): every length around 8 and 16; runs of
    one string and repeats further on."""
    pool = ["".join(rng.choice(ALPHABET, int(rng.integers(0, longest)))) for _ in range(max(1, n // 2))]
    out: list[str] = []
    while len(out) < n:
        out += [pool[int(rng.integers(0, len(pool)))]] * int(rng.integers(1, 4))
    return out[:n]


def _half(rng: np.random.Generator, part: list[str], nulls: bool, writable: bool) -> fro.StringSpans:
    """Strings as one half: an Arrow array (sliced at times; its bytes read-only, or a writable copy), its last
    string at the very end of its buffer unless a tail follows, nulls where asked."""
    pad = int(rng.integers(0, 3))
    values: list[str | None] = list(part)
    if nulls:
        values = [None if rng.random() < 0.2 else s for s in part]
    arr = pa.array(["x" * 5] * pad + values + ["tail"] * int(rng.integers(0, 2)), pa.string())
    arr = arr.slice(pad, len(part))
    offsets, data, _ = string_buffers(arr)
    if writable:
        data = np.array(data)
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), np.bool_) if arr.null_count else fro._NO_NULLS
    return fro.StringSpans(fro.spans_of_offsets(offsets.astype(np.int64)), data, valid)


def _halves(rng: np.random.Generator, ids: list[str], nulls: bool = False) -> fro.Halves:
    cut = int(rng.integers(0, len(ids) + 1))
    kinds = [bool(k) for k in rng.integers(0, 2, 2)]
    return fro.Halves(_half(rng, ids[:cut], nulls, kinds[0]), _half(rng, ids[cut:], nulls, kinds[1]))


def _same(found: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...]) -> bool:
    return len(found) == len(expected) and all(
        f.dtype == e.dtype and f.shape == e.shape and np.array_equal(f, e)
        for f, e in zip(found, expected, strict=True))


@pytest.mark.parametrize("seed", range(10))
def test_numbered_answers_as_before(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(15):
        halves = _halves(rng, _strings(rng, int(rng.integers(0, 80)), 25 if case % 3 else 18))
        a, b = halves
        for keep, force in HASH_BITS:
            found = fro._numbered(a.spans, a.data, b.spans, b.data, keep, force)
            assert _same(found, _numbered_s20(a.spans, a.data, b.spans, b.data, keep, force)), (seed, case, keep)


def test_numbered_every_length_at_the_buffers_end() -> None:
    """Every length from 0 to 24 as the last string of either half (its bytes end the buffer), alone and after
    strings of its own length."""
    for n in range(25):
        for before in ([], ["q" * n], ["r" * n, "abcdefgh"], ["a" * 16, "b" * 17, "c" * 3]):
            for first_half in (True, False):
                ids = [*before, "q" * n]
                arr = pa.array(ids, pa.string())
                offsets, data, _ = string_buffers(arr)
                half = fro.StringSpans(fro.spans_of_offsets(offsets.astype(np.int64)), data, fro._NO_NULLS)
                other = fro.StringSpans(fro.spans_of_offsets(np.array([0, 8], np.int64)),
                                        np.frombuffer(b"qqqqqqqq", np.uint8), fro._NO_NULLS)
                a, b = (half, other) if first_half else (other, half)
                for keep, force in HASH_BITS:
                    found = fro._numbered(a.spans, a.data, b.spans, b.data, keep, force)
                    assert _same(found, _numbered_s20(a.spans, a.data, b.spans, b.data, keep, force)), (n, before)


@pytest.mark.parametrize("seed", range(6))
def test_codes_at_answers_as_before(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Halves.codes_at`` through the new ``_numbered`` and through the earlier one, on halves with nulls, at random
    rows (repeated, out of order), with the hashes whole and shared; and equal codes exactly where the strings are
    equal (a null one value)."""
    rng = np.random.default_rng(50 + seed)
    for case in range(10):
        ids = _strings(rng, int(rng.integers(1, 60)))
        halves = _halves(rng, ids, nulls=case % 2 == 0)
        n = len(ids)
        rows = rng.integers(0, n, int(rng.integers(0, 2 * n + 1)))
        for bits in HASH_BITS[:2]:
            monkeypatch.setattr(fro, "_HASH_BITS", bits)
            new = halves.codes_at(rows)
            with monkeypatch.context() as m:
                m.setattr(fro, "_numbered", _numbered_s20)
                old = halves.codes_at(rows)
            assert new.dtype == old.dtype and np.array_equal(new, old), (seed, case, bits)
            strings = halves.strings_at(rows)
            for x in range(rows.shape[0]):
                for y in range(rows.shape[0]):
                    assert (new[x] == new[y]) == (strings[x] == strings[y])
