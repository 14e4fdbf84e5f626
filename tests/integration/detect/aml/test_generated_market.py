"""The AML detectors and the learned scorer on markets from ``harbour generate`` (other seeds and sizes
than the ones they were tuned on), through the real runner and ``harbour evaluate``'s matching rule."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from harbour.cli import app
from harbour.data.generate import Difficulty, GenerateConfig, generate_market
from harbour.data.schemas import AML_TYPOLOGIES, MARKET_TYPOLOGIES
from harbour.detect.aml.scorer import read_lake, score, train
from harbour.detect.evaluate import evaluate
from harbour.detect.service import surveil

AML_INCIDENTS = {t: 3 for t in AML_TYPOLOGIES}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aml-lake")
    no_market = {t: 0 for t in MARKET_TYPOLOGIES}
    generate_market(GenerateConfig(out=root, venues=3, days=3, accounts=1500, seed=31,
                                   incidents=no_market | AML_INCIDENTS, activity=0.02, symbols=3))
    return root


def test_every_aml_typology_meets_its_floor(lake: Path) -> None:
    """The issue's goal at the default difficulty: precision and recall >= 0.95 for EVERY typology (with
    three incidents each, that is every incident found and no alert without one)."""
    # No HARBOUR_LAKE_ROOT: the exposure detector must find the lists of the lake it is run on.
    names = [f"aml_{t}" for t in AML_TYPOLOGIES]
    result = surveil(lake, detectors=names, workers=1)
    _, _, labels = read_lake(lake)
    scores = evaluate(result.alerts, labels)
    short = {t: (s.precision, s.recall) for t, s in scores.items()
             if s.precision is None or s.recall is None or s.precision < 0.95 or s.recall < 0.95}
    assert short == {}, [a["explanation"] for a in result.alerts.to_pylist() if a["typology"] in short]
    assert all(scores[t].incidents == 3 for t in AML_TYPOLOGIES)


def test_learned_scorer_split_by_time(lake: Path) -> None:
    transfers, accounts, labels = read_lake(lake)
    result = train(transfers, accounts, labels, test_days=1, rounds=30)
    minority = result.metrics["minority"]
    assert minority["positives"] > 10
    assert minority["f1"] >= 0.8, result.metrics
    alerts = score(result.model, transfers, accounts)
    assert alerts.num_rows > 0
    assert set(alerts["typology"].to_pylist()) <= set(AML_TYPOLOGIES)
    assert all("driven by" in e for e in alerts["explanation"].to_pylist())
    scores = evaluate(alerts, labels)
    assert sum(s.matched_alerts for s in scores.values()) / alerts.num_rows >= 0.8


def test_cli_train_score_evaluate(lake: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    model = tmp_path / "scorer.txt"
    out = tmp_path / "alerts.parquet"
    res = runner.invoke(app, ["aml", "train", "--lake", str(lake), "--model", str(model), "--rounds", "10"])
    assert res.exit_code == 0, res.output
    assert '"minority"' in res.output and model.is_file() and model.with_suffix(".json").is_file()
    res = runner.invoke(app, ["aml", "score", "--lake", str(lake), "--model", str(model), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert pq.read_table(out).num_rows > 0
    res = runner.invoke(app, ["evaluate", str(out), str(lake / "labels")])
    assert res.exit_code == 0, res.output
    # a missing model is a clear error, not a traceback
    res = runner.invoke(app, ["aml", "score", "--lake", str(lake), "--model", str(tmp_path / "none.txt")])
    assert res.exit_code == 2 and "harbour aml train" in res.output


@pytest.fixture(scope="module")
def hard_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small, crowded, hard market: incidents hide among honest transfers and share accounts."""
    root = tmp_path_factory.mktemp("aml-hard-lake")
    generate_market(GenerateConfig(out=root, venues=2, days=2, accounts=1000, seed=44, difficulty=Difficulty.hard,
                                   incidents={t: 0 for t in MARKET_TYPOLOGIES} | AML_INCIDENTS, activity=0.02,
                                   symbols=3))
    return root


def test_hard_difficulty_overall_floor(hard_lake: Path) -> None:
    result = surveil(hard_lake, detectors=[f"aml_{t}" for t in AML_TYPOLOGIES], workers=1)
    _, _, labels = read_lake(hard_lake)
    scores = evaluate(result.alerts, labels)
    precision = sum(s.matched_alerts for s in scores.values()) / sum(s.alerts for s in scores.values())
    recall = sum(s.detected_incidents for s in scores.values()) / sum(s.incidents for s in scores.values())
    assert precision >= 0.8 and recall >= 0.9, scores
