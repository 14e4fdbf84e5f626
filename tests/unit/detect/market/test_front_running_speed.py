"""Front running's faster steps give what the steps they replaced give.

- The large orders from the compiled passes' arrays (``_large_by_codes``) are the frame of the Polars queries
  (``_large_by_frames``, the path kept for what the passes cannot read), on scenario markets and on random
  trades full of time ties, null aggressors and order ids, unfilled market orders and no order book.
- The takers (``_takers``) are the legs of the Polars filter and concatenation they replaced.
- The habits check (``_may_pass_habits``, ``_habit_orders``) counts, per (large order, owner), no more of the owner's
  decisions than the kernel's habits joins (the same count where no sum ties with its unit), so it never turns away a
  partition the kernel alerts on; it answers both ways on random legs, and True where it cannot tell (owners'
  hashes shared, a null owner; decisions are numbered exactly, so theirs leave nothing to tell); and the kernel's
  alerts are the same with it as with it forced open.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import harbour.detect.market.front_running as fr
import harbour.detect.market.front_running_orders as fro
import harbour.detect.market.front_running_screens as frs
from harbour.detect.framework import REGISTRY, Partition
from harbour.detect.market.frames import PLACEMENT_COLUMNS, TRADE_COLUMNS, frame, owner_map, placements, with_owner

from .front_scenarios import VENUE, client_order_market
from .spies import answers_of

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
US = pl.Datetime("us", "UTC")


def _times(secs: np.ndarray) -> pl.Series:
    return pl.Series((secs * 1_000_000).astype(np.int64)).cast(US).dt.offset_by(f"{int(T0.timestamp())}s")


# --- the large orders ---------------------------------------------------------------------------------------


def _trades(rng: np.random.Generator, n: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Random trades as the kernel's ``t`` (owners beside the accounts), placements of most of their orders
    and of unfilled market orders, and the owner map: time ties, null aggressors and order ids."""
    n_orders = n // 4
    accounts = [f"a{i}" for i in range(12)]
    buyer, seller = rng.choice(accounts, n).tolist(), rng.choice(accounts, n).tolist()
    owner = {a: f"c{int(a[1:]) // 2}" for a in accounts}
    t = pl.DataFrame({
        "ts": _times(np.sort(rng.integers(0, 900, n))),  # many ties
        "trade_id": [f"t{i}" for i in range(n)],
        "price": 100 + rng.random(n),
        "quantity": rng.choice([1.0, 2.0, 3.0, 40.0, 90.0], n) * rng.choice([1.0, 1.25], n),
        "buyer": buyer, "seller": seller,
        "aggressor": [None if rng.random() < 0.05 else s for s in rng.choice(["buy", "sell"], n).tolist()],
        "buy_order_id": [None if rng.random() < 0.03 else f"b{k}" for k in rng.integers(0, n_orders, n)],
        "sell_order_id": [None if rng.random() < 0.03 else f"s{k}" for k in rng.integers(0, n_orders, n)],
        "owner_b": [owner[a] for a in buyer], "owner_s": [owner[a] for a in seller],
    }, schema_overrides={"aggressor": pl.String, "buy_order_id": pl.String, "sell_order_id": pl.String})
    ids = [f"{side}{k}" for side in "bs" for k in range(n_orders) if rng.random() < 0.8]
    ids += [f"m{k}" for k in range(8)]  # market orders that may find nothing to fill
    m = len(ids)
    news = pl.DataFrame({
        "order_id": ids, "account": rng.choice(accounts, m).tolist(), "ts": _times(rng.integers(0, 900, m)),
        "event": ["new"] * m, "side": ["buy" if i[0] == "b" else "sell" for i in ids],
        "order_type": rng.choice(["limit", "market"], m).tolist(), "price": 100 + rng.random(m),
        "quantity": rng.choice([1.0, 5.0, 60.0, 400.0], m),
    })
    owners = pl.DataFrame({"account": list(owner), "owner": list(owner.values())})
    return t, news, owners


