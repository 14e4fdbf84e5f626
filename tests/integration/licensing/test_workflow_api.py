"""The licensing workflow through the real JSON API, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from harbour.core.audit import AuditEntry, verify_chain

pytestmark = pytest.mark.db


def test_main_path_reaches_fully_licensed_and_is_audited(cast, db):
    rec = cast.to_fully_licensed()
    assert rec["state"] == "fully_licensed"
    assert [h["to"] for h in rec["history"]] == [
        "application_received", "inspection", "rectification", "licence_granted", "restricted_operation",
        "external_assessment", "fully_licensed"]
    assert rec["licence"]["restrictions_lifted_at"] is not None
    assert rec["licence"]["conditions"][0]["status"] == "open"  # conditions may stay
    assert rec["assessments"][-1]["status"] == "accepted"
    actions = [e.action for e in db.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    for step in ("apply", "record_inspection", "send_feedback", "plan_submitted", "plan_agreed", "grant_licence",
                 "finding_closed", "pen_test_filed", "confirm_pen_test", "engage_assessor", "assessment_filed",
                 "lift_restrictions"):
        assert f"licensing.{step}" in actions
    assert verify_chain(db).ok


def test_licence_refused_without_agreed_plan_names_the_step(cast):
    rec = cast.apply()
    cast.inspect(rec["id"])
    cast.to_rectification(rec["id"])
    r = cast.client.post(f"/api/licensing/applications/{rec['id']}/licence", json={"reason": "try"},
                         headers=cast.h["officer"])
    assert r.status_code == 409
    assert r.json()["message"] == "cannot grant a licence: the platform has not submitted a rectification plan"
    cast.submit_plan(cast.get("officer", f"/api/licensing/applications/{rec['id']}"))
    r = cast.client.post(f"/api/licensing/applications/{rec['id']}/licence", json={"reason": "try"},
                         headers=cast.h["officer"])
    assert r.status_code == 409
    assert "the rectification plan has not been agreed" in r.json()["message"]


def test_restricted_operation_needs_critical_findings_closed(cast):
    rec = cast.apply()
    cast.inspect(rec["id"], severity="critical")
    rec = cast.to_rectification(rec["id"])
    cast.submit_plan(rec)
    cast.agree_plan(rec["id"])
    cast.grant(rec["id"])
    cast.post("acme_user", f"/api/licensing/applications/{rec['id']}/pen-test",
              {"firm": "Bastion Security", "summary": "No high findings remain"})
    r = cast.client.post(f"/api/licensing/applications/{rec['id']}/pen-test/confirm", json={"reason": "reviewed"},
                         headers=cast.h["officer"])
    assert r.status_code == 409
    assert "critical finding(s) are still open" in r.json()["message"]


def test_returned_plan_can_be_resubmitted(cast):
    rec = cast.apply()
    cast.inspect(rec["id"])
    rec = cast.to_rectification(rec["id"])
    cast.submit_plan(rec)
    rec = cast.post("officer", f"/api/licensing/applications/{rec['id']}/plan/decision",
                    {"decision": "returned", "comments": "Target dates too late", "reason": "not adequate"})
    assert rec["plans"][-1]["status"] == "returned"
    rec = cast.submit_plan(rec)
    assert [p["status"] for p in rec["plans"]] == ["returned", "submitted"]


def test_withdraw_refuse_and_public_lists(cast, client):
    rec = cast.apply()
    cast.post("acme_user", f"/api/licensing/applications/{rec['id']}/transitions/withdraw", {"reason": "exiting HK"})
    beta = cast.post("officer", "/api/licensing/applications",
                     {**_body(), "platform_id": cast.beta, "deemed": True, "reason": "transitional applicant"}, 201)
    assert beta["state"] == "deemed_licensed"
    assert [e["platform"] for e in client.get("/api/register/closed").json()] == ["ACME"]
    assert [e["platform"] for e in client.get("/api/register/deemed").json()] == ["BETA"]
    counts = client.get("/api/register").json()
    assert counts["closed"] == 1 and counts["deemed"] == 1 and counts["licensed"] == 0
    csv_text = client.get("/api/register/deemed.csv").text
    assert csv_text.splitlines()[0].startswith("platform,legal_name")
    assert "BETA" in csv_text


def test_public_register_shows_licence_conditions_restrictions_and_history(cast, client):
    rec = cast.apply()
    cast.inspect(rec["id"])
    rec = cast.to_rectification(rec["id"])
    cast.submit_plan(rec)
    cast.agree_plan(rec["id"])
    cast.grant(rec["id"])
    licensed = client.get("/api/register/licensed").json()
    assert len(licensed) == 1
    entry = licensed[0]
    assert entry["state"] == "licence_granted"
    assert {r["kind"] for r in entry["restrictions"]} == {"no_retail_clients", "permitted_tokens"}
    assert entry["conditions"][0]["text"].startswith("Quarterly")
    assert [h["to"] for h in entry["history"]][-1] == "licence_granted"
    assert client.get("/api/register/platforms/ACME").json()["licence_number"] == entry["licence_number"]


def test_board_counts_overdue_and_progress(cast):
    rec = cast.apply()
    cast.post("officer", "/api/licensing/applications",
              {**_body(), "platform_id": cast.beta, "deemed": True, "reason": "transitional applicant"}, 201)
    cast.post("officer", f"/api/licensing/applications/{rec['id']}/inspection", {
        "start_date": "2020-01-01", "end_date": "2020-01-02", "inspectors": ["I. Wong"], "areas": ["governance"],
        "reason": "visit", "findings": [{"area": "governance", "severity": "major",
                                         "description": "Board lacks independence", "due_date": "2020-02-01"}]})
    board = cast.get("supervisor", "/api/licensing/board")
    counts = {s["state"]: s["count"] for s in board["steps"]}
    assert counts["inspection"] == 1 and counts["deemed_licensed"] == 1
    assert board["overdue"][0]["kind"] == "finding" and board["overdue"][0]["platform"] == "ACME"
    assert board["target"]["deemed_total"] == 1 and board["target"]["deemed_decided"] == 0
    assert cast.client.get("/api/licensing/board", headers=cast.h["acme_user"]).status_code == 403


def test_consultative_panel(cast, client):
    cast.to_fully_licensed()
    r = client.post("/api/panel/consultations", data={"topic": "Staking services", "deadline": "2999-01-01"},
                    files={"paper": ("paper.txt", b"Should licensed platforms offer staking?", "text/plain")},
                    headers=cast.h["officer"])
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    cast.post("acme_user", f"/api/panel/consultations/{cid}/responses", {"text": "Yes, with segregation."}, 201)
    r = client.post(f"/api/panel/consultations/{cid}/responses", json={"text": "We also think so."},
                    headers=cast.h["beta_user"])
    assert r.status_code == 403  # BETA is not licensed, so not a member
    out = cast.post("officer", f"/api/panel/consultations/{cid}/summary", {"summary": "Members support staking."})
    assert out["status"] == "published" and len(out["responses"]) == 1
    assert cast.get("acme_user", f"/api/panel/consultations/{cid}")["summary"] == "Members support staking."


def _body():
    return {
        "legal_name": "Beta Exchange Limited", "brand": "Beta", "website": "https://beta.example",
        "responsible_officers": ["Carol Ho", "Dan Yu"],
        "business_plan": "Spot trading for professional investors in Hong Kong only.",
        "licences_applied": ["AMLO virtual asset service provider"],
    }


def test_officer_marks_a_condition_met_and_the_register_shows_it(cast, client):
    rec = cast.apply()
    cast.inspect(rec["id"], severity="minor")
    rec = cast.to_rectification(rec["id"])
    cast.submit_plan(rec)
    cast.agree_plan(rec["id"])
    rec = cast.grant(rec["id"])
    cond_id = rec["licence"]["conditions"][0]["id"]
    r = client.post(f"/api/licensing/conditions/{cond_id}", json={"status": "done", "reason": "report received"},
                    headers=cast.h["officer"])
    assert r.status_code == 422 and r.json()["field"] == "status"
    r = client.post(f"/api/licensing/conditions/{cond_id}", json={"status": "met", "reason": "report received"},
                    headers=cast.h["acme_user"])
    assert r.status_code == 403
    cast.post("officer", f"/api/licensing/conditions/{cond_id}", {"status": "met", "reason": "report received"})
    assert client.get("/api/register/licensed").json()[0]["conditions"][0]["status"] == "met"


def test_openapi_documents_the_licensing_api(client):
    spec = client.get("/api/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/licensing/applications", "/api/licensing/applications/{application_id}/inspection",
                 "/api/licensing/applications/{application_id}/licence", "/api/register/{slug}",
                 "/api/register/{slug}.csv", "/api/panel/consultations"):
        assert path in paths, path
    body = paths["/api/licensing/applications"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/ApplicationIn")
    assert "responsible_officers" in spec["components"]["schemas"]["ApplicationIn"]["required"]
