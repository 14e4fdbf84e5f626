"""The pressure screen's fused reads against the reads they replace, on generated markets and awkward columns: the
times read in place (``row_order.time_values``) against Arrow's cast, the bait's sides read in one call
(``_buys_and_sells_at``) against two ``_equal`` calls, the bait's single-order tests in one pass (``_single_tests``)
against numpy's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import harbour.detect.market.pressure_screen as ps
from harbour.data.row_order import time_values

from .test_pressure_screen import _partitions, _spoof_market


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _spoof_market(tmp_path_factory.mktemp("fused"), 41)


def _cast(col: pa.ChunkedArray) -> np.ndarray:
    """The read ``row_order.time_values`` replaced."""
    return np.asarray(pc.cast(col, pa.int64()).to_numpy(), np.int64)


def _two_calls(col: pa.ChunkedArray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The read ``_buys_and_sells_at`` replaced."""
    buf = ps._buffers(col)
    return ps._equal(buf, rows, ps._BUY), ps._equal(buf, rows, ps._SELL)


def test_the_generated_markets_times_and_sides_read_as_before(lake: Path) -> None:
    rng = np.random.default_rng(7)
    seen = 0
    for part in _partitions(lake):
        for table in ("orders", "trades"):
            ts = part.tables[table].column("ts")
            assert np.array_equal(time_values(ts), _cast(ts))
        side = part.tables["orders"].column("side")
        rows = rng.integers(0, len(side), 500)
        got = ps._buys_and_sells_at(*ps._buffers(side), rows)
        want = _two_calls(side, rows)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        seen += 1
    assert seen > 0


@pytest.mark.parametrize("seed", range(20))
def test_awkward_times_read_as_the_cast_does(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 50))
    values = rng.integers(-2**40, 2**52, n)
    values[rng.random(n) < 0.3] = 0  # ties and the epoch
    tz = [None, "UTC", "Europe/London"][seed % 3]
    arr = pa.array(values, pa.timestamp("us", tz))
    start = int(rng.integers(0, n + 1))
    pieces = [arr.slice(0, start), arr.slice(start)] if seed % 2 else [arr.slice(min(start, n))]  # sliced, chunked
    col = pa.chunked_array(pieces, arr.type)
    assert np.array_equal(time_values(col), _cast(col))
    # other units take the cast, as before
    ns = pa.chunked_array([pa.array(values, pa.timestamp("ns"))])
    assert np.array_equal(time_values(ns), _cast(ns))


@pytest.mark.parametrize("seed", range(20))
def test_awkward_sides_read_as_two_calls(seed: int) -> None:
    rng = np.random.default_rng(seed)
    words = ["buy", "sell", "", "buyer", "bu", "Buy", "sel", "sells", "sell\x00", "a much longer side than any", None]
    n = int(rng.integers(1, 80))
    col = pa.array([words[k] for k in rng.integers(0, len(words), n)], pa.string())
    if seed % 2:
        col = col.slice(int(rng.integers(0, n)))  # an offset into the buffers
    chunked = pa.chunked_array([col], pa.string())
    rows = rng.integers(0, len(col), int(rng.integers(0, 40))) if len(col) else np.zeros(0, np.int64)
    got = ps._buys_and_sells_at(*ps._buffers(chunked), rows.astype(np.int64))
    want = _two_calls(chunked, rows.astype(np.int64))
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def _numpy_tests(cancelled: np.ndarray, life: np.ndarray, new_size: np.ndarray, named: np.ndarray,
                 filled: np.ndarray, size: np.ndarray, max_life: int, big: float, fill_ratio: float,
                 slack: float) -> np.ndarray:
    """The numpy passes ``_single_tests`` replaced."""
    return (cancelled > ps._NONE) & (life <= max_life) & ((new_size >= big) | (named > 0)) \
        & (filled <= fill_ratio * size * slack)


@pytest.mark.parametrize("seed", range(30))
def test_single_order_tests_in_one_pass_as_numpys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    placed = rng.integers(0, 10_000, n)
    cancelled = np.where(rng.random(n) < 0.2, ps._NONE, placed + rng.integers(-50, 5_000, n))
    life = cancelled - placed
    pick = [0.0, 1.0, 99.99999999, 100.0, 100.00000001, 250.0, np.nan, -1.0]
    new_size = np.array(pick, np.float64)[rng.integers(0, len(pick), n)]
    size = np.maximum(new_size, np.array(pick, np.float64)[rng.integers(0, len(pick), n)])
    filled = np.round(size * rng.random(n), int(rng.integers(0, 3)))
    filled[rng.random(n) < 0.1] = np.nan
    named = rng.integers(0, 3, n)
    args = (cancelled, life, new_size, named, filled, size, int(rng.integers(0, 3_000)), 100.0 * (1 - 1e-9),
            float(rng.choice([0.0, 0.1, 0.5, 1.0])), 1 + 1e-9)
    keep, rows = ps._single_tests(*args)
    want = _numpy_tests(*args)
    assert keep.tolist() == want.tolist() and rows.tolist() == np.flatnonzero(want).tolist()

