"""The book-day screens read off the Arrow trades before any frame is built (``frames.leg_owners``,
marking_the_close's ``_arrow_may_mark``, wash_trade's ``_arrow_codes``):

- each trade leg's owner code is equal for two legs exactly when ``with_owner`` names their owners alike (unknown
  accounts, accounts without an owner, an unknown account named like a customer, unicode, chunked columns), and the
  cases it cannot read give None (a missing account, a map naming an account twice);
- the screens' verdicts on the Arrow rows (in order, shuffled, in chunks) are those of the frame screens they stand
  for, and the kernels' alerts are those of their full readings;
- marking's compiled span figures (``_span_figures``) are the numpy formulation they replaced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market.marking_the_close as mtc
import harbour.detect.market.owner_keys as owner_keys
import harbour.detect.market.wash_trade as w
from harbour.detect.framework import REGISTRY, Partition, Window
from harbour.detect.market import frames
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.frames import TRADE_COLUMNS, frame, owner_map, with_owner
from harbour.detect.market.scenarios import ScenarioMarket

from .test_marking_the_close_may_mark import _market
from .test_marking_the_close_may_mark import _may_mark as _frame_may_mark  # the screen on the frame
from .test_wash_trade_screens import _random_part

VENUE = "HBX"
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def _part(buyers: Sequence[str | None], sellers: Sequence[str | None], links: Sequence[tuple[str | None, str | None]],
          chunks: int = 1) -> Partition:
    n = len(buyers)
    table = pa.table({
        "venue": [VENUE] * n, "symbol": ["X/USD"] * n, "trade_id": [f"t{i:04d}" for i in range(n)],
        "ts": pa.array([T0 + dt.timedelta(seconds=i) for i in range(n)], pa.timestamp("us", "UTC")),
        "price": [100.0] * n, "quantity": [1.0] * n, "buyer": pa.array(buyers, pa.string()),
        "seller": pa.array(sellers, pa.string()), "aggressor": ["buy"] * n,
        "buy_order_id": [None] * n, "sell_order_id": [None] * n})
    if chunks > 1 and n:
        cuts = sorted({0, n, *np.random.default_rng(n).integers(0, n, chunks - 1).tolist()})
        table = pa.concat_tables([table.slice(a, b - a) for a, b in zip(cuts, cuts[1:], strict=False)])
    acc = pa.table({"venue": [VENUE] * len(links), "account": pa.array([a for a, _ in links], pa.string()),
                    "customer_id": pa.array([c for _, c in links], pa.string())})
    return Partition({"venue": VENUE, "symbol": "X/USD", "date": T0.date()}, {"trades": table},
                     Window(), {"accounts": acc})


def _names(part: Partition) -> tuple[list[str], list[str]]:
    """Each trade's buyer's and seller's owner as ``with_owner`` names them, in the Arrow rows' order (by trade id)."""
    t = frame(part, "trades", TRADE_COLUMNS)
    owners = owner_map(part, VENUE)
    t = with_owner(with_owner(t, owners, "buyer", "owner_b"), owners, "seller", "owner_s")
    ids = part.tables["trades"]["trade_id"].to_pylist()
    at = dict(zip(t["trade_id"].to_list(), range(t.height), strict=True))
    return [t["owner_b"][at[i]] for i in ids], [t["owner_s"][at[i]] for i in ids]


def _same_partition(codes: list[int], names: list[str]) -> bool:
    """Whether equal codes go exactly with equal names."""
    return len(set(zip(codes, names, strict=True))) == len(set(codes)) == len(set(names))


@pytest.mark.parametrize("seed", range(3))
def test_leg_codes_go_with_the_frames_owner_names(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(80):
        accounts = [f"A{i}" for i in range(int(rng.integers(1, 25)))] + ["ünï-😀", "C1", "a-very-long-account-name-x"]
        n = int(rng.integers(1, 60))
        buyers, sellers = rng.choice(accounts, n).tolist(), rng.choice(accounts, n).tolist()
        # some accounts with an owner, some without, an unknown account named like a customer (C1) is that customer
        links = [(a, str(rng.choice(["C1", "C2", "A1", "ünï-😀"])) if rng.random() < 0.7 else None)
                 for a in accounts if rng.random() < 0.6]
        part = _part(buyers, sellers, links, chunks=int(rng.integers(1, 4)))
        found = frames.leg_owners(part, VENUE)
        assert found is not None, case
        buyer, seller, size = found
        names_b, names_s = _names(part)
        codes = buyer.tolist() + seller.tolist()
        assert _same_partition(codes, names_b + names_s), case
        assert sorted(set(codes)) == list(range(size)), case  # numbered densely


def test_leg_owners_that_cannot_be_read_are_none() -> None:
    assert frames.leg_owners(_part(["A1", None], ["A2", "A3"], [("A1", "C1")]), VENUE) is None  # a missing account
    twice = pl.DataFrame({"account": ["A1", "A1"], "owner": ["C1", "C2"]})  # a join would repeat its trades
    assert owner_keys.leg_codes(twice, pa.array(["A1", "A2"])) is None
    assert owner_keys.leg_codes(twice.with_columns(pl.col("owner").cast(pl.Categorical)), pa.array(["A1"])) is None
    empty = frames.leg_owners(_part([], [], [("A1", "C1")]), VENUE)
    assert empty is not None and empty[0].size == 0 and empty[1].size == 0 and empty[2] == 0
    assert frames.leg_owners(replace(_part(["A1"], ["A2"], []), tables={}), VENUE) is None  # no trades


def _shuffled(part: Partition, seed: int) -> Partition:
    """The partition with its Arrow rows out of time order and in a few chunks (the frame sorts them back)."""
    table = part.tables["trades"]
    order = np.random.default_rng(seed).permutation(table.num_rows)
    taken = table.take(pa.array(order))
    cut = table.num_rows // 3
    return replace(part, tables={**part.tables, "trades": pa.concat_tables([taken.slice(0, cut), taken.slice(cut)])},
                   shared={})


def _spelled_out(part: Partition) -> Partition:
    """The partition with every other missing aggressor written ``both`` (both sides, as a missing one) and some
    known ones written as a side no screen counts (``cross``)."""
    table = part.tables["trades"]
    sides = table["aggressor"].to_pylist()
    nulls = [i for i, a in enumerate(sides) if a is None]
    for k, i in enumerate(nulls):
        sides[i] = "both" if k % 2 else None
    for i in range(0, len(sides), 97):
        sides[i] = "cross"
    spelled = table.set_column(table.schema.get_field_index("aggressor"), "aggressor", pa.array(sides, pa.string()))
    return replace(part, tables={**part.tables, "trades": spelled}, shared={})


def _marking_configs(rng: np.random.Generator) -> list[mtc.MarkingTheCloseConfig]:
    return [mtc.MarkingTheCloseConfig()] + [mtc.MarkingTheCloseConfig(
        windows_minutes=tuple(sorted(rng.choice([1.0, 2.0, 3.5, 5.0, 10.0, 15.0, 30.0], 3, replace=False))),
        min_share=float(rng.uniform(0.02, 0.5)), min_member_share=float(rng.uniform(0.01, 0.3)),
        max_group=int(rng.integers(1, 4)), min_orders=int(rng.integers(1, 6)),
        min_member_orders=int(rng.integers(1, 4)), min_intensity=float(rng.choice([0.0, 1.0, 5.0, 20.0])),
        lead_minutes=float(rng.choice([10.0, 60.0])), max_end_gap=float(rng.uniform(0.05, 1.0)),
        min_book_reach=float(rng.choice([0.0, 0.5]))) for _ in range(7)]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_marking_arrow_screen_says_what_the_frame_screen_says(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """On closes marked from one side or both, with unknown aggressors and missing order ids, and on a quiet one,
    under random configurations; the Arrow rows in order and shuffled. The kernel's alerts are those of its full
    reading."""
    rng = np.random.default_rng(seed)
    quiet = ScenarioMarket(seed=seed, venues=(VENUE,), trades_per_day=2000).partition(VENUE)
    d = REGISTRY.get("marking_the_close")
    verdicts = set()
    marked = _market(seed)
    for part, config in [(p, c) for p in (marked, _spelled_out(marked), quiet) for c in _marking_configs(rng)]:
        want = _frame_may_mark(replace(part, shared={}), config)
        for p in (replace(part, shared={}), _shuffled(part, seed)):
            assert mtc._arrow_may_mark(p, VENUE, config) == want
        verdicts.add(want)
        fast = d.kernel(replace(part, shared={}), config)
        with monkeypatch.context() as patch:
            patch.setattr(mtc, "_arrow_may_mark", lambda *_: None)
            patch.setattr(mtc, "_may_mark", lambda *_: True)
            full = d.kernel(replace(part, shared={}), config)
        assert fast.to_pylist() == full.to_pylist()
    assert verdicts == {True, False}  # both answers were compared


def test_marking_arrow_screen_on_a_quiet_close_and_a_marked_one() -> None:
    config = mtc.MarkingTheCloseConfig()
    quiet = ScenarioMarket(seed=3, venues=(VENUE,), trades_per_day=3000).partition(VENUE)
    assert mtc._arrow_may_mark(quiet, VENUE, config) is False
    m = ScenarioMarket(seed=3, venues=(VENUE,), trades_per_day=3000)
    si.marking_the_close(m, "MARK1", m.at(8))
    assert mtc._arrow_may_mark(m.partition(VENUE), VENUE, config) is True


def test_marking_arrow_screen_leaves_what_it_cannot_read_to_the_frame() -> None:
    part = ScenarioMarket(seed=3, venues=(VENUE,), trades_per_day=500).partition(VENUE)
    table = part.tables["trades"]
    config = mtc.MarkingTheCloseConfig()
    in_ms = table.set_column(table.schema.get_field_index("ts"), "ts",
                             table["ts"].cast(pa.timestamp("ms", "UTC"), safe=False))
    no_buyer = table.set_column(table.schema.get_field_index("buyer"), "buyer",
                                pa.array([None] + table["buyer"].to_pylist()[1:], pa.string()))
    for t in (in_ms, no_buyer, table.drop_columns(["aggressor"])):
        assert mtc._arrow_may_mark(replace(part, tables={"trades": t}, shared={}), VENUE, config) is None


def _span_figures_numpy(ts: np.ndarray, qty: np.ndarray, mine: np.ndarray, codes: np.ndarray, orders: np.ndarray,
                        resting: np.ndarray, size: int, lo_us: int, hi_us: int) -> tuple:
    """The numpy reading ``_span_figures`` replaced."""
    def distinct(owners: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        known = ids >= 0
        width = int(ids.max(initial=0)) + 1
        pairs = np.unique(owners[known] * width + ids[known])
        return np.bincount(pairs // width, minlength=size), np.bincount(owners[~known], minlength=size)

    span = (ts >= lo_us) & (ts < hi_us)
    inside = span[mine]
    q = np.bincount(codes[inside], weights=qty[mine][inside], minlength=size)
    last = np.full(size, np.iinfo(np.int64).min)
    np.maximum.at(last, codes[inside], ts[mine][inside])
    n_least, n_unknown = distinct(codes[inside], orders[inside])
    r_least, r_unknown = distinct(codes[inside], resting[inside])
    return int(span.sum()), float(qty[span].sum()), q, last, n_least, n_unknown, r_least, r_unknown


def test_span_figures_are_the_numpy_reading() -> None:
    rng = np.random.default_rng(5)
    for case in range(300):
        n = int(rng.integers(0, 80))
        size = int(rng.integers(1, 6))
        ts = np.sort(rng.integers(0, 100, n)) if rng.random() < 0.7 else rng.integers(0, 100, n)
        qty = rng.choice([0.5, 1.0, 3.0, 7.25], n)
        mine = rng.random(n) < 0.6
        m = int(mine.sum())
        codes = rng.integers(0, size, m)
        orders = rng.integers(-1, int(rng.integers(1, 6)), m)
        resting = rng.integers(-1, int(rng.integers(1, 6)), m)
        lo, hi = sorted(rng.integers(0, 110, 2).tolist())
        got = mtc._span_figures(ts.astype(np.int64), qty, mine, codes.astype(np.int64), orders.astype(np.int64),
                                resting.astype(np.int64), size, lo, hi)
        want = _span_figures_numpy(ts, qty, mine, codes, orders, resting, size, lo, hi)
        assert got[0] == want[0] and got[1] == pytest.approx(want[1]), case
        for a, b in zip(got[2:], want[2:], strict=True):
            assert np.array_equal(a, b), case


def test_wash_arrow_codes_give_the_frame_screens_verdicts() -> None:
    rng = np.random.default_rng(21)
    config = w.WashTradeConfig()
    seen = set()
    for case in range(150):
        part = _random_part(rng, int(rng.integers(1, 200)))
        t = w._owner_trades(part, frame(part, "trades", TRADE_COLUMNS), VENUE)
        want_codes = w._codes(t)
        assert want_codes is not None
        want = (w._may_self_trade(want_codes, config), w._may_group(want_codes, config))
        for p in (replace(part, shared={}), _shuffled(part, case)):
            codes = w._arrow_codes(p, VENUE)
            assert codes is not None, case
            assert (w._may_self_trade(codes, config), w._may_group(codes, config)) == want, case
        seen.add(want)
    assert len(seen) >= 3, seen  # clean partitions, self-trades and groups were all compared


def test_wash_arrow_codes_leave_what_they_cannot_judge_to_the_frame() -> None:
    part = _random_part(np.random.default_rng(13), 40)
    table = part.tables["trades"]
    zero = table.set_column(table.schema.get_field_index("quantity"), "quantity", pa.array([0.0] * table.num_rows))
    in_ms = table.set_column(table.schema.get_field_index("ts"), "ts",
                             table["ts"].cast(pa.timestamp("ms", "UTC"), safe=False))
    for t in (zero, in_ms):
        assert w._arrow_codes(replace(part, tables={"trades": t}, shared={}), VENUE) is None
    assert w._arrow_codes(replace(part, tables={"trades": table.slice(0, 0)}, shared={}), VENUE) is None


def test_wash_kernel_on_shuffled_rows_gives_the_same_alerts() -> None:
    rng = np.random.default_rng(22)
    d = REGISTRY.get("wash_trade")
    config = w.WashTradeConfig()
    alerts = 0
    for case in range(60):
        part = _random_part(rng, int(rng.integers(1, 150)))
        want = d.kernel(replace(part, shared={}), config)
        assert d.kernel(_shuffled(part, case), config).to_pylist() == want.to_pylist(), case
        alerts += want.num_rows
    assert alerts > 0



def test_aggressive_sides_are_the_frames() -> None:
    values = ["buy", None, "sell", "both", "cross", None, "both", "sell", "buy"]
    column = pa.chunked_array([values[:4], values[4:], []], pa.string())
    side = pl.Series(values, dtype=pl.String).fill_null("both")
    buys, sells = mtc._aggressive_sides(column)
    assert buys.tolist() == side.is_in(["buy", "both"]).to_list()
    assert sells.tolist() == side.is_in(["sell", "both"]).to_list()
    assert [a.size for a in mtc._aggressive_sides(pa.chunked_array([], pa.string()))] == [0, 0]


def test_arrow_id_codes_are_equal_exactly_for_equal_ids() -> None:
    ids = ["o1", None, "o2", "o1", "ö", None, "ö", "o2"]
    codes = mtc._arrow_id_codes(pa.chunked_array([ids[:3], ids[3:]], pa.string()))
    assert codes.tolist() == [0, -1, 1, 0, 2, -1, 2, 1]
