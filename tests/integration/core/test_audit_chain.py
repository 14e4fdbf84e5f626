"""The audit log's hash chain: intact, edited, deleted, reordered — through `harbour audit verify`."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from harbour.cli import app as cli_app
from harbour.core.audit import record, verify_chain
from harbour.core.auth import SYSTEM
from harbour.core.db import transaction


@pytest.fixture
def chain(session_factory):
    with transaction(session_factory) as s:
        for i in range(5):
            record(s, SYSTEM, "test.changed", "thing", i, before={"n": i}, after={"n": i + 1}, reason=f"step {i}")


def run_verify(engine, monkeypatch):
    monkeypatch.setenv("HARBOUR_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    return CliRunner().invoke(cli_app, ["audit", "verify"])


def test_untouched_chain_verifies(engine, chain, monkeypatch):
    result = run_verify(engine, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "5 entries" in result.output


def test_edited_entry_is_named(engine, chain, monkeypatch):
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET reason = 'forged' WHERE seq = 3"))
    result = run_verify(engine, monkeypatch)
    assert result.exit_code == 1
    assert "seq 3" in result.output and "edited" in result.output


def test_deleted_entry_is_named(engine, chain, monkeypatch):
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    result = run_verify(engine, monkeypatch)
    assert result.exit_code == 1
    assert "entry 2 is missing" in result.output


def test_deleted_last_entry_is_named(engine, chain, monkeypatch):
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    result = run_verify(engine, monkeypatch)
    assert result.exit_code == 1
    assert "deleted" in result.output


def test_reordered_entries_are_named(engine, chain, monkeypatch):
    # Swap the content of rows 2 and 3 (keeping ids), i.e. the order of the entries changed.
    cols = "seq, ts, actor, actor_role, action, entity_type, entity_id, before, after, reason, prev_hash, hash"
    with engine.begin() as conn:
        rows = {r[0]: r[1:] for r in conn.execute(text(f"SELECT id, {cols} FROM audit_log WHERE seq IN (2, 3)"))}
        (id_a, a), (id_b, b) = sorted(rows.items())
        conn.execute(text("UPDATE audit_log SET seq = -1 WHERE id = :i"), {"i": id_a})
        names = [c.strip() for c in cols.split(",")]
        for target, values in ((id_b, a), (id_a, b)):
            sets = ", ".join(f"{n} = :{n}" for n in names)
            params = dict(zip(names, values, strict=True), id=target)
            conn.execute(text(f"UPDATE audit_log SET {sets} WHERE id = :id"), params)
    result = run_verify(engine, monkeypatch)
    assert result.exit_code == 1
    assert "seq 3" in result.output and "reordered" in result.output


def test_verify_chain_counts(session_factory, chain):
    with transaction(session_factory) as s:
        report = verify_chain(s)
    assert report.ok and report.entries == 5
