"""Front running's large market orders that found nothing to fill (``_missed``): told on the few placements of
their size before the query over every placement and taker, the same rows as that query on random placements
full of NaN and null quantities, null ids and types, and orders that did or did not fill; and on a scenario
market, an unfilled large market order is still a large order, while a filled one is not counted twice (by the
kernel's frames, and by the screens' arrays)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

import harbour.detect.market.front_running as fr
import harbour.detect.market.front_running_orders as fro
import harbour.detect.market.front_running_screens as frs
from harbour.detect.market.frames import PLACEMENT_COLUMNS, TRADE_COLUMNS, frame, owner_map, placements, with_owner
from harbour.detect.market.front_running_orders import order_events
from harbour.detect.market.scenarios import ScenarioMarket

from .front_scenarios import VENUE

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _query(news: pl.DataFrame, takers: pl.Series, least: float) -> pl.DataFrame | None:
    """The formulation before the shortcut: one query over every placement and taker."""
    missed = news.lazy().filter((pl.col("order_type") == "market") & (pl.col("quantity") >= least)) \
        .join(takers.to_frame("order_id").lazy(), on="order_id", how="anti") \
        .select("order_id", "account", "side", first="ts", last="ts", placed="ts", size="quantity",
                qty=pl.lit(0.0), ids=pl.lit([], dtype=pl.List(pl.String))) \
        .collect(engine="in-memory")
    return missed if missed.height else None


def _news(rng: np.random.Generator, n: int) -> pl.DataFrame:
    q = rng.choice([1.0, 5.0, 40.0, 80.0, np.nan], n)
    ids = [None if rng.random() < 0.05 else f"o{rng.integers(0, n)}" for _ in range(n)]
    return pl.DataFrame({
        "order_id": ids,
        "account": [f"a{k}" for k in rng.integers(0, 5, n)],
        "ts": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 3600, n)],
        "event": ["new"] * n,
        "side": rng.choice(["buy", "sell"], n).tolist(),
        "order_type": [None if rng.random() < 0.05 else str(x) for x in rng.choice(["limit", "market"], n)],
        "price": rng.random(n),
        "quantity": pl.Series(q).scatter(np.flatnonzero(rng.random(n) < 0.05), None),
    }, schema_overrides={"ts": pl.Datetime("us", "UTC"), "order_id": pl.String, "order_type": pl.String,
                         "quantity": pl.Float64})


@pytest.mark.parametrize("seed", range(40))
def test_the_missed_orders_are_the_query_s(seed: int) -> None:
    rng = np.random.default_rng(seed)
    news = _news(rng, int(rng.integers(0, 60)))
    ids = news["order_id"].drop_nulls().unique().to_list()
    takers = pl.Series("order_id", [i for i in ids if rng.random() < 0.8] + ["x1", "x2"], dtype=pl.String)
    for least in (0.0, 5.0, 40.0, 100.0, np.nan):
        # the large orders that did fill: any subset of the takers, as _large_orders' size filter leaves
        large = takers.filter(pl.Series(rng.random(takers.len()) < 0.7))
        got, want = fr._missed(news, takers, large, least), _query(news, takers, least)
        assert (got is None) == (want is None)
        if want is not None:
            assert got is not None and got.equals(want)


def test_no_order_book_or_order_types_has_none() -> None:
    news = _news(np.random.default_rng(1), 20)
    takers = pl.Series("order_id", [], dtype=pl.String)
    assert fr._missed(None, takers, takers, 1.0) is None
    assert fr._missed(news.drop("order_type"), takers, takers, 1.0) is None


def _large_order_ids(filled: bool) -> tuple[list[str], list[str | None], str]:
    """The large orders of a day of ordinary trading and CLIENT1's market buy of forty typical orders, filled or
    not (the book was emptied first), by the kernel's frames and by the screens' arrays, and that order's id."""
    m = ScenarioMarket(seed=5, venues=(VENUE,), trades_per_day=3000)
    at = m.at(11)
    total = 40 * m.size
    big = m.order(VENUE, "CLIENT1", at, "buy", None, total, order_type="market")
    if filled:
        m.trade(VENUE, at + dt.timedelta(seconds=1), total, "CLIENT1", m.makers[0], "buy")
    part = m.build().partition(VENUE)
    owners = owner_map(part, VENUE)
    owned = with_owner(with_owner(frame(part, "trades", TRADE_COLUMNS), owners, "buyer", "owner_b"), owners, "seller",
                       "owner_s")
    t = fr._between_owners(owned)
    config = fr.FrontRunningConfig()
    ids = fr._large_orders(t, placements(part, PLACEMENT_COLUMNS), owners, config, {})["order_id"].to_list()
    # the screens' large orders, read from the probe's arrays
    trades = fro.trade_arrays(owned)
    assert trades is not None
    takers = fro.taker_legs(trades)
    unplaced = fro._large_unplaced(takers[2], trades.qty[takers[0]], trades.ts[takers[0]], order_events(part), config)
    assert unplaced is not None
    screened = frs.big_of_taken(unplaced, takers, trades, order_events(part), config)
    return ids, screened.ids_at(np.arange(screened.w0.shape[0])), big


@pytest.mark.parametrize("filled", [False, True])
def test_a_large_market_order_is_large_once_filled_or_not(filled: bool) -> None:
    ids, screened, big = _large_order_ids(filled)
    assert ids.count(big) == 1 and sorted(ids) == sorted(screened)
