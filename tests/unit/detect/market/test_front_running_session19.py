"""Front running's session-19 paths against the readings they replace, on random inputs:

- ``_new_rows`` reads each event's kind as one word: the rows are those whose string is ``new``, as a plain reading
  finds them, on random kinds (prefixes and extensions of ``new``, empty strings, ``new`` at the buffer's very end),
  buffers shorter than a word, sliced arrays (offsets not from 0) and large strings, in one chunk or several;
- ``code_strings`` and ``code_hashes`` read 8-byte little-endian codes in place: the strings and hashes are those of
  the copy they replace, for codes of several integer types, not contiguous, empty;
- owners' hashes known to tell owners apart (``TradeArrays.owners_exact``, from ``_codes_hashed_apart``) spare the
  screens their check of shared hashes: the screens' answers are those with the check made, on random markets (the
  default config and a loose one), and a stand-in ``code_hashes`` that shares hashes is found out (the check is
  made, and the kernel's alerts are still the full path's);
- decisions are numbered exactly (``Halves.codes_at``) where they were hashed and the hashes checked: the numbers are
  equal exactly where the strings are, on random halves (nulls, the empty string, strings of 16 bytes or fewer and
  longer, rows in any order) with hashes whole or forced to be shared; the screens answer as the hashed path's on
  random markets, and where the decisions would share hashes (the hashed path could not answer) the kernel's alerts
  are the full path's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
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
    """Where ``owners_exact`` says so, no check of shared hashes is made: not of the owners, nor of the decisions
    (numbered exactly), though the habits read the decisions."""
    rng = np.random.default_rng(5)
    read: list[object] = []
    real, real_codes = frs._one_each, fro.Halves.codes_at
    monkeypatch.setattr(frs, "_one_each", lambda strings, *a: read.append(strings) or real(strings, *a))
    numbered: list[object] = []
    monkeypatch.setattr(fro.Halves, "codes_at", lambda self, rows: numbered.append(self) or real_codes(self, rows))
    habits = 0
    for _ in range(20):
        read.clear()
        numbered.clear()
        screen = fr._screened(_fresh(_random_part(rng, int(rng.integers(50, 400)))), LOOSE)
        assert screen.legs is not None and screen.legs.owners_exact
        assert not read
        habits += any(s is screen.legs.decisions for s in numbered)
    assert habits > 5, habits


# --- decisions numbered exactly --------------------------------------------------------------------------------

WORDS = ["", "d", "d1", "d10", "d1 ", "order-0000000001", "order-00000000010", "order-0000000001x" * 2,
         "order-0000000001x" * 2 + "y", "é", "\x00", "\x00\x00", "a" * 16, "a" * 17, "a" * 24]


def _random_halves(rng: np.random.Generator) -> tuple[fro.Halves, list[str | None]]:
    """Two halves of random strings (some of them null, in either half, or none), as ``text`` reads them: strings
    of 16 bytes or fewer and longer, sharing prefixes and lengths, empty, and a null beside the empty string."""
    halves = []
    for _ in range(2):
        n = int(rng.integers(0, 200))
        pool = WORDS + [f"d{k}" for k in rng.integers(0, 40, 30)] + [f"x{k:020d}" for k in rng.integers(0, 20, 10)]
        strings: list[str | None] = [pool[k] for k in rng.integers(0, len(pool), n)]
        if rng.random() < 0.6:
            strings = [None if rng.random() < 0.1 else v for v in strings]
        halves.append(strings)
    first, second = fro.text(pl.Series(halves[0], dtype=pl.String)), fro.text(pl.Series(halves[1], dtype=pl.String))
    assert first is not None and second is not None
    return fro.Halves(first, second), halves[0] + halves[1]


def _assert_numbered_exactly(codes: np.ndarray, strings: list[str | None]) -> None:
    """Equal numbers exactly where the strings are equal (a null equal to a null only)."""
    assert codes.shape[0] == len(strings)
    key = [("null",) if v is None else ("s", v) for v in strings]
    assert len(set(zip(codes.tolist(), key, strict=True))) == len(set(key)) == len(set(codes.tolist()))


@pytest.mark.parametrize("bits", [0xFFFFFFFFFFFFFFFF, 0x7, 0x0])
def test_codes_at_number_the_strings_exactly(bits: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Halves.codes_at`` on random halves and rows (any order, repeated, none, of one half), with the hashes
    whole, of 8 values, and all one (forced to be shared: every string told apart by its key or bytes)."""
    monkeypatch.setattr(fro, "_HASH_BITS", (np.uint64(bits), np.uint64(0x5A5A if bits == 0 else 0)))
    rng = np.random.default_rng(bits & 0xFF)
    for case in range(80):
        halves, strings = _random_halves(rng)
        n = len(strings)
        choices = [np.arange(n), rng.permutation(n), rng.integers(0, max(n, 1), 3 * n) if n else np.zeros(0, int),
                   np.zeros(0, np.int64), np.arange(halves.split), np.arange(halves.split, n)]
        for rows in choices:
            rows = rows.astype(np.int64)
            _assert_numbered_exactly(halves.codes_at(rows), [strings[r] for r in rows])
        assert halves.codes_at(np.arange(n)).dtype == np.int64, case


