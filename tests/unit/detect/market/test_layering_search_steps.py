"""Steps of the spoofing/layering episode search (``cancelled_pressure``) rewritten to cost less, checked against
the forms they replaced on random inputs full of ties, with nulls and empty frames: the episode numbers (one
compiled pass instead of three window expressions), the bait that took liquidity (one filter instead of an
anti-join), the executions' sort (owner and side alone when each side is already in time order), and the tail of
``_with_opposite`` (the owners' executions inside their hits summed by a window, k and the repeat chance joined
at once)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

import harbour.detect.market.cancelled_pressure as cp
from harbour.detect.market.cancelled_pressure import (
    PressureConfig,
    _by_owner_side_time,
    _episode_numbers,
    _resting,
    _with_opposite,
)
from harbour.detect.market.frames import chance_of_any, poisson_tail, run_starts, stable_sort

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _times(seconds: np.ndarray) -> list[dt.datetime]:
    return [T0 + dt.timedelta(seconds=int(s)) for s in seconds]


def _bait(rng: np.random.Generator, n: int, nulls: bool) -> pl.DataFrame:
    owners: list[str | None] = rng.choice(["a", "b", "c"], n).tolist()
    sides: list[str | None] = rng.choice(["buy", "sell"], n).tolist()
    if nulls and n:
        for i in rng.integers(0, n, max(1, n // 8)):
            owners[i] = None
        for i in rng.integers(0, n, max(1, n // 10)):
            sides[i] = None
    placed = rng.integers(0, 200, n)  # whole seconds: ties in placement and cancel times
    return pl.DataFrame({
        "order_id": [f"o{i}" for i in range(n)], "owner": owners, "side": sides,
        "placed": _times(placed), "cancelled": _times(placed + rng.integers(0, 40, n)),
    }, schema_overrides={"owner": pl.String, "side": pl.String}) \
        .with_columns(pl.col("placed", "cancelled").cast(pl.Datetime("us", "UTC"))).sort("owner", "side", "placed")


def _windowed(bait: pl.DataFrame) -> list[int]:
    """The episode numbers as the window expressions gave them."""
    return bait.with_columns(prev_end=pl.col("cancelled").cum_max().shift(1).over("owner", "side")) \
        .with_columns(new_ep=(pl.col("prev_end").is_null() | (pl.col("placed") > pl.col("prev_end"))).cast(pl.Int32)) \
        .select(pl.col("new_ep").cum_sum().over("owner", "side"))["new_ep"].to_list()


@pytest.mark.parametrize("seed", range(12))
def test_episode_numbers_are_the_windows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bait = _bait(rng, int(rng.integers(0, 120)), nulls=seed % 2 == 1)
    got = _episode_numbers(bait)
    assert got.dtype == pl.Int32 and got.name == "ep"
    assert got.to_list() == _windowed(bait)


def _trades(rng: np.random.Generator, n: int, ids: list[str]) -> pl.DataFrame:
    pool = ids + [f"t{i}" for i in range(20)]
    def pick() -> list[str | None]:
        return [None if rng.random() < 0.1 else str(rng.choice(pool)) for _ in range(n)]
    return pl.DataFrame({"buy_order_id": pick(), "sell_order_id": pick(),
                         "aggressor": [None if rng.random() < 0.2 else str(rng.choice(["buy", "sell"]))
                                       for _ in range(n)]},
                        schema={"buy_order_id": pl.String, "sell_order_id": pl.String, "aggressor": pl.String})


def _resting_joined(bait: pl.DataFrame, trades: pl.DataFrame) -> pl.DataFrame:
    """The takers left out by an anti-join, as before."""
    took = pl.concat([trades.filter(pl.col("aggressor") == "buy").select(order_id="buy_order_id"),
                      trades.filter(pl.col("aggressor") == "sell").select(order_id="sell_order_id")])
    took = took.filter(pl.col("order_id").is_in(bait["order_id"].implode()))
    return bait.join(took.unique(), on="order_id", how="anti")


@pytest.mark.parametrize("seed", range(12))
def test_resting_bait_is_the_anti_join(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    ids: list[str | None] = [f"o{i}" for i in range(n)]
    for i in rng.integers(0, max(n, 1), n // 6):
        ids[i] = None  # the group-by path can give a life story without an id
    bait = pl.DataFrame({"order_id": ids, "x": np.arange(n)}, schema={"order_id": pl.String, "x": pl.Int64})
    trades = _trades(rng, int(rng.integers(1, 80)), [i for i in ids if i is not None])
    assert _resting(bait, trades).equals(_resting_joined(bait, trades))


def _legs(rng: np.random.Generator, n: int, nulls: bool) -> pl.DataFrame:
    """Executions in ``executions``' form: the buys, then the sells, each in time order (with ties)."""
    sides = sorted(rng.choice(["buy", "sell"], n).tolist())
    ts = np.concatenate([np.sort(rng.integers(0, 50, sides.count("buy"))),
                         np.sort(rng.integers(0, 50, sides.count("sell")))])
    owners: list[str | None] = rng.choice(["m", "a", "zz", "b"], n).tolist()
    if nulls and n:
        owners[int(rng.integers(0, n))] = None
    return pl.DataFrame({"trade_id": [f"t{i}" for i in range(n)], "ts": _times(ts), "side": sides, "owner": owners},
                        schema_overrides={"owner": pl.String, "side": pl.String}) \
        .with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))


