"""insider_pre_listing names the owners of only the trades within its listings' spans, and of the rest of the data
only the trades at its ends (for its time span) and those of the suspects' accounts (for their orders over the whole
data). On random markets — unknown accounts, accounts without an owner, customers with several accounts, an account
named like a customer, self-trades, ties in time, orders without ids — each of those reads equals the same read of
every trade named up front, as the detector did before, row for row and in the same order."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import harbour.detect.market.insider_pre_listing as ipl
from harbour.detect.framework import REGISTRY
from harbour.detect.market.scenarios import ScenarioMarket

from .insider_scenarios import VENUE, _buy, _sell
from .insider_scenarios import _market as _market_scene

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
CONFIG = ipl.InsiderPreListingConfig(pre_hours=6.0, post_hours=4.0)


def _market(seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Trades in time order (with ties), an owner map and listing announcements."""
    rng = random.Random(seed)
    accounts = [f"A{i}" for i in range(rng.randint(3, 25))] + ["C1", "C2"]  # C1, C2 are also customers' names
    mapped = rng.sample(accounts, rng.randint(0, len(accounts)))
    owners = pl.DataFrame({"account": mapped,
                           "owner": [None if rng.random() < 0.1 else f"C{rng.randint(0, 4)}" for _ in mapped]},
                          schema={"account": pl.String, "owner": pl.String})
    n = rng.randint(1, 600)
    ts = sorted(rng.randint(0, 4 * 24 * 60) * (rng.choice([1, 1, 1, 7]) if rng.random() < 0.05 else 1)
                for _ in range(n))
    buyers = [rng.choice(accounts) for _ in range(n)]
    sellers = [b if rng.random() < 0.15 else rng.choice(accounts) for b in buyers]  # some self-trades
    trades = pl.DataFrame({
        "venue": ["V"] * n, "symbol": ["S"] * n, "trade_id": [f"t{i:05d}" for i in range(n)],
        "ts": [T0 + dt.timedelta(minutes=m) for m in ts],
        "price": [round(rng.uniform(1, 2), 2) for _ in range(n)],
        "quantity": [float(rng.randint(1, 50)) for _ in range(n)],
        "buyer": buyers, "seller": sellers,
        "buy_order_id": [None if rng.random() < 0.2 else f"o{rng.randint(0, n // 3)}" for _ in range(n)],
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    k = rng.randint(1, 3)
    ann = pl.DataFrame({"ts": [T0 + dt.timedelta(minutes=rng.randint(0, 4 * 24 * 60)) for _ in range(k)]}) \
        .with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))).sort("ts")
    return trades, owners, ann


@pytest.mark.parametrize("seed", range(60))
def test_the_named_on_demand_reads_are_the_reads_of_every_trade_named(seed: int) -> None:
    trades, owners, ann = _market(seed)
    t_all = ipl._owned(trades, owners)
    legs_all = ipl._legs(t_all)
    named, lazy = ipl._Whole.named(t_all, legs_all), ipl._Whole(trades, owners)
    if t_all.height:
        assert lazy.span() == named.span()
    near = ipl._near(trades, owners, ann, CONFIG)
    assert near is not None
    t, legs = ipl._owned(near, owners), ipl._legs(near.pipe(ipl._owned, owners))
    pre, post = dt.timedelta(hours=CONFIG.pre_hours), dt.timedelta(hours=CONFIG.post_hours)
    for at in ann["ts"].to_list():
        # what ``_one`` reads of the trades and the legs around each listing
        span = (pl.col("ts") >= at - pre) & (pl.col("ts") <= at + post)
        assert_frame_equal(t.filter(span), t_all.filter(span))
        phase = (pl.col("ts") >= (at - pre) - pre) & (pl.col("ts") <= at + post)
        assert_frame_equal(legs.filter(phase), legs_all.filter(phase))
    rng = random.Random(seed)
    for key in ("owner", "account"):
        known = sorted(set(legs_all[key].to_list()))
        for _ in range(4):
            traders = pl.Series(key, rng.sample(known, rng.randint(0, len(known))) + ["nobody"], dtype=pl.String)
            assert_frame_equal(lazy.of(key, traders), named.of(key, traders))


