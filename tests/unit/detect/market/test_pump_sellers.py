"""pump_and_dump runs the owners' positions only for the owners that sold enough over the phase (``_sellers``):
every owner whose sale from its high passes the share test is among them, and its position reads the same from
their trades alone as from everyone's — on random phases full of time ties, and at a share no owner reaches; a
quantity that is not finite reads every owner."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from harbour.detect.market.pump_and_dump import _sellers

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _phase(rng: np.random.Generator, n: int) -> pl.DataFrame:
    busy = 0.6 ** np.arange(12)  # a few busy owners and many occasional ones, as in a pump's phase
    return pl.DataFrame({
        "ts": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 600, n)],
        "trade_id": [f"t{i:04d}" for i in rng.integers(0, n, n)],
        "owner": rng.choice([f"o{i}" for i in range(12)], n, p=busy / busy.sum()).tolist(),
        "q": (rng.choice([1.0, -1.0], n) * rng.random(n).round(3)).tolist(),
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))


def _turns(phase: pl.DataFrame, least: float) -> pl.DataFrame:
    """The owners' positions as ``_actors`` reads them, with its share test."""
    return phase.sort("ts", "trade_id").with_columns(pos=pl.col("q").cum_sum().over("owner")) \
        .group_by("owner").agg(
            bought=pl.col("pos").max(), turn=pl.col("ts").get(pl.col("pos").arg_max()),
            low=pl.col("pos").slice(pl.col("pos").arg_max()).min(),
            gross_in=pl.col("q").abs().slice(0, pl.col("pos").arg_max() + 1).sum(),
            gross_out=pl.col("q").abs().slice(pl.col("pos").arg_max() + 1).sum(),
        ).with_columns(sold=pl.col("bought") - pl.col("low")).filter(pl.col("sold") >= least).sort("owner")


@pytest.mark.parametrize(("seed", "share"), [(1, 0.005), (2, 0.01), (3, 0.02), (4, 0.05), (5, 2.0)])
def test_the_sellers_hold_every_owner_that_passes(seed: int, share: float) -> None:
    phase = _phase(np.random.default_rng(seed), 800)
    least = share * float(phase.filter(pl.col("q") > 0)["q"].sum())
    sellers = _sellers(phase, least)
    assert sellers is not None
    want = _turns(phase, least)
    assert set(want["owner"]) <= set(sellers)
    assert_frame_equal(_turns(phase.filter(pl.col("owner").is_in(sellers.implode())), least), want)
    assert share > 1 or (want.height and sellers.len() < 12)  # some owners pass, and some are left out


def test_a_quantity_that_is_not_finite_reads_every_owner() -> None:
    phase = _phase(np.random.default_rng(6), 50)
    phase = phase.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(float("nan")).otherwise("q").alias("q"))
    assert _sellers(phase, 1.0) is None
