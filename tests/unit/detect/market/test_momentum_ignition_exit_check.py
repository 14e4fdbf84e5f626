"""Momentum ignition's early exit: a partition whose bursts cannot pass the exit test's chance filter returns no
alert before the bursts' market, rival and order-book steps, and the check never turns away a burst the full
exit test keeps — on scenario markets with and without an ignition, and on random legs full of time ties, null
decisions and orders of several legs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

import harbour.detect.market.momentum_ignition as mi
from harbour.detect.framework import REGISTRY
from harbour.detect.market.frames import chance_of_any, span_join, string_ranks
from harbour.detect.market.scenarios import ScenarioMarket

from .spies import answers_of, screened_and_full

VENUE = "HBX"
S = dt.timedelta(seconds=1)
T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _market(seed: int, ignition: bool) -> ScenarioMarket:
    """A day of ordinary trading; with ``ignition``, IGN1 buys eight orders in twenty seconds as the price rises
    and sells about two thirds back into the rise (as in test_momentum_owner_context)."""
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=3000)
    if ignition:
        at = m.at(11, 20)
        m.impact(VENUE, at, 20, 120, 900, 0.008)
        for i in range(8):
            m.trade(VENUE, at + S * (i * 2.5), 3 * m.size, "IGN1", m.makers[i % len(m.makers)], "buy")
        for i in range(4):
            m.trade(VENUE, at + S * (40 + 15 * i), 4 * m.size, m.traders[i], "IGN1", "buy")
    return m.build()


def _checked(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The answers of the kernel's exit checks, in order."""
    return answers_of(monkeypatch, mi, "_exit_possible")


@pytest.mark.parametrize("seed", [41, 7])
def test_a_partition_without_an_incident_stops_before_the_market_steps(seed: int,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    d = REGISTRY.get("momentum_ignition")
    seen = _checked(monkeypatch)

    def unreachable(*_: Any) -> None:
        raise AssertionError("the market steps ran")

    monkeypatch.setattr(mi, "_reach", unreachable)
    assert d.kernel(_market(seed, ignition=False).partition(VENUE), d.default_config()).num_rows == 0
    assert seen == [False]


@pytest.mark.parametrize("seed", [41, 7])
def test_an_ignition_passes_the_check_and_gives_the_full_paths_alert(seed: int,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    d = REGISTRY.get("momentum_ignition")
    market = _market(seed, ignition=True)
    seen, got, want = screened_and_full(monkeypatch, mi, "_exit_possible",
                                        lambda: d.kernel(market.partition(VENUE), d.default_config()))
    assert seen == [True]
    assert got.num_rows == 1 and "IGN1" in got["accounts"][0].as_py()
    assert got.equals(want)


def _legs(rng: np.random.Generator, n: int) -> pl.DataFrame:
    """Random legs of six owners over two hours (ties in time), each order of one owner and side and often of
    several legs, a few decisions null."""
    owner = rng.choice(["a", "b", "ä", "c", "d", "e"], n, p=[0.3, 0.3, 0.1, 0.1, 0.1, 0.1])
    sign = rng.choice([1, -1], n)
    order = rng.integers(0, 40, n)
    decision = pl.Series([f"{o}{s}-{k}" for o, s, k in zip(owner, sign, order, strict=True)])
    return pl.DataFrame({
        "ts": pl.Series([T0 + dt.timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 7200, n))])
        .cast(pl.Datetime("us", "UTC")),
        "trade_id": [f"t{i}" for i in range(n)],
        "price": (100 + rng.random(n)).tolist(),
        "quantity": (0.1 + rng.random(n) * 5).tolist(),
        "account": owner.tolist(),
        "owner": owner.tolist(),
        "sign": pl.Series(sign, dtype=pl.Int32),
        "aggr": (rng.random(n) < 0.6).tolist(),
        "decision": decision.scatter(rng.integers(0, n, 10), None),
    })


