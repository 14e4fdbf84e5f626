"""Front running's screens read the trades in place and give what the kernel's frames give.

- The strings read from Polars' string views (``text``) are the column's, whatever their layout (short, long,
  mixed, nulls, a slice, several chunks), and one string hashes alike wherever it is read.
- The trades read in place (``trade_arrays``) give the kernel's takers (``_takers``) and legs (``legs_of`` of the
  legs frame) exactly, on random trades full of time ties, trades within one owner and aggressors missing or
  unknown; and the inputs they cannot read answer None (the kernel's frames decide).
- The large orders from the probe's arrays (``big_of_taken``) are those of the kernel's frame, fills included.
- The habits check with the unwind into the large order (``into``) never turns away a partition whose candidates
  pass the kernel's unwind and coincidence tests, on random legs where some traded with the large orders through
  exits placed before or after their entry; and the looser bounds are needed there.
- The kernel's alerts are the same with the screens as with them forced open, on scenario markets.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market.front_running as fr
import harbour.detect.market.front_running_orders as fro
import harbour.detect.market.front_running_screens as frs
from harbour.detect.framework import REGISTRY, Partition
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.scenarios import ScenarioMarket

from .front_scenarios import VENUE, client_order_market
from .test_front_profit import _unwind_into
from .test_front_running_orders import _events, _placements
from .test_front_running_speed import _scene, _times, _trades

# --- strings read in place ------------------------------------------------------------------------------------


def _strings(found: fro.StringSpans | fro.Halves) -> list[str | None]:
    if isinstance(found, fro.Halves):
        return found.strings_at(np.arange(found.split + found.second.spans.shape[0] // 2))
    spans, data = found.spans, found.data
    return [None if found.valid.shape[0] and not found.valid[i] else bytes(data[spans[2 * i]:spans[2 * i + 1]]).decode()
            for i in range(spans.shape[0] // 2)]


def takers_and_legs_as_the_frames(trades: Any, t: pl.DataFrame) -> tuple[Any, Any]:
    """Assert that the takers and legs read from the trades' arrays are the frame path's (on ``t``, the trades
    between owners); the legs both ways, for further checks."""
    rows, buy, ids = fro.taker_legs(trades)
    want_rows, want_buy, want_ids = fr._takers(t)
    assert np.array_equal(rows, want_rows) and np.array_equal(buy, want_buy)
    assert _strings(ids) == want_ids.to_list()
    got, want = frs.legs_of_trades(trades), frs.legs_of(fr._legs_frame(t))
    for name in ("order_ts", "by_time", "ts", "buy", "aggr", "qty", "owner"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    return got, want


def _columns(rng: np.random.Generator) -> list[pl.Series]:
    n = 500
    short = [f"c{k}" for k in rng.integers(0, 40, n)]
    long = [f"order-{k:012d}" for k in rng.integers(0, 10**9, n)]
    mixed = [s if rng.random() < 0.5 else f"x{s}" * 3 for s in short]
    nulls = [None if rng.random() < 0.1 else s for s in mixed]
    long_nulls = [None if rng.random() < 0.1 else s for s in long]
    chunked = pl.concat([pl.Series(mixed[:200]), pl.Series(long[200:])], rechunk=False)
    return [pl.Series(short), pl.Series(long), pl.Series(mixed), pl.Series(nulls, dtype=pl.String),
            pl.Series(long_nulls, dtype=pl.String), pl.Series(mixed).slice(37, 300), chunked,
            pl.Series([], dtype=pl.String), pl.Series(["", "a", "abcdefghijkl", "abcdefghijklm", "é" * 9])]


@pytest.mark.parametrize("seed", range(3))
def test_strings_read_in_place_are_the_column_s(seed: int) -> None:
    for values in _columns(np.random.default_rng(seed)):
        found = fro.text(values)
        assert found is not None
        assert _strings(found) == values.to_list()
        assert _strings(found.at(np.arange(values.len())[::-3])) == values.to_list()[::-3]
    assert fro.text(pl.Series([1, 2])) is None


def test_one_string_hashes_alike_wherever_it_is_read() -> None:
    words = ["", "a", "c7", "HBX0001", "C4508539", "order-000000000042", "x" * 16, "y" * 17, "z" * 40]
    layouts = [pl.Series(words), pl.Series([w * 1 for w in words] + ["q" * 20] * 3).head(len(words)),
               pl.concat([pl.Series(["pad"] * 5 + words[:4]), pl.Series(words[4:])], rechunk=False).slice(5)]
    hashes = []
    for values in layouts:
        found = fro.text(values)
        assert found is not None and _strings(found) == words
        hashes.append(found.hashes())
    assert all(np.array_equal(hashes[0], h) for h in hashes[1:])
    assert np.unique(hashes[0]).shape[0] == len(words)
    # a null is one value apart from the empty string
    nulled = fro.text(pl.Series(["", None, "", None], dtype=pl.String))
    assert nulled is not None
    h = nulled.hashes()
    assert h[0] == h[2] and h[1] == h[3] and h[0] != h[1]


def test_strings_sharing_a_hash_are_told() -> None:
    """In one column and across the two halves (two columns of other layouts: short strings in their views, long
    ones in a data buffer), a null one value apart."""
    first, second = fro.text(pl.Series(["a", "b", "a", None])), fro.text(pl.Series(["c", None, "a" * 20, "a"]))
    assert first is not None and second is not None
    halves = fro.Halves(first, second)
    assert _strings(halves) == ["a", "b", "a", None, "c", None, "a" * 20, "a"]

    def one_each(hashes: np.ndarray, rows: list[int]) -> bool:
        return bool(fro.one_string_each(first.spans, first.data, first.valid, second.spans, second.data,
                                        second.valid, hashes, np.array(rows)))

    assert one_each(halves.hashes(), list(range(8)))
    same = np.zeros(8, np.uint64)  # every string one hash
    assert not one_each(same, list(range(8)))
    assert one_each(same, [0, 2, 7])  # "a" three times, in both halves
    assert one_each(same, [3, 5])  # null twice
    assert not one_each(same, [3, 0])  # null and "a"
    assert not one_each(same, [0, 6])  # "a" and a longer string of it


# --- the trades read in place ----------------------------------------------------------------------------------


def _owned(rng: np.random.Generator, n: int) -> pl.DataFrame:
    """Random owned trades (``_trades``': many time ties) with no null id, some trades within one owner and
    aggressors missing or unknown."""
    t, _, _ = _trades(rng, n)
    return t.with_columns(
        pl.col("buy_order_id").fill_null("bx"), pl.col("sell_order_id").fill_null("sx"),
        aggressor=pl.when(pl.col("trade_id").str.ends_with("7")).then(pl.lit("BUY")).otherwise("aggressor"))


@pytest.mark.parametrize("seed", range(6))
def test_the_trades_in_place_are_the_kernel_s_takers_and_legs(seed: int) -> None:
    owned = _owned(np.random.default_rng(seed), [300, 1500, 4000][seed % 3])
    t = fr._between_owners(owned)
    assert 0 < t.height < owned.height
    trades = fro.trade_arrays(owned)
    assert trades is not None
    got, want = takers_and_legs_as_the_frames(trades, t)
    assert got.timed and _strings(got.owners) == _strings(want.owners)
    assert got.decisions is not None and want.decisions is not None
    assert _strings(got.decisions) == _strings(want.decisions)
    assert got.trade_ids is not None and want.trade_ids is not None
    m = t.height
    assert _strings(got.trade_ids.get().at(np.arange(2 * m) % m)) == _strings(want.trade_ids.get())
    # the range join of the legs in place is the frames' (each order's legs put in order without a sort)
    big, legs = _orders_near(t, np.random.default_rng(seed)), fr._legs_frame(t)
    least = np.random.default_rng(seed).random(big.height) * 4
    for prune, at_least in [(True, least), (True, None), (False, None)]:
        mine, theirs = frs.index_of(got, frs.big_of(big), prune, at_least), frs._near_index(legs, big, prune, at_least)
        assert all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))
    assert got.halves == m and mine[0].shape[0] > 0


def _orders_near(t: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Random large orders over the trades' times (first fills at trades' times: ties with legs)."""
    m = 30
    first = t["ts"].gather(rng.integers(0, t.height, m))
    return pl.DataFrame({"order_id": [f"o{i}" for i in range(m)], "c_side": rng.choice(["buy", "sell"], m).tolist(),
                         "first": first, "w0": first.dt.offset_by("-30s"), "w1": first.dt.offset_by("200s"),
                         "c_qty": rng.random(m) * 100})


def test_times_out_of_order_are_sorted() -> None:
    ts = np.array([5, 5, 7, 9, 9, 9], np.int64)
    ordered, by_time = frs._merged_order(ts)
    assert ordered and np.array_equal(by_time, np.argsort(np.concatenate([ts, ts]), kind="stable"))
    assert not frs._merged_order(ts[::-1])[0]
    owned = _owned(np.random.default_rng(3), 300)
    shuffled = owned.sample(fraction=1.0, seed=1)
    trades = fro.trade_arrays(shuffled)
    assert trades is not None
    want = frs.legs_of(fr._legs_frame(fr._between_owners(shuffled)))
    assert np.array_equal(frs.legs_of_trades(trades).by_time, want.by_time)


def test_trades_the_arrays_cannot_read_answer_none() -> None:
    owned = _owned(np.random.default_rng(1), 300)
    assert fro.trade_arrays(owned) is not None
    for name, value in [("owner_b", None), ("owner_s", None), ("buy_order_id", None), ("sell_order_id", None),
                        ("trade_id", None), ("quantity", float("nan")), ("quantity", -1.0), ("quantity", None),
                        ("ts", None)]:
        assert fro.trade_arrays(owned.with_columns(owned[name].scatter(3, value))) is None, (name, value)
    assert fro.trade_arrays(owned.with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))) is None
    assert fro.trade_arrays(owned.with_columns(pl.col("owner_b").cast(pl.Categorical))) is None
    assert fro.trade_arrays(owned.with_columns(owned["aggressor"].scatter(3, None))) is not None


