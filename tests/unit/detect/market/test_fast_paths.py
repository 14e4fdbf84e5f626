"""The fast paths of the order-event kernels give exactly what the plain Polars formulations they replaced
give: front running's binary-search range join (with and without pruning) against a range join, and the
spoofing/layering running totals against window expressions — on random data full of time ties."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from harbour.detect.market.cancelled_pressure import _running_totals
from harbour.detect.market.front_running import _near

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _legs(rng: np.random.Generator, n: int) -> pl.DataFrame:
    # whole seconds over 20 minutes: many legs share a time, as the legs of one sweeping order do
    secs = rng.integers(0, 1200, n)
    return pl.DataFrame({
        "ts": [T0 + dt.timedelta(seconds=int(s)) for s in secs],
        "owner": rng.choice(["a", "b", "c", "d", "e"], n).tolist(),
        "side": rng.choice(["buy", "sell"], n).tolist(),
        "quantity": rng.random(n).tolist(),
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))).with_row_index("leg")


def _orders(rng: np.random.Generator, n: int) -> pl.DataFrame:
    first = rng.integers(30, 1100, n)
    return pl.DataFrame({
        "order_id": [f"o{i:03d}" for i in range(n)],
        "c_owner": rng.choice(["a", "b", "c", "d", "e"], n).tolist(),
        "c_side": rng.choice(["buy", "sell"], n).tolist(),
        "first": [T0 + dt.timedelta(seconds=int(s)) for s in first],
        "w0": [T0 + dt.timedelta(seconds=int(s) - 30) for s in first],
        "w1": [T0 + dt.timedelta(seconds=int(s) + int(rng.integers(0, 200))) for s in first],
    }).with_columns(pl.col("first", "w0", "w1").cast(pl.Datetime("us", "UTC")))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_near_is_the_range_join(seed: int) -> None:
    rng = np.random.default_rng(seed)
    legs, big = _legs(rng, 600), _orders(rng, 40)
    want = legs.join_where(big, pl.col("ts") >= pl.col("w0"), pl.col("ts") <= pl.col("w1")) \
        .select("order_id", "leg").sort("order_id", "leg")
    got = _near(legs, big, prune=False).select("order_id", "leg")
    assert got.equals(got.sort("order_id", "leg", maintain_order=True))  # each order's legs in legs' order
    assert got.sort("order_id", "leg").equals(want)
    # pruned: every leg ahead of the first fill, and afterwards only the other-side legs of owners that took
    # the order's side ahead of it
    joined = legs.join_where(big, pl.col("ts") >= pl.col("w0"), pl.col("ts") <= pl.col("w1"))
    ahead = pl.col("ts") < pl.col("first")
    takers = joined.filter(ahead & (pl.col("side") == pl.col("c_side"))).select("order_id", "owner").unique()
    after = joined.filter(~ahead & (pl.col("side") != pl.col("c_side"))).join(takers, on=["order_id", "owner"])
    want_pruned = pl.concat([joined.filter(ahead).select("order_id", "leg"), after.select("order_id", "leg")]) \
        .sort("order_id", "leg")
    pruned = _near(legs, big, prune=True).select("order_id", "leg")
    assert pruned.equals(pruned.sort("order_id", "leg", maintain_order=True))
    assert pruned.sort("order_id", "leg").equals(want_pruned)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_running_totals_are_the_window_sums(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ex = _legs(rng, 2000).with_columns(
        decision=pl.format("d{}", pl.Series(rng.integers(0, 300, 2000)))).sort("owner", "side", "ts")
    want = ex.with_columns(cum_q=pl.col("quantity").cum_sum().over("owner", "side"),
                           cum_n=pl.col("decision").is_first_distinct().cast(pl.Int64).cum_sum().over("owner", "side"))
    assert ex.with_columns(_running_totals(ex)).equals(want)
