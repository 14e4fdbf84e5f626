"""Front running's large orders read without the placements' frame (``front_running_orders.probe_takers``,
``front_running._large_unplaced``) are what the full path reads (the placements' frame, ``taker_placements``,
``_large_orders``): on random order events full of repeated placements, NaN sizes, unfilled market orders and
chunked columns; the inputs it cannot read as the full path does (nulls, a time in another unit, ids not text)
answer None, and ids sharing a hash are told apart by their bytes; and the kernel's alerts are the same with the
probe as with it forced off, on scenario markets with runners, without, and with an unfilled large market order —
where most partitions never build the placements' frame."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from polars.testing import assert_frame_equal

import harbour.detect.market.front_running as fr
import harbour.detect.market.front_running_orders as fro
from harbour.detect.framework import REGISTRY
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.frames import PLACEMENT_COLUMNS
from harbour.detect.market.lifecycles import taker_placements
from harbour.detect.market.scenarios import ScenarioMarket

from .front_scenarios import VENUE, client_order_market
from .test_front_running_speed import _trades

US = pa.timestamp("us", "UTC")


def _events(rng: np.random.Generator, news: pl.DataFrame, chunks: int = 1, nan: bool = True) -> pa.Table:
    """Order events around the placements ``news``: each placed again now and then (a larger or smaller size, a
    NaN unless not ``nan``), with cancels and fills of the same ids and of ids never placed, shuffled, in
    ``chunks`` pieces."""
    again = news.filter(pl.Series(rng.random(news.height) < 0.3)).with_columns(
        ts=pl.col("ts").dt.offset_by("-7s"), quantity=pl.col("quantity") * 2.0)
    nans = news.filter(pl.Series(rng.random(news.height) < (0.02 if nan else 0.0))) \
        .with_columns(quantity=pl.lit(float("nan")))
    other = news.filter(pl.Series(rng.random(news.height) < 0.5))
    other = other.with_columns(event=pl.Series(rng.choice(["cancel", "fill", "amend", "expire"], other.height)
                                               .tolist(), dtype=pl.String), quantity=pl.lit(0.0))
    stray = news.head(20).with_columns(order_id=pl.format("x{}", pl.col("order_id")), event=pl.lit("fill"))
    every = pl.concat([news, again, nans, other, stray]).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    every = every[rng.permutation(every.height)]
    table = every.to_arrow().cast(pa.schema([(c, pa.string() if every[c].dtype == pl.String else
                                              (US if c == "ts" else pa.float64())) for c in every.columns]))
    cut = np.linspace(0, table.num_rows, chunks + 1).astype(int)
    return pa.concat_tables([table.slice(a, b - a) for a, b in zip(cut[:-1], cut[1:], strict=True)])


def _placements(orders: pa.Table) -> pl.DataFrame:
    """The placements' frame the full path reads (``frames.placements``)."""
    picked = orders.select([c for c in PLACEMENT_COLUMNS if c in orders.column_names])
    out = pl.from_arrow(picked.filter(pc.equal(picked.column("event"), "new")))
    assert isinstance(out, pl.DataFrame)
    return out.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))


def _takers(t: pl.DataFrame) -> fr.Takers:
    t = t.with_columns(pl.col("aggressor").fill_null("buy"), pl.col("buy_order_id").fill_null("bx"),
                       pl.col("sell_order_id").fill_null("sx"))
    return fr._takers(t)


