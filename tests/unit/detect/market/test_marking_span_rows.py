"""``_span_rows``: the slice of a frame in time order is the rows the filter keeps, and a frame out of order or with
a missing time takes the filter."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from harbour.detect.market import marking_the_close as mtc

_T0 = dt.datetime(2026, 1, 5, 7, 40, tzinfo=dt.UTC)


def _trades(seconds: list[float | None]) -> pl.DataFrame:
    ts = [None if s is None else _T0 + dt.timedelta(seconds=s) for s in seconds]
    return pl.DataFrame({"ts": ts, "quantity": [float(i) for i in range(len(ts))]},
                        schema={"ts": pl.Datetime("us", "UTC"), "quantity": pl.Float64})


def _filtered(t: pl.DataFrame, lo: dt.datetime, hi: dt.datetime) -> pl.DataFrame:
    return t.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))


@pytest.mark.parametrize("seconds", [
    [0, 60, 300, 300, 600, 899.999999, 900, 1200],   # in order, ties and the ends of the span
    [1200, 60, 300, 0, 600, 900],                     # out of order: the filter
    [0, 60, 300, None],                               # a missing time: the filter
    [], [450],
])
def test_the_rows_of_the_span_are_those_the_filter_keeps(seconds: list[float | None]) -> None:
    t = _trades(seconds)
    lo, hi = _T0 + dt.timedelta(seconds=300), _T0 + dt.timedelta(seconds=900)
    got = mtc._span_rows(t, mtc.micros(lo), mtc.micros(hi))
    assert got.equals(_filtered(t, lo, hi))


def test_a_random_sorted_day_slices_as_it_filters() -> None:
    rng = np.random.default_rng(7)
    t = _trades(sorted(rng.uniform(0, 3600, 500).round(3).tolist()))
    for lo_s, hi_s in ((0, 3600), (100, 101), (1000, 2500), (3599, 4000), (-10, 0)):
        lo, hi = _T0 + dt.timedelta(seconds=lo_s), _T0 + dt.timedelta(seconds=hi_s)
        assert mtc._span_rows(t, mtc.micros(lo), mtc.micros(hi)).equals(_filtered(t, lo, hi))
