"""The spoofing/layering screen's cheaper passes against the ones they replace: ``pressure_screen._decision_codes``
(the legs' decisions coded where their strings lie, with the hashes the screen has) against the copied strings'
``_string_codes``, and ``lifecycles.seeded_lives`` (a row per id, a smaller table) against a plain reading of the
events by their strings; then the whole screen's figure (``least_repeat_chance``) with both replaced by the old
passes or the plain readings, partition by partition on generated markets and on variants with the awkward cases:
null order ids, times tied to the second, accounts the owner map leaves out, owners of several accounts, and hashes
thinned so that every decision collides."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import harbour.detect.market.pressure_bound as pb
import harbour.detect.market.pressure_screen as ps
from harbour.data.generate import GenerateConfig, generate_market
from harbour.detect.framework import REGISTRY, Partition
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.frames import owner_map
from harbour.detect.market.lifecycles import seeded_lives
from harbour.detect.market.scenarios import ScenarioMarket

from .test_lifecycles_seeded import _plain
from .test_pressure_screen import _decision_strings, _partitions, _string_codes

_FULL = np.uint64(2**64 - 1)


def _old_decision_codes(order: np.ndarray, m: int, b_off: np.ndarray, b_data: np.ndarray, b_valid: np.ndarray,
                        _b_h: np.ndarray, s_off: np.ndarray, s_data: np.ndarray, s_valid: np.ndarray,
                        _s_h: np.ndarray, t_off: np.ndarray, t_data: np.ndarray, mask: np.uint64) -> np.ndarray:
    """The codes as the screen made them before: each leg's string copied, then hashed and coded."""
    offsets, data = _decision_strings(order, m, b_off, b_data, b_valid, s_off, s_data, s_valid, t_off, t_data)
    return _string_codes(offsets, data, mask)  # type: ignore[no-any-return]


def _strings(rng: np.random.Generator, pool: list[str], n: int, nulls: float) -> pa.ChunkedArray:
    """n strings of the pool (some null), as a slice of a longer array (its offset not 0) in two chunks."""
    values = [None if rng.random() < nulls else pool[int(k)] for k in rng.integers(0, len(pool), n + 3)]
    arr = pa.array(values, pa.string()).slice(3)
    cut = int(rng.integers(0, n + 1))
    return pa.chunked_array([arr.slice(0, cut), arr.slice(cut)], pa.string())


@pytest.mark.parametrize("seed", range(10))
def test_decision_codes_are_the_copied_strings_codes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # order ids and trade ids from one pool: an order id with a trade id's bytes is that decision, as in the
    # search's coalesced column; lengths around the words the hash reads
    pool = sorted({"".join(rng.choice(list("ab1"), int(rng.integers(1, 20)))) for _ in range(60)})
    m = int(rng.integers(1, 80))
    trade_id, buys, sells = _strings(rng, pool, m, 0.0), _strings(rng, pool, m, 0.3), _strings(rng, pool, m, 0.3)
    order = rng.integers(0, 2 * m, int(rng.integers(0, 4 * m))).astype(np.int64)  # legs, some read twice
    (b_off, b_data, b_valid), b_h = ps._hashed(buys)
    (s_off, s_data, s_valid), s_h = ps._hashed(sells)
    t_off, t_data, _ = ps._buffers(trade_id)
    coalesced = [*pc.coalesce(buys, trade_id).to_pylist(), *pc.coalesce(sells, trade_id).to_pylist()]
    first_seen: dict[str, int] = {}
    expect = [first_seen.setdefault(coalesced[k], len(first_seen)) for k in order.tolist()]
    for mask in (_FULL, np.uint64(0), np.uint64(3), np.uint64(0xF000000000000000)):
        args = (order, m, b_off, b_data, b_valid, b_h, s_off, s_data, s_valid, s_h, t_off, t_data, mask)
        got = ps._decision_codes(*args)
        assert got.tolist() == expect, mask
        assert got.tolist() == _old_decision_codes(*args).tolist(), mask


# --- the whole screen on generated markets -----------------------------------------------------------------


@pytest.fixture(scope="module", params=[(41, "default", 0.5), (42, "hard", 0.3)], ids=["default", "hard"])
def lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    seed, difficulty, activity = request.param
    out = tmp_path_factory.mktemp(f"cheaper-{seed}")
    generate_market(GenerateConfig(out=out, venues=2, days=1, accounts=300, seed=seed, activity=activity,
                                   symbols=3, difficulty=difficulty, incidents={"spoofing": 2, "layering": 2}),
                    workers=1)
    return out


def _plain_lives(ids: ps.Buffers, h: np.ndarray, seed: np.ndarray, kind: np.ndarray, qty: np.ndarray,
                 ts: np.ndarray, buys: ps.Buffers, buy_h: np.ndarray, buy_took: np.ndarray, sells: ps.Buffers,
                 sell_h: np.ndarray, sell_took: np.ndarray, trade_q: np.ndarray
                 ) -> tuple[tuple[np.ndarray, ...], bool]:
    """``seeded_lives`` read plainly by the strings (``test_lifecycles_seeded._plain``), in its types."""

    def names(buf: ps.Buffers) -> list[str | None]:
        offsets, data, valid = buf
        arr = pa.Array.from_buffers(pa.string(), offsets.size - 1,
                                    [None if valid.size == 0 else pa.py_buffer(np.packbits(valid, bitorder="little")),
                                     pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])
        return arr.to_pylist()  # type: ignore[no-any-return]

    lives, ok = _plain([s or "" for s in names(ids)], h, seed, kind, qty, ts,
                       [(names(buys), buy_h, buy_took), (names(sells), sell_h, sell_took)], trade_q)
    none = np.iinfo(np.int64)
    placed = [none.max if x == math.inf else x for x in lives[2]]
    cancelled = [none.min if x == -math.inf else x for x in lives[3]]
    as_arrays = (np.array(lives[0], np.int64), np.array(lives[1], np.int64), np.array(placed, np.int64),
                 np.array(cancelled, np.int64), np.array(lives[4], np.float64), np.array(lives[5], np.float64),
                 np.array(lives[6], np.float64), np.array(lives[7], np.int64), np.array(lives[8], np.int64))
    return as_arrays, ok


