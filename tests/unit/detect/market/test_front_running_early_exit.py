"""Front running's early exits: a partition where no owner near a large order can pass the size tests returns no
alert before the joins, habits and tests of the full path (and one with no candidate, before the habits), and the
check never turns away an owner the kernel's size filter keeps — on scenario markets with and without a runner,
and on random legs full of time ties, null owners, many owners and inputs the compiled pass cannot read (NaN
quantities, a large order without a side)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

import harbour.detect.market.front_running as fr
import harbour.detect.market.front_running_screens as frs
from harbour.detect.framework import REGISTRY

from .front_scenarios import VENUE, client_order_market
from .spies import answers_of, screened_and_full

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _checked(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The answers of the kernel's size checks, in order."""
    return answers_of(monkeypatch, fr, "_may_pass_sizes")


@pytest.mark.parametrize("seed", [12, 7])
def test_a_partition_without_a_runner_stops_before_the_joins(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    d = REGISTRY.get("front_running")
    market = client_order_market(seed, runner=False)
    seen = _checked(monkeypatch)

    def unreachable(*_: Any) -> None:
        raise AssertionError("the full path ran")

    monkeypatch.setattr(fr, "_near_joined", unreachable)
    assert d.kernel(market.partition(VENUE), d.default_config()).num_rows == 0
    assert seen == [False]


def test_no_candidate_stops_before_the_habits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the check (forced here), a partition whose owners all fail the size filter skips the habits."""
    d = REGISTRY.get("front_running")
    market = client_order_market(12, runner=False)
    candidates: list[int] = []
    found = fr._candidates

    def spy(*args: Any) -> pl.DataFrame:
        candidates.append(found(*args).height)
        return found(*args)

    def unreachable(*_: Any) -> None:
        raise AssertionError("the habits ran")

    monkeypatch.setattr(fr, "_may_pass_sizes", lambda *_: True)
    monkeypatch.setattr(fr, "_candidates", spy)
    monkeypatch.setattr(fr, "_with_habits", unreachable)
    assert d.kernel(market.partition(VENUE), d.default_config()).num_rows == 0
    assert candidates == [0]


@pytest.mark.parametrize("seed", [12, 7])
def test_a_runner_passes_the_check_and_gives_the_full_paths_alert(seed: int,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    d = REGISTRY.get("front_running")
    market = client_order_market(seed, runner=True)
    seen, got, want = screened_and_full(monkeypatch, fr, "_may_pass_sizes",
                                        lambda: d.kernel(market.partition(VENUE), d.default_config()))
    assert seen == [True]
    assert got.num_rows == 1 and "RUN1" in got["accounts"][0].as_py()
    assert got.equals(want)


def _times(secs: np.ndarray) -> pl.Series:
    return pl.Series([T0 + dt.timedelta(seconds=int(s)) for s in secs]).cast(pl.Datetime("us", "UTC"))


def _scene(rng: np.random.Generator, n_owners: int) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    """Random legs (time ties, null owners) and large orders around them, and the median trade."""
    n, m = 1500, 25
    owners = [f"c{i}" for i in range(n_owners)]
    legs = pl.DataFrame({
        "ts": _times(rng.integers(0, 1200, n)),
        "owner": pl.Series(rng.choice(owners, n).tolist()).scatter(rng.integers(0, n, 20), None),
        "side": rng.choice(["buy", "sell"], n).tolist(),
        "quantity": pl.Series(rng.integers(1, 40, n).astype(float)).scatter(rng.integers(0, n, 10), None),
        "aggr": rng.random(n) < 0.7,
    })
    first = rng.integers(30, 1100, m)
    big = pl.DataFrame({
        "order_id": [f"o{i:03d}" for i in range(m)], "c_owner": rng.choice(owners, m).tolist(),
        "c_side": rng.choice(["buy", "sell"], m).tolist(), "first": _times(first), "w0": _times(first - 30),
        "w1": _times(first + rng.integers(0, 300, m)), "c_qty": rng.integers(20, 400, m).astype(float),
    })
    return legs, big, float(legs["quantity"].median())  # type: ignore[arg-type]


def _passing_pairs(legs: pl.DataFrame, big: pl.DataFrame, median_trade: float, least: np.ndarray,
                   config: fr.FrontRunningConfig) -> int:
    """The (order, owner) pairs of the kernel's size filter, ``into`` taken as it most lets through, on the
    near legs of every owner (the large order's own too): what the check answers for, by strings."""
    ahead_same = pl.col("ahead") & pl.col("same")
    q_pre, q_out, c_qty = pl.col("q_pre"), pl.col("q_out"), pl.col("c_qty")
    return frs._near(legs, big, prune=True, least=least).with_columns(
        ahead=pl.col("ts") < pl.col("first"), same=pl.col("side") == pl.col("c_side"),
    ).filter(pl.col("sized")).group_by("order_id", "owner").agg(
        q_pre=pl.col("quantity").filter(ahead_same).sum(),
        q_aggr=pl.col("quantity").filter(ahead_same & pl.col("aggr")).sum(),
        q_out=pl.col("quantity").filter(~pl.col("ahead") & ~pl.col("same")).sum(),
    ).join(big.select("order_id", "c_qty"), on="order_id").filter(
        (q_pre >= config.min_ratio * c_qty) & (q_pre <= config.max_ratio * c_qty)
        & (q_out >= min(config.min_unwind, config.into_min_unwind) * q_pre) & (q_out <= config.max_unwind * q_pre)
        & (pl.col("q_aggr") >= config.min_aggressive * q_pre)
        & (q_pre >= config.min_position_multiple * median_trade)
    ).height


@pytest.mark.parametrize("seed", range(8))
def test_the_check_is_the_size_filter_on_random_legs(seed: int) -> None:
    """Both answers come up over the seeds and configurations, and each is the Polars filter's."""
    rng = np.random.default_rng(seed)
    legs, big, median_trade = _scene(rng, n_owners=[4, 40, 300][seed % 3])
    answers = set()
    for multiple, max_unwind in [(5.0, 1.5), (2.0, 4.0), (0.5, 1.5), (8.0, 0.8)]:
        config = fr.FrontRunningConfig(min_position_multiple=multiple, max_unwind=max_unwind)
        least = np.maximum(config.min_ratio * big["c_qty"].to_numpy(),
                           config.min_position_multiple * median_trade) * (1 - 1e-9)
        index = frs._near_index(legs, big, prune=True, least=least)
        got = fr._may_pass_sizes(frs.legs_of(legs), frs.big_of(big), index, median_trade, config)
        assert got == (_passing_pairs(legs, big, median_trade, least, config) > 0)
        answers.add(got)
    assert seed % 3 == 0 or answers == {True, False}


def test_inputs_the_compiled_pass_cannot_read_pass_the_check() -> None:
    """A NaN quantity (Polars puts NaN above every number), a large order without a side (its legs count on
    neither side in Polars) or of another side, an infinite size, two large orders of one id (missed placements
    summed as one in the kernel): the check answers True and the full path decides."""
    rng = np.random.default_rng(3)
    legs, big, median_trade = _scene(rng, n_owners=40)
    config = fr.FrontRunningConfig(min_position_multiple=50.0)  # no owner passes on the clean scene
    least = np.full(big.height, 1.0)

    index = frs._near_index(legs, big, True, least)

    def check(legs: pl.DataFrame, big: pl.DataFrame) -> bool:
        return fr._may_pass_sizes(frs.legs_of(legs), frs.big_of(big), index, median_trade, config)

    assert not check(legs, big)
    assert check(legs.with_columns(pl.col("quantity").fill_null(float("nan"))), big)
    assert check(legs, big.with_columns(big["c_side"].scatter(0, None)))
    assert check(legs, big.with_columns(big["c_side"].scatter(0, "BUY")))
    assert check(legs, big.with_columns(big["c_qty"].scatter(0, float("inf"))))
    assert check(legs, big.with_columns(big["order_id"].scatter(1, big["order_id"][0])))  # one group in ``per``


def test_owners_sharing_a_hash_pass_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled pass groups owners by hash: were two owners' hashes the same, False would not be safe."""
    rng = np.random.default_rng(3)
    legs, big, median_trade = _scene(rng, n_owners=40)
    config = fr.FrontRunningConfig(min_position_multiple=50.0)
    least = np.full(big.height, 1.0)
    order_rows, leg_rows, sized, owner = frs._near_index(legs, big, True, least)
    arrays, large = frs.legs_of(legs), frs.big_of(big)
    assert not fr._may_pass_sizes(arrays, large, (order_rows, leg_rows, sized, owner), median_trade, config)
    colliding = owner % np.uint64(3)  # many owners now share each hash
    assert fr._may_pass_sizes(arrays, large, (order_rows, leg_rows, sized, colliding), median_trade, config)
