"""The analytics store: views, partition pruning, Arrow/Polars/pandas hand-over, describe."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from data_samples import TRADE_HEADER, VENUE, trade_row, write_csv

from harbour.data.ingest.service import IngestFile, ingest
from harbour.data.lake import Lake


def _three_days(lake_root: Path, tmp_path: Path) -> None:
    rows = [trade_row(i, day="2026-01-06") for i in range(10, 13)] + [trade_row(20, day="2026-01-07")]
    ingest(lake_root, [IngestFile("trades", write_csv(tmp_path / "more.csv", TRADE_HEADER, rows))], VENUE)


def test_table_filters_by_venue_and_dates(lake_root: Path, tmp_path: Path) -> None:
    _three_days(lake_root, tmp_path)
    with Lake(lake_root) as lake:
        assert lake.table("trades").count() == 9
        assert lake.table("trades", venue=VENUE, start="2026-01-06").count() == 4
        assert lake.table("trades", venue=VENUE, start="2026-01-06", end="2026-01-06").count() == 3
        assert lake.table("trades", venue="NOPE").count() == 0
        window = lake.table("trades", start=dt.datetime(2026, 1, 6, 10, 11, tzinfo=dt.UTC),
                            end=dt.datetime(2026, 1, 7, tzinfo=dt.UTC))
        assert sorted(window.to_arrow()["trade_id"].to_pylist()) == ["T11", "T12"]
        assert len(lake.files("trades", VENUE, dt.date(2026, 1, 6), dt.date(2026, 1, 6))) == 1


def test_handover_to_polars_pandas_and_sql(lake_root: Path) -> None:
    with Lake(lake_root) as lake:
        frame = lake.table("trades", venue=VENUE, columns=["trade_id", "price"]).to_polars()
        assert isinstance(frame, pl.DataFrame) and frame.columns == ["trade_id", "price"]
        assert lake.table("accounts").to_pandas()["account"].tolist() == ["A1", "A2", "A3"]
        joined = lake.sql("SELECT t.trade_id, a.name FROM trades t JOIN accounts a "
                          "ON a.venue = t.venue AND a.account = t.buyer ORDER BY t.trade_id").to_arrow()
        assert joined.num_rows == 5 and set(joined["name"].to_pylist()) == {"Customer A1"}


def test_empty_lake_has_typed_views(tmp_path: Path) -> None:
    with Lake(tmp_path / "nothing") as lake:
        result = lake.sql("SELECT count(*) AS n FROM orders").to_arrow()
        assert result["n"].to_pylist() == [0]
        assert lake.table("transfers").to_arrow().schema.field("usd_value").type.bit_width == 64
        assert lake.describe().num_rows == 0


def test_describe_counts_rows_per_partition(lake_root: Path, tmp_path: Path) -> None:
    _three_days(lake_root, tmp_path)
    with Lake(lake_root) as lake:
        summary = {(r["table"], r["venue"], str(r["date"])): r["rows"] for r in lake.describe().to_pylist()}
    assert summary == {("accounts", VENUE, "None"): 3, ("trades", VENUE, "2026-01-05"): 5,
                       ("trades", VENUE, "2026-01-06"): 3, ("trades", VENUE, "2026-01-07"): 1}