@pytest.mark.parametrize("seed", range(4))
def test_the_large_orders_from_the_probe_are_the_frame_s(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t, news, _ = _trades(rng, [1500, 4000][seed % 2])
    owned = t.with_columns(pl.col("aggressor").fill_null("buy"), pl.col("buy_order_id").fill_null("bx"),
                           pl.col("sell_order_id").fill_null("sx"))
    t = fr._between_owners(owned)
    # the market orders of no taker ("m"), large on odd seeds: those that filled nothing are large orders too
    takers_ids = set(fr._takers(t)[2].to_list())
    news = news.with_columns(order_type=pl.when(pl.col("order_id").is_in(list(takers_ids))).then("order_type")
                             .when(pl.col("order_id").str.starts_with("m")).then(pl.lit("market"))
                             .otherwise(pl.lit("limit")),
                             quantity=pl.when(pl.col("order_id").str.starts_with("m"))
                             .then(pl.lit(1e6) if seed % 2 else pl.lit(1.0)).otherwise("quantity"))
    orders = _events(rng, news, nan=False)
    trades = fro.trade_arrays(owned)
    assert trades is not None
    takers = fro.taker_legs(trades)
    found = missed = 0
    for multiple in (2.0, 5.0):
        config = fr.FrontRunningConfig(size_multiple=multiple)
        unplaced = fro._large_unplaced(takers[2], trades.qty[takers[0]], trades.ts[takers[0]], orders, config)
        assert unplaced is not None
        got = frs.big_of_taken(unplaced, takers, trades, orders, config)
        frame = fr._large_orders(t, _placements(orders), pl.DataFrame({"account": ["a"], "owner": ["c"]}), config,
                                 {}, fr._takers(t))
        assert _orders_of(got) == _orders_of(frs.big_of(frame))
        found += len(_orders_of(got)[1])
        missed += unplaced.missed.shape[0]
    assert found > 0 and (missed > 0) == (seed % 2 == 1)


def _orders_of(big: frs._Big) -> tuple[bool, list[tuple[Any, ...]]]:
    """Whether the screens can read the large orders, and each one's id, columns and fills' trade ids, in one
    order."""
    assert big.fills is not None
    order, ids = big.fills
    fills = _strings(ids.get())
    names = big.ids_at(np.arange(big.w0.shape[0]))
    return big.readable, sorted((names[i], int(big.w0[i]), int(big.first[i]), int(big.w1[i]), int(big.first_us[i]),
                                 int(big.w1_us[i]), bool(big.c_buy[i]), float(big.c_qty[i]),
                                 tuple(sorted(f for f, o in zip(fills, order, strict=True) if o == i)))
                                for i in range(big.w0.shape[0]))


# --- the habits check, with the unwind into the large order ----------------------------------------------------


def _into_scene(rng: np.random.Generator, n_owners: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, float]:
    """``_scene``'s legs and large orders, each order filled by a third of the other-side legs after its first
    fill (its ``c_ids``), and placements of some of the legs' decisions: before the scene or within it."""
    legs, big, median_trade = _scene(rng, n_owners)
    ts, side = legs["ts"].to_numpy(), legs["side"].to_list()
    c_ids = []
    for first, w1, c_side in big.select("first", "w1", "c_side").iter_rows():
        after = np.flatnonzero((ts >= np.datetime64(first.replace(tzinfo=None)))
                               & (ts <= np.datetime64(w1.replace(tzinfo=None))))
        other = [i for i in after if side[i] != c_side and rng.random() < 0.35]
        c_ids.append([f"t{i}" for i in other])
    decisions = legs["decision"].unique().sort()
    placed = rng.integers(-600, 3600, decisions.len())
    news = pl.DataFrame({"order_id": decisions, "ts": _times(placed)})
    return legs, big.with_columns(c_ids=pl.Series(c_ids, dtype=pl.List(pl.String))), news, median_trade


def _kernel_hits(legs: pl.DataFrame, big: pl.DataFrame, news: pl.DataFrame, index: fr.NearIndex,
                 median_trade: float, config: fr.FrontRunningConfig, day_s: float) -> tuple[int, int]:
    """How many of the kernel's candidates pass its unwind and coincidence tests, and how many of those are ``into``
    (as the kernel reads them, with the placements)."""
    per = fr._candidates(fr._near_joined(legs, big, index, news), big, median_trade, config)
    coincidence = fr.chance_of_any(pl.col("rate").clip(1.0 / day_s, None), config.pre_seconds) \
        * fr.chance_of_any(pl.col("rate_o").clip(1.0 / day_s, None), config.post_seconds) * big.height
    hits = fr._with_habits(per, legs, day_s, config).filter(
        coincidence <= pl.when(pl.col("into")).then(config.into_max_coincidence).otherwise(config.max_coincidence)
    ).collect()
    return hits.height, int(hits["into"].sum())


INTO_CONFIGS = [fr.FrontRunningConfig(min_position_multiple=1.0, habit_size=h, max_coincidence=c,
                                      into_max_coincidence=c * k, into_share=s)
                for h, c, k, s in [(1.0, 0.02, 10.0, 0.2), (3.0, 0.05, 4.0, 0.1), (1.0, 0.005, 40.0, 0.05)]]


@pytest.mark.parametrize("seed", range(16))
def test_the_check_never_turns_away_a_runner_that_unwound_into_the_order(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    legs, big, news, median_trade = _into_scene(rng, n_owners=[3, 12, 40][seed % 3])
    arrays, large = frs.legs_of(legs), frs.big_of(big)
    answers, into_hits = set(), 0
    for config in INTO_CONFIGS:
        for day_s in (3600.0, 36_000.0):
            index = frs._near_index(legs, big, prune=True, least=fr._least_positions(
                large.c_qty, median_trade, config))
            hits, into = _kernel_hits(legs, big, news, index, median_trade, config, day_s)
            answer = frs._may_pass_habits(arrays, large, index, median_trade, day_s, config)
            assert answer or hits == 0
            answers.add(answer)
            into_hits += into
    assert False in answers or into_hits  # the check answers both ways over the seeds (see the next test)


def test_the_into_bounds_are_needed_and_answer_both_ways() -> None:
    """Over the scenes the check turns partitions away, and on some with a hit a check that held every pair to
    ``min_unwind`` and ``max_coincidence`` (no fill known: nothing unwound into the order) would turn it away."""
    turned = needed = 0
    for seed in range(16):
        rng = np.random.default_rng(200 + seed)
        legs, big, news, median_trade = _into_scene(rng, n_owners=[3, 12, 40][seed % 3])
        arrays, large = frs.legs_of(legs), frs.big_of(big)
        strict = large._replace(fills=(np.zeros(0, np.int64), fro.LazyStrings(pl.Series([], dtype=pl.String))))
        for config in INTO_CONFIGS:
            index = frs._near_index(legs, big, prune=True, least=fr._least_positions(large.c_qty, median_trade,
                                                                                     config))
            hits, _ = _kernel_hits(legs, big, news, index, median_trade, config, 3600.0)
            turned += not frs._may_pass_habits(arrays, large, index, median_trade, 3600.0, config)
            needed += hits > 0 and not frs._may_pass_habits(arrays, strict, index, median_trade, 3600.0, config)
    assert turned and needed


# --- the kernel ------------------------------------------------------------------------------------------------


def _incidents(seed: int) -> ScenarioMarket:
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=3000)
    si.front_run(m, "RUN1", "CLIENT1", m.at(10), VENUE)
    si.front_run(m, "RUN2", "CLIENT2", m.at(14), VENUE, size=60.0)
    return m.build()


def _unfilled(seed: int) -> ScenarioMarket:
    """The incidents and a large market sell that found nothing to fill (the large orders read from the frames)."""
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=3000)
    si.front_run(m, "RUN1", "CLIENT1", m.at(10), VENUE)
    m.order(VENUE, "CLIENT3", m.at(12), "sell", None, 80 * m.size, order_type="market")
    return m.build()


