"""``span_join``'s key codes (Arrow's dictionary encoding, ranked in the spans' string order) and its skipped sort
(rows already in key and time order) give the rows of an inner join on the key filtered by the span."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from harbour.detect.market import frames

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _span_scene(seed: int, n_rows: int, n_spans: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    keys = ["b", "a", "é", "", "ab", None]
    rows = pl.DataFrame({"owner": [keys[i] for i in rng.integers(0, 6, n_rows)],
                         "ts": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 100, n_rows)],
                         "q": np.arange(n_rows)}, schema={"owner": pl.String, "ts": pl.Datetime("us", "UTC"),
                                                          "q": pl.Int64})
    start = rng.integers(0, 100, n_spans)
    spans = pl.DataFrame({"owner": [keys[i] for i in rng.integers(1, 6, n_spans)], "span": np.arange(n_spans),
                          "start": [T0 + dt.timedelta(seconds=int(s)) for s in start],
                          "stop": [T0 + dt.timedelta(seconds=int(s + 20)) for s in start]},
                         schema={"owner": pl.String, "span": pl.Int64, "start": pl.Datetime("us", "UTC"),
                                 "stop": pl.Datetime("us", "UTC")})
    return rows, spans


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("sizes", [(300, 40), (0, 5), (5, 0), (1, 1)])
@pytest.mark.parametrize("presorted", [False, True])
def test_span_join_on_rows_sorted_by_key_and_time(seed, sizes, presorted):
    """Rows already in key and time order skip the sort; the keys are coded in the spans' string order."""
    rows, spans = _span_scene(seed, *sizes)
    if presorted:
        rows = rows.sort("owner", "ts", nulls_last=True, maintain_order=True)
    plain = spans.join(rows.with_row_index("_r"), on="owner").filter(
        pl.col("ts").is_between(pl.col("start"), pl.col("stop"))).sort("span", "_r").drop("_r")
    fast = frames.span_join(rows, spans, key="owner", ts="ts", lo="start", hi="stop")
    assert fast.select(plain.columns).equals(plain)
