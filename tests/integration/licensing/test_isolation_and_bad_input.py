"""Tenant isolation (a platform user cannot read or change another platform's records, through the API or
the pages; an assessor sees only assigned platforms) and bad input (clear 4xx naming the field or step,
nothing changed: no rows, no audit entries, no stored files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from harbour.core.audit import AuditEntry
from harbour.core.db import Base

from .conftest import application_body

pytestmark = pytest.mark.db
ORIGIN = {"Origin": "http://testserver"}


def snapshot(db, settings) -> dict[str, int]:
    """Row counts of every licensing table and the audit log, plus files in the upload store."""
    db.rollback()
    out = {t.name: db.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables
           if t.name.startswith("lic_")}
    out["audit_log"] = db.scalar(select(func.count()).select_from(AuditEntry))
    out["states"] = hash(tuple(db.execute(text("SELECT id, state FROM lic_applications ORDER BY id")).all()))
    upload_dir = Path(settings.upload_dir)
    out["files"] = len(list(upload_dir.iterdir())) if upload_dir.exists() else 0
    return out


@pytest.fixture
def acme_in_rectification(cast):
    """ACME's application in rectification with one finding, a plan and a document."""
    rec = cast.apply()
    cast.inspect(rec["id"])
    rec = cast.to_rectification(rec["id"])
    rec = cast.submit_plan(rec)
    r = cast.client.post(f"/api/licensing/applications/{rec['id']}/documents", headers=cast.h["acme_user"],
                         files={"file": ("policy.txt", b"Our custody policy.", "text/plain")})
    assert r.status_code == 201, r.text
    return cast.get("acme_user", f"/api/licensing/applications/{rec['id']}")


# --- isolation through the API ---------------------------------------------------------------------------


def test_platform_user_cannot_read_another_platforms_records_via_api(cast, acme_in_rectification):
    rec = acme_in_rectification
    beta = cast.h["beta_user"]
    assert cast.client.get(f"/api/licensing/applications/{rec['id']}", headers=beta).status_code == 404
    assert cast.client.get("/api/licensing/applications", headers=beta).json() == []
    doc_id = rec["documents"][0]["id"]
    assert cast.client.get(f"/api/licensing/documents/{doc_id}", headers=beta).status_code == 404
    r = cast.client.get(f"/api/licensing/documents/{doc_id}", headers=cast.h["acme_user"])
    assert r.status_code == 200 and r.content == b"Our custody policy."


def test_platform_user_cannot_change_another_platforms_records_via_api(cast, acme_in_rectification, db, settings):
    rec = acme_in_rectification
    before = snapshot(db, settings)
    beta = cast.h["beta_user"]
    fid = rec["findings"][0]["id"]
    attempts = [
        ("post", f"/api/licensing/applications/{rec['id']}/plan",
         {"json": {"items": [{"finding_id": fid, "action": "Do it", "owner": "Mallory",
                              "target_date": "2030-01-01"}]}}),
        ("post", f"/api/licensing/findings/{fid}/close", {"json": {"evidence": "trust me, it is fixed"}}),
        ("post", f"/api/licensing/applications/{rec['id']}/transitions/withdraw", {"json": {"reason": "hostile"}}),
        ("post", f"/api/licensing/applications/{rec['id']}/documents",
         {"files": {"file": ("x.txt", b"planted", "text/plain")}}),
    ]
    for method, url, kwargs in attempts:
        r = getattr(cast.client, method)(url, headers=beta, **kwargs)
        assert r.status_code == 404, (url, r.status_code, r.text)
    assert snapshot(db, settings) == before


def test_assessor_sees_only_assigned_platforms(cast):
    acme = cast.to_fully_licensed()  # the assessor was engaged for ACME
    beta = cast.post("officer", "/api/licensing/applications",
                     {**application_body(brand="Beta"), "platform_id": cast.beta}, 201)
    listed = [a["platform"] for a in cast.get("assessor", "/api/licensing/applications")]
    assert listed == ["ACME"]
    assert cast.client.get(f"/api/licensing/applications/{acme['id']}", headers=cast.h["assessor"]).status_code == 200
    assert cast.client.get(f"/api/licensing/applications/{beta['id']}", headers=cast.h["assessor"]).status_code == 404


# --- isolation through the pages -------------------------------------------------------------------------


def test_platform_user_cannot_read_or_change_another_platform_via_pages(cast, acme_in_rectification, actors, db,
                                                                        settings):
    rec = acme_in_rectification
    before = snapshot(db, settings)
    actors.login("beta_user")
    c = cast.client
    assert c.get(f"/licensing/applications/{rec['id']}").status_code == 404
    assert "ACME" not in c.get("/licensing").text
    assert c.get(f"/licensing/documents/{rec['documents'][0]['id']}").status_code == 404
    fid = rec["findings"][0]["id"]
    r = c.post(f"/licensing/findings/{fid}/close", data={"evidence": "planted evidence"}, headers=ORIGIN)
    assert r.status_code == 404
    r = c.post(f"/licensing/applications/{rec['id']}/submit_plan",
               data={f"action_{fid}": "x action", f"owner_{fid}": "me", f"target_{fid}": "2030-01-01"}, headers=ORIGIN)
    assert r.status_code == 404
    r = c.post(f"/licensing/applications/{rec['id']}/withdraw", data={"reason": "hostile"}, headers=ORIGIN)
    assert r.status_code == 404
    assert snapshot(db, settings) == before
    actors.login("acme_user")
    page = c.get(f"/licensing/applications/{rec['id']}")
    assert page.status_code == 200 and "Hot wallet keys" in page.text


