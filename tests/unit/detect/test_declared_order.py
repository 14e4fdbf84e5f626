"""Rows in the canonical order by the writer's word: the generator declares its files' order (Parquet's
``sorting_columns``), and the runner's read puts a partition together without checking the ties of a file that
declares it. The partitions must be exactly those the check would give, a rewrite of a file must lose the
declaration, and a file that does not keep its word on time order is sorted all the same."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harbour.core.errors import Invalid
from harbour.data.generate import GenerateConfig, generate_market
from harbour.data.row_order import declares_order, in_order_across, order_declaration, sort_rows
from harbour.detect.framework import Window
from harbour.detect.runners import local
from harbour.detect.runners.plan import make_job
from harbour.detect.runners.reference import RefCancelBurst, RefSelfTrade


@pytest.fixture(scope="module")
def declared_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("declared-lake")
    generate_market(GenerateConfig(out=lake, venues=2, days=3, accounts=200, seed=7, activity=0.1, symbols=3))
    return lake


def _files(lake: Path, table: str) -> list[Path]:
    return sorted((lake / table).rglob("*.parquet"))


def test_the_generator_declares_the_canonical_order_of_its_files(declared_lake: Path) -> None:
    for table in ("trades", "orders", "transfers"):
        files = _files(declared_lake, table)
        assert files, table
        for path in files:
            meta = pq.ParquetFile(path).metadata
            assert declares_order(meta, table), path
            data = pq.read_table(path)
            assert data.equals(sort_rows(data, table)), path  # and the word is true


def test_a_rewrite_by_arrow_or_duckdb_drops_the_declaration(declared_lake: Path, tmp_path: Path) -> None:
    """The trust rests on this: a tool that rewrites the rows (in any order) does not carry the writer's word on."""
    source = _files(declared_lake, "trades")[0]
    by_arrow, by_duckdb = tmp_path / "arrow.parquet", tmp_path / "duckdb.parquet"
    pq.write_table(pq.read_table(source), by_arrow)
    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{source}')) TO '{by_duckdb}' (FORMAT parquet)")
    for path in (by_arrow, by_duckdb):
        assert not declares_order(pq.ParquetFile(path).metadata, "trades"), path


def test_only_the_canonical_columns_ascending_nulls_last_count_as_the_declaration(tmp_path: Path) -> None:
    data = pa.table({"ts": pa.array([1, 2, 3], pa.timestamp("us", tz="UTC")), "venue": ["A", "A", "A"],
                     "trade_id": ["1", "2", "3"], "price": [1.0, 2.0, 3.0]})
    cases = {
        "canonical": (order_declaration("trades", data.schema), True),
        "time only": (pq.SortingColumn.from_ordering(data.schema, [("ts", "ascending")]), False),
        "descending": (pq.SortingColumn.from_ordering(data.schema, [("ts", "descending"), ("venue", "ascending"),
                                                                     ("trade_id", "ascending")]), False),
        "nulls first": (pq.SortingColumn.from_ordering(data.schema, [("ts", "ascending"), ("venue", "ascending"),
                                                                      ("trade_id", "ascending")],
                                                       null_placement="at_start"), False),
        "other key first": (pq.SortingColumn.from_ordering(data.schema, [("trade_id", "ascending"),
                                                                          ("ts", "ascending"),
                                                                          ("venue", "ascending")]), False),
        "more columns after": ((*order_declaration("trades", data.schema),
                                *pq.SortingColumn.from_ordering(data.schema, [("price", "ascending")])), True),
    }
    for name, (declared, trusted) in cases.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(data, path, sorting_columns=declared)
        assert declares_order(pq.ParquetFile(path).metadata, "trades") is trusted, name
    assert order_declaration("trades", data.select(["ts", "price"]).schema) is None  # a key column missing


def test_row_groups_must_follow_one_another_in_time(tmp_path: Path) -> None:
    """Each row group declares its own order; across groups the time must rise strictly (a tie is left to the sort)."""
    kind = pa.timestamp("us", tz="UTC")
    for times, follows in (([1, 2, 3, 4, 5, 6], True), ([1, 2, 3, 3, 5, 6], False), ([1, 2, 4, 3, 5, 6], False)):
        data = pa.table({"ts": pa.array(times, kind), "venue": ["A"] * 6, "trade_id": [str(i) for i in range(6)]})
        path = tmp_path / "groups.parquet"
        pq.write_table(data, path, row_group_size=3, sorting_columns=order_declaration("trades", data.schema))
        meta = pq.ParquetFile(path).metadata
        assert meta.num_row_groups == 2 and declares_order(meta, "trades")
        assert in_order_across(meta, np.array(times, np.int64)) is follows, times


