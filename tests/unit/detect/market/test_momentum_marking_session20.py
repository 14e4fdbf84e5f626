"""Session 20's compiled steps of marking_the_close's Arrow screen (``_arrow_may_mark``) against the numpy and Arrow
readings they replace, kept here as the reference: the aggressor sides, the span's order-id codes, the screen of
one side's spans before ``np.unique`` and ``_candidates``, and the candidates' volumes over the day."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest

import harbour.detect.market.marking_the_close as mtc
from harbour.detect.market.frames import dictionary_codes

_US = dt.timedelta(microseconds=1)


# ---- the references (the code before session 20) ----

def _old_aggressive_sides(aggressor: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    coded = dictionary_codes(aggressor)
    values = coded.dictionary.to_pylist()
    index = mtc._filled(coded.indices, len(values))
    return tuple(np.array([v in sides for v in values] + [True])[index]  # type: ignore[return-value]
                 for sides in (("buy", "both"), ("sell", "both")))


def _old_id_codes(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return mtc._filled(dictionary_codes(ids).indices, -1)


def _old_side_found(rows: tuple[np.ndarray, ...], ref_us: int, slack: float,
                    config: mtc.MarkingTheCloseConfig) -> list[mtc._Candidates]:
    ts, qty, mine, owner, orders, resting = rows
    names, codes = np.unique(owner, return_inverse=True)
    found: list[mtc._Candidates] = []
    for minutes in config.windows_minutes:
        found += mtc._candidates((ts, qty, mine, codes.reshape(-1), orders, resting), names, ref_us, minutes, slack,
                                 config)
    return found


def _old_may_burst(ts: np.ndarray, qty: np.ndarray, sides: list[tuple[np.ndarray, np.ndarray]], names: np.ndarray,
                   day_seconds: float, found: list[mtc._Candidates], config: mtc.MarkingTheCloseConfig) -> bool:
    gross = float(np.abs(qty).sum())
    if not math.isfinite(gross):
        return True

    def volume(rows: np.ndarray) -> np.ndarray:
        vol = np.full(names.size, -1e-8 * gross)
        for mine, at in sides:
            np.add.at(vol, at[rows[mine]], qty[mine][rows[mine]])
        return vol

    day_vol = volume(np.ones(ts.size, dtype=bool))
    lead_us = dt.timedelta(minutes=config.lead_minutes) // _US
    for c in found:
        w0 = c.ref_us - dt.timedelta(minutes=c.minutes) // _US
        at = np.searchsorted(names, c.names)
        rate = (c.q + c.slack) / c.minutes
        day_minutes = max(day_seconds, c.minutes * 60) / 60
        lead_vol = volume((ts >= w0 - lead_us) & (ts < w0))
        burst = (rate >= config.min_intensity * day_vol[at] / day_minutes) \
            & (rate >= config.min_intensity * lead_vol[at] / config.lead_minutes)
        if c.may_form(burst, config):
            return True
    return False


def _old_coded_bursts(day: tuple[np.ndarray, ...], found: list[mtc._Candidates],
                      config: mtc.MarkingTheCloseConfig) -> bool:
    us, qty, buyer, seller = day
    names = np.unique(np.concatenate([c.names for c in found]))
    b, s = np.isin(buyer, names), np.isin(seller, names)
    rows = np.flatnonzero(b | s)
    sides = [(hit[rows], np.searchsorted(names, owner[rows][hit[rows]])) for hit, owner in ((b, buyer), (s, seller))]
    return _old_may_burst(us[rows], qty[rows], sides, names, (int(us.max()) - int(us.min())) / 1e6, found, config)


# ---- helpers ----

def _chunked(values: list, rng: np.random.Generator, kind: pa.DataType = pa.string()) -> pa.ChunkedArray:
    """``values`` in a few chunks, some of them slices of a longer array (offsets not zero)."""
    cuts = sorted(rng.choice(np.arange(1, len(values)), size=min(3, len(values) - 1), replace=False).tolist()) \
        if len(values) > 1 else []
    chunks = []
    for lo, hi in zip([0, *cuts], [*cuts, len(values)], strict=True):
        pad = int(rng.integers(0, 4))
        arr = pa.array(["x" * 9] * pad + values[lo:hi] + ["y"], kind)
        chunks.append(arr.slice(pad, hi - lo))
    return pa.chunked_array(chunks, kind)


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two codings name the same rows equal (and the same rows missing)."""
    if not np.array_equal(a < 0, b < 0):
        return False
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len({x for x, _ in pairs}) == len(pairs) == len({y for _, y in pairs})


# ---- the tests ----