def test_trades_the_lookup_cannot_slice_are_all_named_as_before() -> None:
    trades, owners, ann = _market(1)
    with_null = trades.with_columns(buyer=pl.when(pl.col("trade_id") == "t00000").then(None).otherwise("buyer"))
    assert ipl._near(with_null, owners, ann, CONFIG) is None
    assert ipl._near(trades.reverse(), owners, ann, CONFIG) is None or trades.height < 2


def test_the_span_reads_past_long_runs_of_self_trades_at_both_ends() -> None:
    trades, owners, _ = _market(2)
    n = 700
    selfs = pl.DataFrame({"trade_id": [f"s{i:04d}" for i in range(n)], "buyer": ["A0"] * n, "seller": ["A0"] * n})
    first = trades.head(1).select(pl.exclude("trade_id", "buyer", "seller")).select(pl.all().repeat_by(n).explode())
    last = trades.tail(1).select(pl.exclude("trade_id", "buyer", "seller")).select(pl.all().repeat_by(n).explode())
    edges = [pl.concat([f, selfs], how="horizontal").select(trades.columns) for f in (first, last)]
    padded = pl.concat([edges[0], trades, edges[1]])
    t_all = ipl._owned(padded, owners)
    assert ipl._Whole(padded, owners).span() == ipl._Whole.named(t_all, ipl._legs(t_all)).span()


def _scene(variant: int) -> ScenarioMarket:
    """The shared listing scene with an insider (IN1) buying in the hour before the news and selling after it;
    variants add a sibling account of its customer, trades between them, a customer unknown to the map."""
    m, announce = _market_scene()
    minute = dt.timedelta(minutes=1)
    if variant >= 1:
        m.link(VENUE, "IN1", "CUST")
        m.link(VENUE, "IN2", "CUST")
        _buy(m, "IN2", m.at(2), 3, 2.0)  # the sibling buys far from the spans, where only it is named on demand
        m.trade(VENUE, announce - 30 * minute, 1.0 * m.size, "IN1", "IN2", "buy")  # a self-trade
    if variant >= 2:
        m.trade(VENUE, m.at(1), 5.0 * m.size, "IN1", m.makers[0], "buy")  # an order of its far from the spans
        m.trade(VENUE, announce - 40 * minute, 2.0 * m.size, "GHOST", "IN1", "buy")
    m.trade(VENUE, m.at(0, 1), 1.0 * m.size, "IN3", "IN3", "buy")  # a self-trade at the start
    _buy(m, "IN1", announce - 56 * minute, 4, 10.0, every_min=12)
    _sell(m, "IN1", announce + 20 * minute, 6, 6.0)
    return m


@pytest.mark.parametrize("variant", range(3))
@pytest.mark.parametrize("settings", [{"min_share": 0.05}, {"min_share": 0.01, "min_outlier": 3.0}])
def test_the_kernel_alerts_alike_with_the_spans_named_alone_and_the_whole_named(
        variant: int, settings: dict[str, float], monkeypatch: pytest.MonkeyPatch) -> None:
    d = REGISTRY.get("insider_pre_listing")
    config = d.default_config().model_copy(update={"pre_hours": 1.0, "post_hours": 3.0, **settings})
    whole = d.kernel(_scene(variant).build().partition(VENUE), config).to_pylist()
    monkeypatch.setattr(ipl, "SLICED_FROM", 0)  # the scene's one day of trades is small: slice it anyway
    sliced = d.kernel(_scene(variant).build().partition(VENUE), config).to_pylist()
    assert sliced == whole
    assert variant == 2 or whole  # the insider is found (and the same way) where its trades are plain
