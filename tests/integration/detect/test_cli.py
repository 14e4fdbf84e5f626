"""`harbour surveil`, `harbour evaluate` and `harbour detectors` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from harbour.cli import app
from harbour.data.schemas import ALERTS
from harbour.detect.builtin import load_detectors

runner = CliRunner()


def surveil(*args: str) -> object:
    return runner.invoke(app, ["surveil", *args, "--no-store", "--workers", "1"])


def test_surveil_writes_alerts_and_prints_a_summary_then_evaluate_scores_them(generated_lake: Path,
                                                                               tmp_path: Path) -> None:
    out = tmp_path / "alerts.parquet"
    # three cheap detectors keep this fast; the parity test runs every registered one
    chosen = [n for n in load_detectors().names() if n in ("wash_trade", "marking_the_close", "aml_fan_in")]
    assert chosen, "expected built-in detectors to be registered"
    result = surveil("--lake", str(generated_lake), "--out", str(out), *[a for n in chosen for a in ("--detector", n)])
    assert result.exit_code == 0, result.output
    alerts = pq.read_table(out)
    assert alerts.schema.equals(ALERTS) and alerts.num_rows > 0
    assert set(alerts.column("detector").to_pylist()) <= set(chosen)
    assert "Surveillance run" in result.output and "rows/s" in result.output
    for name in chosen:
        assert name[:10] in result.output  # one summary row per detector (Rich may cut long names)

    scored = runner.invoke(app, ["evaluate", str(out), str(generated_lake / "labels"), "--json"])
    assert scored.exit_code == 0, scored.output
    scores = json.loads(scored.output)
    assert scores and all(set(v) == {"precision", "recall", "f1", "alerts", "incidents"} for v in scores.values())
    assert sum(v["alerts"] for v in scores.values()) == alerts.num_rows
    table = runner.invoke(app, ["evaluate", str(out), str(generated_lake)])
    # every typology whole, the per-million header wrapped (80 columns)
    assert table.exit_code == 0 and "/ M" in table.output and "trades)" in table.output
    assert all(typology in table.output for typology in scores)


def test_surveil_honours_detector_venue_and_window(generated_lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.parquet"
    result = surveil("--lake", str(generated_lake), "--out", str(out), "--detector", "wash_trade",
                     "--venue", "KLN", "--from", "2026-01-06", "--to", "2026-01-06")
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pylist()
    assert {r["detector"] for r in rows} <= {"wash_trade"}
    assert all(r["venue"] == "KLN" and r["end"].date().isoformat() == "2026-01-06" for r in rows)


@pytest.mark.parametrize(("args", "message"), [
    (["--detector", "no_such"], "unknown detector(s) no_such"),
    (["--from", "5th of May"], "is not an ISO date"),
    (["--from", "2026-01-07", "--to", "2026-01-05"], "at or after its end"),
    (["--runner", "dask"], "unknown runner 'dask'"),
])
def test_surveil_rejects_bad_input_and_writes_nothing(sample_lake: Path, tmp_path: Path, args: list[str],
                                                      message: str) -> None:
    out = tmp_path / "alerts.parquet"
    result = surveil("--lake", str(sample_lake), "--out", str(out), *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not out.exists()


def test_surveil_without_a_lake_says_how_to_get_one(tmp_path: Path) -> None:
    result = surveil("--lake", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a.parquet"))
    assert result.exit_code == 2 and "harbour generate" in result.output


def test_evaluate_names_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(tmp_path / "none.parquet"), str(tmp_path)])
    assert result.exit_code == 2 and "no alerts Parquet" in result.output


def test_detectors_lists_every_registered_detector_with_its_defaults() -> None:
    result = runner.invoke(app, ["detectors", "--json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert [e["name"] for e in entries] == load_detectors().names()
    for e in entries:
        assert e["typology"] and e["tables"] and isinstance(e["parameters"], list)