@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_aggressive_sides_as_the_dictionary_reading(seed: int, kind: pa.DataType) -> None:
    rng = np.random.default_rng(seed)
    words = ["buy", "sell", "both", None, "", "bu", "buys", "BUY", "sel", "bothx"]
    values = [words[i] for i in rng.integers(0, len(words), int(rng.integers(1, 200)))]
    col = _chunked(values, rng, kind)
    for new, old in zip(mtc._aggressive_sides(col), _old_aggressive_sides(col), strict=True):
        assert np.array_equal(new, old)


def test_aggressive_sides_of_other_types_as_the_dictionary_reading() -> None:
    col = pa.chunked_array([pa.array([1, None, 2], pa.int64())])
    for new, old in zip(mtc._aggressive_sides(col), _old_aggressive_sides(col), strict=True):
        assert np.array_equal(new, old)


@pytest.mark.parametrize("seed", range(30))
def test_id_codes_name_the_same_rows_equal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = [f"order-{i:06d}" + "z" * int(rng.integers(0, 30)) for i in range(int(rng.integers(1, 40)))] + ["", "a"]
    n = int(rng.integers(1, 300))
    values = [None if rng.random() < 0.1 else pool[int(rng.integers(0, len(pool)))] for _ in range(n)]
    col = _chunked(values, rng, pa.large_string() if seed % 2 else pa.string())
    assert _same_partition(mtc._arrow_id_codes(col), _old_id_codes(col))
    one = col.combine_chunks().slice(1) if n > 1 else col.combine_chunks()  # one chunk, with an offset: compiled
    assert _same_partition(mtc._arrow_id_codes(pa.chunked_array([one])), _old_id_codes(one))
    assert _same_partition(mtc._arrow_id_codes(one), _old_id_codes(one))


def test_id_codes_keep_strings_that_share_a_hash_apart() -> None:
    rng = np.random.default_rng(7)
    values = [None if rng.random() < 0.1 else f"id{int(rng.integers(0, 25))}" + "q" * int(rng.integers(0, 12))
              for _ in range(400)]
    arr = pa.array(values, pa.string())
    offsets, data, valid = mtc.string_buffers(arr)
    by_length = np.array([len(v or "") % 3 for v in values], np.uint64)  # a function of the string: few hashes
    for hashes in (np.zeros(len(arr), np.uint64), by_length):
        assert _same_partition(mtc._string_codes(offsets, data, valid, hashes), _old_id_codes(arr))


