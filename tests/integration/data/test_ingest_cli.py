"""``harbour ingest`` through the CLI runner, and a real ``harbour ingest`` process killed mid-write."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from data_samples import ACCOUNT_HEADER, TRADE_HEADER, account_row, snapshot, trade_row, write_csv
from sqlalchemy import select
from typer.testing import CliRunner

from harbour.cli import app
from harbour.core.audit import AuditEntry
from harbour.data.ingest.writer import STAGING_PREFIX
from harbour.data.lake import Lake

runner = CliRunner()


@pytest.fixture
def cli_env(settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"HARBOUR_DATABASE_URL": settings.database_url, "HARBOUR_LAKE_ROOT": str(settings.lake_root),
           "HARBOUR_SECRET_KEY": settings.secret_key or ""}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def test_cli_ingest_then_rejects_bad_file(cli_env: dict[str, str], settings, session_factory, tmp_path: Path) -> None:
    accounts = write_csv(tmp_path / "acc.csv", ACCOUNT_HEADER, [account_row("A1"), account_row("A2")])
    trades = write_csv(tmp_path / "t.csv", TRADE_HEADER, [trade_row(i) for i in range(4)])
    ok = runner.invoke(app, ["ingest", "trades", str(trades), "--venue", "HBX", "--accounts", str(accounts)])
    assert ok.exit_code == 0, ok.output
    assert "6 rows written" in ok.output
    with session_factory() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "data.ingested")).one()
        assert (entry.entity_type, entry.entity_id) == ("lake_venue", "HBX")
        assert '"rows_written":6' in entry.after and '"tables":["accounts","trades"]' in entry.after

    bad_rows = [trade_row(i) for i in range(10, 13)]
    bad_rows[1][4] = "-5"
    bad = write_csv(tmp_path / "bad.csv", TRADE_HEADER, bad_rows)
    before = snapshot(settings.lake_root)
    rejected = runner.invoke(app, ["ingest", "trades", str(bad), "--venue", "HBX"])
    assert rejected.exit_code == 2
    said = " ".join(rejected.output.split())  # Rich wraps long lines
    assert "bad.csv" in said and "greater than 0" in said and "nothing was written" in said
    assert snapshot(settings.lake_root) == before

    info = runner.invoke(app, ["lake", "info"])
    assert info.exit_code == 0 and "trades" in info.output and "HBX" in info.output


def _big_csv(path: Path, rows: int) -> Path:
    i = np.arange(rows)
    table = pa.table({
        "venue": pa.array(np.full(rows, "HBX")), "symbol": pa.array(np.full(rows, "BTC/USD")),
        "trade_id": pa.array(np.char.add("K", i.astype(str))),
        "ts": pa.array((1_767_607_200_000_000 + i * 1000).astype("datetime64[us]")).cast(pa.timestamp("us", "UTC")),
        "price": 100.0 + (i % 50), "quantity": 1.0 + (i % 7),
        "buyer": pa.array(np.where(i % 2 == 0, "A1", "A2")), "seller": pa.array(np.where(i % 2 == 0, "A2", "A1")),
        "aggressor": pa.array(np.full(rows, "buy")),
    })
    pacsv.write_csv(table, path)
    return path


@pytest.mark.slow
def test_sigkill_mid_ingest_leaves_store_unchanged(sqlite_template: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs once (SQLite): the database only receives the audit entry, the lake is what is at stake."""
    shutil.copy(sqlite_template, tmp_path / "harbour.db")
    root = tmp_path / "lake"
    cli_env = {"HARBOUR_DATABASE_URL": f"sqlite:///{tmp_path / 'harbour.db'}", "HARBOUR_LAKE_ROOT": str(root)}
    for k, v in cli_env.items():
        monkeypatch.setenv(k, v)
    accounts = write_csv(tmp_path / "acc.csv", ACCOUNT_HEADER, [account_row("A1"), account_row("A2")])
    assert runner.invoke(app, ["ingest", "accounts", str(accounts), "--venue", "HBX"]).exit_code == 0
    before = snapshot(root)
    big = _big_csv(tmp_path / "big.csv", 200_000)
    cmd = [sys.executable, "-m", "harbour.cli", "ingest", "trades", str(big), "--venue", "HBX",
           "--chunk-rows", "5000"]
    log = (tmp_path / "ingest.log").open("wb")
    with log, subprocess.Popen(cmd, env={**os.environ, **cli_env}, stdout=log, stderr=log) as proc:
        deadline = time.monotonic() + 60
        staged: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            staged = list(root.glob(f"{STAGING_PREFIX}*/trades/**/*.parquet"))
            if staged:
                break
            time.sleep(0.005)
        if staged:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert staged, f"the ingest never started writing: {(tmp_path / 'ingest.log').read_text()[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    assert list(root.glob(f"{STAGING_PREFIX}*")), "the kill should have left the staging folder behind"
    with Lake(root) as lake:  # opening the lake rolls the dead ingest back
        assert lake.table("trades").count() == 0
    assert snapshot(root) == before


def test_cli_on_a_database_never_set_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command on a fresh database says to run ``harbour db upgrade`` (no traceback), and writes nothing;
    after the upgrade the same command works."""
    root = tmp_path / "lake"
    monkeypatch.setenv("HARBOUR_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    monkeypatch.setenv("HARBOUR_LAKE_ROOT", str(root))
    accounts = write_csv(tmp_path / "acc.csv", ACCOUNT_HEADER, [account_row("A1"), account_row("A2")])
    for args in (["ingest", "accounts", str(accounts), "--venue", "HBX"], ["audit", "verify"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "has not been set up: run `harbour db upgrade`" in " ".join(result.output.split())
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not root.exists() or snapshot(root) == {}
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["ingest", "accounts", str(accounts), "--venue", "HBX"]).exit_code == 0
