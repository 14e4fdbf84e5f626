"""pump_and_dump's cheaper readings give what the plain ones gave: a price event that ended before the window is
not read (its alert would be look-back), a campaign's market share is tested before its orders over the whole data
are counted (the same owners pass, in the same order, on random data full of time ties), and the listings of one
announcements table are read once however many partitions ask."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import harbour.detect.market.pump_and_dump as pnd
from harbour.detect.framework import REGISTRY, Window
from harbour.detect.market import frames
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.frames import as_dt, poisson_tail
from harbour.detect.market.scenarios import ScenarioMarket

VENUE = "HBX"
T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _plain_campaigns(flows: pl.DataFrame, phase: pl.DataFrame, per: pl.DataFrame,
                     config: pnd.PumpAndDumpConfig) -> pl.DataFrame:
    """``_campaigns`` as it was written before the market share was tested first."""
    legs = phase.join(per.select("owner", "turn"), on="owner") \
        .filter((pl.col("q") > 0) & (pl.col("ts") <= pl.col("turn")))
    acc = legs.group_by("owner").agg(first=pl.col("ts").min(), buys=pl.col("order").n_unique())
    per = per.join(acc, on="owner").filter(pl.col("buys") >= config.min_member_orders)
    if per.height == 0:
        return per
    all_buys = flows.filter(pl.col("q") > 0).join(per.select("owner"), on="owner") \
        .group_by("owner").agg(all_buys=pl.col("order").n_unique())
    per = per.join(all_buys, on="owner").sort(["bought", "owner"], descending=[True, False])
    total_s = max((as_dt(flows["ts"].max()) - as_dt(flows["ts"].min())).total_seconds(), 1.0)
    buys = phase.filter(pl.col("q") > 0).sort("ts")
    cum = np.concatenate([[0.0], np.cumsum(buys["quantity"].to_numpy())])
    ts = buys["ts"].to_numpy()
    market = cum[np.searchsorted(ts, per["turn"].to_numpy(), side="right")] \
        - cum[np.searchsorted(ts, per["first"].to_numpy(), side="left")]
    per = per.with_columns(
        market=pl.Series(np.maximum(market, 1e-12)),
        leg_s=((pl.col("turn") - pl.col("first")).dt.total_seconds()).clip(lower_bound=1.0))
    per = per.with_columns(pace=(pl.col("all_buys") - pl.col("buys")) * pl.col("leg_s")
                           / (total_s - pl.col("leg_s")).clip(lower_bound=pl.col("leg_s")))
    keep = [float(b) >= config.min_member_share * float(m) and poisson_tail(int(n), float(lam))
            <= config.max_coincidence
            for b, m, n, lam in zip(per["bought"], per["market"], per["buys"], per["pace"], strict=True)]
    return per.filter(pl.Series(keep, dtype=pl.Boolean)).head(config.max_group)


def _with_legs(phase: pl.DataFrame, per: pl.DataFrame, config: pnd.PumpAndDumpConfig) -> pl.DataFrame:
    """The owners with enough buy orders up to their turn, with the first one's time and their count, as
    ``_positions`` hands them to ``_campaigns``."""
    legs = phase.join(per.select("owner", "turn"), on="owner") \
        .filter((pl.col("q") > 0) & (pl.col("ts") <= pl.col("turn")))
    acc = legs.group_by("owner").agg(first=pl.col("ts").min(), buys=pl.col("order").n_unique())
    return per.join(acc, on="owner").filter(pl.col("buys") >= config.min_member_orders)


def _flows(rng: np.random.Generator, n: int) -> pl.DataFrame:
    busy = 0.7 ** np.arange(10)
    quantity = rng.integers(1, 6, n) / 4  # few distinct sizes: many owners tie on what they bought
    return pl.DataFrame({
        "ts": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 7200, n)],  # whole seconds: time ties
        "owner": rng.choice([f"o{i}" for i in range(10)], n, p=busy / busy.sum()).tolist(),
        "quantity": quantity,
        "q": rng.choice([1.0, -1.0], n) * quantity,
        "order": [f"x{i}" for i in rng.integers(0, n // 3, n)],  # orders of several fills
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_campaigns_are_the_plain_campaigns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    flows = _flows(rng, 1500)
    phase = flows.filter(pl.col("ts") >= T0 + dt.timedelta(seconds=3600))
    owners = sorted(set(phase["owner"]))
    per = pl.DataFrame({
        "owner": owners,
        "bought": (rng.integers(0, 12, len(owners)) / 2).tolist(),
        "turn": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(3600, 7200, len(owners))],
    }).with_columns(pl.col("turn").cast(pl.Datetime("us", "UTC")))
    kept = 0
    for share, chance in ((0.01, 1.0), (0.05, 1e-3), (0.2, 0.5), (0.01, 1e-9)):
        config = pnd.PumpAndDumpConfig(min_member_share=share, max_coincidence=chance, max_group=3)
        want = _plain_campaigns(flows, phase, per, config)
        got = pnd.PumpAndDumpDetector._campaigns(flows, phase, _with_legs(phase, per, config), config)
        if want.height == 0:  # an empty answer may stop before the last columns (``_actors`` reads none of them)
            assert got.height == 0
        else:
            want = want.drop("market")  # the plain reading's market share, a column nothing reads
            assert_frame_equal(got.select(want.columns), want)
        kept += want.height
    assert kept  # some owners pass


def _pumped() -> ScenarioMarket:
    m = ScenarioMarket(seed=7, venues=(VENUE,), trades_per_day=3000)
    si.pump_and_dump(m, ["P1", "P2"], m.at(14), customer=None)
    return m.build()


def test_a_pump_that_ended_before_the_window_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    m = _pumped()
    d = REGISTRY.get("pump_and_dump")
    read = []
    actors = pnd.PumpAndDumpDetector._actors
    monkeypatch.setattr(pnd.PumpAndDumpDetector, "_actors", lambda *a: read.append(a[5]) or actors(*a))
    day = dt.datetime.combine(m.day, dt.time(), tzinfo=dt.UTC)
    alerts = d.kernel(replace(m.partition(VENUE), window=Window(day)), d.default_config())
    assert [sorted(a["accounts"]) for a in alerts.to_pylist()] == [["P1", "P2"]]
    assert read  # the pump's event was read
    read.clear()
    later = d.kernel(replace(m.partition(VENUE), window=Window(day + dt.timedelta(hours=20))), d.default_config())
    assert later.num_rows == 0
    assert all(span[2] >= day + dt.timedelta(hours=20) for span in read)  # only events ending in the window


def test_listings_are_read_once_per_announcements_table() -> None:
    m = _pumped()
    m.announcements.append({"venue": "NEWX", "symbol": m.symbol, "ts": m.at(4), "kind": "listing",
                            "headline": f"NEWX lists {m.symbol}"})
    part = m.partition(VENUE)
    first = frames.listings(part, m.symbol)
    assert first.height == 1
    assert frames.listings(replace(part, shared={}), m.symbol) is first  # another partition, the same table
    other: pa.Table = part.broadcast["announcements"].slice(0, 0)
    assert frames.listings(replace(part, broadcast={**part.broadcast, "announcements": other}), m.symbol).height == 0
    assert frames.listings(part, "ETH/USD").height == 0