def _both(t: pl.DataFrame, news: pl.DataFrame | None, owners: pl.DataFrame,
          config: fr.FrontRunningConfig, monkeypatch: pytest.MonkeyPatch) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The large orders by the compiled passes, then by the Polars queries."""
    got = fr._large_orders(t, news, owners, config, {})
    with monkeypatch.context() as m:
        m.setattr(fr, "_taken", lambda *_: None)
        want = fr._large_orders(t, news, owners, config, {})
    return got, want


@pytest.mark.parametrize("seed", range(12))
def test_large_orders_from_the_arrays_are_the_queries_on_random_trades(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    t, news, owners = _trades(rng, [300, 1500, 4000][seed % 3])
    if seed % 4 == 3:  # no nulls: ids the passes read
        t = t.with_columns(pl.col("aggressor").fill_null("buy"), pl.col("buy_order_id").fill_null("bx"),
                           pl.col("sell_order_id").fill_null("sx"))
    large = tied = 0
    for multiple in (2.0, 5.0, 20.0):  # the last: none or few
        config = fr.FrontRunningConfig(size_multiple=multiple)
        for book in (news, None, news.filter(pl.col("order_type") == "limit")):
            assert fr._taken(fr._takers(t), t, book) is not None
            got, want = _both(t, book, owners, config, monkeypatch)
            assert_frame_equal(got, want)
            large += got.height
            tied += got["first"].is_duplicated().sum()
    assert large > 0 and tied > 0  # large orders first filled at one time: in order of id


def test_large_orders_with_unfilled_market_orders_are_the_queries(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    t, news, owners = _trades(rng, 1500)
    news = news.with_columns(quantity=pl.when(pl.col("order_id").str.starts_with("m")).then(5000.0)
                             .otherwise(pl.col("quantity")), order_type=pl.when(pl.col("order_id").str.starts_with(
                                 "m")).then(pl.lit("market")).otherwise(pl.col("order_type")))
    got, want = _both(t, news, owners, fr.FrontRunningConfig(), monkeypatch)
    assert got["order_id"].str.starts_with("m").sum() == 8
    assert_frame_equal(got, want)


def test_sizes_the_arrays_cannot_read_go_to_the_queries() -> None:
    rng = np.random.default_rng(2)
    t, news, _ = _trades(rng, 300)
    assert fr._taken(fr._takers(t), t, news) is not None
    nan = t.with_columns(t["quantity"].scatter(3, float("nan")))
    assert fr._taken(fr._takers(nan), nan, news) is None
    null = t.with_columns(t["quantity"].scatter(3, None))
    assert fr._taken(fr._takers(null), null, news) is None
    late = news.with_columns(news["ts"].scatter(0, None))
    assert fr._taken(fr._takers(t), t, late) is None


@pytest.mark.parametrize("seed", range(6))
def test_takers_are_the_filtered_legs(seed: int) -> None:
    t, _, _ = _trades(np.random.default_rng(seed), 800)
    if seed % 2:
        t = t.with_columns(pl.col("aggressor").fill_null("sell"), pl.col("buy_order_id").fill_null("bx"))
    fills = pl.concat([
        t.with_row_index("row").filter(pl.col("aggressor") == "buy").select("row", order_id="buy_order_id",
                                                                            buy=pl.lit(True)),
        t.with_row_index("row").filter(pl.col("aggressor") == "sell").select("row", order_id="sell_order_id",
                                                                             buy=pl.lit(False)),
    ]).drop_nulls("order_id")
    rows, buy, ids = fr._takers(t)
    assert ids.name == "order_id" and ids.equals(fills["order_id"])
    assert rows.tolist() == fills["row"].to_list() and buy.tolist() == fills["buy"].to_list()


def _kernel_inputs(part: Partition) -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame]:
    trades = frame(part, "trades", TRADE_COLUMNS)
    owners = owner_map(part, VENUE)
    t = with_owner(with_owner(trades, owners, "buyer", "owner_b"), owners, "seller", "owner_s") \
        .filter(pl.col("owner_b") != pl.col("owner_s"))
    return t, placements(part, PLACEMENT_COLUMNS), owners


@pytest.mark.parametrize("seed", [12, 7])
def test_large_orders_from_the_arrays_are_the_queries_on_scenario_markets(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    for runner in (False, True):
        t, news, owners = _kernel_inputs(client_order_market(seed, runner).partition(VENUE))
        got, want = _both(t, news, owners, fr.FrontRunningConfig(), monkeypatch)
        assert got.height > 0
        assert_frame_equal(got, want)


# --- the habits check ---------------------------------------------------------------------------------------


def _scene(rng: np.random.Generator, n_owners: int) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    """Random legs with decisions (some of several legs, some of both sides), large orders around them, and
    the median trade. Float quantities: no sum ties with a unit."""
    n, m = 2000, 25
    owners = [f"c{i}" for i in range(n_owners)]
    decisions = rng.integers(0, n // 3, n)
    legs = pl.DataFrame({
        "ts": _times(rng.integers(0, 3600, n)), "trade_id": [f"t{i}" for i in range(n)],
        "price": 100 + rng.random(n), "quantity": rng.random(n) * rng.choice([1.0, 10.0, 40.0], n),
        "account": rng.choice(owners, n).tolist(), "side": rng.choice(["buy", "sell"], n).tolist(),
        "aggr": rng.random(n) < 0.6, "decision": [f"d{k}" for k in decisions],
    }).with_columns(owner="account")
    first = rng.integers(60, 3300, m)
    big = pl.DataFrame({
        "order_id": [f"o{i:03d}" for i in range(m)], "c_owner": rng.choice(owners, m).tolist(),
        "c_side": rng.choice(["buy", "sell"], m).tolist(), "first": _times(first), "w0": _times(first - 30),
        "w1": _times(first + rng.integers(0, 300, m)), "c_qty": rng.integers(20, 400, m).astype(float),
        "c_ids": [[] for _ in range(m)],
    }, schema_overrides={"c_ids": pl.List(pl.String)})
    return legs, big, float(legs["quantity"].median())  # type: ignore[arg-type]


def _index(legs: pl.DataFrame, big: pl.DataFrame, median_trade: float, config: fr.FrontRunningConfig
           ) -> fr.NearIndex:
    least = np.maximum(config.min_ratio * big["c_qty"].to_numpy(), config.min_position_multiple * median_trade)
    return frs._near_index(legs, big, prune=True, least=least * (1 - 1e-9))


def _kernel_counts(legs: pl.DataFrame, big: pl.DataFrame, index: fr.NearIndex, median_trade: float,
                   config: fr.FrontRunningConfig, day_s: float) -> pl.DataFrame:
    """Per candidate of the kernel (``_candidates``), its habits' counts by the kernel's joins (``n_in``,
    ``n_out``) and whether it passes the coincidence test (``hit``), as the kernel reads them."""
    per = fr._candidates(fr._near_joined(legs, big, index, None), big, median_trade, config)
    coincidence = fr.chance_of_any(pl.col("rate").clip(1.0 / day_s, None), config.pre_seconds) \
        * fr.chance_of_any(pl.col("rate_o").clip(1.0 / day_s, None), config.post_seconds) * big.height
    return fr._with_habits(per, legs, day_s, config).select(
        "order_id", "owner", n_in=(pl.col("rate") * day_s).round(), n_out=(pl.col("rate_o") * day_s).round(),
        hit=coincidence <= pl.when(pl.col("into")).then(config.into_max_coincidence)
        .otherwise(config.max_coincidence)).collect()


CONFIGS = [fr.FrontRunningConfig(min_position_multiple=1.0, habit_size=h, max_coincidence=c, into_max_coincidence=c)
           for h, c in [(0.25, 5e-4), (1.0, 0.05), (3.0, 0.2), (0.25, 0.5)]]


@pytest.mark.parametrize("seed", range(10))
def test_the_checks_counts_are_the_kernels_habits(seed: int) -> None:
    """Every candidate of the kernel is a pair of the check, with the kernel's counts (float sums: none ties
    with its unit, so none is left out for the order of addition)."""
    rng = np.random.default_rng(seed)
    legs, big, median_trade = _scene(rng, n_owners=[3, 12, 60][seed % 3])
    candidates = 0
    for config in CONFIGS:
        index = _index(legs, big, median_trade, config)
        want = _kernel_counts(legs, big, index, median_trade, config, 3600.0)
        found = frs._pair_habits(frs.legs_of(legs), frs.big_of(big), index, median_trade, config)
        if want.height == 0:
            continue
        assert found is not None
        by_hash = dict(zip(index[3].tolist(), legs["owner"].to_list(), strict=True))
        got = pl.DataFrame({
            "order_id": big["order_id"].gather(found.pairs.order),
            "owner": [by_hash[h] for h in found.pairs.owner.tolist()],
            "n_in": found.n_in.astype(float), "n_out": found.n_out.astype(float)})
        joined = want.join(got, on=["order_id", "owner"], how="left", suffix="_check")
        assert joined["n_in_check"].null_count() == 0  # every candidate is a pair of the check
        assert joined["n_in_check"].to_list() == joined["n_in"].to_list()
        assert joined["n_out_check"].to_list() == joined["n_out"].to_list()
        candidates += want.height
    assert candidates > 0


@pytest.mark.parametrize("seed", range(12))
def test_the_check_never_turns_away_a_partition_with_a_hit(seed: int) -> None:
    """Where a candidate passes the kernel's coincidence test the check answers True; both answers come up."""
    rng = np.random.default_rng(100 + seed)
    legs, big, median_trade = _scene(rng, n_owners=[3, 12, 60][seed % 3])
    if seed % 2:  # integer quantities: sums that tie with their units
        legs = legs.with_columns(pl.col("quantity").ceil())
    answers = set()
    for config in CONFIGS:
        for day_s in (3600.0, 36_000.0):
            index = _index(legs, big, median_trade, config)
            hits = _kernel_counts(legs, big, index, median_trade, config, day_s)["hit"].sum()
            answer = frs._may_pass_habits(frs.legs_of(legs), frs.big_of(big), index, median_trade, day_s, config)
            assert answer or hits == 0
            answers.add(answer)
    assert answers == {True, False}