def _with_nulls(part: Partition) -> Partition:
    """The partition with a few trades' buy order ids null (the trades not read in place: the frames decide)."""
    trades = part.tables["trades"]
    ids = trades.column("buy_order_id").to_pylist()
    for k in range(5, len(ids), 97):
        ids[k] = None
    nulled = trades.set_column(trades.column_names.index("buy_order_id"), "buy_order_id", pa.array(ids, pa.string()))
    return dataclasses.replace(part, tables={**part.tables, "trades": nulled}, shared={})


MARKETS = [lambda: client_order_market(12, True), lambda: client_order_market(7, False),
           lambda: client_order_market(12, True, 60), lambda: _unwind_into(32, True), lambda: _unwind_into(32, False),
           lambda: _incidents(1), lambda: _incidents(4), lambda: _unfilled(2)]


@pytest.mark.parametrize("nulls", [False, True])
@pytest.mark.parametrize("market", range(len(MARKETS)))
def test_the_kernel_s_alerts_are_the_full_path_s(market: int, nulls: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """On each market, read in place, and with null order ids (the screens read the kernel's frames): the alerts
    are those of the full path."""
    d = REGISTRY.get("front_running")
    part = MARKETS[market]().partition(VENUE)
    if nulls:
        part = _with_nulls(part)
    seen: list[Any] = []
    real = fr._screened

    def spy(*args: Any) -> Any:
        seen.append(real(*args))
        return seen[-1]

    monkeypatch.setattr(fr, "_screened", spy)
    got = d.kernel(part, d.default_config())
    monkeypatch.setattr(fr, "_screened", lambda *_: fr._Screen(None, None, None))
    want = d.kernel(part, d.default_config())
    assert got.equals(want)
    assert len(seen) == 1 and seen[0].legs is not None
    assert (seen[0].legs.halves == 0) == nulls  # the legs read by the frames (with nulls), else in place
    orders = seen[0].orders
    # without a runner, or with a busy one, the screens stop the partition (an old resting exit needs the
    # placements); else the large orders the runners ran ahead of are among those the joins read
    assert (orders == []) == (market in (1, 2))
    alerted = {word for text in want["explanation"].to_pylist() for word in text.split()
               if word.startswith("o") and word[1:].isdigit()}
    assert len(alerted) == want.num_rows and (orders is None or alerted <= set(orders))
