"""``harbour licensing register|board`` through the Typer runner, against the test database."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from harbour.cli import app as cli_app

pytestmark = pytest.mark.db


def test_register_and_board_commands(cast, engine, monkeypatch):
    rec = cast.apply()
    cast.post("officer", f"/api/licensing/applications/{rec['id']}/transitions/refuse", {"reason": "not fit"})
    monkeypatch.setenv("HARBOUR_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    out = runner.invoke(cli_app, ["licensing", "register", "closed", "--csv"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("platform,") and lines[1].startswith("ACME,") and "Refused" in lines[1]
    out = runner.invoke(cli_app, ["licensing", "board"])
    assert out.exit_code == 0 and "Refused" in out.output
    out = runner.invoke(cli_app, ["licensing", "register", "nonsense"])
    assert out.exit_code == 2 and "no public list 'nonsense'" in out.output