def test_the_check_answers_true_where_it_cannot_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Owners sharing a hash, a null owner, decisions not known, or the size check's unreadable inputs: True.
    Decisions are numbered exactly (``Halves.codes_at``), so decisions whose hashes are shared leave nothing to
    tell: their numbers are equal exactly where the strings are, and the check answers as with hashes apart."""
    rng = np.random.default_rng(4)
    legs, big, median_trade = _scene(rng, n_owners=12)
    config = CONFIGS[0]
    index = _index(legs, big, median_trade, config)
    arrays, large = frs.legs_of(legs), frs.big_of(big)
    assert frs._pair_habits(arrays, large, index, median_trade, config) is not None
    assert not frs._may_pass_habits(arrays, large, index, median_trade, 3600.0, config)
    order_rows, leg_rows, sized, owner = index
    shared = (order_rows, leg_rows, sized, owner % np.uint64(5))
    assert frs._may_pass_habits(arrays, large, shared, median_trade, 3600.0, config)
    nulled = legs.with_columns(legs["owner"].scatter(7, None))
    assert frs._may_pass_habits(frs.legs_of(nulled), large, index, median_trade, 3600.0, config)
    assert frs._may_pass_habits(arrays._replace(decisions=None), large, index, median_trade, 3600.0, config)
    assert frs._may_pass_habits(arrays, frs.big_of(big.with_columns(big["c_side"].scatter(0, "BUY"))), index,
                               median_trade, 3600.0, config)
    want = frs._habit_orders(arrays, large, index, median_trade, 3600.0, config)
    assert arrays.decisions is not None and want is not None
    rows = np.arange(legs.height)
    monkeypatch.setattr(fro, "_HASH_BITS", (np.uint64(7), np.uint64(0)))  # the decisions' hashes: 8 values
    codes, strings = arrays.decisions.codes_at(rows), arrays.decisions.strings_at(rows)
    assert len(set(strings)) > 8 and len(set(zip(codes.tolist(), strings, strict=True))) == len(set(strings)) \
        == len(set(codes.tolist()))  # equal numbers exactly where the strings are equal
    got = frs._habit_orders(arrays, large, index, median_trade, 3600.0, config)
    assert got is not None and np.array_equal(got, want)
    assert not frs._may_pass_habits(arrays, large, index, median_trade, 3600.0, config)  # the full path's: none


def test_decision_totals_are_polars() -> None:
    rng = np.random.default_rng(9)
    n = 3000
    legs = pl.DataFrame({
        "owner": rng.integers(0, 5, n).astype(np.uint64), "buy": rng.random(n) < 0.5,
        "decision": rng.integers(0, 200, n).astype(np.uint64), "aggr": rng.random(n) < 0.5,
        "qty": rng.integers(1, 9, n).astype(float), "ts": rng.integers(0, 10_000, n)})
    groups = frs._decisions(*(legs[c].to_numpy() for c in legs.columns))
    got = pl.DataFrame(dict(zip(["owner", "buy", "q", "ts", "q_aggr", "ts_aggr", "aggr"], groups, strict=True)))
    keys = ["owner", "buy", "decision"]
    want = legs.group_by(keys, maintain_order=True).agg(
        q=pl.col("qty").sum(), ts=pl.col("ts").min(), q_aggr=pl.col("qty").filter("aggr").sum(),
        ts_aggr=pl.col("ts").filter("aggr").min(), aggr=pl.col("aggr").any())
    assert_frame_equal(got.filter("aggr"), want.filter("aggr").drop("decision"), check_dtypes=False)
    assert_frame_equal(got.drop("ts_aggr"), want.drop("decision", "ts_aggr"), check_dtypes=False)


@pytest.mark.parametrize(("seed", "runner", "busy", "answer"),
                         [(12, True, 0, True), (7, True, 0, True), (12, True, 60, False), (7, False, 0, None)])
def test_the_kernels_alerts_are_the_full_paths(seed: int, runner: bool, busy: int, answer: bool | None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With the check and with it forced open the kernel gives the same alerts: the runner's, or none (a runner
    whose round trips of that size fill the day is not one; without a runner the size check stops first)."""
    d = REGISTRY.get("front_running")
    part = client_order_market(seed, runner, busy).partition(VENUE)
    seen = answers_of(monkeypatch, fr, "_habit_orders")
    got = d.kernel(part, d.default_config())
    monkeypatch.setattr(fr, "_habit_orders", lambda *_: None)  # the check cannot tell: every order may alert
    want = d.kernel(part, d.default_config())
    assert [found is None or found.shape[0] > 0 for found in seen] == ([] if answer is None else [answer])
    assert got.equals(want)
    assert got.num_rows == (1 if answer else 0)
