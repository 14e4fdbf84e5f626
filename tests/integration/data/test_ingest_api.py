"""``POST /api/ingest/{table}`` through the real app: tenants, roles, limits, file kinds, rejections."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from data_samples import ACCOUNT_HEADER, TRADE_HEADER, account_row, snapshot, trade_row
from sqlalchemy import select

from harbour.core.audit import AuditEntry
from harbour.core.auth import Role
from harbour.data.lake import Lake


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    return buffer.getvalue().encode()


class People(dict):
    """Users made on first use: password hashing is slow, so each test creates only whom it needs."""

    def __init__(self, actors) -> None:
        super().__init__()
        self.actors = actors
        self.platforms = {"HBX": actors.platform("HBX"), "OTHER": actors.platform("OTHER")}
        self.roles = {"hbx_user": (Role.PLATFORM_USER, "HBX"), "other_user": (Role.PLATFORM_USER, "OTHER"),
                      "sup": (Role.SUPERVISOR, None), "assessor": (Role.ASSESSOR, None)}

    def __missing__(self, name: str) -> dict[str, str]:
        role, platform = self.roles[name]
        assessor_of = [self.platforms["HBX"]] if role == Role.ASSESSOR else None
        self.actors.user(name, role, platform_id=self.platforms.get(platform or ""), assessor_of=assessor_of)
        self[name] = self.actors.headers(name)
        return self[name]


@pytest.fixture
def hbx(actors) -> People:
    return People(actors)


def _upload(client, headers, table: str, name: str, content: bytes, **form: str):
    return client.post(f"/api/ingest/{table}", headers=headers, files=[("files", (name, content, "text/csv"))],
                       data=form)


def test_platform_user_ingests_own_venue_and_is_audited(client, hbx, settings, db) -> None:
    accounts = _csv(ACCOUNT_HEADER, [account_row("A1"), account_row("A2")])
    r = _upload(client, hbx["hbx_user"], "accounts", "accounts.csv", accounts)
    assert r.status_code == 201, r.text
    assert r.json()["rows_written"] == 2 and r.json()["venue"] == "HBX"
    trades = _csv(TRADE_HEADER, [trade_row(i) for i in range(3)])
    r = _upload(client, hbx["hbx_user"], "trades", "trades.csv", trades, venue="HBX")
    assert r.status_code == 201, r.text
    assert Lake(settings.lake_root).table("trades", venue="HBX").count() == 3
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "data.ingested")).all()
    assert [(e.actor, e.entity_id) for e in entries] == [("hbx_user", "HBX"), ("hbx_user", "HBX")]
    assert '"tables":["trades"]' in entries[1].after
    assert r.json()["files"][0]["sha256"] in entries[1].after


def test_platform_user_cannot_write_another_venue(client, hbx, settings) -> None:
    content = _csv(ACCOUNT_HEADER, [account_row("A1", venue="HBX")])
    r = _upload(client, hbx["other_user"], "accounts", "accounts.csv", content, venue="HBX")
    assert r.status_code == 404 and r.json()["field"] == "venue"
    assert not Path(settings.lake_root, "accounts").exists()
    # Without a venue the upload goes to the user's own venue, where rows naming HBX are refused.
    r = _upload(client, hbx["other_user"], "accounts", "accounts.csv", content)
    assert r.status_code == 422
    assert r.json()["details"]["problems"][0]["column"] == "venue"


def test_roles_without_ingest_rights(client, hbx) -> None:
    content = _csv(ACCOUNT_HEADER, [account_row("A1")])
    assert _upload(client, hbx["assessor"], "accounts", "a.csv", content, venue="HBX").status_code == 403
    assert _upload(client, {}, "accounts", "a.csv", content, venue="HBX").status_code == 401


def test_supervisor_writes_any_venue(client, hbx, settings) -> None:
    r = _upload(client, hbx["sup"], "accounts", "a.csv", _csv(ACCOUNT_HEADER, [account_row("Z1", venue="OTHER")]),
                venue="OTHER")
    assert r.status_code == 201, r.text
    assert _upload(client, hbx["sup"], "accounts", "a.csv", b"x").status_code == 422  # venue required


def test_oversized_upload_is_413_and_nothing_stored(client, hbx, settings) -> None:
    row = ",".join(trade_row(1)).encode() + b"\n"
    content = ",".join(TRADE_HEADER).encode() + b"\n" + row * (settings.max_upload_bytes // len(row) + 10)
    r = _upload(client, hbx["hbx_user"], "trades", "big.csv", content)
    assert r.status_code == 413, r.text
    assert not Path(settings.lake_root, "trades").exists()


def test_wrong_file_type_is_422(client, hbx, settings) -> None:
    r = _upload(client, hbx["hbx_user"], "trades", "trades.pdf", b"%PDF-1.4 not data")
    assert r.status_code == 422 and "not accepted" in r.json()["message"]
    r = _upload(client, hbx["hbx_user"], "trades", "trades.parquet", b"id,price\n1,2\n")
    assert r.status_code == 422 and "does not look like" in r.json()["message"]
    r = _upload(client, hbx["hbx_user"], "labels", "labels.csv", b"a\n1\n")
    assert r.status_code == 422 and r.json()["field"] == "table"


def test_bad_rows_give_422_with_every_problem_and_write_nothing(client, hbx, settings) -> None:
    accounts = _csv(ACCOUNT_HEADER, [account_row("A1"), account_row("A2")])
    assert _upload(client, hbx["hbx_user"], "accounts", "a.csv", accounts).status_code == 201
    rows = [trade_row(i) for i in range(4)]
    rows[0][TRADE_HEADER.index("price")] = "0"
    rows[2][TRADE_HEADER.index("ts")] = "not-a-time"
    before = snapshot(settings.lake_root)
    r = _upload(client, hbx["hbx_user"], "trades", "t.csv", _csv(TRADE_HEADER, rows))
    assert r.status_code == 422
    problems = r.json()["details"]["problems"]
    assert [(p["file"], p["row"], p["column"]) for p in problems] == [("t.csv", 2, "price"), ("t.csv", 4, "ts")]
    assert snapshot(settings.lake_root) == before
    r = _upload(client, hbx["hbx_user"], "trades", "t.csv", _csv(TRADE_HEADER, rows), skip_bad="true")
    assert r.status_code == 201 and r.json()["rows_written"] == 2 and r.json()["rows_dropped"] == 2


def test_lake_summary_is_scoped_to_the_callers_venues(client, hbx) -> None:
    _upload(client, hbx["sup"], "accounts", "a.csv", _csv(ACCOUNT_HEADER, [account_row("Z1", venue="OTHER")]),
            venue="OTHER")
    _upload(client, hbx["hbx_user"], "accounts", "a.csv", _csv(ACCOUNT_HEADER, [account_row("A1")]))
    mine = client.get("/api/lake/summary", headers=hbx["hbx_user"]).json()
    assert {r["venue"] for r in mine} == {"HBX"}
    everything = client.get("/api/lake/summary", headers=hbx["sup"]).json()
    assert {r["venue"] for r in everything} == {"HBX", "OTHER"}
