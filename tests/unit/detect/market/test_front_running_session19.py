"""Front running's session-19 paths against the readings they replace, on random inputs:

- ``_new_rows`` reads each event's kind as one word: the rows are those whose string is ``new``, as a plain reading
  finds them, on random kinds (prefixes and extensions of ``new``, empty strings, ``new`` at the buffer's very end),
  buffers shorter than a word, sliced arrays (offsets not from 0) and large strings, in one chunk or several;
- ``code_strings`` and ``code_hashes`` read 8-byte little-endian codes in place: the strings and hashes are those of
  the copy they replace, for codes of several integer types, not contiguous, empty;
- owners' hashes known to tell owners apart (``TradeArrays.owners_exact``, from ``_codes_hashed_apart``) spare the
  screens their check of shared hashes: the screens' answers are those with the check made, on random markets (the
  default config and a loose one), and a stand-in ``code_hashes`` that shares hashes is found out (the check is
  made, and the kernel's alerts are still the full path's).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pytest

import harbour.detect.market.front_running as fr
import harbour.detect.market.front_running_orders as fro
import harbour.detect.market.front_running_screens as frs

from .test_front_running_arrow_screen import LOOSE, VENUE, _fresh, _kernels, _random_part

KINDS = ["new", "fill", "amend", "cancel", "expire", "ne", "newer", "", "NEW", "nex", "wen", "n", "new "]


def _new_rows_plainly(strings: list[str]) -> list[int]:
    return [i for i, s in enumerate(strings) if s == "new"]


def _new_rows_of(arr: pa.Array | pa.ChunkedArray) -> list[int]:
    found = fro._strings(arr)
    assert found is not None
    return fro._new_rows(*found).tolist()  # type: ignore[no-any-return]


@pytest.mark.parametrize("seed", range(6))
def test_new_rows_are_a_plain_reading_s(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(60):
        n = int(rng.integers(0, 300)) if case % 4 else int(rng.integers(0, 4))  # some buffers under 8 bytes
        strings = [KINDS[k] for k in rng.integers(0, len(KINDS), n)]
        if n and case % 3 == 0:
            strings[-1] = "new"  # at the buffer's very end
        kind = pa.large_string() if case % 5 == 0 else pa.string()
        arr = pa.array(strings, kind)
        assert _new_rows_of(arr) == _new_rows_plainly(strings), (seed, case)
        if n > 2:  # a slice: offsets not from 0, the buffer running on past its last string
            lo, hi = sorted(int(x) for x in rng.integers(0, n + 1, 2))
            assert _new_rows_of(arr.slice(lo, hi - lo)) == _new_rows_plainly(strings[lo:hi]), (seed, case)
            cut = int(rng.integers(0, n))
            chunked = pa.chunked_array([pa.array(strings[:cut], kind), pa.array(strings[cut:], kind)])
            assert _new_rows_of(chunked) == _new_rows_plainly(strings), (seed, case)


def test_new_rows_on_the_smallest_buffers() -> None:
    for strings in ([], ["new"], ["new", "new"], ["", "new"], ["ne", "w"], ["new", ""], ["fill"], ["newn"],
                    ["n", "e", "w", "new"], ["new"] * 3):
        assert _new_rows_of(pa.array(strings, pa.string())) == _new_rows_plainly(strings), strings


def _code_strings_as_before(codes: np.ndarray) -> fro.StringSpans:
    """The session-18 ``code_strings``: the codes copied as little-endian words, the spans written by numpy."""
    data = np.ascontiguousarray(codes, dtype="<u8").view(np.uint8)
    starts = 8 * np.arange(codes.shape[0], dtype=np.int64)
    spans = np.empty(2 * codes.shape[0], np.int64)
    spans[0::2], spans[1::2] = starts, starts + 8
    return fro.StringSpans(spans, data, fro._NO_NULLS)


def test_code_strings_and_hashes_are_the_copies_ones() -> None:
    rng = np.random.default_rng(3)
    base = np.concatenate([np.arange(300), rng.integers(0, 2**63 - 1, 500, dtype=np.int64),
                           np.array([2**63 - 1, 2**32, 2**32 - 1, 255, 256, 0])])
    cases = [base, base.astype(np.uint64), base[base < 2**31].astype(np.int32), base[::3], base[::-1],
             np.zeros(0, np.int64), np.array([7], np.int64)]
    for codes in cases:
        got, want = fro.code_strings(codes), _code_strings_as_before(codes)
        assert np.array_equal(got.spans, want.spans) and bytes(got.data) == bytes(want.data), codes.dtype
        assert got.valid.shape[0] == 0
        assert np.array_equal(fro.code_hashes(codes), want.hashes()), codes.dtype
        assert np.array_equal(fro.code_hashes(codes), got.hashes()), codes.dtype


def test_codes_hashed_apart_is_found_per_function(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fro._codes_hashed_apart(0) and fro._codes_hashed_apart(5000)
    assert fro._HASHED_APART[fro.code_hashes] >= 5000
    hashes = fro.code_hashes(np.arange(fro._HASHED_APART[fro.code_hashes]))
    assert np.unique(hashes).shape[0] == hashes.shape[0]  # what the kept answer says
    real = fro.code_hashes
    with monkeypatch.context() as m:
        m.setattr(fro, "code_hashes", lambda codes: real(codes) % np.uint64(1 << 20))  # shared past ~1k codes
        assert not fro._codes_hashed_apart(3)  # (the stand-in is checked on its own room, 4096 codes)
        assert not fro._codes_hashed_apart(3)  # a "no" is not kept as a "yes"
    with monkeypatch.context() as m:
        m.setattr(fro, "code_hashes", lambda codes: real(codes) | np.uint64(1))  # distinct on its room: kept
        assert fro._codes_hashed_apart(10) and fro._codes_hashed_apart(4096)


def _screened_unchecked(part: fr.Partition, config: fr.FrontRunningConfig, monkeypatch: pytest.MonkeyPatch
                        ) -> fr._Screen:
    """The screens with the owners' hashes not taken as exact: every shared hash checked (the session-18 path)."""
    real = fro.arrow_trade_arrays

    def unchecked(*args: object) -> fro.TradeArrays | None:
        found = real(*args)  # type: ignore[arg-type]
        return None if found is None else found._replace(owners_exact=False)

    with monkeypatch.context() as m:
        m.setattr(fr, "arrow_trade_arrays", unchecked)
        return fr._screened(_fresh(part), config)


