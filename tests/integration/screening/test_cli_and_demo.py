"""The ``harbour screen`` commands through Typer's runner, and the demo step on a small lake."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from harbour.detect.screening.models import ScreeningHit

from .conftest import EVM


@pytest.mark.db
def test_cli_loads_screens_and_shows_hits(settings, small_lake, tmp_path, monkeypatch):
    from harbour.cli import app

    monkeypatch.setenv("HARBOUR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HARBOUR_LAKE_ROOT", str(small_lake))
    listing = tmp_path / "list.csv"
    listing.write_text("name,country,id\nPetrov Ivan,RU,S-1\n")
    runner = CliRunner()
    r = runner.invoke(app, ["screen", "lists", "load", str(listing), "--list", "cli-test"])
    assert r.exit_code == 0, r.output
    assert "2 new hits" in r.output  # HBX:a1 and KLN:k1
    r = runner.invoke(app, ["screen", "names", "I. Petrov", "Jane Doe"])
    assert r.exit_code == 0 and "S-1" in r.output and "Jane" not in r.output.split("S-1")[0].split("\n")[-1]
    r = runner.invoke(app, ["screen", "hits", "--status", "open"])
    assert r.exit_code == 0 and "HBX:a1" in r.output
    r = runner.invoke(app, ["screen", "address", "eth", EVM])
    assert r.exit_code == 0 and "not listed" in r.output
    r = runner.invoke(app, ["screen", "lists", "load", str(listing), "--list", "cli-test", "--kind", "gossip"])
    assert r.exit_code == 2 and "kind" in r.output


@pytest.mark.db
def test_demo_step_plants_customers_and_produces_hits(session_factory, small_lake, db):
    from harbour.detect.screening.demo import seed

    ctx = SimpleNamespace(session_factory=session_factory, lake_root=small_lake, facts={})
    summary = seed(ctx)
    assert "hits to review" in summary
    hits = db.scalar(select(func.count()).select_from(ScreeningHit))
    assert hits == ctx.facts["screening_hits"] and hits >= 3
