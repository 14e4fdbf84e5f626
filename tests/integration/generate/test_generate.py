"""A generated market follows the contracts, ingests cleanly, labels point at real ids, same seed gives the
same bytes, and memory does not grow with the number of days."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from harbour.cli import app
from harbour.data.generate import GenerateConfig, GenerateSummary, generate_market
from harbour.data.ingest.service import IngestFile, ingest
from harbour.data.layout import glob_pattern, write_options
from harbour.data.row_order import sort_columns, sort_rows
from harbour.data.schemas import ENUMS, TABLES, TYPOLOGIES


def small(out: Path, **kw: object) -> GenerateConfig:
    opts: dict = {"venues": 2, "days": 1, "accounts": 150, "seed": 11, "activity": 0.02, "symbols": 6,
                  "incidents": {t: 1 for t in TYPOLOGIES}}
    opts.update(kw)
    return GenerateConfig(out=out, **opts)


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("market")
    return out, generate_market(small(out))


def read(root: Path, table: str) -> pa.Table:
    files = sorted(Path(root).glob(glob_pattern(root, table).replace(str(root) + "/", "")))
    return pa.concat_tables([pq.read_table(f, partitioning=None) for f in files])


def test_tables_follow_the_contract(market: tuple[Path, object]) -> None:
    root, summary = market
    for name in ("trades", "orders", "transfers", "accounts", "announcements", "labels"):
        files = sorted(root.glob(glob_pattern(root, name).replace(str(root) + "/", "")))
        assert files, name
        for f in files:
            t = pq.read_table(f, partitioning=None)
            for field in TABLES[name].schema:
                col = t.column(field.name)
                assert col.type == field.type, (f, field.name)
                if not field.nullable:
                    assert col.null_count == 0, (f, field.name)
            if "venue" in TABLES[name].partition_by:
                folder = f.parent if name == "accounts" else f.parent.parent
                assert set(t.column("venue").to_pylist()) == {folder.name.split("=")[1]}
            for (table, column), allowed in ENUMS.items():
                if table == name:
                    assert set(t.column(column).drop_null().to_pylist()) <= allowed, (f, column)
    trades = read(root, "trades")
    assert min(trades.column("price").to_pylist()) > 0 and min(trades.column("quantity").to_pylist()) > 0
    assert summary.rows["trades"] > 1000 and summary.rows["orders"] > summary.rows["trades"]
    assert summary.skipped == {}  # every planned incident left its trace


def test_files_are_written_in_the_canonical_row_order(market: tuple[Path, object]) -> None:
    """Time, then the table's key: the runners' sort then finds nothing to move (no copy of the partition)."""
    root, _ = market
    for name in ("trades", "orders", "transfers"):
        files = sorted(root.glob(glob_pattern(root, name).replace(str(root) + "/", "")))
        assert files, name
        for f in files:
            t = pq.read_table(f, partitioning=None)
            assert t.equals(t.sort_by([(c, "ascending") for c in sort_columns(name)])), f
            assert sort_rows(t, name) is t, f


def test_every_typology_is_labelled_and_labels_point_at_real_ids(market: tuple[Path, object]) -> None:
    root, summary = market
    labels = read(root, "labels").to_pylist()
    assert {row["typology"] for row in labels} == set(TYPOLOGIES)
    con = duckdb.connect()
    ids = {r[0] for r in con.sql(
        f"select order_id from read_parquet('{glob_pattern(root, 'orders')}') union all "
        f"select trade_id from read_parquet('{glob_pattern(root, 'trades')}') union all "
        f"select transfer_id from read_parquet('{glob_pattern(root, 'transfers')}')").fetchall()}
    accounts = {(r[0], r[1]) for r in con.sql(
        f"select venue, account from read_parquet('{glob_pattern(root, 'accounts')}')").fetchall()}
    all_accounts = {a for _, a in accounts}
    for row in labels:
        assert row["evidence_ids"] and set(row["evidence_ids"]) <= ids, row["incident_id"]
        assert row["accounts"] and set(row["accounts"]) <= all_accounts
        assert any((row["venue"], a) in accounts for a in row["accounts"])
        assert row["start"] <= row["end"]


def test_trades_come_from_orders_that_exist(market: tuple[Path, object]) -> None:
    root, _ = market
    con = duckdb.connect()
    missing = con.sql(
        f"select count(*) from read_parquet('{glob_pattern(root, 'trades')}') t left join "
        f"(select distinct venue, order_id, account from read_parquet('{glob_pattern(root, 'orders')}')) o "
        "on o.venue = t.venue and o.order_id = t.buy_order_id and o.account = t.buyer where o.order_id is null"
    ).fetchall()[0][0]
    assert missing == 0
    ratio = con.sql(f"select count(*) filter (event = 'cancel') / count(distinct order_id) filter (event = 'fill') "
                    f"from read_parquet('{glob_pattern(root, 'orders')}')").fetchall()[0][0]
    assert ratio > 1.0  # cancels outnumber filled orders, as on real venues


def test_generated_market_ingests_with_zero_rejected_rows(market: tuple[Path, object], tmp_path: Path) -> None:
    root, summary = market
    for venue in summary.venues:
        files = [IngestFile(table, f) for table in ("accounts", "trades", "orders", "transfers", "announcements")
                 for f in sorted(root.glob(f"{table}/venue={venue}/**/*.parquet"))]
        report = ingest(tmp_path / "lake", files, venue)
        assert report.problem_count == 0 and report.rows_dropped == 0
        assert report.rows_written == sum(pq.read_metadata(f.path).num_rows for f in files)


def assert_written_for_reading(path: Path, table: str) -> None:
    """A lake file has the lake's Parquet settings: LZ4 but on the time column, which is stored as deltas
    uncompressed, dictionary pages exactly on the text columns with few values, no statistics on ids and account
    references."""
    options = write_options(table)
    tcol = TABLES[table].time_column
    meta = pq.read_metadata(path)
    for g in range(meta.num_row_groups):
        for i in range(meta.num_columns):
            chunk = meta.row_group(g).column(i)
            name = chunk.path_in_schema
            if name == tcol:
                assert chunk.compression == "UNCOMPRESSED" and "DELTA_BINARY_PACKED" in chunk.encodings, (path, name)
            else:
                assert chunk.compression == "LZ4", (path, name)
            assert chunk.has_dictionary_page == (name in options["use_dictionary"]), (path, name)  # type: ignore[operator]
            if name not in options["write_statistics"]:  # type: ignore[operator]
                assert not chunk.is_stats_set, (path, name)


def test_lake_files_are_written_for_fast_reading(market: tuple[Path, object], tmp_path: Path) -> None:
    root, summary = market
    assert write_options("orders")["use_dictionary"] == ["venue", "symbol", "event", "side", "order_type"]
    assert write_options("trades")["use_dictionary"] == ["venue", "symbol", "aggressor"]
    for table in ("trades", "orders", "transfers", "accounts"):
        for path in sorted(root.glob(f"{table}/**/*.parquet")):
            assert_written_for_reading(path, table)
    # ingestion writes the same settings, here from CSV (a Parquet file may be staged by copying it as it is)
    venue = summary.venues[0]
    files = []
    for table in ("accounts", "trades"):
        files.append(IngestFile(table, tmp_path / f"{table}.csv"))
        columns = "* exclude (date)" if "date" in TABLES[table].schema.names else "*"
        duckdb.sql(f"copy (select {columns} from read_parquet('{root}/{table}/venue={venue}/**/*.parquet')) "
                   f"to '{files[-1].path}' (header)")
    report = ingest(tmp_path / "lake", files, venue)
    assert report.problem_count == 0 and report.rows_written > 0
    written = sorted((tmp_path / "lake").glob("trades/**/*.parquet"))
    assert written
    for path in written:
        assert_written_for_reading(path, "trades")


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(market: tuple[Path, object], tmp_path: Path) -> None:
    root, _ = market
    generate_market(small(tmp_path / "again"))
    assert digest(root) == digest(tmp_path / "again")
    generate_market(small(tmp_path / "other", seed=12))
    assert digest(tmp_path / "other") != digest(root)


def test_parallel_workers_write_the_same_bytes(tmp_path: Path) -> None:
    parallel = generate_market(small(tmp_path / "par", days=2), workers=2)
    serial = generate_market(small(tmp_path / "ser", days=2), workers=1)
    assert digest(tmp_path / "par") == digest(tmp_path / "ser")
    assert parallel == GenerateSummary(**{**vars(serial), "out": str(tmp_path / "par")})
    assert any("date=2026-01-06" in name for name in digest(tmp_path / "par"))  # both days were generated


def test_a_shorter_market_replaces_the_longer_one_whole(tmp_path: Path) -> None:
    """Generating into a lake that holds an earlier generated market replaces all of it, not only the days written
    again (a 1-day market over a 2-day one kept day 2 before), and leaves files the generator did not write."""
    lake = tmp_path / "lake"
    generate_market(small(lake, days=2))
    ingested = lake / "trades" / "venue=ZZZ" / "date=2026-01-06" / "part-ingest-1.parquet"
    ingested.parent.mkdir(parents=True)
    ingested.write_bytes(b"not ours")
    generate_market(small(lake, days=1))
    generate_market(small(tmp_path / "fresh", days=1))
    def generated(root: Path) -> dict[str, str]:
        return {name: sha for name, sha in digest(root).items() if "part-gen-" in name}

    assert generated(lake) == generated(tmp_path / "fresh")
    assert ingested.read_bytes() == b"not ours"


def test_workers_must_not_be_negative(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="workers must be 0"):
        generate_market(small(tmp_path), workers=-1)


PEAK = """
import json, resource, sys
from pathlib import Path
from harbour.data.generate import GenerateConfig, GenerateSummary, generate_market
generate_market(GenerateConfig(out=Path(sys.argv[1]), venues=1, days=int(sys.argv[2]), accounts=200, seed=5,
                               activity=0.1, symbols=4, incidents={"wash_trade": 1}))
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_days(tmp_path: Path) -> None:
    peaks = {}
    for days in (1, 4):
        run = subprocess.run([sys.executable, "-c", PEAK, str(tmp_path / f"d{days}"), str(days)], check=True,
                             capture_output=True, text=True)
        peaks[days] = json.loads(run.stdout.strip().splitlines()[-1])
    assert peaks[4] < peaks[1] * 1.1 + 20_000, peaks  # KiB: within 10 % + 20 MB


