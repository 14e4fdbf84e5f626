"""Each kind of bad row is rejected with its (file, row, column, reason) and nothing is written;
``skip_bad`` keeps the good rows and reports the dropped ones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from data_samples import ACCOUNT_HEADER, TRADE_HEADER, VENUE, account_row, snapshot, trade_row, write_csv

from harbour.core.errors import Invalid
from harbour.data.ingest.service import IngestFile, ingest
from harbour.data.lake import Lake


def _set(row: list[str], column: str, value: str) -> list[str]:
    row = list(row)
    row[TRADE_HEADER.index(column)] = value
    return row


# (what is wrong, row index to spoil, column, bad value, expected words in the reason)
BAD_VALUES = [
    ("wrong type", "price", "abc", "not a number"),
    ("price zero", "price", "0", "greater than 0"),
    ("price negative", "price", "-3", "greater than 0"),
    ("quantity zero", "quantity", "0", "greater than 0"),
    ("price not finite", "price", "inf", "finite"),
    ("bad enum", "aggressor", "sideways", "not one of buy, sell"),
    ("unparseable timestamp", "ts", "yesterday-ish", "not a timestamp"),
    ("future timestamp", "ts", "2099-01-01T00:00:00Z", "in the future"),
    ("implausibly old timestamp", "ts", "1582329602111", "before 2009-01-03"),
    ("missing required value", "buyer", "", "missing value"),
    ("other venue", "venue", "XYZ", "differs from the venue"),
    ("unresolved account", "seller", "GHOST", "not in accounts"),
]


@pytest.mark.parametrize(("what", "column", "value", "reason"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_value_rejects_whole_file_with_its_row(lake_root: Path, tmp_path: Path, what: str, column: str,
                                                   value: str, reason: str) -> None:
    rows = [trade_row(i) for i in range(10, 16)]
    rows[3] = _set(rows[3], column, value)  # line 5 of the file (header on line 1)
    path = write_csv(tmp_path / "bad.csv", TRADE_HEADER, rows)
    before = snapshot(lake_root)
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", path)], VENUE)
    problems = err.value.details["problems"]
    assert [(p["file"], p["row"], p["column"]) for p in problems] == [("bad.csv", 5, column)], problems
    assert reason in problems[0]["reason"]
    assert snapshot(lake_root) == before


def test_missing_column_rejects_file(lake_root: Path, tmp_path: Path) -> None:
    header = [h for h in TRADE_HEADER if h != "quantity"]
    rows = [[v for h, v in zip(TRADE_HEADER, trade_row(i), strict=True) if h != "quantity"] for i in range(10, 13)]
    path = write_csv(tmp_path / "noqty.csv", header, rows)
    before = snapshot(lake_root)
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", path)], VENUE)
    (problem,) = err.value.details["problems"]
    assert (problem["file"], problem["row"], problem["column"]) == ("noqty.csv", None, "quantity")
    assert "required column" in problem["reason"]
    assert snapshot(lake_root) == before


def test_wrong_column_type_in_parquet(lake_root: Path, tmp_path: Path) -> None:
    table = pa.table({"symbol": ["BTC/USD"], "trade_id": ["T90"], "ts": [dt.datetime(2026, 1, 5, tzinfo=dt.UTC)],
                      "price": [[1.0]], "quantity": [1.0], "buyer": ["A1"], "seller": ["A2"]})
    pq.write_table(table, tmp_path / "listprice.parquet")
    before = snapshot(lake_root)
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", tmp_path / "listprice.parquet")], VENUE)
    (problem,) = err.value.details["problems"]
    assert (problem["row"], problem["column"]) == (None, "price")
    assert snapshot(lake_root) == before


def test_duplicate_id_within_the_file(lake_root: Path, tmp_path: Path) -> None:
    rows = [trade_row(i) for i in range(20, 24)] + [trade_row(21)]
    path = write_csv(tmp_path / "dup.csv", TRADE_HEADER, rows)
    before = snapshot(lake_root)
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", path)], VENUE)
    (problem,) = err.value.details["problems"]
    assert (problem["file"], problem["row"], problem["column"]) == ("dup.csv", 6, "trade_id")
    assert "first at dup.csv row 3" in problem["reason"]
    assert snapshot(lake_root) == before


def test_duplicate_id_across_files_of_one_ingest(lake_root: Path, tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", TRADE_HEADER, [trade_row(30), trade_row(31)])
    b = write_csv(tmp_path / "b.csv", TRADE_HEADER, [trade_row(31, day="2026-01-06")])
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", a), IngestFile("trades", b)], VENUE)
    assert [(p["file"], p["row"]) for p in err.value.details["problems"]] == [("b.csv", 2)]


def test_duplicate_id_against_the_lake(lake_root: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "again.csv", TRADE_HEADER, [trade_row(40), trade_row(3, day="2026-02-01")])
    before = snapshot(lake_root)
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", path)], VENUE)
    (problem,) = err.value.details["problems"]
    assert (problem["row"], problem["column"]) == (3, "trade_id")
    assert "already in the lake" in problem["reason"]
    assert snapshot(lake_root) == before


def test_every_problem_is_reported(lake_root: Path, tmp_path: Path) -> None:
    rows = [trade_row(i) for i in range(50, 56)]
    rows[0] = _set(_set(rows[0], "price", "-1"), "aggressor", "up")
    rows[4] = _set(rows[4], "quantity", "x")
    path = write_csv(tmp_path / "many.csv", TRADE_HEADER, rows)
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", path)], VENUE)
    found = {(p["row"], p["column"]) for p in err.value.details["problems"]}
    assert found == {(2, "price"), (2, "aggressor"), (6, "quantity")}
    assert err.value.details["problem_count"] == 3


def test_skip_bad_keeps_good_rows_and_reports_dropped(lake_root: Path, tmp_path: Path) -> None:
    rows = [trade_row(i) for i in range(60, 66)]
    rows[1] = _set(rows[1], "price", "0")
    rows[2] = _set(rows[2], "buyer", "NOBODY")
    rows.append(trade_row(61))  # line 8: same id as the bad line 3, so the only good row with it: kept
    rows.append(trade_row(60))  # line 9: duplicate of the good line 2: dropped
    path = write_csv(tmp_path / "mixed.csv", TRADE_HEADER, rows)
    report = ingest(lake_root, [IngestFile("trades", path)], VENUE, skip_bad=True)
    assert sorted((p.row, p.column) for p in report.problems) == [(3, "price"), (4, "buyer"), (9, "trade_id")]
    assert report.rows_read == 8
    kept = Lake(lake_root).table("trades", venue=VENUE).to_arrow()["trade_id"].to_pylist()
    assert sorted(t for t in kept if int(t[1:]) >= 60) == ["T60", "T61", "T63", "T64", "T65"]
    assert report.rows_written == 5 and report.rows_dropped == 3


def test_skip_bad_drops_rows_already_in_lake(lake_root: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "overlap.csv", TRADE_HEADER, [trade_row(1), trade_row(70)])
    report = ingest(lake_root, [IngestFile("trades", path)], VENUE, skip_bad=True)
    assert report.rows_written == 1
    assert [(p.row, p.column) for p in report.problems] == [(2, "trade_id")]
    assert Lake(lake_root).table("trades", venue=VENUE).count() == 6


def test_accounts_in_the_same_run_resolve_references(lake_root: Path, tmp_path: Path) -> None:

    accounts = write_csv(tmp_path / "new_accounts.csv", ACCOUNT_HEADER, [account_row("A9")])
    trades = write_csv(tmp_path / "t.csv", TRADE_HEADER, [_set(trade_row(80), "buyer", "A9")])
    report = ingest(lake_root, [IngestFile("trades", trades), IngestFile("accounts", accounts)], VENUE)
    assert report.rows_written == 2


def test_multi_file_ingest_is_all_or_nothing(lake_root: Path, tmp_path: Path) -> None:
    good = write_csv(tmp_path / "good.csv", TRADE_HEADER, [trade_row(i) for i in range(90, 95)])
    bad = write_csv(tmp_path / "bad.csv", TRADE_HEADER, [_set(trade_row(95), "price", "free")])
    before = snapshot(lake_root)
    with pytest.raises(Invalid):
        ingest(lake_root, [IngestFile("trades", good), IngestFile("trades", bad)], VENUE)
    assert snapshot(lake_root) == before


def test_ragged_csv_rows_are_located(lake_root: Path, tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    lines = [",".join(TRADE_HEADER)] + [",".join(trade_row(i)) for i in range(100, 103)]
    lines.insert(2, "HBX,BTC/USD,T999")  # line 3 has three fields
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", path)], VENUE)
    (problem,) = err.value.details["problems"]
    assert problem["row"] == 3 and "expected 11 fields, found 3" in problem["reason"]


def test_unsafe_venue_is_refused(lake_root: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", TRADE_HEADER, [trade_row(1, venue="../x")])
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", path)], "../x")
    assert err.value.field == "venue"


def test_orders_and_transfers_rules(tmp_path: Path) -> None:
    root = tmp_path / "lake"

    accounts = write_csv(tmp_path / "acc.csv", ACCOUNT_HEADER, [account_row("A1")])
    orders_header = ["symbol", "order_id", "account", "ts", "event", "side", "order_type", "price", "quantity"]
    orders = write_csv(tmp_path / "orders.csv", orders_header, [
        ["BTC/USD", "O1", "A1", "2026-01-05T10:00:00Z", "new", "buy", "limit", "100", "2"],
        ["BTC/USD", "O1", "A1", "2026-01-05T10:00:01Z", "cancel", "buy", "limit", "100", "0"],
        ["BTC/USD", "O2", "A1", "2026-01-05T10:00:02Z", "new", "sell", "limit", "", "1"],
        ["BTC/USD", "O3", "A1", "2026-01-05T10:00:03Z", "new", "sell", "market", "", "1"],
    ])
    with pytest.raises(Invalid) as err:
        ingest(root, [IngestFile("accounts", accounts), IngestFile("orders", orders)], VENUE)
    assert [(p["row"], p["column"]) for p in err.value.details["problems"]] == [(4, "price")]
    transfers_header = ["transfer_id", "ts", "asset", "amount", "usd_value", "kind", "from_party", "to_party"]
    transfers = write_csv(tmp_path / "transfers.csv", transfers_header, [
        ["X1", "2026-01-05T10:00:00Z", "BTC", "0.5", "50000", "deposit", "btc:bc1qxyz", "HBX:A1"],
        ["X2", "2026-01-05T10:00:00Z", "BTC", "0.5", "-1", "withdrawal", "HBX:A1", "nowhere"],
    ])
    with pytest.raises(Invalid) as err:
        ingest(root, [IngestFile("transfers", transfers)], VENUE)
    assert {(p["row"], p["column"]) for p in err.value.details["problems"]} == {(3, "usd_value"), (3, "to_party")}
    assert not (root / "transfers").exists() and not (root / "accounts").exists()


def test_failed_audit_rolls_the_ingest_back(lake_root: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", TRADE_HEADER, [trade_row(i) for i in range(110, 113)])
    before = snapshot(lake_root)

    def audit(report) -> None:  # the database refused the audit entry
        assert report.rows_written == 3 and Lake(lake_root).table("trades").count() == 8
        raise RuntimeError("database is down")

    with pytest.raises(RuntimeError):
        ingest(lake_root, [IngestFile("trades", path)], VENUE, audit=audit)
    assert snapshot(lake_root) == before


def test_failed_audit_leaves_no_new_partition_folders(lake_root: Path, tmp_path: Path) -> None:
    """A rolled-back ingest into a new venue and day removes the folders it made, not only its files."""
    path = write_csv(tmp_path / "t.csv", TRADE_HEADER, [trade_row(i, day="2026-03-09", venue="NEW")
                                                        for i in range(3)])
    accounts = write_csv(tmp_path / "a.csv", ACCOUNT_HEADER, [account_row(a, venue="NEW") for a in ("A1", "A2")])
    folders = sorted(p for p in lake_root.rglob("*") if p.is_dir())

    def audit(report) -> None:
        raise RuntimeError("database is down")

    with pytest.raises(RuntimeError):
        ingest(lake_root, [IngestFile("accounts", accounts), IngestFile("trades", path)], "NEW", audit=audit)
    assert sorted(p for p in lake_root.rglob("*") if p.is_dir()) == folders


def test_second_writer_waits_then_gets_conflict(lake_root: Path, tmp_path: Path) -> None:
    import os

    from harbour.core.errors import Conflict
    from harbour.data.ingest.writer import acquire_lock

    path = write_csv(tmp_path / "t.csv", TRADE_HEADER, [trade_row(120)])
    fd = acquire_lock(lake_root, 1)  # another ingest is running
    try:
        with pytest.raises(Conflict):
            ingest(lake_root, [IngestFile("trades", path)], VENUE, lock_timeout=0.2)
    finally:
        os.close(fd)
    assert ingest(lake_root, [IngestFile("trades", path)], VENUE).rows_written == 1


def test_duplicate_found_after_the_csv_is_read_again(lake_root: Path, tmp_path: Path) -> None:
    """A ragged line past the first 1 MB block sends the file back to the exact reader after rows were
    already staged (and their key hashes taken): those are forgotten, and the duplicate is still found."""
    path = tmp_path / "long.csv"
    lines = [",".join(TRADE_HEADER)] + [",".join(trade_row(i)) for i in range(1000, 21000)]
    lines.insert(16_000, "HBX,BTC/USD,T999")  # line 16,001
    assert len("\n".join(lines[:16_000])) > 1 << 20  # past the fast reader's first block
    lines.append(",".join(trade_row(1000)))  # line 20,003 repeats line 2
    path.write_text("\n".join(lines) + "\n")
    report = ingest(lake_root, [IngestFile("trades", path)], VENUE, skip_bad=True, chunk_rows=1000)
    assert sorted(p.row for p in report.problems) == [16_001, 20_003]
    assert report.rows_written == 20_000
    kept = Lake(lake_root).table("trades", venue=VENUE).to_arrow()["trade_id"].to_pylist()
    assert kept.count("T1000") == 1 and len(kept) == 20_005
