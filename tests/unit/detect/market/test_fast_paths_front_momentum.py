"""Front running's and momentum ignition's compiled passes give exactly what the Polars/numpy formulations they
replaced give: the pruned range join told owners apart by hash, the largest rival by a loop per burst, the
burst runs by sort and window expressions, and the liquidity-taking orders' ids interned once for both
detectors of a partition — on random data full of time ties, nulls and many owners."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import harbour.detect.market.front_running as fr
import harbour.detect.market.front_running_screens as frs
import harbour.detect.market.momentum_ignition as mi

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _times(secs: np.ndarray) -> pl.Series:
    return pl.Series([T0 + dt.timedelta(seconds=int(s)) for s in secs]).cast(pl.Datetime("us", "UTC"))


def _big_orders(rng: np.random.Generator, m: int, owners: list[str], lead_s: int) -> pl.DataFrame:
    """``m`` random large orders of ``owners``: first fill, a span from ``lead_s`` before it to up to 300 s after."""
    first = rng.integers(30, 1100, m)
    return pl.DataFrame({
        "order_id": [f"o{i:03d}" for i in range(m)], "c_owner": rng.choice(owners, m).tolist(),
        "c_side": rng.choice(["buy", "sell"], m).tolist(), "first": _times(first), "w0": _times(first - lead_s),
        "w1": _times(first + rng.integers(0, 300, m)),
    })


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_near_pruned_by_owner_hash_is_the_join(seed: int) -> None:
    """Hundreds of owners (a taker search of more than a few) and null owners: every non-null owner's legs are
    those of the range join, pruned to the other-side legs of the order's takers after its first fill."""
    rng = np.random.default_rng(seed)
    n, m = 3000, 60
    owners = [f"c{i}" for i in range(300)]
    legs = pl.DataFrame({
        "ts": _times(rng.integers(0, 1200, n)),
        "owner": pl.Series(rng.choice(owners, n).tolist()).scatter(rng.integers(0, n, 40), None),
        "side": rng.choice(["buy", "sell"], n).tolist(),
    }).with_row_index("leg")
    big = _big_orders(rng, m, owners, lead_s=30)
    joined = legs.join_where(big, pl.col("ts") >= pl.col("w0"), pl.col("ts") <= pl.col("w1"))
    ahead = pl.col("ts") < pl.col("first")
    takers = joined.filter(ahead & (pl.col("side") == pl.col("c_side"))).select("order_id", "owner").unique()
    after = joined.filter(~ahead & (pl.col("side") != pl.col("c_side"))).join(takers, on=["order_id", "owner"])
    want = pl.concat([joined.filter(ahead).select("order_id", "leg", "owner"),
                      after.select("order_id", "leg", "owner")]).drop_nulls("owner").sort("order_id", "leg")
    got = frs._near(legs, big, prune=True).select("order_id", "leg", "owner")
    assert got.equals(got.sort("order_id", "leg", maintain_order=True))  # each order's legs in legs' order
    assert got.drop_nulls("owner").equals(want)
    assert after.height > 100