def _exact_exits(bursts: pl.DataFrame, legs: pl.DataFrame, day_s: float,
                 config: mi.MomentumIgnitionConfig) -> pl.DataFrame:
    """The kernel's exit test (its owner's legs back, ``coincidence`` at most ``max_coincidence``) on every burst,
    with N - n_back beside it."""
    bursts = bursts.with_columns(direction=pl.col("q_signed").sign().cast(pl.Float64))
    post = dt.timedelta(seconds=config.post_seconds)
    back = span_join(legs, bursts.select("owner", "burst", "end", "direction", until=pl.col("end") + post),
                     key="owner", ts="ts", lo="end", hi="until", closed="right") \
        .filter(pl.col("sign") == -pl.col("direction")).rename({"owner": "b_owner"}) \
        .group_by("b_owner", "burst").agg(n_back=pl.col("decision").n_unique())
    rates = legs.group_by("owner", "sign").agg(n_side=pl.col("decision").n_unique(),
                                                rate=pl.col("decision").n_unique() / day_s) \
        .with_columns(direction=(-pl.col("sign")).cast(pl.Float64)).drop("sign")
    return bursts.join(back.rename({"b_owner": "owner"}), on=["owner", "burst"]) \
        .join(rates, on=["owner", "direction"], how="left").with_columns(
            unexplained=pl.col("n_side").cast(pl.Int64) - pl.col("n_back"),
            coincidence=chance_of_any((pl.col("rate").fill_null(0.0) - pl.col("n_back") / day_s).clip(0.0, None),
                                      config.post_seconds))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_check_never_turns_away_a_burst_the_exit_test_keeps(seed: int) -> None:
    rng = np.random.default_rng(seed)
    legs = _legs(rng, 3000)
    answers = set()
    for post, min_trades, max_chance in [(60.0, 2, 0.05), (600.0, 3, 0.3), (300.0, 2, 0.9), (900.0, 3, 0.999)]:
        config = mi.MomentumIgnitionConfig(burst_gap_seconds=30.0, post_seconds=post, min_trades=min_trades,
                                           max_coincidence=max_chance)
        runs = mi._aggressive_runs(legs, config)
        assert runs is not None
        bursts = mi._bursts(legs, config, runs)
        exits = _exact_exits(bursts, legs, 7200.0, config)
        possible = mi._exit_possible(runs, legs, 7200.0, config)
        assert possible or not (exits["coincidence"] <= max_chance).any()
        answers.add(possible)
        # the bound on N - n_back is exact without hash collisions, for every burst with legs back
        ends = bursts.select(o=pl.col("owner"), end=pl.col("end").dt.epoch("us"), side=-pl.col("q_signed").sign())
        lows = mi._exit_lows(runs.owner, runs.sign, runs.ts, legs["decision"].hash().to_numpy(),
                             string_ranks(pl.concat([legs["owner"], ends["o"]]))[0][legs.height:],
                             ends["side"].cast(pl.Int64).to_numpy(), ends["end"].to_numpy(),
                             int(post * 1_000_000))
        got = bursts.select("owner", "burst").with_columns(low=pl.Series(lows)).filter(pl.col("low") >= 0)
        assert got.sort("owner", "burst").equals(
            exits.select("owner", "burst", low="unexplained").sort("owner", "burst"))
        assert exits.height > 10
    assert answers == {True, False}


@pytest.mark.parametrize("seed", [1, 2])
def test_distinct_decisions_per_run_and_string_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(-1, 6, 500)
    ends = rng.random(500) < 0.2
    ends[-1] = True
    starts = np.append(0, np.flatnonzero(ends)[:-1] + 1)
    want = [len(set(codes[a:b + 1].tolist())) for a, b in zip(starts, np.flatnonzero(ends), strict=True)]
    assert mi._distinct_per_run(codes, ends).tolist() == want
    owners = pl.Series(rng.choice(["b", "a", "ä", "Z", "ab", "", "日本"], 300).tolist())
    ranks, values = string_ranks(owners)
    assert values.to_list() == sorted(set(owners.to_list()), key=lambda v: v.encode())
    assert [values[int(r)] for r in ranks] == owners.to_list()


def test_a_run_of_non_positive_quantity_leaves_the_decision_to_the_full_path() -> None:
    legs = _legs(np.random.default_rng(5), 600)
    config = mi.MomentumIgnitionConfig(burst_gap_seconds=30.0, max_coincidence=1e-9)
    runs = mi._aggressive_runs(legs, config)
    assert runs is not None and not mi._exit_possible(runs, legs, 7200.0, config)
    zero = legs.with_columns(quantity=legs["quantity"].scatter(int(runs.rows[0]), 0.0))
    runs = mi._aggressive_runs(zero, config)
    assert runs is not None and mi._exit_possible(runs, zero, 7200.0, config)


def test_runs_of_too_few_orders_are_no_burst() -> None:
    """A run long enough in legs but of one order (many fills): no burst, so no exit to test (the demo market has
    such partitions; the check once failed on them)."""
    n = 6
    legs = pl.DataFrame({
        "ts": pl.Series([T0 + dt.timedelta(seconds=i) for i in range(n)]).cast(pl.Datetime("us", "UTC")),
        "trade_id": [f"t{i}" for i in range(n)], "price": [100.0 + i for i in range(n)], "quantity": [1.0] * n,
        "account": ["a"] * n, "owner": ["a"] * n, "sign": pl.Series([1] * n, dtype=pl.Int32), "aggr": [True] * n,
        "decision": ["a-1"] * n,
    })
    config = mi.MomentumIgnitionConfig(burst_gap_seconds=30.0)
    runs = mi._aggressive_runs(legs, config)
    assert runs is not None and runs.rows.size == n
    assert not mi._exit_possible(runs, legs, 7200.0, config)
    assert mi._bursts(legs, config).height == 0
