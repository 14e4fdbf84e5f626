"""Momentum ignition's exit check read from the trades (``momentum_screens``): on a generated
market with ignitions it gives the alerts of the full path (the check forced open) while turning partitions
away; on random trades full of time ties, owners of many legs, missing aggressors and orders of several legs, its
runs are those of the legs' frame (``_aggressive_runs``) and it answers as the check on them does, at thresholds
from strict to none at all."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market.momentum_ignition as mi
from harbour.data.generate import GenerateConfig, generate_market
from harbour.detect.framework import REGISTRY
from harbour.detect.market import momentum_screens as ms
from harbour.detect.market.frames import span_seconds
from harbour.detect.runners import run_with
from harbour.detect.runners.local import LocalRunner

from .spies import screened_and_full

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("momentum-lake")
    generate_market(GenerateConfig(out=lake, venues=2, days=2, accounts=400, seed=23, activity=0.3, symbols=3,
                                   incidents={"all": 0, "momentum_ignition": 4}), workers=1)
    return lake


def test_the_check_never_changes_an_alert_on_a_generated_market(generated: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    detector = REGISTRY.get("momentum_ignition")

    def alerts() -> pa.Table:
        with LocalRunner(workers=1) as runner:
            return run_with(runner, generated, [detector]).alerts.sort_by("alert_id")

    seen, screened, full = screened_and_full(monkeypatch, mi, "_exit_possible", alerts)
    assert screened.equals(full)
    assert full.num_rows >= 3  # the ignitions alert
    assert True in seen and False in seen  # partitions were turned away, and the incidents' were not


def _trades(rng: np.random.Generator, n: int, owners: int) -> pl.DataFrame:
    """Random trades in time order over two hours, many in the same second, between ``owners`` owners of one or two
    accounts each (so some of an owner with itself), a few without an aggressor; each order of one account and
    side, often of several fills."""
    accounts = [f"acc{i}" for i in range(owners * 2)]
    owner_of = {a: f"own{i % owners}" if i % 3 else a for i, a in enumerate(accounts)}  # some accounts unowned
    weights = rng.random(len(accounts)) ** 3
    buyer = rng.choice(accounts, n, p=weights / weights.sum())
    seller = rng.choice(accounts, n, p=weights / weights.sum())
    aggressor = rng.choice(["buy", "sell", None], n, p=[0.45, 0.45, 0.1])
    order = rng.integers(0, 30, (2, n))
    return pl.DataFrame({
        "ts": pl.Series([T0 + dt.timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 7200, n))])
        .cast(pl.Datetime("us", "UTC")),
        "trade_id": [f"t{i}" for i in range(n)],
        "price": (100 + rng.random(n)).tolist(),
        "quantity": (0.1 + rng.random(n) * 5).tolist(),
        "buyer": buyer.tolist(), "seller": seller.tolist(), "aggressor": aggressor.tolist(),
        "buy_order_id": [f"{b}-b{k}" for b, k in zip(buyer, order[0], strict=True)],
        "sell_order_id": [f"{s}-s{k}" for s, k in zip(seller, order[1], strict=True)],
        "owner_b": [owner_of[b] for b in buyer], "owner_s": [owner_of[s] for s in seller],
    })


def _runs(runs: ms.Runs, rows: np.ndarray | None = None) -> set[tuple[int, ...]]:
    """The runs as sets of leg rows (``rows[row]`` with ``rows``), whatever the owners' numbering and order."""
    owner = runs.owner[runs.rows]
    ends = np.append((owner[1:] != owner[:-1]) | (runs.burst[1:] != runs.burst[:-1]), True)
    legs = runs.rows if rows is None else rows[runs.rows]
    return {tuple(run) for run in np.split(legs, np.flatnonzero(ends)[:-1] + 1)}


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_the_runs_and_the_answer_are_those_of_the_legs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    owned = _trades(rng, 4000, owners=int(rng.integers(5, 60)))
    between = owned["owner_b"] != owned["owner_s"]
    t = owned.filter(between)  # what the kernel makes its legs of
    kept = np.flatnonzero(between.to_numpy())
    assert 0 < t.height < owned.height
    legs = mi._legs(t)
    day_s = span_seconds(t["ts"], 3600.0)
    answers = set()
    for post, min_trades, max_chance, gap in [(60.0, 2, 0.05, 30.0), (600.0, 3, 0.1, 10.0), (300.0, 2, 0.5, 60.0),
                                              (900.0, 3, 0.999, 30.0), (600.0, 4, 1.0, 120.0)]:
        config = mi.MomentumIgnitionConfig(burst_gap_seconds=gap, post_seconds=post, min_trades=min_trades,
                                           max_coincidence=max_chance)
        want, got = mi._aggressive_runs(legs, config), ms.trade_runs(owned, int(gap * 1e6), min_trades)
        assert want is not None and got is not None
        # the same runs (positive quantities: every run of enough legs is one-sided), the owned frame's legs
        # numbered as its rows come
        assert _runs(got) == _runs(want, np.concatenate((kept, owned.height + kept)))
        assert ms.day_seconds(got) == day_s
        possible = mi._exit_possible(got, mi._leg_decisions(owned), ms.day_seconds(got), config)
        assert possible == mi._exit_possible(want, legs, day_s, config)
        answers.add(possible)
    assert answers == {True, False}


