"""pump_and_dump's compiled rolling median of the bars' closes (``_smoothed``) is Polars' centred rolling median to the
bit: odd windows (at the ends fewer bars, an even count among them), ties, magnitudes that round differently, and
fewer bars than the window; other input (an even window, a NaN or an infinite close, another float type) is left to
Polars."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import harbour.detect.market.pump_and_dump as pnd


def _polars(close: pl.Series, window: int) -> np.ndarray:
    return close.rolling_median(window_size=window, min_samples=1, center=True).to_numpy()


@pytest.mark.parametrize("seed", range(8))
def test_the_compiled_median_is_polars(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(300):
        n = int(rng.integers(1, 80))
        close = rng.uniform(0.1, 1000, n) * rng.choice([1.0, 1e-7, 1e7])
        if rng.random() < 0.5:
            close = np.round(close, 1)  # ties
        window = int(rng.choice([1, 3, 5, 9, 11, 15]))
        series = pl.Series("close", close)
        assert np.array_equal(pnd._rolling_median(close, window // 2), _polars(series, window)), (n, window)
        assert np.array_equal(pnd._smoothed(series, window), _polars(series, window))


def test_the_mean_of_the_middle_pair_would_differ() -> None:
    # the test above can fail: Polars' median of an even count is the lower value plus half the gap, which rounds
    # otherwise than the pair's mean on some values (the ends of every book-day's bars have even counts)
    rng = np.random.default_rng(0)
    pairs = np.sort((rng.uniform(0.1, 1000, 20_000) * 1e-7).reshape(-1, 2), axis=1)
    assert (pairs[:, 0] + (pairs[:, 1] - pairs[:, 0]) * 0.5 != pairs.mean(axis=1)).any()


@pytest.mark.parametrize("case", ["even window", "NaN", "inf", "float32"])
def test_other_input_is_polars(case: str) -> None:
    close = pl.Series("close", [1.0, 2.5, 2.0, 7.0, 3.0, 3.0, 9.0, 1.5])
    window = 9
    if case == "even window":
        window = 4
    elif case == "NaN":
        close = close.scatter(3, float("nan"))
    elif case == "inf":
        close = close.scatter(3, float("inf"))
    else:
        close = close.cast(pl.Float32)
    np.testing.assert_array_equal(pnd._smoothed(close, window), _polars(close, window))
