"""span_join gives the rows of an inner join on the key filtered by the span, in span-then-row order."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from harbour.detect.market.frames import span_join

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _scene(seed: int, n_rows: int = 400, n_spans: int = 60) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    owners = [f"A{i}" for i in range(8)]
    ts = [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 600, n_rows)]
    ts[3] = None  # a row without a time stamp matches no span
    rows = pl.DataFrame({"owner": [owners[i] for i in rng.integers(0, 8, n_rows)], "ts": ts,
                         "q": rng.random(n_rows)}, schema_overrides={"ts": pl.Datetime("us", "UTC")})
    rows = rows.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("owner")).alias("owner"))
    start = rng.integers(0, 600, n_spans)
    spans = pl.DataFrame({"owner": [owners[i] for i in rng.integers(0, 9, n_spans) % 8] , "span": np.arange(n_spans),
                          "start": [T0 + dt.timedelta(seconds=int(s)) for s in start],
                          "stop": [T0 + dt.timedelta(seconds=int(s + w)) for s, w in
                                   zip(start, rng.integers(0, 90, n_spans), strict=True)]},
                         schema_overrides={"start": pl.Datetime("us", "UTC"), "stop": pl.Datetime("us", "UTC")})
    return rows, spans


@pytest.mark.parametrize("closed", ["both", "left", "right", "none"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_keyed_span_join_equals_join_then_filter(seed, closed):
    rows, spans = _scene(seed)
    plain = spans.join(rows.with_row_index("_r"), on="owner").filter(
        pl.col("ts").is_between(pl.col("start"), pl.col("stop"), closed=closed)).sort("span", "_r").drop("_r")
    fast = span_join(rows, spans, key="owner", ts="ts", lo="start", hi="stop", closed=closed)
    assert fast.select(plain.columns).equals(plain)


def test_unkeyed_span_join_and_bad_input():
    rows, spans = _scene(4)
    plain = spans.drop("owner").join(rows, how="cross").filter(
        pl.col("ts").is_between(pl.col("start"), pl.col("stop")))
    fast = span_join(rows, spans.drop("owner"), ts="ts", lo="start", hi="stop")
    assert fast.height == plain.height > 0
    assert fast.sort("span", "ts", "q").equals(plain.sort("span", "ts", "q").select(fast.columns))
    with pytest.raises(TypeError):
        span_join(rows, spans.with_columns(pl.col("start").cast(pl.Datetime("ms", "UTC"))), ts="ts", lo="start",
                  hi="stop")
    assert span_join(rows.head(0), spans, key="owner", ts="ts", lo="start", hi="stop").height == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_run_numbers_equal_a_windowed_count(seed):
    """run_numbers on rows sorted by the keys gives what counting cuts within each key group gives."""
    from harbour.detect.market.frames import run_numbers

    rng = np.random.default_rng(seed)
    n = 500
    df = pl.DataFrame({"a": [f"A{i}" for i in rng.integers(0, 5, n)], "b": rng.integers(0, 2, n),
                       "t": rng.integers(0, 50, n)}).sort("a", "b", "t")
    cut = pl.col("t").diff() > 3
    want = df.select(((cut.over("a", "b").fill_null(True)) | (pl.int_range(pl.len()).over("a", "b") == 0))
                     .cast(pl.Int32).cum_sum().over("a", "b").alias("run"))
    got = df.select(run_numbers(["a", "b"], cut).alias("run"))
    assert got.equals(want) and got["run"].min() == 1