def _partitions(lake: Path) -> list[dict[str, dict[tuple, pa.Table]]]:
    jobs = [make_job(RefCancelBurst()), make_job(RefSelfTrade())]
    group = local.read_groups(jobs)[0]
    out = []
    for task in local.plan_tasks(group.job, lake, Window(), None, workers=1, threads=1, lookbacks=group.lookbacks,
                                 task_keys=group.task_keys):
        sliced, _ = local.read_task(replace(task, members=group.members))
        out.append(sliced)
    return out


def _undeclared_copy(lake: Path, target: Path) -> Path:
    """The lake with every trades and orders file rewritten as it is, without the declaration."""
    shutil.copytree(lake, target)
    for table in ("trades", "orders"):
        for path in _files(target, table):
            data = pq.read_table(path)
            pq.write_table(data, path, row_group_size=1 << 20)
            assert not declares_order(pq.ParquetFile(path).metadata, table)
    return target


def test_trusted_partitions_equal_the_checked_ones(declared_lake: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Day partitions with a look-back (the day before's tail put before the day's rows) read from the declared
    files, without the tie check, are the tables read from undeclared copies, through the check."""
    checked = _partitions(_undeclared_copy(declared_lake, tmp_path / "undeclared"))
    sorts: list[str] = []

    def counting(data: pa.Table, table: str, constant: object = ()) -> pa.Table:
        sorts.append(table)
        return sort_rows(data, table, constant=constant)  # type: ignore[arg-type]

    monkeypatch.setattr(local, "sort_rows", counting)
    trusted = _partitions(declared_lake)
    assert not sorts  # no partition went through the check
    assert len(trusted) == len(checked)
    lookback_pieces = 0
    for mine, theirs in zip(trusted, checked, strict=True):
        assert mine.keys() == theirs.keys()
        for table in mine:
            assert mine[table].keys() == theirs[table].keys()
            for key, part in mine[table].items():
                assert part.equals(theirs[table][key]), (table, key)
                lookback_pieces += part.column("ts").num_chunks > 1
    assert lookback_pieces  # some partitions were made of two files' pieces


def test_a_file_out_of_time_order_is_sorted_whatever_it_declares(declared_lake: Path, tmp_path: Path) -> None:
    """The time check stays: a file declaring the order but holding rows out of time order is put in order."""
    lake = tmp_path / "liar"
    shutil.copytree(declared_lake, lake)
    path = _files(lake, "trades")[0]
    data = pq.read_table(path)
    shuffled = data.take(pa.array(np.random.default_rng(3).permutation(data.num_rows)))
    pq.write_table(shuffled, path, sorting_columns=order_declaration("trades", data.schema))
    assert declares_order(pq.ParquetFile(path).metadata, "trades")
    venue = path.parent.parent.name.removeprefix("venue=")
    day = dt.date.fromisoformat(path.parent.name.removeprefix("date="))
    symbol = data.column("symbol")[0].as_py()
    found = [sliced["trades"][(venue, symbol, day)] for sliced in _partitions(lake)
             if (venue, symbol, day) in sliced["trades"]]
    assert len(found) == 1
    got = found[0]
    assert got.equals(sort_rows(got, "trades"))
    times = got.column("ts").to_numpy()
    assert (times[1:] >= times[:-1]).all() and got.num_rows >= data.num_rows


def test_a_file_with_rows_without_a_time_is_refused_by_name(declared_lake: Path, tmp_path: Path) -> None:
    """The contract gives every row a time; a file that lacks some (placed in the lake by hand) stops the run with
    the file, column and count named, whatever order it declares, rather than its rows read into a window by a
    number that is not a time."""
    lake = tmp_path / "null-time"
    shutil.copytree(declared_lake, lake)
    path = _files(lake, "trades")[0]
    data = pq.read_table(path)
    kind = data.schema.field("ts").type
    times = data.column("ts").to_pylist()
    times[-1] = None
    holed = data.set_column(data.schema.get_field_index("ts"), pa.field("ts", kind), pa.array(times, kind))
    pq.write_table(holed, path, sorting_columns=order_declaration("trades", holed.schema))
    with pytest.raises(Invalid, match=rf"trades file .*{path.name} has 1 row\(s\) without a ts"):
        _partitions(lake)
