"""Spoofing/layering read their owners' running totals on the opposite side at each episode's start and stop by
binary search in the owner-and-side runs (``_totals_around``); checked here against the definition (the last
execution strictly before the start, the last at or before the stop, 0 when none) on random executions full of
time ties, with episodes of owners that never traded — and the as-of-join form kept for executions with a
missing time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from harbour.detect.market.cancelled_pressure import _totals_around, _totals_by_asof
from harbour.detect.market.frames import run_starts, stable_sort

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
OWNERS = ["a", "b", "c", "d"]


def _executions(rng: np.random.Generator, n: int) -> pl.DataFrame:
    ex = pl.DataFrame({
        "owner": rng.choice(OWNERS[:3], n).tolist(),  # "d" never trades
        "side": rng.choice(["buy", "sell"], n).tolist(),
        "ts": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 300, n)],  # whole seconds: ties
        "quantity": rng.random(n).tolist(),
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    ex = stable_sort(ex, ["owner", "side", "ts"])
    return ex.with_columns(cum_q=pl.col("quantity").cum_sum().over("owner", "side"),
                           cum_n=pl.int_range(1, pl.len() + 1).over("owner", "side").cast(pl.Int64))


def _episodes(rng: np.random.Generator, n: int) -> pl.DataFrame:
    start = rng.integers(-20, 320, n)
    return pl.DataFrame({
        "owner": rng.choice(OWNERS, n).tolist(),
        "opp_side": rng.choice(["buy", "sell"], n).tolist(),
        "start": [T0 + dt.timedelta(seconds=int(s)) for s in start],
        "stop": [T0 + dt.timedelta(seconds=int(s + w)) for s, w in zip(start, rng.integers(0, 60, n), strict=True)],
    }).with_columns(pl.col("start", "stop").cast(pl.Datetime("us", "UTC")))


def _starts(ex: pl.DataFrame) -> np.ndarray:
    return ex.select(run_starts(["owner", "side"])).to_series().to_numpy()


def _by_definition(eps: pl.DataFrame, ex: pl.DataFrame) -> list[list[float]]:
    rows = ex.with_row_index("i").to_dicts()
    out: list[list[float]] = [[], [], [], []]
    for ep in eps.to_dicts():
        mine = [r for r in rows if r["owner"] == ep["owner"] and r["side"] == ep["opp_side"]]
        before = [r for r in mine if r["ts"] < ep["start"]]
        upto = [r for r in mine if r["ts"] <= ep["stop"]]
        for k, picked in ((0, before), (2, upto)):
            last = max(picked, key=lambda r: r["i"]) if picked else None
            out[k].append(last["cum_q"] if last else 0.0)
            out[k + 1].append(last["cum_n"] if last else 0)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_totals_around_episodes_are_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ex, eps = _executions(rng, 400), _episodes(rng, 60)
    want = _by_definition(eps, ex)
    for got in (_totals_around(eps, ex, _starts(ex)), _totals_by_asof(eps, ex)):
        assert [s.to_list() for s in got] == want


def test_no_executions_and_missing_times() -> None:
    rng = np.random.default_rng(5)
    ex, eps = _executions(rng, 50), _episodes(rng, 10)
    empty = _totals_around(eps, ex.clear(), _starts(ex.clear()))
    assert [s.to_list() for s in empty] == [[0.0] * 10, [0] * 10, [0.0] * 10, [0] * 10]
    # a missing time never matches (the as-of form is taken); the rest are as without that row
    holed = ex.with_columns(ts=pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col("ts")))
    got = _totals_around(eps, holed, _starts(holed))
    assert [s.len() for s in got] == [10] * 4
    assert all(s.null_count() == 0 for s in got)