def test_codes_at_tell_a_null_from_the_empty_string() -> None:
    first, second = fro.text(pl.Series(["", None, "a"])), fro.text(pl.Series([None, "", "a"]))
    assert first is not None and second is not None
    codes = fro.Halves(first, second).codes_at(np.arange(6)).tolist()
    assert codes[0] == codes[4] and codes[1] == codes[3] and codes[2] == codes[5] and len(set(codes)) == 3


def _decisions_hashed(self: fro.Halves, rows: np.ndarray) -> np.ndarray:
    """The reading of the decisions that ``codes_at`` replaced: their hashes (as numbers), as
    session 18's ``Halves.hashes_at`` read them (gone from the source with its last caller)."""
    out = np.empty(rows.shape[0], np.uint64)
    first = rows < self.split
    out[first] = self.first.at(rows[first]).hashes()
    out[~first] = self.second.at(rows[~first] - self.split).hashes()
    return out.view(np.int64)


def _screened_hashed(part: fr.Partition, config: fr.FrontRunningConfig, monkeypatch: pytest.MonkeyPatch
                     ) -> fr._Screen | None:
    """The screens with the decisions hashed, and then the hashes checked (None where a hash shared kept them from
    answering: the old path answered True there)."""
    real = frs._pair_habits
    shared = False

    def checked(legs: frs._Legs, *args: object) -> frs._PairHabits | None:
        nonlocal shared
        found = real(legs, *args)  # type: ignore[arg-type]
        if found is not None and legs.decisions is not None:
            shared |= not frs._one_each(legs.decisions, found.decision, found.mine)
        return found

    with monkeypatch.context() as m:
        m.setattr(fro.Halves, "codes_at", _decisions_hashed)
        m.setattr(frs, "_pair_habits", checked)
        screen = fr._screened(_fresh(part), config)
    return None if shared else screen


@pytest.mark.parametrize("seed", range(3))
def test_numbered_decisions_screen_as_the_hashed_ones(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """On random markets (the default config and a loose one) the screens with the decisions numbered answer as
    with them hashed and checked (no hash shared there), and reach the habits."""
    rng = np.random.default_rng(300 + seed)
    habits = 0
    for case in range(30):
        part = _random_part(rng, int(rng.integers(10, 400)))
        for config in (fr.FrontRunningConfig(), LOOSE):
            got, want = fr._screened(_fresh(part), config), _screened_hashed(part, config, monkeypatch)
            assert want is not None and got.orders == want.orders, case
            habits += got.orders is not None
    assert habits > 10, habits


def test_decisions_that_would_share_hashes_keep_the_full_path_s_alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decisions whose hashes are shared (forced: 2 bits kept) are still numbered apart: the hashed path could not
    answer there, and the numbered screen passes every partition the full path alerts on, with its alerts."""
    rng = np.random.default_rng(33)
    alerted = cannot = 0
    for case in range(16):
        part = _random_part(rng, int(rng.integers(50, 400)))
        with monkeypatch.context() as m:
            m.setattr(fro, "_HASH_BITS", (np.uint64(3), np.uint64(0)))
            m.setattr(fro.StringSpans, "hashes", lambda self: _hashes_of(self) & np.uint64(3))
            cannot += _screened_hashed(part, LOOSE, monkeypatch) is None
            m.setattr(fro.StringSpans, "hashes", _hashes_of)
            got, frames, full = _kernels(part, LOOSE, monkeypatch)
        assert got.equals(full) and got.equals(frames), case
        alerted += got.num_rows > 0
    assert alerted > 2 and cannot > 2, (alerted, cannot)


_hashes_of = fro.StringSpans.hashes