@pytest.mark.parametrize("seed", range(12))
def test_executions_sort_is_the_stable_sort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    legs = _legs(rng, int(rng.integers(0, 80)), nulls=seed % 4 == 3)
    shuffled = legs.sample(fraction=1.0, seed=seed)  # out of time order: the full sort
    for ex in (legs, shuffled, legs.head(1)):
        assert _by_owner_side_time(ex).equals(stable_sort(ex, ["owner", "side", "ts"]))


def test_executions_sort_takes_one_key_when_in_time_order(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(cp, "stable_sort", lambda df, by: calls.append(df.height) or stable_sort(df, by))
    legs = _legs(np.random.default_rng(7), 60, nulls=False)
    _by_owner_side_time(legs)
    assert calls == []
    _by_owner_side_time(legs.reverse())
    assert calls == [60]


def _old_with_opposite(eps: pl.DataFrame, ex: pl.DataFrame, median: float, day_s: float,
                       config: PressureConfig) -> pl.DataFrame:
    """``_with_opposite``'s found episodes as computed before (a group-by joined back, two joins of ``fam``)."""
    ex = stable_sort(ex, ["owner", "side", "ts"]).with_columns(decision=pl.coalesce("ex_order", "trade_id"))
    starts = ex.select(run_starts(["owner", "side"])).to_series().to_numpy()
    ex = ex.with_columns(cp._running_totals(ex, starts))
    rate = ex.filter(pl.Series(np.roll(starts, -1))).select("owner", "side", rate=pl.col("cum_n") / day_s)
    eps = eps.with_columns(opp_side=pl.when(pl.col("side") == "buy").then(pl.lit("sell")).otherwise(pl.lit("buy")),
                           stop=pl.col("end") + dt.timedelta(seconds=config.grace_s), n_eps=pl.len().over("owner"))
    found = eps.with_columns(cp._totals_around(eps, ex, starts)) \
        .join(rate.rename({"side": "opp_side"}), on=["owner", "opp_side"], how="left") \
        .with_columns(opp_qty=pl.col("q1") - pl.col("q0"), opp_n=pl.col("n1") - pl.col("n0"),
                      span_s=(pl.col("stop") - pl.col("start")).dt.total_seconds()) \
        .with_columns(coincidence=chance_of_any(pl.col("rate").fill_null(0.0) * pl.col("n_eps"), pl.col("span_s"))) \
        .with_columns(hit=(pl.col("opp_n") > 0) & (pl.col("bait_qty") >= config.min_imbalance * pl.col("opp_qty"))
                      & (pl.col("opp_qty") >= config.min_opposite_multiple * median))
    inside = found.filter(pl.col("hit")).group_by("owner", "opp_side").agg(inside=pl.col("opp_n").sum())
    found = found.join(inside, on=["owner", "opp_side"], how="left").with_columns(
        chance=chance_of_any((pl.col("rate").fill_null(0.0) * day_s - pl.col("inside").fill_null(0)).clip(1.0, None)
                             / day_s, pl.col("span_s"))).drop("inside")
    fam = found.group_by("owner").agg(k=pl.col("hit").sum(), lam=pl.col("chance").sum()).filter(pl.col("k") > 0)
    fam = fam.with_columns(repeat_chance=pl.Series(
        [poisson_tail(int(k), float(lam)) for k, lam in zip(fam["k"], fam["lam"], strict=True)], dtype=pl.Float64))
    found = found.join(fam.select("owner", "k"), on="owner", how="left").with_columns(
        coincidence=pl.when(pl.col("k") > 1).then(chance_of_any(pl.col("rate").fill_null(0.0), pl.col("span_s")))
        .otherwise(pl.col("coincidence"))).drop("k")
    return found.filter(pl.col("hit")).join(fam.select("owner", "repeat_chance"), on="owner") \
        .drop("hit", "chance", "span_s")


@pytest.mark.parametrize("seed", range(8))
def test_with_opposite_finds_what_it_found(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    legs = _legs(rng, n, nulls=False).with_columns(
        quantity=pl.Series(rng.integers(1, 5, n).astype(float)),
        ex_order=pl.Series([None if rng.random() < 0.1 else f"x{int(i)}" for i in rng.integers(0, n // 3 + 1, n)],
                           dtype=pl.String))
    m = int(rng.integers(1, 40))
    start = rng.integers(0, 50, m)
    eps = pl.DataFrame({"owner": rng.choice(["m", "a", "zz", "b", "q"], m).tolist(),
                        "side": rng.choice(["buy", "sell"], m).tolist(), "ep": np.arange(m, dtype=np.int32),
                        "start": _times(start), "end": _times(start + rng.integers(0, 10, m)),
                        "bait_qty": rng.integers(1, 20, m).astype(float)}) \
        .with_columns(pl.col("start", "end").cast(pl.Datetime("us", "UTC")))
    # every chance passes max_coincidence 1.0: the owner screen (``_owners_who_may_alert``, tested on its own) then
    # drops only the owners without a hit, whose episodes the old form dropped too
    config = PressureConfig(min_imbalance=1.0, min_opposite_multiple=0.5, max_coincidence=1.0)
    key = ["owner", "side", "ep"]
    got = _with_opposite(eps, legs, 2.0, 3600.0, config, pl.DataFrame()).found
    want = _old_with_opposite(eps, legs, 2.0, 3600.0, config).sort(key)
    if got.height == 0:
        assert want.height == 0
        return
    got = got.sort(key)
    assert got.columns == want.columns
    assert got.drop("repeat_chance").equals(want.drop("repeat_chance"))
    # the family's sum of chances is taken in the group-by's row order, as before: equal up to the last bits
    assert np.allclose(got["repeat_chance"].to_numpy(), want["repeat_chance"].to_numpy(), rtol=1e-12, atol=0.0)