@pytest.mark.parametrize("seed", range(8))
def test_the_probe_is_taker_placements(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t, news, _ = _trades(rng, [300, 1500, 4000][seed % 3])
    orders = _events(rng, news, chunks=1 + seed % 3)
    news = _placements(orders)
    rows, _, ids = _takers(t)
    got = fro.probe_takers(ids.to_arrow(), orders)
    want = taker_placements(ids, news)
    assert got is not None and want is not None
    codes, firsts, n_ids, totals = want
    assert totals is not None
    assert np.array_equal(got.codes, codes[:rows.shape[0]]) and np.array_equal(got.firsts, firsts[:n_ids])
    for mine, theirs in zip(got[2:6], totals, strict=True):
        assert np.array_equal(mine, theirs, equal_nan=True)
    assert np.isnan(got.size).any() or seed % 3 == 0  # NaN sizes kept as placement_totals keeps them
    taken = set(ids.to_list())
    unfilled = news.with_row_index("at").filter((pl.col("order_type") == "market")
                                                & ~pl.col("order_id").is_in(list(taken)))
    want_rows = _event_rows(orders, unfilled)
    assert got.unfilled_rows.tolist() == want_rows
    assert np.array_equal(got.unfilled_qty, unfilled["quantity"].to_numpy(), equal_nan=True)


def _event_rows(orders: pa.Table, unfilled: pl.DataFrame) -> list[int]:
    """The rows of ``orders`` that are the placements ``unfilled`` (numbered ``at`` among the placements)."""
    new = np.flatnonzero(np.asarray(pc.equal(orders.column("event"), "new").to_numpy(zero_copy_only=False)))
    return new[unfilled["at"].to_numpy()].tolist()


def test_inputs_the_probe_cannot_read_answer_none() -> None:
    rng = np.random.default_rng(1)
    t, news, _ = _trades(rng, 800)
    orders = _events(rng, news)
    ids = _takers(t)[2].to_arrow()
    assert fro.probe_takers(ids, orders) is not None

    def nulled(name: str) -> pa.Table:
        col = orders.column(name).combine_chunks()
        mask = np.zeros(len(col), np.bool_)
        mask[5] = True
        return orders.set_column(orders.column_names.index(name), name,
                                 pc.if_else(pa.array(mask), pa.scalar(None, col.type), col))

    for name in ("order_id", "event", "ts", "quantity", "order_type"):
        assert fro.probe_takers(ids, nulled(name)) is None, name
    ns = orders.set_column(orders.column_names.index("ts"), "ts", orders.column("ts").cast(pa.timestamp("ns", "UTC")))
    assert fro.probe_takers(ids, ns) is None
    as_text = orders.set_column(orders.column_names.index("quantity"), "quantity",
                                orders.column("quantity").cast(pa.string()))
    assert fro.probe_takers(ids, as_text) is None
    assert fro.probe_takers(ids, orders.drop_columns(["event"])) is None
    # without the orders' types there are no market orders to miss, and the probe reads the rest
    untyped = fro.probe_takers(ids, orders.drop_columns(["order_type"]))
    assert untyped is not None and untyped.unfilled_rows.shape[0] == 0


def test_ids_sharing_a_hash_are_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Takers' ids of one hash, and a placement's id of a taker's hash that is another string: every match of the
    hashes is checked byte for byte, so the probe reads what it reads with the hashes apart."""
    rng = np.random.default_rng(2)
    t, news, _ = _trades(rng, 800)
    orders = _events(rng, news)
    ids = _takers(t)[2].to_arrow()
    real = fro._hashes
    want = fro.probe_takers(ids, orders)
    assert want is not None and want.unfilled_rows.shape[0] > 0
    few = real(*fro._strings(ids), np.arange(len(ids))) & np.uint64(3)  # four hashes for all the strings
    assert np.unique(few).shape[0] == 4
    every = np.uint64(2**64 - 1)
    for shared, bits in ((lambda *args: real(*args) & np.uint64(3), (np.uint64(3), np.uint64(0))),
                         (lambda *args: real(*args) | np.uint64(2**64 - 4), (every, np.uint64(2**64 - 4)))):
        monkeypatch.setattr(fro, "_hashes", shared)
        monkeypatch.setattr(fro, "_HASH_BITS", bits)  # the probe hashes the ids as it reads them
        got = fro.probe_takers(ids, orders)
        assert got is not None
        for mine, theirs in zip(got, want, strict=True):
            assert np.array_equal(mine, theirs, equal_nan=True)


@pytest.mark.parametrize("seed", range(6))
def test_the_large_orders_without_the_frame_are_the_full_path_s(seed: int) -> None:
    """On seeds 1, 3 and 5 eight market orders filled nothing: small ones, then one of them large (the full path
    decides, at every size multiple); on seeds 2 and 5 some placements have NaN sizes (the same)."""
    rng = np.random.default_rng(seed)
    t, news, owners = _trades(rng, [300, 1500, 4000][seed % 3])
    t = t.with_columns(pl.col("aggressor").fill_null("buy"), pl.col("buy_order_id").fill_null("bx"),
                       pl.col("sell_order_id").fill_null("sx"))
    takers = fr._takers(t)
    # the orders that took no liquidity rest (limit orders), but for the "m" ones on odd seeds
    unfilled = pl.col("order_id").str.starts_with("m") & (seed % 2 == 1)
    news = news.with_columns(order_type=pl.when(pl.col("order_id").is_in(takers[2].to_list())).then("order_type")
                             .when(unfilled).then(pl.lit("market")).otherwise(pl.lit("limit")),
                             quantity=pl.when(unfilled).then(1.0).otherwise("quantity"))
    for large_unfilled in (False, True) if seed % 2 else (False,):
        if large_unfilled:
            news = news.with_columns(quantity=pl.when(pl.col("order_id") == "m7").then(1e6).otherwise("quantity"))
        orders = _events(rng, news, chunks=1 + seed % 2, nan=seed % 3 == 2)
        found, answers = 0, []
        for multiple in (0.5, 2.0, 20.0):
            config = fr.FrontRunningConfig(size_multiple=multiple)
            want = fr._large_orders(t, _placements(orders), owners, config, {})
            unplaced = fr._unplaced_of_frames(takers, t, orders, config)
            answers.append(unplaced is not None and not unplaced.missed.shape[0])
            if unplaced is not None and not unplaced.missed.shape[0]:
                got = fr._large_by_codes(takers, unplaced.taken, t, unplaced.least, config)
                assert_frame_equal(got, want)
                found += got.height
            elif unplaced is not None:  # the missed orders the probe found are the frame's
                missed = orders.column("order_id").take(pa.array(unplaced.missed)).to_pylist()
                assert set(missed) == {"m7"} and want["order_id"].to_list().count("m7") == len(missed)
        if seed % 3 == 2:  # NaN sizes: the full path's frames decide
            assert not any(answers) and fr._taken(takers, t, _placements(orders)) is None
        elif large_unfilled:
            assert not any(answers)
        else:
            assert all(answers) and found


# --- the kernel ------------------------------------------------------------------------------------------------


def _runs(monkeypatch: pytest.MonkeyPatch, market: ScenarioMarket) -> tuple[pa.Table, pa.Table, list[bool], int]:
    """The kernel's alerts with the probe, then with it forced off (the full path); whether the probe decided (no
    market order missed), and
    how often the placements' frame was asked for, with the probe."""
    d = REGISTRY.get("front_running")
    decided: list[bool] = []
    asked: list[int] = []
    probe, frame = fr._large_unplaced, fr.placements

    def spy(*args: Any) -> fr.Unplaced | None:
        found = probe(*args)
        decided.append(found is not None and not found.missed.shape[0])
        return found

    def counted(*args: Any) -> pl.DataFrame | None:
        asked.append(1)
        return frame(*args)

    with monkeypatch.context() as m:
        m.setattr(fr, "_large_unplaced", spy)
        m.setattr(fr, "placements", counted)
        got = d.kernel(market.partition(VENUE), d.default_config())
    with monkeypatch.context() as m:
        m.setattr(fr, "_large_unplaced", lambda *_: None)
        want = d.kernel(market.partition(VENUE), d.default_config())
    return got, want, decided, len(asked)


