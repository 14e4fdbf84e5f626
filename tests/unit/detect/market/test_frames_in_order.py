"""frames._in_order and _arrow_in_order (the checks that let a partition's trades skip the canonical sort) against the
sort itself."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from harbour.detect.market.frames import _arrow_in_order, _in_order

ORDER = ["ts", "venue", "trade_id"]


def _trades(rng: np.random.Generator, n: int) -> pl.DataFrame:
    base = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    stamps = np.sort(rng.integers(0, 50, n))  # many ties: a taker's fills share a stamp
    return pl.DataFrame({
        "ts": [base + dt.timedelta(microseconds=int(s)) for s in stamps],
        "venue": rng.choice(["HBX", "KLN"], n).tolist(),
        "trade_id": [f"t-{i}" for i in rng.integers(0, 30, n)],
    })


def _sorted(df: pl.DataFrame) -> bool:
    return df.equals(df.sort(ORDER, maintain_order=True))


@pytest.mark.parametrize("seed", range(40))
def test_agrees_with_sorting_on_random_frames(seed: int) -> None:
    rng = np.random.default_rng(seed)
    df = _trades(rng, int(rng.integers(2, 60)))
    if seed % 2:
        df = df.sort(ORDER)  # half of them in order, where the check must say so
    assert _in_order(df, ORDER) == _sorted(df)
    assert _arrow_in_order(df.to_arrow(), ORDER) == _sorted(df)


def test_the_arrow_check_leaves_other_time_units_and_nulls_to_the_frame_check() -> None:
    """Times in nanoseconds may tie once cast to the kernels' microseconds, and a null has no place to check: the
    Arrow check says no, and the frame's check (after the cast) decides."""
    t = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    df = pl.DataFrame({"ts": [t, t + dt.timedelta(seconds=1)], "venue": ["A", "A"], "trade_id": ["b", "a"]})
    assert _arrow_in_order(df.to_arrow(), ORDER)
    nanos = df.to_arrow().set_column(0, "ts", df.to_arrow().column("ts").cast(pa.timestamp("ns", tz="UTC")))
    assert not _arrow_in_order(nanos, ORDER)
    assert not _arrow_in_order(pl.DataFrame({"ts": [t, None], "venue": ["A", "A"], "trade_id": ["a", "b"]}).to_arrow(),
                               ORDER)


def test_a_tie_broken_the_wrong_way_is_out_of_order() -> None:
    t = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    df = pl.DataFrame({"ts": [t, t, t + dt.timedelta(seconds=1)], "venue": ["A", "A", "A"],
                       "trade_id": ["b", "a", "c"]})
    assert not _in_order(df, ORDER)
    assert _in_order(df.sort(ORDER), ORDER)
    assert not _arrow_in_order(df.to_arrow(), ORDER)
    assert _arrow_in_order(df.sort(ORDER).to_arrow(), ORDER)


def test_nulls_short_frames_and_string_first_keys() -> None:
    t = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    with_null = pl.DataFrame({"ts": [t, None], "venue": ["A", "A"], "trade_id": ["a", "b"]})
    assert not _in_order(with_null, ORDER)
    assert _in_order(with_null.head(1), ORDER)
    words = pl.DataFrame({"k": ["a", "b", "b", "a"], "n": [1, 1, 2, 0]})
    assert not _in_order(words, ["k", "n"])
    assert _in_order(words.sort(["k", "n"]), ["k", "n"])