@pytest.mark.parametrize("difficulty", ["easy", "hard"])
def test_every_difficulty_labels_every_typology(tmp_path: Path, difficulty: str) -> None:
    summary = generate_market(small(tmp_path, difficulty=difficulty, seed=3, accounts=120, symbols=5))
    assert summary.skipped == {} and set(summary.incidents) == set(TYPOLOGIES)


def test_cli_generates_and_rejects_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["generate", "--incidents", "washing=3", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown typology 'washing'" in bad.output
    assert not (tmp_path / "x").exists()
    ok = runner.invoke(app, ["generate", "--venues", "1", "--days", "1", "--accounts", "60", "--activity", "0.01",
                             "--symbols", "3", "--incidents", "all=0", "--incidents", "fan_in=1",
                             "--venue-names", "ZZX", "--out", str(tmp_path / "y")])
    assert ok.exit_code == 0, ok.output
    labels = pq.read_table(next((tmp_path / "y" / "labels").glob("*.parquet")), partitioning=None).to_pylist()
    assert [r["typology"] for r in labels] == ["fan_in"] and labels[0]["venue"] == "ZZX"


def test_demo_step_fills_the_lake_and_the_facts(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from harbour.data.demo import generate

    ctx = SimpleNamespace(lake_root=tmp_path / "lake", facts={"venues": ["AAA", "BBB"]})
    line = generate(ctx)
    assert "2 venues x 2 days" in line
    assert ctx.facts["market"]["venues"] == ["AAA", "BBB"] and ctx.facts["market"]["trades"] > 0
    assert sorted(p.name for p in (tmp_path / "lake" / "trades").iterdir()) == ["venue=AAA", "venue=BBB"]
