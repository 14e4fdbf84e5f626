"""insider_pre_listing reads the path of a trader's position (peak, held, settled) only for the traders whose sums
pass: the same rows and values as reading every trader's path in one group-by and filtering after — on random
legs with one-way accumulators among two-way traders, time ties and accounts outside the accumulation, by owner
and by account."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from harbour.detect.market.insider_pre_listing import InsiderPreListingConfig, _peak_position, _positions

AT = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)


def _phase(rng: np.random.Generator, n: int) -> pl.DataFrame:
    accounts = [f"a{i}" for i in range(30)]
    account = rng.choice(accounts, n)
    # the first few accounts accumulate before the news and sell after it; the others trade both ways
    minutes = rng.integers(-36 * 60, 24 * 60, n)
    insider = np.isin(account, accounts[:4])
    sign = np.where(insider, np.where(minutes < 0, 1.0, -1.0), rng.choice([1.0, -1.0], n))
    sign = np.where(insider & (rng.random(n) < 0.05), -sign, sign)
    ts = [AT + dt.timedelta(minutes=int(m)) for m in minutes]
    return pl.DataFrame({
        "ts": ts, "trade_id": [f"t{i:05d}" for i in range(n)], "account": account.tolist(),
        "owner": [f"c{int(a[1:]) // 2}" for a in account],  # two accounts a customer
        "q": (sign * rng.random(n).round(2)).tolist(),
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))).with_columns(
        when=pl.when(pl.col("ts") < AT - dt.timedelta(hours=24)).then(pl.lit("base"))
        .when(pl.col("ts") < AT).then(pl.lit("pre")).otherwise(pl.lit("post"))).sort("ts", "trade_id")


def _every_path(phase: pl.DataFrame, buyers: pl.Series, key: str, config: InsiderPreListingConfig) -> pl.DataFrame:
    """Every trader's sums and path in one group-by, then the filter (the formulation ``_positions`` replaced)."""
    per = phase.with_columns(acc=pl.col("account").is_in(buyers.unique().implode())).group_by(key).agg(
        net=pl.col("q").filter(pl.col("when") == "pre").sum(),
        held=pl.col("q").filter((pl.col("when") == "pre") & pl.col("acc")).sum(),
        gross=pl.col("q").filter(pl.col("when") == "pre").abs().sum(),
        base=pl.col("q").filter(pl.col("when") == "base").abs().sum(),
        sold_after=-pl.col("q").filter((pl.col("when") == "post") & (pl.col("q") < 0)).sum(),
        peak=_peak_position(),
        settled=pl.col("q").filter((pl.col("when") != "base") & pl.col("acc")
                                   & (pl.col("ts") < AT + dt.timedelta(minutes=config.news_grace_minutes))).sum(),
    )
    typical = float(per.filter(pl.col("gross") > 0)["net"].abs().median() or 0.0)
    return per.filter((pl.col("net") >= config.min_outlier * typical)
                      & (pl.col("net") >= config.min_directional * pl.col("gross"))
                      & (pl.col("base") <= config.max_baseline_ratio * pl.col("gross"))
                      & (pl.col("sold_after") >= config.min_exit * pl.col("net"))
                      & (pl.col("sold_after") <= config.max_exit * pl.col("net"))).sort(key) \
        .with_columns(at_news=pl.max_horizontal("held", "settled") >= (1 - config.max_drift) * pl.col("peak"))


@pytest.mark.parametrize("key", ["owner", "account"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_positions_are_every_traders_path_filtered(key: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    phase = _phase(rng, 1500)
    buyers = pl.Series(rng.choice([f"a{i}" for i in range(30)], 12).tolist())
    config = InsiderPreListingConfig(min_outlier=2.0, max_baseline_ratio=2.0)
    want = _every_path(phase, buyers, key, config)
    assert 0 < want.height < phase[key].n_unique()  # some traders pass, and not all
    assert_frame_equal(_positions(phase, buyers, key, AT, config), want)
