"""Canonical Parquet input: low-cardinality text columns are read as Arrow dictionaries and checked once
per distinct value, so these tests spoil values inside dictionary-encoded files and expect the same
(file, row, column, reason) as from CSV; a multi-day file is split into daily partitions with the same rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from data_samples import ACCOUNT_HEADER, TRADE_HEADER, VENUE, account_row, snapshot, trade_row, write_csv

from harbour.core.errors import Invalid
from harbour.data.ingest.service import IngestFile, ingest
from harbour.data.lake import Lake
from harbour.data.schemas import TRADES

TEXT = ("venue", "symbol", "trade_id", "buyer", "seller", "aggressor", "buy_order_id", "sell_order_id")


def _parquet(path: Path, rows: list[list[str | None]], row_group_size: int = 1000) -> Path:
    """Rows of the CSV samples as a typed Parquet file, text dictionary-encoded (pyarrow's default)."""
    cols = {h: [r[i] for r in rows] for i, h in enumerate(TRADE_HEADER)}
    table = pa.table({
        **{h: pa.array(cols[h], pa.string()) for h in TEXT},
        "ts": pa.array([dt.datetime.fromisoformat(v) for v in cols["ts"]], pa.timestamp("us", "UTC")),
        "price": pa.array([float(v) for v in cols["price"]]),
        "quantity": pa.array([float(v) for v in cols["quantity"]]),
    }).select(TRADE_HEADER)
    pq.write_table(table, path, use_dictionary=True, row_group_size=row_group_size)
    return path


# (what is wrong, column, bad value, expected words in the reason)
BAD_TEXT = [
    ("bad enum", "aggressor", "sideways", "not one of buy, sell"),
    ("empty required value", "buyer", "", "missing value"),
    ("blank required value", "symbol", " \t", "missing value"),
    ("null required value", "seller", None, "missing value"),
    ("other venue", "venue", "XYZ", "differs from the venue"),
    ("unresolved account", "seller", "GHOST", "not in accounts"),
]


@pytest.mark.parametrize(("what", "column", "value", "reason"), BAD_TEXT, ids=[b[0] for b in BAD_TEXT])
def test_bad_text_in_dictionary_encoded_parquet(lake_root: Path, tmp_path: Path, what: str, column: str,
                                                value: str | None, reason: str) -> None:
    rows: list[list[str | None]] = [list(trade_row(i)) for i in range(10, 40)]
    rows[17][TRADE_HEADER.index(column)] = value  # row 18 of the file (Parquet rows count from 1)
    path = _parquet(tmp_path / "bad.parquet", rows, row_group_size=8)  # the bad value sits in the 3rd group
    before = snapshot(lake_root)
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", path)], VENUE, chunk_rows=5)
    problems = err.value.details["problems"]
    assert [(p["file"], p["row"], p["column"]) for p in problems] == [("bad.parquet", 18, column)], problems
    assert reason in problems[0]["reason"]
    assert snapshot(lake_root) == before


def test_skip_bad_parquet_keeps_the_other_rows(lake_root: Path, tmp_path: Path) -> None:
    rows: list[list[str | None]] = [list(trade_row(i)) for i in range(10, 20)]
    rows[2][TRADE_HEADER.index("aggressor")] = "up"
    rows[6][TRADE_HEADER.index("buyer")] = "NOBODY"
    path = _parquet(tmp_path / "mixed.parquet", rows)
    report = ingest(lake_root, [IngestFile("trades", path)], VENUE, skip_bad=True, chunk_rows=4)
    assert sorted((p.row, p.column) for p in report.problems) == [(3, "aggressor"), (7, "buyer")]
    kept = Lake(lake_root).table("trades", venue=VENUE).to_arrow()
    assert sorted(t for t in kept["trade_id"].to_pylist() if int(t[1:]) >= 10) == [
        f"T{i}" for i in range(10, 20) if i not in (12, 16)]
    assert kept.schema.field("buyer").type == pa.string()  # readers see plain strings, not dictionaries


def test_multi_day_parquet_is_split_into_daily_partitions(lake_root: Path, tmp_path: Path) -> None:
    days = ["2026-01-06", "2026-01-07", "2026-01-08"]
    rows = [trade_row(100 + i, day=days[i * len(days) // 30]) for i in range(30)]  # time-ordered, 10 a day
    rows[11], rows[25] = rows[25], rows[11]  # and one pair out of order, across days
    path = _parquet(tmp_path / "three_days.parquet", rows, row_group_size=7)
    report = ingest(lake_root, [IngestFile("trades", path)], VENUE, chunk_rows=4)
    assert report.rows_written == 30
    lake = Lake(lake_root)
    for day in days:
        got = lake.table("trades", venue=VENUE, start=day, end=day).to_arrow()
        assert got.num_rows == 10 and {t.date().isoformat() for t in got["ts"].to_pylist()} == {day}
        files = list((lake_root / "trades" / f"venue={VENUE}" / f"date={day}").glob("*.parquet"))
        for f in files:  # the contract's columns and types, as a reader sees them
            assert [(x.name, x.type) for x in pq.read_schema(f)] == [(x.name, x.type) for x in TRADES]


# HASH_SORT_ROWS bounds the key hashes kept in memory. 1 << 24: every hash is taken while staging. 40: the
# 20 accounts of the same ingest are hashed first, the 30 trades would pass 40, so the trades' hashes are
# read back from the staged files and sorted. 0: nothing is kept and DuckDB groups the hashes.
@pytest.mark.parametrize("limit", [1 << 24, 40, 0],
                         ids=["hashed while staging", "hashes read back and sorted", "hashes grouped by DuckDB"])
def test_duplicate_ids_found_either_way(lake_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        limit: int) -> None:
    from harbour.data.ingest import service

    monkeypatch.setattr(service, "HASH_SORT_ROWS", limit)
    accounts = write_csv(tmp_path / "more_accounts.csv", ACCOUNT_HEADER, [account_row(f"N{i}") for i in range(20)])
    rows = [trade_row(200 + i, day="2026-01-06" if i < 15 else "2026-01-07") for i in range(30)]
    rows[27] = trade_row(204, day="2026-01-07")  # the id of row 5, on another day (another staged file)
    path = _parquet(tmp_path / "dup.parquet", rows)
    before = snapshot(lake_root)
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("accounts", accounts), IngestFile("trades", path)], VENUE, chunk_rows=8)
    (problem,) = err.value.details["problems"]
    assert (problem["row"], problem["column"]) == (28, "trade_id") and "first at dup.parquet row 5" in problem["reason"]
    assert snapshot(lake_root) == before
    clean = _parquet(tmp_path / "clean.parquet", [trade_row(300 + i) for i in range(30)])
    assert ingest(lake_root, [IngestFile("trades", clean)], VENUE, chunk_rows=8).rows_written == 30


def test_duplicate_ids_across_one_day_files_staged_by_copying(lake_root: Path, tmp_path: Path) -> None:
    """One-day canonical files are staged as they are; their keys are still hashed and checked."""
    first = _parquet(tmp_path / "d1.parquet", [trade_row(400 + i, day="2026-01-06") for i in range(12)])
    again = [trade_row(500 + i, day="2026-01-07") for i in range(12)]
    again[9] = trade_row(403, day="2026-01-07")
    second = _parquet(tmp_path / "d2.parquet", again)
    before = snapshot(lake_root)
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", first), IngestFile("trades", second)], VENUE, chunk_rows=5)
    (problem,) = err.value.details["problems"]
    assert (problem["file"], problem["row"]) == ("d2.parquet", 10) and "first at d1.parquet row 4" in problem["reason"]
    assert snapshot(lake_root) == before


def test_order_event_keys_compare_by_value_across_parquet_dictionaries_and_csv(lake_root: Path,
                                                                               tmp_path: Path) -> None:
    """An order event's key holds a dictionary-read column (event) and a float: the same event from a
    dictionary-encoded Parquet file and from CSV text is one duplicate, whatever the encodings."""
    header = ["venue", "symbol", "order_id", "account", "ts", "event", "side", "order_type", "price", "quantity"]
    events = ["new", "amend", "fill", "cancel"]
    rows = [[VENUE, "BTC/USD", f"O{i // 4}", "A1", f"2026-01-06T10:00:{i // 4:02d}Z", events[i % 4], "buy", "limit",
             "100.5", f"{4 - i % 4}.0"] for i in range(16)]
    table = pa.table({h: pa.array([r[i] for r in rows]) for i, h in enumerate(header)})
    times = pa.array([dt.datetime.fromisoformat(r[4]) for r in rows], pa.timestamp("us", "UTC"))
    table = table.set_column(4, "ts", times)
    for name in ("price", "quantity"):
        table = table.set_column(header.index(name), name, pc.cast(table[name], pa.float64()))
    pq.write_table(table, tmp_path / "orders.parquet", use_dictionary=True)
    repeat = rows[6][:]  # O1's fill, written differently: 2.0 as "2" and the time as microseconds
    repeat[4], repeat[9] = str(int(dt.datetime.fromisoformat(repeat[4]).timestamp() * 1_000_000)), "2"
    csv_path = write_csv(tmp_path / "more_orders.csv", header, [rows[0][:2] + ["O9"] + rows[0][3:], repeat])
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("orders", tmp_path / "orders.parquet"), IngestFile("orders", csv_path)], VENUE)
    (problem,) = err.value.details["problems"]
    assert (problem["file"], problem["row"]) == ("more_orders.csv", 3) and "orders.parquet row 7" in problem["reason"]
