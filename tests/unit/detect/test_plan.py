"""Planning rules shared by both runners: file pruning, owned days and look-back, partition slicing,
and the checks on a kernel's output."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbour.core.errors import Invalid
from harbour.data.row_order import sort_rows
from harbour.data.schemas import ALERTS
from harbour.detect.framework import AlertBuilder, Window, WorkSpec
from harbour.detect.runners.plan import (
    finish_alerts,
    lake_files,
    make_job,
    owned_span,
    read_columns,
    read_dates,
    split_by_keys,
    window_dates,
)
from harbour.detect.runners.reference import RefAccountActivity, RefSelfTrade

D = dt.date(2026, 1, 5)


def at(day: int, hour: float = 0) -> dt.datetime:
    return dt.datetime(2026, 1, 5 + day, tzinfo=dt.UTC) + dt.timedelta(hours=hour)


def test_lake_files_prune_by_venue_and_date_directory(sample_lake: Path) -> None:
    every = lake_files(sample_lake, "trades")
    assert {f.venue for f in every} == {"HBX", "KBT"} and len(every) == 6
    some = lake_files(sample_lake, "trades", ["KBT"], [D + dt.timedelta(days=1)])
    assert [(f.venue, f.date) for f in some] == [("KBT", D + dt.timedelta(days=1))]
    assert {f.venue for f in lake_files(sample_lake, "accounts", ["HBX"])} == {"HBX"}
    assert lake_files(sample_lake, "labels") == []  # no such folder in this lake


def test_window_dates_and_lookback_days() -> None:
    days = [D + dt.timedelta(days=i) for i in range(5)]
    assert window_dates(Window(), days) == days
    assert window_dates(Window(at(1, 6), at(3)), days) == days[1:3]  # end is exclusive: midnight of day 3 not owned
    assert window_dates(Window(at(1, 6), at(3, 0.01)), days) == days[1:4]
    assert read_dates([days[2]], dt.timedelta(0)) == [days[2]]
    assert read_dates([days[2]], dt.timedelta(hours=2)) == days[1:3]
    assert read_dates([days[2], days[3]], dt.timedelta(days=1, hours=1)) == days[0:4]


def test_a_date_partition_owns_its_day_clipped_to_the_window() -> None:
    assert owned_span(Window(), {"date": D}) == Window(at(0), at(1))
    assert owned_span(Window(at(0, 6), at(0, 18)), {"date": D}) == Window(at(0, 6), at(0, 18))
    assert owned_span(Window(at(0, 6)), {"venue": "HBX"}) == Window(at(0, 6))


def test_projection_adds_keys_and_time_in_contract_order() -> None:
    job = make_job(RefSelfTrade())
    assert read_columns(job, "trades") == ["venue", "symbol", "trade_id", "ts", "quantity", "buyer", "seller"]
    # the whole table key is kept even when the projection leaves part of it out: it orders the rows
    orders = read_columns(make_job(RefAccountActivity()), "orders")
    assert orders == ["venue", "order_id", "account", "ts", "event", "quantity"]


def test_unknown_table_column_or_partition_key_is_refused() -> None:
    class Bad(RefSelfTrade):
        def __init__(self, spec: WorkSpec) -> None:
            self.spec = spec

        def describe(self, config):  # type: ignore[no-untyped-def]
            return self.spec

    with pytest.raises(Invalid, match="unknown table 'quotes'"):
        make_job(Bad(WorkSpec(tables=("quotes",))))
    with pytest.raises(Invalid, match="by 'account', a column it lacks"):
        make_job(Bad(WorkSpec(tables=("trades",), partition_by=("account",))))
    with pytest.raises(Invalid, match="columns \\['colour'\\]"):
        read_columns(make_job(Bad(WorkSpec(tables=("trades",), columns={"trades": ("colour",)}))), "trades")
    with pytest.raises(ValueError, match="unknown partition key"):
        WorkSpec(tables=("trades",), partition_by=("hour",))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 3)), max_size=40))
def test_split_by_keys_gives_each_key_its_rows_once(rows: list[tuple[str, int]]) -> None:
    rows = sorted(rows)
    table = pa.table({"k": [r[0] for r in rows], "n": [r[1] for r in rows], "i": list(range(len(rows)))})
    parts = split_by_keys(table, ["k", "n"])
    assert [k for k, _ in parts] == sorted({r for r in rows})
    assert sum(p.num_rows for _, p in parts) == len(rows)
    for key, part in parts:
        assert set(zip(part.column("k").to_pylist(), part.column("n").to_pylist(), strict=True)) == {key}
    assert split_by_keys(table, []) == ([((), table)] if rows else [])


def _alert(end: dt.datetime) -> pa.Table:
    b = AlertBuilder(RefSelfTrade())
    b.add(venue="HBX", symbol="BTC/USD", accounts=["a"], start=end - dt.timedelta(minutes=5), end=end, score=0.5,
          evidence_ids=["t1"], explanation="x")
    return b.to_table()


def test_alerts_ending_outside_the_owned_span_are_dropped() -> None:
    det = RefSelfTrade()
    table = pa.concat_tables([_alert(at(0, 23.9)), _alert(at(1, 0)), _alert(at(1, 12))])
    kept = finish_alerts(det, table, Window(at(1), at(2)))
    assert kept.column("end").to_pylist() == [at(1, 0), at(1, 12)]
    assert finish_alerts(det, table, Window()).num_rows == 3


def test_kernel_output_that_breaks_the_contract_names_the_detector() -> None:
    det = RefSelfTrade()
    with pytest.raises(Invalid, match="ref_self_trade.*lacks alert columns \\['score'\\]"):
        finish_alerts(det, _alert(at(0)).drop_columns(["score"]), Window())
    with pytest.raises(Invalid, match="not a pyarrow.Table"):
        finish_alerts(det, [], Window())  # type: ignore[arg-type]
    assert finish_alerts(det, ALERTS.empty_table(), Window()).schema == ALERTS


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["o1", "o2", "o10"]), st.sampled_from(["new", "fill"]),
                          st.floats(0, 3, allow_nan=False)), min_size=0, max_size=40))
def test_sort_rows_gives_the_time_then_key_order_of_a_full_sort(rows: list[tuple[int, str, str, float]]) -> None:
    """Few distinct times, so most rows tie on time and the key columns decide."""
    t0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    table = pa.table({
        "venue": ["HBX"] * len(rows), "order_id": [r[1] for r in rows],
        "ts": pa.array([t0 + dt.timedelta(microseconds=r[0]) for r in rows], pa.timestamp("us", tz="UTC")),
        "event": [r[2] for r in rows], "quantity": [r[3] for r in rows], "i": list(range(len(rows)))})
    keys = [("ts", "ascending"), ("venue", "ascending"), ("order_id", "ascending"), ("event", "ascending"),
            ("quantity", "ascending")]
    got = sort_rows(table, "orders")
    assert got.drop_columns(["i"]).equals(table.sort_by(keys).drop_columns(["i"]))
    assert sorted(got.column("i").to_pylist()) == list(range(len(rows)))
    ordered = table.sort_by(keys)
    assert sort_rows(ordered, "orders") is ordered  # already in order (the lake's files): checked, not copied
    pieces = pa.concat_tables([ordered.slice(0, len(rows) // 2), ordered.slice(len(rows) // 2)])
    assert sort_rows(pieces, "orders") is pieces  # a partition read in pieces (chunked columns)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["HBX", "KLN", "OKX"]), st.integers(0, 4), st.sampled_from(["o1", "o2"]),
                          st.floats(0, 3, allow_nan=False)), min_size=0, max_size=40), st.booleans())
def test_sort_rows_puts_venues_read_apart_together_in_order(rows: list[tuple[str, int, str, float]],
                                                             backwards: bool) -> None:
    """Each venue's rows in canonical order, the venues one after another (a symbol-day made of venue-symbol-days,
    the runner's coarser partitions): in venue order a sort by time alone interleaves them right, and that is
    checked, not assumed; in any other venue order the tied rows are sorted."""
    t0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    table = pa.table({
        "venue": [r[0] for r in rows], "order_id": [r[2] for r in rows],
        "ts": pa.array([t0 + dt.timedelta(microseconds=r[1]) for r in rows], pa.timestamp("us", tz="UTC")),
        "event": ["new"] * len(rows), "quantity": [r[3] for r in rows]})
    keys = [("ts", "ascending"), ("venue", "ascending"), ("order_id", "ascending"), ("event", "ascending"),
            ("quantity", "ascending")]
    ordered = table.sort_by(keys)
    venues = sorted({r[0] for r in rows}, reverse=backwards)
    pieces = [ordered.filter(pa.compute.equal(ordered.column("venue"), v)) for v in venues]
    together = pa.concat_tables(pieces) if pieces else ordered
    assert sort_rows(together, "orders").equals(ordered)


def test_split_by_keys_takes_rows_in_any_order_and_keeps_their_order_within_a_key() -> None:
    table = pa.table({"k": ["B", "A", "B", None, "A"], "i": [0, 1, 2, 3, 4]})
    parts = split_by_keys(table, ["k"])
    assert [(k, p.column("i").to_pylist()) for k, p in parts] == [((None,), [3]), (("A",), [1, 4]), (("B",), [0, 2])]
    one = pa.table({"k": ["A", "A"], "i": [1, 0]})
    assert split_by_keys(one, ["k"])[0][1] is one  # one key: no copy
