"""Cross-venue's screens (``_may_alert`` on the Arrow trades, ``_may_push`` on the frame): a partition where no owner's
run can pass the push tests returns no alert before the legs are built, an incident passes it and gives the full
path's alert, and the frame's screen never turns away a partition whose full push search finds a push — on random
trades full of time ties, orders of several fills, missing aggressors and customers with accounts on several venues."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

import harbour.detect.market.cross_venue as cv
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

from .cross_scenarios import random_trades
from .spies import answers_of

S = dt.timedelta(seconds=1)
T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
MOVED, OTHER = "HBX", "KLN"


def _market(push: bool) -> ScenarioMarket:
    """A day on two venues; the customer C-XV's accounts trade a little on both, and with ``push`` XV1 buys eight
    orders on the moved venue as its price rises 3% while XV2 sells on the other (as in test_cross_venue_pace)."""
    m = ScenarioMarket(seed=3, venues=(MOVED, OTHER), trades_per_day=3000)
    m.link(MOVED, "XV1", "C-XV")
    m.link(OTHER, "XV2", "C-XV")
    for h in (9, 15):
        m.trade(MOVED, m.at(h), m.qty(1), "XV1", m.makers[0], "buy")
        m.trade(OTHER, m.at(h, 30), m.qty(1), m.makers[1], "XV2", "sell")
    if push:
        at = m.at(13)
        m.impact(MOVED, at, 120, 300, 300, 0.03)
        for i in range(8):
            m.trade(MOVED, at + S * (i * 20 + float(m.rng.uniform(0, 10))), m.qty(4), "XV1",
                    m.makers[i % len(m.makers)], "buy")
        for i in range(4):
            m.trade(OTHER, at + S * (150 + 40 * i), m.qty(4), m.traders[i], "XV2", "sell")
    return m.build()


def _checked(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The answers of the kernel's screens, in order."""
    return answers_of(monkeypatch, cv, "_may_alert")


def test_a_partition_without_a_push_stops_before_the_legs(monkeypatch: pytest.MonkeyPatch) -> None:
    d = REGISTRY.get("cross_venue")
    seen = _checked(monkeypatch)

    def unreachable(*_: Any) -> None:
        raise AssertionError("the legs were built")

    monkeypatch.setattr(cv, "_legs", unreachable)
    assert d.kernel(_market(push=False).partition(by_symbol_only=True), d.default_config()).num_rows == 0
    assert seen == [False]


def test_a_push_passes_the_screen_and_gives_the_full_paths_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    d = REGISTRY.get("cross_venue")
    market = _market(push=True)
    seen = _checked(monkeypatch)
    got = d.kernel(market.partition(by_symbol_only=True), d.default_config())
    assert seen == [True]
    monkeypatch.setattr(cv, "_may_alert", lambda *_: None)
    monkeypatch.setattr(cv, "_may_push", lambda *_: True)
    want = d.kernel(market.partition(by_symbol_only=True), d.default_config())
    assert got.num_rows == 1 and "XV1" in got["accounts"][0].as_py()
    assert got.equals(want)


def _trades(rng: np.random.Generator, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Trades on three venues over four hours in whole ten seconds (many ties), by a dozen accounts whose orders
    have several fills, some aggressors missing; and the owners of some accounts, customers on several venues."""
    venues = ["HBX", "KLN", "VCT"]
    trades = random_trades(rng, n, venues).sort("ts")
    owners = pl.DataFrame([(f"{v}:a{i}", f"C{i % 5}") for v in venues for i in range(12) if rng.random() < 0.6],
                          schema={"account": pl.String, "owner": pl.String}, orient="row")
    return trades, owners


def _config(rng: np.random.Generator) -> cv.CrossVenueConfig:
    return cv.CrossVenueConfig(
        min_orders=int(rng.choice([1, 2, 3, 4])), min_share=float(rng.choice([0.02, 0.1, 0.3])),
        max_coincidence=float(rng.choice([1e-4, 0.01, 0.2, 0.6])), baseline_minutes=float(rng.choice([10, 60])),
        max_gap_seconds=float(rng.choice([30, 120, 300])))


def test_the_screen_never_turns_away_a_push() -> None:
    rng = np.random.default_rng(8)
    outcomes = {"no push, screened out": 0, "a push": 0}
    for case in range(250):
        trades, owners = _trades(rng, int(rng.integers(30, 400)))
        config = _config(rng)
        found = cv._pair_owners(trades, owners)
        assert found is not None
        pushes = cv._pushes(cv._legs(None, trades, found), trades, config)  # type: ignore[arg-type]
        may = cv._may_push(trades, found, config)
        assert may or pushes.height == 0, case
        outcomes["a push"] += pushes.height > 0
        outcomes["no push, screened out"] += not may
    assert min(outcomes.values()) >= 20, outcomes


def test_a_missing_order_id_leaves_the_partition_to_the_full_path() -> None:
    trades, owners = _trades(np.random.default_rng(3), 50)
    trades = trades.with_columns(pl.when(pl.int_range(pl.len()) == 4).then(None).otherwise("sell_order_id")
                                 .alias("sell_order_id"))
    found = cv._pair_owners(trades, owners)
    assert found is not None
    assert cv._may_push(trades, found, cv.CrossVenueConfig(min_orders=500))



def test_shares_keep_every_run_the_full_paths_volumes_keep() -> None:
    """``_shares`` against ``_pushes``' volumes (Polars' sort, cumulative sums per venue): the same answer, and a
    run whose quantity is exactly the share of its volume, summed in another order, is kept."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(5, 300))
        trades = pl.DataFrame({"venue": rng.choice(["HBX", "KLN", "VCT"], n).tolist(),
                               "ts": rng.integers(0, 60, n) * 1_000_000, "quantity": rng.random(n) * 10})
        coded = cv.dictionary_codes(trades["venue"].to_arrow())
        venues, code_of = coded.indices.to_numpy(), {v: i for i, v in enumerate(coded.dictionary.to_pylist())}
        runs = rng.integers(0, n, (40, 2))
        venue, start = venues[runs[:, 0]], trades["ts"].to_numpy()[runs[:, 0]]
        end = start + rng.integers(0, 20, 40) * 1_000_000
        vol = np.empty(40)
        for (v,), df in trades.sort("ts").partition_by("venue", as_dict=True).items():
            at = venue == code_of[v]
            ts, cum = df["ts"].to_numpy(), np.concatenate([[0.0], np.cumsum(df["quantity"].to_numpy())])
            vol[at] = cum[np.searchsorted(ts, end[at], side="right")] - cum[np.searchsorted(ts, start[at])]
        q = np.where(rng.random(40) < 0.5, 0.3 * vol[::-1] + 1e-3, 0.3 * vol)
        got = cv._shares(venues, trades["ts"].to_numpy(), trades["quantity"].to_numpy(), q, venue, start, end, 0.3)
        assert (got | ~(q >= 0.3 * vol)).all()
        clear = np.abs(q - 0.3 * vol) > 1e-6
        assert (got[clear] == (q >= 0.3 * vol)[clear]).all()
