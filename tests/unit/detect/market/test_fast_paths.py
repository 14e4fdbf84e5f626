"""The fast paths of the order-event kernels give exactly what the plain Polars formulations they replaced
give: front running's binary-search range join (with and without pruning) against a range join, and the
spoofing/layering running totals against window expressions — on random data full of time ties; and
pump_and_dump's compiled scan over bars against the numpy scan it replaced, on random walks with pumps."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from harbour.detect.market.cancelled_pressure import _running_totals
from harbour.detect.market.frames import run_starts, stable_sort
from harbour.detect.market.front_running_screens import _near
from harbour.detect.market.pump_and_dump import PumpAndDumpConfig, _scan

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def _legs(rng: np.random.Generator, n: int) -> pl.DataFrame:
    # whole seconds over 20 minutes: many legs share a time, as the legs of one sweeping order do
    secs = rng.integers(0, 1200, n)
    return pl.DataFrame({
        "ts": [T0 + dt.timedelta(seconds=int(s)) for s in secs],
        "owner": rng.choice(["a", "b", "c", "d", "e"], n).tolist(),
        "side": rng.choice(["buy", "sell"], n).tolist(),
        "quantity": rng.random(n).tolist(),
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))).with_row_index("leg")


def _orders(rng: np.random.Generator, n: int) -> pl.DataFrame:
    first = rng.integers(30, 1100, n)
    return pl.DataFrame({
        "order_id": [f"o{i:03d}" for i in range(n)],
        "c_owner": rng.choice(["a", "b", "c", "d", "e"], n).tolist(),
        "c_side": rng.choice(["buy", "sell"], n).tolist(),
        "first": [T0 + dt.timedelta(seconds=int(s)) for s in first],
        "w0": [T0 + dt.timedelta(seconds=int(s) - 30) for s in first],
        "w1": [T0 + dt.timedelta(seconds=int(s) + int(rng.integers(0, 200))) for s in first],
    }).with_columns(pl.col("first", "w0", "w1").cast(pl.Datetime("us", "UTC")))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_near_is_the_range_join(seed: int) -> None:
    rng = np.random.default_rng(seed)
    legs, big = _legs(rng, 600), _orders(rng, 40)
    want = legs.join_where(big, pl.col("ts") >= pl.col("w0"), pl.col("ts") <= pl.col("w1")) \
        .select("order_id", "leg").sort("order_id", "leg")
    got = _near(legs, big, prune=False).select("order_id", "leg")
    assert got.equals(got.sort("order_id", "leg", maintain_order=True))  # each order's legs in legs' order
    assert got.sort("order_id", "leg").equals(want)
    # pruned: every leg ahead of the first fill, and afterwards only the other-side legs of owners that took
    # the order's side ahead of it
    joined = legs.join_where(big, pl.col("ts") >= pl.col("w0"), pl.col("ts") <= pl.col("w1"))
    ahead = pl.col("ts") < pl.col("first")
    takers = joined.filter(ahead & (pl.col("side") == pl.col("c_side"))).select("order_id", "owner").unique()
    after = joined.filter(~ahead & (pl.col("side") != pl.col("c_side"))).join(takers, on=["order_id", "owner"])
    want_pruned = pl.concat([joined.filter(ahead).select("order_id", "leg"), after.select("order_id", "leg")]) \
        .sort("order_id", "leg")
    pruned = _near(legs, big, prune=True).select("order_id", "leg")
    assert pruned.equals(pruned.sort("order_id", "leg", maintain_order=True))
    assert pruned.sort("order_id", "leg").equals(want_pruned)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_running_totals_are_the_window_sums(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ex = _legs(rng, 2000).with_columns(
        decision=pl.format("d{}", pl.Series(rng.integers(0, 300, 2000)))).sort("owner", "side", "ts")
    want = ex.with_columns(cum_q=pl.col("quantity").cum_sum().over("owner", "side"),
                           cum_n=pl.col("decision").is_first_distinct().cast(pl.Int64).cum_sum().over("owner", "side"))
    starts = ex.select(run_starts(["owner", "side"])).to_series().to_numpy()
    assert ex.with_columns(_running_totals(ex, starts)).equals(want)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_owner_side_time_order_is_the_stable_sort(seed: int) -> None:
    legs = _legs(np.random.default_rng(seed), 2000)  # whole seconds: many ties of owner, side and time
    assert stable_sort(legs, ["owner", "side", "ts"]).equals(legs.sort("owner", "side", "ts", maintain_order=True))
    assert stable_sort(legs, ["owner", "ts"]).equals(legs.sort("owner", "ts", maintain_order=True))
    with_null = legs.with_columns(owner=pl.when(pl.col("leg") == 7).then(None).otherwise(pl.col("owner")))
    assert stable_sort(with_null, ["owner", "ts"]).equals(with_null.sort("owner", "ts", maintain_order=True))


def _plain_pumps(logp: np.ndarray, sigma: float, w: int, d: int, config: PumpAndDumpConfig) -> list[tuple]:
    """pump_and_dump's scan over bars as it was written with numpy calls, before it was compiled."""
    n = len(logp)
    found: list[tuple] = []
    i = last_end = 0
    while i < n:
        lo = max(0, i - w, last_end)
        rises = logp[i] - logp[lo:i + 1]
        needs = np.maximum(config.min_rise,
                           config.rise_sigmas * sigma * np.sqrt(np.maximum(i - np.arange(lo, i + 1), 1)))
        ok = np.flatnonzero(rises >= needs)
        if ok.size:
            ok = ok[rises[ok] >= config.plateau * rises[ok].max()]
        trough = lo + (int(ok[-1]) if ok.size else int(np.argmin(logp[lo:i + 1])))
        rise = logp[i] - logp[trough]
        if ok.size and (i + 1 >= n or logp[i] >= logp[i + 1: min(n, i + 1 + w // 4 + 1)].max()):
            after = logp[i + 1: min(n, i + 1 + d)]
            if after.size:
                low = np.minimum.accumulate(after)
                rebound = np.flatnonzero((after - low) >= 0.5 * rise)
                stop = int(rebound[0]) if rebound.size else after.size
                j = i + 1 + int(np.argmin(after[:max(stop, 1)]))
                giveback = (logp[i] - logp[j]) / rise
                if giveback >= config.min_giveback:
                    top = trough + int(np.argmax(logp[trough:i + 1] >= logp[trough] + config.plateau * rise))
                    found.append((trough, top, j, float(rise), float(giveback)))
                    i = last_end = j
        i += 1
    return found


@pytest.mark.parametrize("seed", range(8))
def test_pump_scan_is_the_plain_scan(seed: int) -> None:
    found = _check_pump_scan(np.random.default_rng(seed), gaps=False)
    assert seed > 2 or found  # the first seeds do find pumps, so the comparison is not of empty lists


@pytest.mark.parametrize("seed", range(6))
def test_pump_scan_with_missing_prices_is_the_plain_scan(seed: int) -> None:
    # NaN prices (scattered, and a leading run): the scan skips bars by the span's lowest price, NaN left out
    found = _check_pump_scan(np.random.default_rng(seed), gaps=True)
    assert seed > 4 or found  # the first seeds do find pumps


def _check_pump_scan(rng: np.random.Generator, gaps: bool) -> list[tuple]:
    n = int(rng.integers(200, 2500))
    # a random walk with pumps (steep rises, then falls) and flat stretches (ties everywhere)
    steps = rng.normal(0, 0.002, n) * (rng.random(n) < 0.7)
    for start in rng.integers(0, n, 6):
        up = int(rng.integers(5, 200))
        steps[start:start + up] += rng.uniform(0.0005, 0.004)
        steps[start + up:start + 2 * up] -= rng.uniform(0.0, 0.004)
    logp = np.round(np.cumsum(steps), 4)
    if gaps:
        logp[rng.integers(0, n, int(rng.integers(1, 40)))] = np.nan
        logp[:int(rng.integers(0, 60))] = np.nan
    config = PumpAndDumpConfig(pump_minutes=float(rng.integers(30, 400)), dump_minutes=float(rng.integers(30, 400)),
                               min_rise=float(rng.uniform(0.005, 0.05)))
    sigma = float(rng.uniform(0.0005, 0.003))
    w, d = int(config.pump_minutes), int(config.dump_minutes)
    want = _plain_pumps(logp, sigma, w, d, config)
    at, by = _scan(logp, sigma, w, d, config.min_rise, config.rise_sigmas, config.plateau, config.min_giveback)
    got = [(int(a[0]), int(a[1]), int(a[2]), float(b[0]), float(b[1])) for a, b in zip(at, by, strict=True)]
    assert got == want
    return want


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_passing_runs_are_the_group_filter(seed: int) -> None:
    """momentum_ignition's compiled run test keeps exactly the runs the group-by and filter keep."""
    from harbour.detect.market.momentum_ignition import _passing_runs

    rng = np.random.default_rng(seed)
    n = 3000
    agg = pl.DataFrame({"owner": np.sort(rng.choice(["a", "b", "c", "d"], n)).tolist(),
                        "burst": np.cumsum(rng.random(n) < 0.3).tolist(),
                        "quantity": (rng.random(n) * 10).tolist(),
                        "sign": rng.choice([1, -1], n, p=[0.85, 0.15]).astype(np.int32).tolist()})
    runs = agg.group_by("owner", "burst").agg(n_legs=pl.len(), q=pl.col("quantity").sum(),
                                              q_signed=(pl.col("quantity") * pl.col("sign")).sum()) \
        .filter((pl.col("n_legs") >= 3) & (pl.col("q_signed").abs() >= 0.8 * pl.col("q")))
    want = agg.join(runs.select("owner", "burst"), on=["owner", "burst"], how="semi")
    assert 0 < want.height < n
    assert agg.filter(_passing_runs(agg, 3)).equals(want)
    with_null = agg.with_columns(quantity=pl.when(pl.col("burst") == 5).then(None).otherwise(pl.col("quantity")))
    runs = with_null.group_by("owner", "burst").agg(n_legs=pl.len(), q=pl.col("quantity").sum(),
                                                    q_signed=(pl.col("quantity") * pl.col("sign")).sum()) \
        .filter((pl.col("n_legs") >= 3) & (pl.col("q_signed").abs() >= 0.8 * pl.col("q")))
    assert with_null.filter(_passing_runs(with_null, 3)).equals(
        with_null.join(runs.select("owner", "burst"), on=["owner", "burst"], how="semi"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_orders_taken_are_the_group_by(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """momentum_ignition's liquidity-taking orders by compiled passes equal the group-by and joins: placed sizes
    raise filled ones, market orders that took nothing count from their placement, decisions shared by owners
    (legs without an order id) stay apart."""
    import harbour.detect.market.momentum_ignition as mi

    rng = np.random.default_rng(seed)
    n, m = 1500, 900
    aggr = _legs(rng, n).with_columns(
        decision=pl.format("o{}", pl.Series(rng.integers(0, 200, n))),
        sign=pl.Series(rng.choice([1, -1], n).astype(np.int32)))
    news = pl.DataFrame({
        "order_id": [f"o{i}" for i in rng.integers(0, 260, m)],
        "account": rng.choice(["a", "b", "x"], m).tolist(),
        "ts": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 1200, m)],
        "side": rng.choice(["buy", "sell"], m).tolist(),
        "order_type": rng.choice(["limit", "market"], m).tolist(),
        "quantity": pl.Series((rng.random(m) * 3).tolist()).scatter([3, 9], None),
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    owners = pl.DataFrame({"account": ["x"], "owner": ["a"]})
    got, got_bare = mi._orders_taken(aggr, news, owners), mi._orders_taken(aggr, None, owners)
    monkeypatch.setattr(mi, "_orders_taken_fast", lambda *_: None)
    want, want_bare = mi._orders_taken(aggr, news, owners), mi._orders_taken(aggr, None, owners)
    keys = ["owner", "decision"]
    assert got.height == want.height > got_bare.height > 0
    # sums to 1e-12: Polars adds a small frame's groups in plain sequence, the compiled pass compensates
    assert_frame_equal(got.sort(keys), want.sort(keys), check_exact=False, rel_tol=1e-12, abs_tol=0)
    assert_frame_equal(got_bare.sort(keys), want_bare.sort(keys), check_exact=False, rel_tol=1e-12, abs_tol=0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_venue_owners_are_the_group_test(seed: int) -> None:
    """cross_venue's compiled two-venue test marks exactly the legs of owners whose first and last venue
    differ, with the owner ids interned or (a null owner) grouped as strings."""
    from harbour.detect.market.cross_venue import _on_two_venues

    rng = np.random.default_rng(seed)
    n = 2000
    legs = pl.DataFrame({"owner": rng.choice([f"c{i}" for i in range(900)], n).tolist(),
                         "venue": rng.choice(["HBX", "KWX", "VTX"], n, p=[0.8, 0.15, 0.05]).tolist()})
    multi = legs.group_by("owner").agg(lo=pl.col("venue").min(), hi=pl.col("venue").max()) \
        .filter(pl.col("lo") != pl.col("hi")).select("owner")
    want = legs.select(pl.col("owner").is_in(multi["owner"].implode())).to_series()
    assert 0 < want.sum() < n
    assert _on_two_venues(legs).equals(want, check_names=False)
    with_null = legs.with_columns(owner=pl.when(pl.int_range(n) == 3).then(None).otherwise(pl.col("owner")))
    assert _on_two_venues(with_null).fill_null(False).equals(
        want.scatter(3, False), check_names=False)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_per_order_totals_are_the_group_by(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """front_running's per-order totals by compiled passes equal the group-by of the fills and the joined
    placements: sums, first and last fills, first fill's owner, earliest placement and largest placed size (null
    quantities and orders never placed included)."""
    import harbour.detect.market.front_running as fr

    rng = np.random.default_rng(seed)
    n, m = 1200, 700
    fills = _legs(rng, n).select("ts", "quantity", "owner", "side").with_columns(
        order_id=pl.format("o{}", pl.Series(rng.integers(0, 150, n))), account=pl.col("owner"),
        trade_id=pl.format("t{}", pl.int_range(n)), price=pl.lit(100.0))
    news = pl.DataFrame({
        "order_id": [f"o{i}" for i in rng.integers(0, 220, m)],
        "ts": [T0 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 1200, m)],
        "quantity": pl.Series((rng.random(m) * 3).tolist()).scatter([0, 5, 11], None),
    }).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))

    def by_strings(news: pl.DataFrame | None) -> pl.DataFrame:
        per = fills.group_by("order_id").agg(
            qty=pl.col("quantity").sum(), first=pl.col("ts").min(), last=pl.col("ts").max(),
            account=pl.col("account").first(), owner=pl.col("owner").first(), side=pl.col("side").first())
        if news is None:
            return per.with_columns(placed=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
                                    size=pl.lit(None, dtype=pl.Float64))
        placed = news.join(per.select("order_id"), on="order_id", how="semi") \
            .group_by("order_id").agg(placed=pl.col("ts").min(), size=pl.col("quantity").max())
        return per.join(placed, on="order_id", how="left")

    for placements in (news, None):
        got = fr._per_order(fills, placements)
        assert got is not None
        assert_frame_equal(got.sort("order_id"), by_strings(placements).sort("order_id"), check_exact=False,
                           rel_tol=1e-12, abs_tol=0)  # sums to 1e-12, as above
    assert fr._per_order(fills.with_columns(quantity=pl.lit(None, dtype=pl.Float64)), news) is None