def _rival_loop(taken: pl.DataFrame, bursts: pl.DataFrame, follow: dt.timedelta) -> list[float | None]:
    # the Python loop the compiled pass replaced
    t = taken.drop_nulls(["owner", "o_ts"]).sort("o_ts")
    ts = t["o_ts"].dt.epoch("us").to_numpy()
    q, sign, owner = t["o_q"].to_numpy(), t["o_sign"].to_numpy(), t["owner"].to_numpy()
    step = int(follow.total_seconds() * 1_000_000)
    out: list[float | None] = []
    for b_owner, start, end, direction in zip(bursts["owner"].to_list(), bursts["start"].dt.epoch("us").to_list(),
                                              bursts["end"].dt.epoch("us").to_list(), bursts["direction"].to_list(),
                                              strict=True):
        lo, hi = np.searchsorted(ts, start, "left"), np.searchsorted(ts, end + step, "right")
        mine = (sign[lo:hi] == direction) & (owner[lo:hi] != b_owner) & ~np.isnan(q[lo:hi])
        out.append(float(q[lo:hi][mine].max()) if mine.any() else None)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_largest_rival_is_the_loop(seed: int) -> None:
    """Orders with null owners, times and sizes, bursts of a null owner, bursts with no rival."""
    rng = np.random.default_rng(seed)
    n, m = 150, 120  # sparse enough that some bursts have no rival
    owners = ["a", "b", "c", "d", "e"]
    taken = pl.DataFrame({
        "owner": pl.Series(rng.choice(owners, n).tolist()).scatter([1, 7], None),
        "decision": [f"o{i}" for i in range(n)],
        "o_ts": _times(rng.integers(0, 3600, n)).scatter([2, 9], None),
        "o_q": pl.Series((rng.random(n) * 10).tolist()).scatter([3, 11, 12], None),
        "o_sign": rng.choice([1.0, -1.0], n).tolist(),
    })
    start = rng.integers(0, 3600, m)
    bursts = pl.DataFrame({
        "owner": pl.Series(rng.choice(owners, m).tolist()).scatter([0, 5], None),
        "start": _times(start), "end": _times(start + rng.integers(0, 30, m)),
        "direction": rng.choice([1.0, -1.0], m).tolist(),
    })
    follow = dt.timedelta(seconds=float(rng.integers(1, 60)))
    got = mi._largest_rival(taken, bursts, follow)
    want = _rival_loop(taken, bursts, follow)
    assert got.to_list() == want
    assert None in want and any(w is not None for w in want)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_burst_legs_are_the_sort_and_window_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bursts from the compiled runs equal those of the stable sort, run numbers and run filter, row for row:
    legs at one time (ties broken by row order), turns of side at one time, null aggressor flags."""
    rng = np.random.default_rng(seed)
    n = 4000
    legs = pl.DataFrame({
        "ts": _times(np.sort(rng.integers(0, 7200, n))),
        "trade_id": [f"t{i}" for i in range(n)],
        "price": (100 + rng.random(n)).tolist(),
        "quantity": (rng.random(n) * 5).tolist(),
        "account": rng.choice(["x1", "x2", "y1", "z1"], n).tolist(),
        "owner": rng.choice(["x", "y", "z", "w"], n).tolist(),
        "sign": pl.Series(rng.choice([1, -1], n, p=[0.8, 0.2]), dtype=pl.Int32),
        "aggr": pl.Series((rng.random(n) < 0.7).tolist()).scatter([4, 40], None),
        "decision": [f"o{i}" for i in rng.integers(0, 1500, n)],
    })
    config = mi.MomentumIgnitionConfig(burst_gap_seconds=25.0)
    got = mi._bursts(legs, config)
    monkeypatch.setattr(mi, "_burst_legs", lambda *_: None)
    want = mi._bursts(legs, config)
    keys = ["owner", "burst"]
    assert got.height > 5
    assert got.schema == want.schema
    assert_frame_equal(got.sort(keys), want.sort(keys))
    # a null among the keys takes the frame path
    monkeypatch.undo()
    assert mi._burst_legs(legs.with_columns(owner=legs["owner"].scatter(3, None)), config) is None


def _aggr_and_news(rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    n, m = 1500, 900
    order = rng.integers(0, 200, n)
    aggr = pl.DataFrame({  # every order one owner's, as order ids are
        "ts": _times(rng.integers(0, 1200, n)), "owner": [f"c{i % 7}" for i in order],
        "decision": [f"o{i}" for i in order], "quantity": (rng.random(n) * 4).tolist(),
        "sign": pl.Series(np.where(order % 2 == 0, 1, -1), dtype=pl.Int32),
    })
    news = pl.DataFrame({
        "order_id": [f"o{i}" for i in rng.integers(0, 260, m)],
        "account": rng.choice(["c1", "c2", "x"], m).tolist(),
        "ts": _times(rng.integers(0, 1200, m)),
        "side": rng.choice(["buy", "sell"], m).tolist(),
        "order_type": rng.choice(["limit", "market"], m).tolist(),
        "quantity": pl.Series((rng.random(m) * 3).tolist()).scatter([3, 9], None),
    })
    return aggr, news


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_orders_taken_of_one_owner_each_are_the_group_by(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every decision one owner's, the decisions are the groups: the same as the group-by and joins."""
    rng = np.random.default_rng(seed)
    aggr, news = _aggr_and_news(rng)
    owners = pl.DataFrame({"account": ["x"], "owner": ["c1"]})
    got = mi._orders_taken(aggr, news, owners)
    monkeypatch.setattr(mi, "_orders_taken_fast", lambda *_: None)
    want = mi._orders_taken(aggr, news, owners)
    keys = ["owner", "decision"]
    assert got.height == want.height > 0
    assert_frame_equal(got.sort(keys), want.sort(keys), check_exact=False, rel_tol=1e-12, abs_tol=0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_taker_ids_interned_once_for_both_detectors(seed: int) -> None:
    """Front running's interned takers and placements, read again by momentum ignition from the partition's
    shared cache, give what momentum ignition finds on its own; other takers are not read from the cache."""
    rng = np.random.default_rng(seed)
    aggr, news = _aggr_and_news(rng)
    fills = aggr.select("ts", "quantity", "owner", order_id="decision", account="owner", side=pl.lit("buy"),
                        trade_id=pl.format("t{}", pl.int_range(aggr.height)), price=pl.lit(100.0))
    shared: dict = {}
    alone = mi._orders_taken_fast(aggr, news)
    assert fr._per_order(fills, news, shared) is not None
    first = next(iter(shared.values()))
    again = mi._orders_taken_fast(aggr, news, shared)
    assert next(iter(shared.values())) is first  # read, not interned again
    assert alone is not None and again is not None
    assert_frame_equal(again[0], alone[0])
    assert_frame_equal(again[1], alone[1])
    other = aggr.reverse()
    assert_frame_equal(mi._orders_taken_fast(other, news, shared)[0],  # type: ignore[index]
                       mi._orders_taken_fast(other, news)[0])  # type: ignore[index]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reach_is_the_range_join(seed: int) -> None:
    """Each burst's highest and lowest price in its span equal the range join's and group-by's; a burst with no
    trade in its span has no row; a missing price or time takes the range join."""
    from harbour.detect.market.frames import span_join

    rng = np.random.default_rng(seed)
    n, m = 2000, 80
    mkt = pl.DataFrame({"ts": _times(np.sort(rng.integers(0, 7200, n))), "quantity": rng.random(n).tolist(),
                        "price": (100 + rng.standard_normal(n)).tolist()})
    start = rng.integers(-100, 7300, m)
    bursts = pl.DataFrame({"owner": rng.choice(["a", "b", "c"], m).tolist(), "burst": np.arange(m),
                           "start": _times(start), "end": _times(start + rng.integers(0, 20, m))})
    follow = dt.timedelta(seconds=15)

    def joined(mkt: pl.DataFrame) -> pl.DataFrame:
        return span_join(mkt, bursts.select("owner", "burst", "start", until=pl.col("end") + follow), ts="ts",
                         lo="start", hi="until") \
            .group_by("owner", "burst").agg(p_max=pl.col("price").max(), p_min=pl.col("price").min())

    keys = ["owner", "burst"]
    got, want = mi._reach(mkt, bursts, follow), joined(mkt)
    assert 0 < want.height < m
    assert_frame_equal(got.sort(keys), want.sort(keys))
    with_null = mkt.with_columns(price=mkt["price"].scatter([5, 6], None))
    assert_frame_equal(mi._reach(with_null, bursts, follow).sort(keys), joined(with_null).sort(keys))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_near_sized_by_least_position_is_the_group_test(seed: int) -> None:
    """With the least position ahead per order, ``sized`` marks exactly the legs of owners whose order-side
    quantity ahead adds up to it, and after the first fill only their other-side legs are kept; a null size
    (a NaN least) keeps every taker."""
    rng = np.random.default_rng(seed)
    n, m = 3000, 60
    owners = [f"c{i}" for i in range(40)]
    legs = pl.DataFrame({
        "ts": _times(rng.integers(0, 1200, n)), "owner": rng.choice(owners, n).tolist(),
        "side": rng.choice(["buy", "sell"], n).tolist(),
        "quantity": pl.Series((rng.random(n) * 4).tolist()).scatter([0, 17], None),
    }).with_row_index("leg")
    big = _big_orders(rng, m, owners, lead_s=60)
    least = rng.random(m) * 6
    least[3] = np.nan
    joined = legs.join_where(big, pl.col("ts") >= pl.col("w0"), pl.col("ts") <= pl.col("w1"))
    ahead = pl.col("ts") < pl.col("first")
    pos = joined.filter(ahead & (pl.col("side") == pl.col("c_side"))).group_by("order_id", "owner") \
        .agg(q=pl.col("quantity").sum()) \
        .join(pl.DataFrame({"order_id": big["order_id"], "least": least}), on="order_id") \
        .filter(~(pl.col("q") < pl.col("least")) | pl.col("least").is_nan()).select("order_id", "owner", sized=True)
    want = joined.join(pos, on=["order_id", "owner"], how="left").with_columns(pl.col("sized").fill_null(False)) \
        .filter(ahead | ((pl.col("side") != pl.col("c_side")) & pl.col("sized"))) \
        .select("order_id", "leg", "sized").sort("order_id", "leg")
    got = frs._near(legs, big, prune=True, least=least).select("order_id", "leg", "sized")
    assert got.equals(want)
    assert 0 < got["sized"].sum() < got.height


def test_a_time_sort_of_trades_in_time_order_keeps_their_order() -> None:
    """momentum_ignition skips its sort by time when the trades are in time order already: that is only the same
    if Polars' (unstable) sort returns such rows as they are, ties in time included."""
    rng = np.random.default_rng(7)
    for n in (10, 5000, 200_000):
        df = pl.DataFrame({"ts": pl.Series(np.sort(rng.integers(0, n // 5 + 1, n))).cast(pl.Datetime("us", "UTC")),
                           "i": np.arange(n)}).filter(pl.col("i") % 3 != 0)  # no sorted flag to take a shortcut
        assert df["ts"].is_sorted()
        assert df.sort("ts")["i"].equals(df["i"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rows_in_spans_are_the_range_join(seed: int) -> None:
    """The market's trades during each burst (momentum ignition hands span_join trades already in time order, so
    it neither sorts them nor reorders its pairs): the range join's rows, span after span, each span's rows in
    time order; a span with a missing end has none."""
    from harbour.detect.market.frames import span_join

    rng = np.random.default_rng(seed)
    n, m = 1500, 70
    mkt = pl.DataFrame({"ts": _times(np.sort(rng.integers(0, 3600, n))), "quantity": rng.random(n).tolist()})
    start = rng.integers(-50, 3650, m)
    spans = pl.DataFrame({"owner": rng.choice(["a", "b"], m).tolist(), "burst": np.arange(m),
                          "start": _times(start), "end": _times(start + rng.integers(0, 40, m))})
    spans = spans.with_columns(end=spans["end"].scatter(4, None))
    got = span_join(mkt, spans, ts="ts", lo="start", hi="end")
    want = spans.join_where(mkt.with_row_index("_row"), pl.col("ts") >= pl.col("start"),
                            pl.col("ts") <= pl.col("end")).sort("burst", "_row").drop("_row")
    assert got.height > m
    assert got.equals(want.select(got.columns))
