"""The real Tardis sample, CCXT JSON lines and canonical Parquet map onto the canonical trades table."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from data_samples import VENUE

from harbour.core.errors import Invalid
from harbour.data.ingest.formats import detect_format, tardis_symbol
from harbour.data.ingest.service import IngestFile, ingest
from harbour.data.lake import Lake
from harbour.data.schemas import TRADES

PROJECT = Path(__file__).resolve().parents[3]
TARDIS = PROJECT.parent / "shared" / "data" / "real" / "tardis_binance_futures_btcusdt_trades.csv"


def test_real_tardis_sample_ingests_into_trades(tmp_path: Path) -> None:
    assert TARDIS.exists(), f"the real Tardis sample is expected at {TARDIS}"
    lines = TARDIS.read_text().splitlines()
    root = tmp_path / "lake"
    report = ingest(root, [IngestFile("trades", TARDIS)], "BINANCEF")
    assert report.files[0].format == "tardis"
    assert report.rows_written == len(lines) - 1 and report.rows_dropped == 0
    with Lake(root) as lake:
        trades = lake.table("trades", venue="BINANCEF").to_arrow()
    first = lines[1].split(",")  # exchange,symbol,timestamp,local_timestamp,id,side,price,amount
    row = trades.sort_by("ts").slice(0, 1).to_pylist()[0]
    assert row["symbol"] == "BTC/USDT" and row["trade_id"] == first[4]
    assert row["ts"] == dt.datetime.fromtimestamp(int(first[2]) / 1e6, dt.UTC)
    assert row["price"] == float(first[6]) and row["quantity"] == float(first[7]) and row["aggressor"] == first[5]
    assert row["buyer"] == f"anon:{first[4]}:buyer" and row["seller"] == f"anon:{first[4]}:seller"
    assert trades.schema.field("ts").type == TRADES.field("ts").type
    assert set(trades["aggressor"].to_pylist()) <= {"buy", "sell"}


def test_tardis_symbols() -> None:
    assert tardis_symbol("BTCUSDT") == "BTC/USDT"
    assert tardis_symbol("ethbtc") == "ETH/BTC"
    assert tardis_symbol("BTC-PERPETUAL") == "BTC/PERPETUAL"
    assert tardis_symbol("XBTUSD") == "XBT/USD"
    assert tardis_symbol("WEIRD") == "WEIRD"


def test_ccxt_json_lines(tmp_path: Path) -> None:
    trades = [
        {"id": "1001", "timestamp": 1767607200000, "datetime": "2026-01-05T10:00:00.000Z", "symbol": "BTC/USDT",
         "order": "o-9", "side": "buy", "takerOrMaker": "taker", "price": 97000.5, "amount": 0.01, "cost": 970.005},
        {"id": "1002", "timestamp": None, "datetime": "2026-01-05T10:00:01.500Z", "symbol": "BTC/USDT",
         "side": "sell", "takerOrMaker": "maker", "price": "97001", "amount": "0.5"},
    ]
    path = tmp_path / "ccxt.jsonl"
    path.write_text("\n".join(json.dumps(t) for t in trades) + "\n\n")
    assert detect_format(path) == "ccxt"
    root = tmp_path / "lake"
    ingest(root, [IngestFile("trades", path)], "OKX")
    rows = {r["trade_id"]: r for r in Lake(root).table("trades").to_arrow().to_pylist()}
    assert rows["1001"]["ts"] == dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)
    assert rows["1001"]["buy_order_id"] == "o-9" and rows["1001"]["aggressor"] == "buy"
    assert rows["1002"]["aggressor"] == "buy"  # the maker sold, so the taker bought
    assert rows["1002"]["quantity"] == 0.5


def test_ccxt_bad_lines_are_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = {"id": "1", "timestamp": 1767607200000, "symbol": "BTC/USDT", "side": "buy", "price": 1, "amount": 1}
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps(dict(good, id="2", price=True)) + "\n[1]\n")
    with pytest.raises(Invalid) as err:
        ingest(tmp_path / "lake", [IngestFile("trades", path)], "OKX")
    found = [(p["row"], p["column"]) for p in err.value.details["problems"]]
    assert found == [(2, None), (3, "price"), (4, None)]


def test_canonical_parquet_with_loose_types(tmp_path: Path) -> None:
    """Integer ids, naive nanosecond timestamps and large strings are accepted and normalised."""
    table = pa.table({
        "symbol": pa.array(["ETH/USD"] * 3, pa.large_string()),
        "trade_id": pa.array([1, 2, 3], pa.int64()),
        "ts": pa.array([dt.datetime(2026, 1, 5, 23, 59, 59), dt.datetime(2026, 1, 6), dt.datetime(2026, 1, 7, 1)],
                       pa.timestamp("ns")),
        "price": pa.array([10, 11, 12], pa.int32()),
        "quantity": [1.0, 2.0, 3.0],
        "buyer": ["A1"] * 3, "seller": ["A2"] * 3,
        "extra": ["x"] * 3,
    })
    path = tmp_path / "loose.parquet"
    pq.write_table(table, path)
    root = tmp_path / "lake"
    from data_samples import ACCOUNT_HEADER, account_row, write_csv

    accounts = write_csv(tmp_path / "acc.csv", ACCOUNT_HEADER, [account_row("A1"), account_row("A2")])
    report = ingest(root, [IngestFile("trades", path), IngestFile("accounts", accounts)], VENUE)
    assert report.ignored_columns == {"loose.parquet": ["extra"]}
    with Lake(root) as lake:
        days = lake.describe().to_pylist()
        assert [(d["table"], str(d["date"]), d["rows"]) for d in days if d["table"] == "trades"] == [
            ("trades", "2026-01-05", 1), ("trades", "2026-01-06", 1), ("trades", "2026-01-07", 1)]
        got = lake.table("trades").to_arrow()
    assert got.schema.field("trade_id").type == pa.string()
    assert sorted(got["trade_id"].to_pylist()) == ["1", "2", "3"]


def _exact_trades(prices: list[float], days: list[int]) -> pa.Table:
    n = len(prices)
    return pa.table({
        "venue": [VENUE] * n, "symbol": ["BTC/USD"] * n, "trade_id": [f"E{i}" for i in range(n)],
        "ts": pa.array([dt.datetime(2026, 1, d, 12, i, tzinfo=dt.UTC) for i, d in enumerate(days)],
                       pa.timestamp("us", "UTC")),
        "price": prices, "quantity": [1.0] * n, "buyer": ["A1"] * n, "seller": ["A2"] * n,
        "aggressor": ["buy"] * n, "buy_order_id": pa.nulls(n, pa.string()), "sell_order_id": pa.nulls(n, pa.string()),
    }).cast(TRADES)


def test_exact_single_day_parquet_is_staged_as_is(lake_root: Path, tmp_path: Path) -> None:
    source = tmp_path / "day.parquet"
    pq.write_table(_exact_trades([10.0, 11.0, 12.0], [8, 8, 8]), source)
    report = ingest(lake_root, [IngestFile("trades", source)], VENUE)
    assert report.rows_written == 3
    (written,) = Lake(lake_root).files("trades", VENUE, dt.date(2026, 1, 8), dt.date(2026, 1, 8))
    assert written.read_bytes() == source.read_bytes()  # copied, not re-encoded


def test_exact_parquet_with_a_bad_row_is_still_located(lake_root: Path, tmp_path: Path) -> None:
    source = tmp_path / "day.parquet"
    pq.write_table(_exact_trades([10.0, -1.0, 12.0], [8, 8, 8]), source)
    with pytest.raises(Invalid) as err:
        ingest(lake_root, [IngestFile("trades", source)], VENUE)
    assert [(p["row"], p["column"]) for p in err.value.details["problems"]] == [(2, "price")]
    report = ingest(lake_root, [IngestFile("trades", source)], VENUE, skip_bad=True)
    assert (report.rows_read, report.rows_written) == (3, 2)


def test_exact_parquet_over_two_days_is_split(lake_root: Path, tmp_path: Path) -> None:
    source = tmp_path / "two.parquet"
    pq.write_table(_exact_trades([10.0, 11.0, 12.0], [8, 9, 9]), source)
    ingest(lake_root, [IngestFile("trades", source)], VENUE)
    with Lake(lake_root) as lake:
        assert lake.table("trades", start="2026-01-09", end="2026-01-09").count() == 2
        assert lake.table("trades", start="2026-01-08", end="2026-01-08").count() == 1