def _side(rng: np.random.Generator, ref_us: int, n: int, n_owners: int, n_orders: int) -> tuple[np.ndarray, ...]:
    """One side's rows of a widest span (times in order, ties among them), as ``_arrow_may_mark`` hands them."""
    ts = np.sort(ref_us - rng.integers(1, 15 * 60_000_000 // int(rng.choice([1, 50])), n)).astype(np.int64)
    qty = rng.choice([0.0, 1.0, 5.0, 10.0, 100.0, 0.5], n) * rng.choice([1.0, 1.0, 3.0], n)
    mine = rng.random(n) < 0.6
    k = int(mine.sum())
    owner = (rng.integers(0, n_owners, k) * 1_000_003).astype(np.int32)  # long, sparse codes
    orders = np.where(rng.random(k) < 0.1, -1, rng.integers(0, n_orders, k)).astype(np.int64)
    resting = np.where(rng.random(k) < 0.1, -1, rng.integers(0, n_orders, k)).astype(np.int64)
    return ts, qty, mine, owner, orders, resting


_CONFIGS = [
    mtc.MarkingTheCloseConfig(),
    mtc.MarkingTheCloseConfig(min_member_orders=1, min_book_reach=0.0, min_orders=2),
    mtc.MarkingTheCloseConfig(min_share=0.05, min_member_share=0.01, max_group=1, max_end_gap=1.0),
    mtc.MarkingTheCloseConfig(max_group=9, min_share=0.3, min_member_share=0.01, min_member_orders=1,
                              windows_minutes=(1.0, 3.0, 15.0, 30.0)),
    mtc.MarkingTheCloseConfig(windows_minutes=()),
]


@pytest.mark.parametrize("seed", range(60))
def test_side_screen_says_no_exactly_where_no_span_has_candidates(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref_us = 1_767_600_000_000_000
    found_any = 0
    for config in _CONFIGS:
        for n_owners, n_orders in ((1, 3), (3, 10), (8, 40), (40, 400)):
            rows = _side(rng, ref_us, int(rng.integers(0, 400)), n_owners, n_orders)
            gross = float(np.abs(rows[1]).sum())
            old = _old_side_found(rows, ref_us, 1e-8 * gross, config)
            new = mtc._side_may_pass(rows, ref_us, 1e-8 * gross, config)
            assert new == bool(old), (config, n_owners, n_orders)
            found_any += bool(old)
    assert found_any  # the random sides reach both answers


def test_side_screen_at_a_share_on_its_threshold() -> None:
    """A group's share at ``min_share``, or within rounding of it: the screen lets it through (``_candidates`` then
    decides, as before); clear of it, the two agree."""
    ref_us = 1_767_600_000_000_000
    config = mtc.MarkingTheCloseConfig(min_member_orders=1, min_book_reach=0.0, min_orders=1,
                                       min_member_share=0.01, windows_minutes=(2.0,))
    ts = np.array([ref_us - 10, ref_us - 5, ref_us - 3, ref_us - 2], np.int64)
    qty = np.array([0.1, 0.2, 0.3, 2.4])
    mine = np.array([True, True, True, False])
    owner = np.array([4, 5, 6], np.int32)
    ids = np.array([0, 1, 2], np.int64)
    rows = (ts, qty, mine, owner, ids, ids)
    for share in (0.2, 0.2 - 1e-15, 0.2 + 1e-15):
        cfg = config.model_copy(update={"min_share": share})
        assert mtc._side_may_pass(rows, ref_us, 0.0, cfg)
    for share in (0.1999, 0.2001):
        cfg = config.model_copy(update={"min_share": share})
        assert mtc._side_may_pass(rows, ref_us, 0.0, cfg) == bool(_old_side_found(rows, ref_us, 0.0, cfg))


def test_side_screen_at_the_end_gap() -> None:
    """The group's last leg exactly ``max_end_gap`` of the span before the reference time passes, a microsecond
    earlier it does not, in both readings."""
    ref_us = 1_767_600_000_000_000
    config = mtc.MarkingTheCloseConfig(min_member_orders=1, min_book_reach=0.0, min_orders=1, min_share=0.1,
                                       min_member_share=0.01, windows_minutes=(2.0,), max_end_gap=0.25)
    ids = np.array([0, 1], np.int64)
    for end, passes in ((ref_us - 30_000_000, True), (ref_us - 30_000_001, False)):
        rows = (np.array([ref_us - 60_000_000, end], np.int64), np.array([1.0, 1.0]), np.ones(2, bool),
                np.array([3, 3], np.int32), ids, ids)
        assert bool(_old_side_found(rows, ref_us, 0.0, config)) is passes
        assert mtc._side_may_pass(rows, ref_us, 0.0, config) is passes


def test_coded_bursts_as_the_numpy_reading() -> None:
    answers: set[bool] = set()
    for seed in range(60):
        answers |= _bursts_case(seed)
    assert answers == {True, False}  # the random cases reach both answers


def _bursts_case(seed: int) -> set[bool]:
    """``_coded_bursts`` against the reference on one random day, under several configurations (the answers)."""
    rng = np.random.default_rng(seed)
    ref_us = 1_767_600_000_000_000
    n, n_codes = int(rng.integers(5, 3000)), int(rng.integers(2, 60))
    us = np.sort(ref_us - rng.integers(0, 8 * 3_600_000_000, n)).astype(np.int64)
    if seed % 3 == 0:
        us = rng.permutation(us)  # any row order
    qty = rng.choice([1.0, 2.5, 10.0, 0.1, 1e-9], n)
    buyer = rng.integers(0, n_codes, n).astype(np.int32)
    seller = rng.integers(0, n_codes, n).astype(np.int32)
    found = []
    for minutes in (2.0, 5.0, 15.0):
        k = int(rng.integers(1, min(6, n_codes) + 1))
        names = np.sort(rng.choice(n_codes, k, replace=False)).astype(np.int32)
        found.append(mtc._Candidates(names, rng.random(k) * 50, rng.integers(1, 9, k), np.full(k, ref_us - 1),
                                     minutes, 60.0, 1e-6, ref_us))
    day = (us, qty, buyer, seller)
    answers = set()
    for intensity in (0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0):
        for share in (0.01, 0.3):
            config = mtc.MarkingTheCloseConfig(min_intensity=intensity, min_orders=1, min_share=share)
            old = _old_coded_bursts(day, found, config)
            assert mtc._coded_bursts(day, n_codes, found, config) == old
            answers.add(old)
    # the volumes themselves, bit for bit, against ``np.add.at``'s
    names = np.unique(np.concatenate([c.names for c in found]))
    b, s = np.isin(buyer, names), np.isin(seller, names)
    sides = [(hit, np.searchsorted(names, owner[hit]).astype(np.int64)) for hit, owner in ((b, buyer), (s, seller))]
    lo, hi = int(np.median(us)), int(us.max())
    for whole, mask in ((True, np.ones(n, bool)), (False, (us >= lo) & (us < hi))):
        ref = np.full(names.size, -0.125)
        for mine, at in sides:
            np.add.at(ref, at[mask[mine]], qty[mine][mask[mine]])
        got = mtc._name_volumes(us, qty, sides[0][0], sides[0][1], sides[1][0], sides[1][1], names.size, -0.125,
                                lo, hi, whole)
        assert np.array_equal(got, ref)
    return answers