def test_missing_values_leave_the_decision_to_the_full_path() -> None:
    t = _trades(np.random.default_rng(9), 500, owners=8)
    assert ms.trade_runs(t, 10_000_000, 3) is not None
    assert ms.trade_runs(t.with_columns(t["quantity"].scatter(3, None)), 10_000_000, 3) is None
    assert ms.trade_runs(t.reverse(), 10_000_000, 3) is None  # not in time order


def test_owner_codes_number_the_strings_in_order_of_first_appearance() -> None:
    values = pl.Series(["b", "a", "ä", "b", "", "日本", "a", "ab", "", "b"])
    codes = ms.owner_codes(values)
    assert codes is not None and codes.tolist() == [0, 1, 2, 0, 3, 4, 1, 5, 3, 0]
    # two distinct strings on one hash: the numbering would merge them, so it is refused
    ids, n_ids = ms._first_seen(np.array([7, 7, 9], np.uint64), 3)
    assert ids.tolist() == [0, 0, 1] and n_ids == 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_exit_bounds_past_enough_stay_past_it_and_the_rest_are_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    key = rng.integers(0, 12, n)
    ts = np.sort(rng.integers(0, 7_200_000_000, n))
    dec = rng.integers(0, 400, n).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    b_key, b_end = rng.integers(0, 14, 200), rng.integers(0, 7_200_000_000, 200)
    owner, side = key // 2, np.where(key % 2 == 1, 1, -1)
    b_owner, b_side = b_key // 2, np.where(b_key % 2 == 1, 1, -1)
    exact = ms.exit_lows(owner, side, ts, dec, b_owner, b_side, b_end, 600_000_000, np.inf)
    for enough in (0.0, 5.0, 40.0, 200.0):
        lows = ms.exit_lows(owner, side, ts, dec, b_owner, b_side, b_end, 600_000_000, enough)
        assert np.array_equal(lows >= 0, exact >= 0)
        assert np.array_equal(np.where(exact <= enough, lows, 0), np.where(exact <= enough, exact, 0))
        assert ((lows > enough) == (exact > enough)).all() and (lows <= exact).all()
    # against a direct count: the key's distinct hashes less those of its legs in (end, end + span]
    for b in range(b_key.size):
        mine = key == b_key[b]
        span = mine & (ts > b_end[b]) & (ts <= b_end[b] + 600_000_000)
        want = len(set(dec[mine])) - len(set(dec[span])) if span.any() else -1
        assert exact[b] == want


@pytest.mark.parametrize("seed", [1, 2])
def test_distinct_hashes_per_run(seed: int) -> None:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 9, 2000).astype(np.uint64)
    ends = rng.random(2000) < 0.03  # runs of a few legs, and of more than 32 (sorted)
    ends[-1] = True
    starts = np.append(0, np.flatnonzero(ends)[:-1] + 1)
    want = [len(set(hashes[a:b + 1].tolist())) for a, b in zip(starts, np.flatnonzero(ends), strict=True)]
    assert ms.distinct_per_run(hashes, ends).tolist() == want
