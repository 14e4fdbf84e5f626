"""Cases through the API: opening from alerts, the timeline, status moves, and the four-eyes rule that the
API must not let anyone bypass."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from harbour.cases.models import Case
from harbour.core.audit import AuditEntry, verify_chain
from harbour.detect.alert_store import AlertRecord

from .conftest import make_alert

pytestmark = pytest.mark.db


def _open(client, headers, ids, **extra):
    r = client.post("/api/cases", headers=headers, json={"alert_ids": ids, **extra})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def high_case(client, actors, world):
    """A high-priority case owned by ana (sanctions exposure, score 0.95)."""
    world.add_alerts(
        make_alert("s-1", typology="sanctions_exposure", score=0.95, accounts=["acc-9"]),
        make_alert("s-2", typology="sanctions_exposure", score=0.9, accounts=["acc-9"]),
    )
    case = _open(client, world.h("ana"), ["s-1", "s-2"])
    assert case["high_priority"] is True
    return case


def test_open_case_links_alerts_and_audits_each(client, actors, world, session_factory):
    world.add_alerts(make_alert("c-1", score=0.3, typology="quote_stuffing"), make_alert("c-2", score=0.2))
    h = world.h("ana")
    case = _open(client, h, ["c-1", "c-2"], title="Two small ones")
    assert case["reference"].startswith("CASE-") and case["status"] == "open" and not case["high_priority"]
    again = client.post("/api/cases", headers=h, json={"alert_ids": ["c-2"]})
    assert again.status_code == 409 and "c-2" in again.json()["message"]
    detail = client.get(f"/api/cases/{case['id']}", headers=h).json()
    assert {a["alert_id"] for a in detail["alerts"]} == {"c-1", "c-2"}
    assert all(a["status"] == "in_case" for a in detail["alerts"])
    with session_factory() as s:
        linked = s.scalars(select(AuditEntry.entity_id).where(AuditEntry.action == "alert.linked_to_case")).all()
        assert sorted(linked) == ["c-1", "c-2"]


def test_timeline_notes_files_queries_and_pins(client, actors, world):
    world.add_alerts(make_alert("t-1", score=0.2))
    h = world.h("ana")
    case = _open(client, h, ["t-1"])
    cid = case["id"]
    assert client.post(f"/api/cases/{cid}/notes", headers=h, json={"body": "called the MLRO"}).status_code == 201
    assert (
        client.post(
            f"/api/cases/{cid}/queries",
            headers=h,
            json={"title": "trades", "query": "select * from trades where buyer='acc-1'"},
        ).status_code
        == 201
    )
    assert (
        client.post(
            f"/api/cases/{cid}/pins", headers=h, json={"alert_id": "t-1", "chart": "/alerts/t-1#price"}
        ).status_code
        == 201
    )
    bad_pin = client.post(f"/api/cases/{cid}/pins", headers=h, json={"alert_id": "t-1", "chart": "https://evil"})
    assert bad_pin.status_code == 422 and bad_pin.json()["field"] == "chart"
    up = client.post(
        f"/api/cases/{cid}/files", headers=h, files={"file": ("memo.txt", io.BytesIO(b"memo"), "text/plain")}
    )
    assert up.status_code == 201, up.text
    fake = client.post(
        f"/api/cases/{cid}/files", headers=h, files={"file": ("memo.pdf", io.BytesIO(b"not a pdf"), "application/pdf")}
    )
    assert fake.status_code == 422
    kinds = [e["kind"] for e in client.get(f"/api/cases/{cid}", headers=h).json()["timeline"]]
    assert kinds == ["alerts", "note", "query", "chart", "file"]
    att = up.json()["data"]["attachment_id"]
    assert client.get(f"/api/cases/files/{att}", headers=h).content == b"memo"
    assert client.get(f"/api/cases/files/{att}", headers=world.h("hbx_co")).status_code == 404


def test_status_moves_are_checked_and_audited(client, actors, world, session_factory):
    world.add_alerts(make_alert("m-1", score=0.2))
    h = world.h("ana")
    cid = _open(client, h, ["m-1"])["id"]
    assert (
        client.post(
            f"/api/cases/{cid}/status", headers=h, json={"status": "investigating", "reason": "looking"}
        ).status_code
        == 200
    )
    r = client.post(f"/api/cases/{cid}/status", headers=h, json={"status": "open", "reason": "back"})
    assert r.status_code == 409 and "cannot move" in r.json()["message"]
    r = client.post(f"/api/cases/{cid}/status", headers=h, json={"status": "closed", "reason": "x"})
    assert r.status_code == 409
    r = client.post(f"/api/cases/{cid}/close", headers=h, json={"outcome": "warning_to_platform", "reason": "warned"})
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = client.post(f"/api/cases/{cid}/notes", headers=h, json={"body": "late note"})
    assert r.status_code == 409
    with session_factory() as s:
        assert s.get(AlertRecord, "m-1").status == "closed"
        actions = s.scalars(
            select(AuditEntry.action).where(AuditEntry.entity_type == "case").order_by(AuditEntry.seq)
        ).all()
        assert actions == ["case.opened", "case.status_changed", "case.closed"]
        assert verify_chain(s).ok


def test_four_eyes_direct_close_of_high_priority_case_is_refused(client, actors, world, high_case, session_factory):
    for who in ("ana", "bob", "root"):
        r = client.post(
            f"/api/cases/{high_case['id']}/close",
            headers=world.h(who),
            json={"outcome": "no_further_action", "reason": "nothing here"},
        )
        assert r.status_code == 409, who
        assert "review" in r.json()["message"]
    with session_factory() as s:
        assert s.get(Case, high_case["id"]).status == "open"


def test_four_eyes_owner_cannot_approve_own_review(client, actors, world, high_case, session_factory):
    h = world.h("ana")
    r = client.post(
        f"/api/cases/{high_case['id']}/reviews",
        headers=h,
        json={"kind": "close", "outcome": "warning_to_platform", "reason": "warn them"},
    )
    assert r.status_code == 201
    rid = r.json()["id"]
    own = client.post(f"/api/cases/reviews/{rid}/decision", headers=h, json={"approve": True, "reason": "fine by me"})
    assert own.status_code == 403 and "four eyes" in own.json()["message"]
    # a platform user cannot decide either, nor can a licensing officer
    for who in ("hbx_co", "lic"):
        assert (
            client.post(
                f"/api/cases/reviews/{rid}/decision", headers=world.h(who), json={"approve": True, "reason": "x"}
            ).status_code
            == 403
        )
    # handing the case to someone else first is blocked while the review is pending
    with session_factory() as s:
        from harbour.core.auth import User

        bob = s.scalar(select(User).where(User.username == "bob")).id
    r = client.post(f"/api/cases/{high_case['id']}/owner", headers=h, json={"owner_id": bob, "reason": "swap"})
    assert r.status_code == 409
    ok = client.post(
        f"/api/cases/reviews/{rid}/decision", headers=world.h("bob"), json={"approve": True, "reason": "agree"}
    )
    assert ok.status_code == 200 and ok.json()["state"] == "approved"
    case = client.get(f"/api/cases/{high_case['id']}", headers=h).json()
    assert case["status"] == "closed" and case["outcome"] == "warning_to_platform"
    again = client.post(
        f"/api/cases/reviews/{rid}/decision", headers=world.h("root"), json={"approve": False, "reason": "late"}
    )
    assert again.status_code == 409


def test_four_eyes_only_the_owner_submits_and_rejection_keeps_case_open(client, actors, world, high_case):
    r = client.post(
        f"/api/cases/{high_case['id']}/reviews",
        headers=world.h("bob"),
        json={"kind": "close", "outcome": "no_further_action", "reason": "I'll submit and approve"},
    )
    assert r.status_code == 403
    rid = client.post(
        f"/api/cases/{high_case['id']}/reviews",
        headers=world.h("ana"),
        json={"kind": "close", "outcome": "no_further_action", "reason": "nothing"},
    ).json()["id"]
    r = client.post(
        f"/api/cases/reviews/{rid}/decision",
        headers=world.h("bob"),
        json={"approve": False, "reason": "ask the platform first"},
    )
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    assert client.get(f"/api/cases/{high_case['id']}", headers=world.h("ana")).json()["status"] == "open"


def test_four_eyes_report_cannot_be_filed_without_approval(client, actors, world, high_case):
    cid = high_case["id"]
    h = world.h("ana")
    r = client.post(
        f"/api/cases/{cid}/close", headers=h, json={"outcome": "suspicious_transaction_report", "reason": "file it"}
    )
    assert r.status_code == 409
    r = client.post(f"/api/cases/{cid}/reviews", headers=h, json={"kind": "file_report", "reason": "ready"})
    assert r.status_code == 409 and "draft" in r.json()["message"]
    assert client.post(f"/api/cases/{cid}/report", headers=h, json={}).status_code == 200
    rid = client.post(f"/api/cases/{cid}/reviews", headers=h, json={"kind": "file_report", "reason": "ready"}).json()[
        "id"
    ]
    pending = client.get(f"/api/cases/{cid}/report.json", headers=h).json()
    assert pending["status"] == "pending_approval" and pending["approved_by"] is None
    # the draft is frozen while it waits for the second pair of eyes
    assert client.post(f"/api/cases/{cid}/report", headers=h, json={"narrative": "changed"}).status_code == 409
    assert (
        client.post(
            f"/api/cases/reviews/{rid}/decision", headers=h, json={"approve": True, "reason": "self"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/cases/reviews/{rid}/decision", headers=world.h("hbx_co"), json={"approve": True, "reason": "x"}
        ).status_code
        == 403
    )
    r = client.post(
        f"/api/cases/reviews/{rid}/decision", headers=world.h("bob"), json={"approve": True, "reason": "well evidenced"}
    )
    assert r.status_code == 200
    filed = client.get(f"/api/cases/{cid}/report.json", headers=h).json()
    assert filed["status"] == "filed" and filed["approved_by"] == "bob"
    assert client.get(f"/api/cases/{cid}", headers=h).json()["outcome"] == "suspicious_transaction_report"


def test_platform_users_cannot_touch_cases(client, actors, world):
    world.add_alerts(make_alert("pu-1"))
    h = world.h("hbx_co")
    assert client.post("/api/cases", headers=h, json={"alert_ids": ["pu-1"]}).status_code == 403
    cid = _open(client, world.h("ana"), ["pu-1"])["id"]
    assert client.get(f"/api/cases/{cid}", headers=h).status_code == 403
    assert client.get("/api/cases", headers=h).status_code == 403
    assert client.get(f"/api/cases/{cid}/report.pdf", headers=h).status_code == 403