@pytest.mark.parametrize("seed", [12, 7])
def test_a_partition_without_a_runner_never_builds_the_placements(seed: int, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    got, want, decided, asked = _runs(monkeypatch, client_order_market(seed, runner=False))
    assert decided == [True] and asked == 0
    assert got.num_rows == 0 and got.equals(want)


@pytest.mark.parametrize("seed", [12, 7])
def test_a_runner_s_alert_is_the_full_path_s(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    got, want, decided, asked = _runs(monkeypatch, client_order_market(seed, runner=True))
    assert decided == [True] and asked >= 1  # past the screens the joins read the placements
    assert got.num_rows == 1 and "RUN1" in got["accounts"][0].as_py()
    assert got.equals(want)


def _incidents(seed: int, unfilled: bool) -> ScenarioMarket:
    """A day with two runners ahead of clients' large market buys (``scenario_incidents.front_run``) and, with
    ``unfilled``, a large market sell that found nothing to fill."""
    m = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=3000)
    si.front_run(m, "RUN1", "CLIENT1", m.at(10), VENUE)
    si.front_run(m, "RUN2", "CLIENT2", m.at(14), VENUE, size=60.0)
    if unfilled:
        m.order(VENUE, "CLIENT3", m.at(12), "sell", None, 80 * m.size, order_type="market")
    return m.build()


@pytest.mark.parametrize("seed", [1, 4])
def test_incidents_alert_as_on_the_full_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    got, want, decided, _ = _runs(monkeypatch, _incidents(seed, unfilled=False))
    assert decided == [True]
    assert got.num_rows >= 1 and got.equals(want)
    # an unfilled large market order is among the large orders: the full path reads it
    got, want, decided, _ = _runs(monkeypatch, _incidents(seed, unfilled=True))
    assert decided == [False]
    assert got.num_rows >= 1 and got.equals(want)
