"""pump_and_dump reads an owner's accumulation legs (first buy, distinct buy orders up to its turn) and its first
sale after the turn in the same pass as its position (``_positions``), and drops the owners with too few buy
orders there: the same owners, in the same order, with the same figures as the plain reading that joined the
phase to the turns and grouped it again for each, on random legs full of time ties, size ties and null orders."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import harbour.detect.market.pump_and_dump as pnd

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _plain_positions(mine: pl.DataFrame, least: float, config: pnd.PumpAndDumpConfig) -> pl.DataFrame:
    """The positions, accumulation legs and first sales as ``_actors``, ``_campaigns`` and ``_off_news`` read
    them before ``_positions``."""
    per = mine.sort("ts", "trade_id").with_columns(pos=pl.col("q").cum_sum().over("owner")) \
        .group_by("owner").agg(
            bought=pl.col("pos").max(), turn=pl.col("ts").get(pl.col("pos").arg_max()),
            low=pl.col("pos").slice(pl.col("pos").arg_max()).min(),
            gross_in=pl.col("q").abs().slice(0, pl.col("pos").arg_max() + 1).sum(),
            gross_out=pl.col("q").abs().slice(pl.col("pos").arg_max() + 1).sum(),
        ).with_columns(sold=pl.col("bought") - pl.col("low")) \
        .filter((pl.col("sold") >= least)
                & (pl.col("sold") >= config.min_resold * pl.col("bought"))
                & (pl.col("bought") >= config.min_directional * pl.col("gross_in"))
                & (pl.col("sold") >= config.min_directional * pl.col("gross_out"))) \
        .sort(["bought", "owner"], descending=[True, False])
    legs = mine.join(per.select("owner", "turn"), on="owner") \
        .filter((pl.col("q") > 0) & (pl.col("ts") <= pl.col("turn")))
    acc = legs.group_by("owner").agg(first=pl.col("ts").min(), buys=pl.col("order").n_unique())
    per = per.join(acc, on="owner").filter(pl.col("buys") >= config.min_member_orders)
    first_sale = mine.join(per.select("owner", "turn"), on="owner") \
        .filter((pl.col("q") < 0) & (pl.col("ts") > pl.col("turn"))).group_by("owner").agg(sale=pl.col("ts").min())
    return per.join(first_sale, on="owner", how="left").sort(["bought", "owner"], descending=[True, False])


def _mine(rng: np.random.Generator, n: int) -> pl.DataFrame:
    quantity = rng.integers(1, 6, n) / 4  # few distinct sizes: owners tie on what they bought
    orders = [None if rng.random() < 0.1 else f"x{i}" for i in rng.integers(0, max(n // 3, 1), n)]
    return pl.DataFrame({
        "ts": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 3600, n)],  # whole seconds: time ties
        "trade_id": [f"t{i}" for i in range(n)],
        "owner": rng.choice([f"o{i}" for i in range(6)], n).tolist(),
        "quantity": quantity,
        # buying first, then selling: humps that pass the one-way tests, and noise that fails them
        "q": np.where(rng.random(n) < 0.6, 1.0, -1.0) * quantity,
        "order": pl.Series(orders, dtype=pl.String),
    }, schema_overrides={"trade_id": pl.String}).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))


@pytest.mark.parametrize("seed", range(8))
def test_positions_are_the_plain_positions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mine = _mine(rng, int(rng.integers(0, 400)))
    kept = 0
    for least, directional, orders in ((0.0, 0.0, 1), (1.0, 0.0, 3), (0.5, 0.5, 2), (2.0, 0.0, 12)):
        config = pnd.PumpAndDumpConfig(min_directional=directional, min_member_orders=orders, min_resold=0.0)
        want = _plain_positions(mine, least, config)
        got = pnd._positions(mine, least, config)
        assert_frame_equal(got.select(want.columns), want)
        kept += want.height
    assert kept or mine.height < 50  # owners pass on all but the smallest draws


def test_no_legs_no_positions() -> None:
    mine = _mine(np.random.default_rng(0), 0)
    assert pnd._positions(mine, 0.0, pnd.PumpAndDumpConfig()).height == 0
