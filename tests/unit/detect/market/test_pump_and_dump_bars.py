"""pump_and_dump's bars in numpy (``_sorted_bars``, for trades in time order without nulls, as ``frame`` hands
them) are Polars' bars: sort, dynamic grouping by the bar, the last price of each, upsampled and forward filled. On
random trades full of time ties, NaN prices, long gaps and times before the epoch; and the Polars reading still
serves trades out of order or with nulls."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import harbour.detect.market.pump_and_dump as pnd


def _plain_bars(t: pl.DataFrame, seconds: int) -> pl.DataFrame:
    bars = t.sort("ts").group_by_dynamic("ts", every=f"{seconds}s").agg(close=pl.col("price").last())
    if bars.height == 0:
        return bars
    return bars.upsample("ts", every=f"{seconds}s").with_columns(pl.col("close").forward_fill())


def bars_frame(bars: pnd._Bars) -> pl.DataFrame:
    """The bars as the frame Polars' dynamic grouping gives: a UTC time in microseconds and the close."""
    return pl.DataFrame({"ts": pl.Series(bars.us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
                         "close": bars.close})


def _trades(rng: np.random.Generator, n: int) -> pl.DataFrame:
    # coarse times: many trades share a microsecond, and bars end on ties
    us = np.sort(rng.integers(-10**9, 10**10, n) // int(rng.choice([1, 10**6, 3 * 10**7])) * 1000)
    price = rng.integers(1, 50, n) / 7.0
    price[rng.random(n) < 0.02] = np.nan
    return pl.DataFrame({"ts": pl.Series(us).cast(pl.Datetime("us", "UTC")), "price": price,
                         "trade_id": [f"t{i}" for i in range(n)]})


@pytest.mark.parametrize("seed", range(40))
def test_sorted_bars_are_the_polars_bars(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = _trades(rng, int(rng.integers(1, 2000)))
    seconds = int(rng.choice([1, 60, 300]))
    assert_frame_equal(bars_frame(pnd._bars(t, seconds)), _plain_bars(t, seconds))


def test_unsorted_null_and_empty_trades_take_the_polars_reading() -> None:
    rng = np.random.default_rng(0)
    t = _trades(rng, 500)
    shuffled = t.sample(fraction=1.0, shuffle=True, seed=1)
    assert_frame_equal(bars_frame(pnd._bars(shuffled, 60)), _plain_bars(shuffled, 60))
    nulls = t.with_columns(price=pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("price")))
    assert_frame_equal(bars_frame(pnd._bars(nulls, 60)), _plain_bars(nulls, 60))
    assert pnd._bars(t.clear(), 60).us.size == 0
