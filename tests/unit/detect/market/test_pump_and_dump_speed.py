"""pump_and_dump's cheaper readings give what the plain ones gave: the bars of the Arrow trades are the frame's bars
when the rows stand in the frame's order, and are not read otherwise; and a kernel that stops before the frame (no
event) or reads its bars off the Arrow trades gives the alerts of the frame path."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

import harbour.detect.market.pump_and_dump as pnd
from harbour.detect.framework import REGISTRY
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.scenarios import ScenarioMarket

from .test_pump_and_dump_bars import bars_frame

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _arrow(rng: np.random.Generator, n: int) -> pa.Table:
    """Trades in the frame's order (time, then trade id) on whole seconds (ties), some minutes without a trade."""
    ts = np.sort(rng.integers(0, 3 * 3600, n)) * 1_000_000 + 1_767_571_200_000_000
    ids = [f"t{int(i):03d}" for i in rng.integers(0, 1000, n)]
    order = np.lexsort((np.array(ids), ts))
    return pa.table({"venue": pa.array(["HBX"] * n, pa.string()),
                     "trade_id": pa.array([ids[i] for i in order], pa.string()),
                     "ts": pa.array(ts[order], pa.timestamp("us", "UTC")),
                     "price": pa.array(rng.uniform(99, 101, n).round(2))})


def test_bars_of_the_arrow_trades_are_the_frames() -> None:
    rng = np.random.default_rng(5)
    for case in range(60):
        table = _arrow(rng, int(rng.integers(1, 400)))
        seconds = int(rng.choice([1, 60, 300]))
        got = pnd._arrow_bars(table, seconds)
        assert got is not None, case
        want = pnd._bars(pl.from_arrow(table).sort("ts", "venue", "trade_id", maintain_order=True),  # type: ignore
                         seconds)
        assert_frame_equal(bars_frame(got), bars_frame(want)), case


@pytest.mark.parametrize("change", ["ties out of order", "times out of order", "milliseconds", "null price"])
def test_trades_out_of_the_frames_order_are_read_as_a_frame(change: str) -> None:
    table = _arrow(np.random.default_rng(3), 200)
    ts = table["ts"].to_numpy().astype("datetime64[us]").view(np.int64)
    tie = int(np.flatnonzero(ts[1:] == ts[:-1])[0])
    if change == "ties out of order":
        ids = table["trade_id"].to_pylist()
        ids[tie], ids[tie + 1] = "t999", "t000"
        table = table.set_column(1, "trade_id", pa.array(ids, pa.string()))
    elif change == "times out of order":
        table = table.take(pa.array([1, 0, *range(2, table.num_rows)]))
    elif change == "milliseconds":
        table = table.set_column(2, "ts", table["ts"].cast(pa.timestamp("ms", "UTC"), safe=False))
    else:
        price = table["price"].to_pylist()
        price[5] = None
        table = table.set_column(3, "price", pa.array(price, pa.float64()))
    assert pnd._arrow_bars(table, 60) is None


def _market(pump: bool) -> ScenarioMarket:
    m = ScenarioMarket(seed=7, venues=("HBX",), trades_per_day=3000)
    if pump:
        si.pump_and_dump(m, ["P1", "P2"], m.at(14))
    return m.build()


@pytest.mark.parametrize("pump", [True, False])
def test_the_arrow_bars_give_the_frame_paths_alerts(monkeypatch: pytest.MonkeyPatch, pump: bool) -> None:
    d = REGISTRY.get("pump_and_dump")
    market = _market(pump)

    def run() -> Any:
        return d.kernel(market.partition("HBX"), d.default_config())

    screened = run()
    monkeypatch.setattr(pnd, "_arrow_bars", lambda *_: None)
    full = run()
    assert screened.equals(full)
    assert screened.num_rows == int(pump)


def test_a_book_day_without_an_event_stops_before_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    d = REGISTRY.get("pump_and_dump")
    part = _market(pump=False).partition("HBX")

    def unreachable(*_: Any) -> None:
        raise AssertionError("the frame was built")

    monkeypatch.setattr(pnd, "frame", unreachable)
    assert d.kernel(part, d.default_config()).num_rows == 0