@pytest.mark.parametrize("seed", range(3))
def test_exact_owners_screens_answer_as_the_checked_ones(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(100 + seed)
    exact = passed = 0
    for case in range(30):
        part = _random_part(rng, int(rng.integers(10, 400)))
        trades = fro.arrow_trade_arrays(_fresh(part), VENUE)
        assert trades is not None
        exact += trades.owners_exact
        for config in (fr.FrontRunningConfig(), LOOSE):
            got = fr._screened(_fresh(part), config)
            want = _screened_unchecked(part, config, monkeypatch)
            assert got.orders == want.orders, case
            assert got.legs is not None and got.legs.owners_exact == trades.owners_exact
            passed += got.orders is None or len(got.orders) > 0
    assert exact == 30 and passed > 10, (exact, passed)


def test_shared_owner_hashes_are_checked_and_alerts_are_the_full_path_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``code_hashes`` that shares hashes: the arrays say the owners are not exact, the screens check them, and the
    kernel's alerts are the frame path's and the full path's."""
    rng = np.random.default_rng(21)
    real = fro.code_hashes
    alerted = 0
    for case in range(12):
        part = _random_part(rng, int(rng.integers(10, 400)))
        with monkeypatch.context() as m:
            m.setattr(fro, "code_hashes", lambda codes: real(codes) & np.uint64(3))
            trades = fro.arrow_trade_arrays(dataclasses.replace(part, shared={}), VENUE)
            assert trades is not None and not trades.owners_exact
            got, frames, full = _kernels(part, LOOSE, monkeypatch)
        assert got.equals(frames) and got.equals(full), case
        alerted += got.num_rows > 0
    assert alerted > 2, alerted


def test_exact_owners_are_never_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where ``owners_exact`` says so, no check of shared hashes reads the owners (the decisions' still is made)."""
    rng = np.random.default_rng(5)
    read: list[object] = []
    real = frs._one_each
    monkeypatch.setattr(frs, "_one_each", lambda strings, *a: read.append(strings) or real(strings, *a))
    checked = 0
    for _ in range(20):
        read.clear()
        screen = fr._screened(_fresh(_random_part(rng, int(rng.integers(50, 400)))), LOOSE)
        assert screen.legs is not None and screen.legs.owners_exact
        assert all(s is not screen.legs.owners for s in read)
        checked += any(s is screen.legs.decisions for s in read)
    assert checked > 5, checked