def test_officer_only_actions_are_refused_to_platform_users(cast, acme_in_rectification, db, settings):
    rec = acme_in_rectification
    before = snapshot(db, settings)
    r = cast.client.post(f"/api/licensing/applications/{rec['id']}/plan/decision",
                         json={"decision": "agreed", "reason": "self-approval"}, headers=cast.h["acme_user"])
    assert r.status_code == 403
    r = cast.client.post(f"/api/licensing/applications/{rec['id']}/licence", json={"reason": "self-licensing"},
                         headers=cast.h["acme_user"])
    assert r.status_code == 403
    assert cast.client.post(f"/api/licensing/applications/{rec['id']}/licence", json={"reason": "as supervisor"},
                            headers=cast.h["supervisor"]).status_code == 403
    assert snapshot(db, settings) == before


# --- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "field"), [
    ({"legal_name": None}, "legal_name"),
    ({"responsible_officers": ["Only One"]}, "responsible_officers"),
    ({"responsible_officers": ["Same", "Same"]}, "responsible_officers"),
    ({"website": "not a url"}, "website"),
    ({"licences_applied": ["Type 99"]}, "licences_applied"),
    ({"target_decision_date": "31/12/2030"}, "target_decision_date"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_application_is_422_naming_the_field_and_changes_nothing(cast, db, settings, change, field):
    before = snapshot(db, settings)
    body = {k: v for k, v in {**application_body(), **change}.items() if v is not None}
    r = cast.client.post("/api/licensing/applications", json=body, headers=cast.h["acme_user"])
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert snapshot(db, settings) == before


def test_bad_inspection_is_422_and_changes_nothing(cast, db, settings):
    rec = cast.apply()
    before = snapshot(db, settings)
    base = {"start_date": "2030-01-05", "end_date": "2030-01-06", "inspectors": ["I"], "areas": ["governance"],
            "reason": "visit"}
    for change, field in ((({"end_date": "2030-01-01"}), "end_date"), ({"areas": ["astrology"]}, "areas"),
                          ({"start_date": "soon"}, "start_date"), ({"reason": ""}, "reason"),
                          ({"findings": [{"area": "governance", "severity": "fatal", "description": "Bad board",
                                          "due_date": "2030-02-01"}]}, "findings.0.severity")):
        r = cast.client.post(f"/api/licensing/applications/{rec['id']}/inspection", json={**base, **change},
                             headers=cast.h["officer"])
        assert r.status_code == 422, (change, r.text)
        assert r.json()["field"] == field
    assert snapshot(db, settings) == before


def test_illegal_transition_is_409_naming_the_step_and_changes_nothing(cast, db, settings):
    rec = cast.apply()
    before = snapshot(db, settings)
    r = cast.client.post(f"/api/licensing/applications/{rec['id']}/pen-test/confirm", json={"reason": "skip ahead"},
                         headers=cast.h["officer"])
    assert r.status_code == 409
    assert r.json()["message"].startswith("cannot confirm the penetration test")
    assert "licence granted" in r.json()["message"]
    r = cast.client.post(f"/api/licensing/applications/{rec['id']}/transitions/send_feedback",
                         json={"reason": "no inspection yet"}, headers=cast.h["officer"])
    assert r.status_code == 409 and "inspection" in r.json()["message"]
    assert snapshot(db, settings) == before


@pytest.mark.parametrize(("name", "content", "status", "reason"), [
    ("big.txt", b"x" * (1024 * 1024 + 1), 413, "larger than the limit"),
    ("tool.exe", b"MZ\x90\x00", 422, "not accepted"),
    ("fake.pdf", b"just text, not a PDF", 422, "does not look like a .pdf"),
    ("empty.txt", b"", 422, "empty"),
])
def test_bad_upload_is_rejected_and_stores_nothing(cast, db, settings, name, content, status, reason):
    rec = cast.apply()
    before = snapshot(db, settings)
    r = cast.client.post(f"/api/licensing/applications/{rec['id']}/documents", headers=cast.h["acme_user"],
                         files={"file": (name, content, "application/octet-stream")})
    assert r.status_code == status, r.text
    assert r.json()["field"] == "file" and reason in r.json()["message"]
    assert snapshot(db, settings) == before


def test_bad_form_shows_the_field_and_changes_nothing(cast, actors, db, settings):
    assert cast.h["acme_user"]  # the bearer token first: once the cookie is set, token requests need an Origin
    actors.login("acme_user")
    before = snapshot(db, settings)
    r = cast.client.post("/licensing/apply", headers=ORIGIN, data={
        "legal_name": "Acme Ltd", "brand": "Acme", "website": "https://acme.example",
        "responsible_officers": "Only One", "business_plan": "A business plan that is long enough.",
        "licences_applied": "AMLO virtual asset service provider"})
    assert r.status_code == 422
    assert "responsible_officers" in r.text
    rec_id = cast.apply()["id"]
    before = snapshot(db, settings)
    r = cast.client.post(f"/licensing/applications/{rec_id}/upload_document", headers=ORIGIN,
                         files={"file": ("evil.pdf", b"<script>", "application/pdf")})
    assert r.status_code == 422 and "does not look like a .pdf" in r.text
    r = cast.client.post(f"/licensing/applications/{rec_id}/withdraw", headers=ORIGIN, data={"reason": ""})
    assert r.status_code == 422 and "reason" in r.text
    assert snapshot(db, settings) == before