def _both_lives(*args: Any) -> tuple[tuple[np.ndarray, ...], bool]:
    """``seeded_lives``, checked against the plain reading on every call the screen makes."""
    got, ok = seeded_lives(*args)
    expect, expect_ok = _plain_lives(*args)
    assert ok == expect_ok
    if ok:
        for a, b in zip(got, expect, strict=True):
            assert a.tolist() == b.tolist()
    return got, ok


def _old_and_new(part: Partition, config: Any, owners: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
                 ) -> tuple[float, float]:
    """The screen's figure with the new passes (the lives checked against the plain reading on the way), and with
    the old decision codes and the plain reading of the lives."""
    fresh = Partition(part.key, part.tables, part.window, part.broadcast, {})
    with monkeypatch.context() as m:
        m.setattr(ps, "seeded_lives", _both_lives)
        m.setattr(pb, "seeded_lives", _both_lives)
        new = ps.least_repeat_chance(fresh, config, owners)
    with monkeypatch.context() as m:
        m.setattr(ps, "seeded_lives", _plain_lives)
        m.setattr(pb, "seeded_lives", _plain_lives)
        m.setattr(ps, "_decision_codes", _old_decision_codes)
        old = ps.least_repeat_chance(fresh, config, owners)
    return new, old


def _variants(part: Partition, owners: pl.DataFrame, rng: np.random.Generator
              ) -> Iterator[tuple[str, Partition, pl.DataFrame]]:
    """The partition as it is, and with the awkward cases: a third of the buy order ids null (their decision is the
    trade), every time cut to its second (ties), a third of the accounts left out of the owner map (each its own
    owner), and the owners merged in pairs (owners of several accounts, more self-trades)."""
    yield "as is", part, owners
    trades, orders = part.tables["trades"], part.tables["orders"]
    nulls = pa.array(rng.random(trades.num_rows) < 0.3)
    ids = pc.if_else(nulls, pa.scalar(None, pa.string()), trades.column("buy_order_id"))
    yield "null order ids", _with(part, "trades", "buy_order_id", ids), owners
    tied = _with(part, "orders", "ts", pc.floor_temporal(orders.column("ts"), unit="second"))
    yield "tied times", _with(tied, "trades", "ts", pc.floor_temporal(trades.column("ts"), unit="second")), owners
    yield "unmapped accounts", part, owners.filter(pl.Series(rng.random(owners.height) >= 0.3))
    merged = owners.with_columns(owner=pl.col("owner").rank("dense").cast(pl.Int64).floordiv(2).cast(pl.String))
    yield "merged owners", part, merged


def _with(part: Partition, table: str, column: str, values: Any) -> Partition:
    t = part.tables[table]
    changed = t.set_column(t.schema.get_field_index(column), column, values)
    return Partition(part.key, {**part.tables, table: changed}, part.window, part.broadcast, {})


def _configs() -> list[Any]:
    base = REGISTRY.get("layering").default_config()
    return [base.model_copy(update={"max_coincidence": c, "max_repeat_chance": 1.0}) for c in (0.0005, 0.01, 1.0)]


def test_the_screen_s_figure_is_the_old_passes_on_generated_markets(lake: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    figures = []
    for part in _partitions(lake):
        owners = owner_map(part, str(part.key["venue"]))
        for name, variant, variant_owners in _variants(part, owners, rng):
            for config in _configs():
                new, old = _old_and_new(variant, config, variant_owners, monkeypatch)
                assert new == old, (part.key, name)
                figures.append(new)
    assert any(0 < f < math.inf for f in figures) and math.inf in figures  # both stages and stops are reached


def test_forced_decision_collisions_and_the_incident_market(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scenario market's incidents (spoofing, layering, self-trades, a wash ring), with every decision's hash
    thinned to one bit: the bytes decide, and the figure is the old passes'."""
    market = ScenarioMarket(seed=2, venues=["HBX", "KLN"], trades_per_day=3000)
    si.spoof(market, "SP1", market.at(5), bait_scale=20)
    si.spoof(market, "LY1", market.at(6), levels=4, bait_scale=60, typology="layering")
    si.self_trades(market, ["S1", "S2"], market.at(4))
    si.wash_ring(market, ["W1", "W2", "W3"], market.at(3))
    built = market.build()
    for venue in ("HBX", "KLN"):
        part = built.partition(venue)
        owners = owner_map(part, venue)
        for mask in (ps._HASH_MASK, np.uint64(1)):
            monkeypatch.setattr(ps, "_HASH_MASK", mask)
            for config in _configs():
                new, old = _old_and_new(part, config, owners, monkeypatch)
                assert new == old, (venue, mask)
