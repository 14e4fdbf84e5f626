"""Read models: an application's whole record as plain data, for the JSON API and the pages, including
which actions the viewer may take now (so the page shows only those forms)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from harbour.core.auth import Principal, Role
from harbour.core.db import utcnow
from harbour.licensing import service
from harbour.licensing.models import Application
from harbour.licensing.workflow import LABELS, MAIN_PATH, OFFICER, TRANSITIONS, State, allowed_from, latest_plan


def summary(app: Application) -> dict[str, Any]:
    return {
        "id": app.id, "platform_id": app.platform_id, "platform": app.platform.code, "legal_name": app.legal_name,
        "brand": app.brand, "website": app.website, "state": app.state, "status": LABELS[State(app.state)],
        "deemed": app.deemed, "submitted_at": app.submitted_at, "state_since": app.state_since,
        "target_decision_date": app.target_decision_date,
    }


def detail(session: Session, principal: Principal, app: Application) -> dict[str, Any]:
    today = utcnow().date()
    licence = service.licence_for(session, app.id)
    plan = latest_plan(session, app.id)
    out = summary(app) | {
        "responsible_officers": app.responsible_officers,
        "business_plan": app.business_plan,
        "licences_applied": app.licences_applied,
        "history": [{"from": h.from_state, "to": h.to_state, "action": h.action, "by": h.actor, "at": h.at,
                     "reason": h.reason} for h in app.history],
        "inspections": [{"id": i.id, "start_date": i.start_date, "end_date": i.end_date, "inspectors": i.inspectors,
                         "areas": i.areas, "summary": i.summary} for i in service.inspections_for(session, app.id)],
        "findings": [{"id": f.id, "area": f.area, "severity": f.severity, "description": f.description,
                      "due_date": f.due_date, "status": f.status, "closure_evidence": f.closure_evidence,
                      "overdue": service.overdue(f.due_date, f.status == "closed", today)} for f in app.findings],
        "plans": [{"id": p.id, "version": p.version, "status": p.status, "comments": p.comments,
                   "submitted_at": p.submitted_at,
                   "items": [{"finding_id": i.finding_id, "action": i.action, "owner": i.owner,
                              "target_date": i.target_date} for i in p.items]}
                  for p in service.plans_for(session, app.id)],
        "plan_status": plan.status if plan else None,
        "licence": None if licence is None else {
            "number": licence.number, "granted_at": licence.granted_at,
            "restrictions_lifted_at": licence.restrictions_lifted_at,
            "conditions": [{"id": c.id, "text": c.text, "status": c.status, "due_date": c.due_date,
                            "overdue": service.overdue(c.due_date, c.status == "met", today)}
                           for c in licence.conditions],
            "restrictions": [{"kind": r.kind, "detail": r.detail, "lifted_at": r.lifted_at}
                             for r in licence.restrictions],
        },
        "pen_tests": [{"id": p.id, "firm": p.firm, "summary": p.summary, "filed_at": p.filed_at,
                       "confirmed_at": p.confirmed_at, "document_id": p.document_id}
                      for p in service.pen_tests_for(session, app.id)],
        "assessments": [{"id": a.id, "assessor_user_id": a.assessor_user_id, "scope": a.scope,
                         "due_date": a.due_date, "status": a.status, "opinion": a.opinion, "report": a.report,
                         "comments": a.comments,
                         "overdue": service.overdue(a.due_date, a.status in ("filed", "accepted"), today)}
                        for a in service.assessments_for(session, app.id)],
        "documents": [{"id": d.id, "kind": d.kind, "name": d.original_name, "size": d.size, "sha256": d.sha256,
                       "uploaded_by": d.uploaded_by, "uploaded_at": d.uploaded_at}
                      for d in service.documents_for(session, app.id)],
    }
    out["actions"] = available_actions(principal, app, out)
    return out


def available_actions(principal: Principal, app: Application, record: dict[str, Any]) -> list[str]:
    """The actions whose forms this viewer should see now. The service re-checks every rule; this only
    decides what to offer (guards that fail still show, so the officer learns what is missing)."""
    state = State(app.state)
    actions: list[str] = []
    is_officer = principal.role in OFFICER
    own = principal.role == Role.PLATFORM_USER and principal.platform_id == app.platform_id
    for t in allowed_from(state):
        if principal.role in t.roles and t.name not in ("record_inspection", "grant_licence", "engage_assessor",
                                                         "confirm_pen_test", "lift_restrictions"):
            actions.append(t.name)
    if is_officer:
        actions += {
            State.APPLICATION_RECEIVED: ["record_inspection"], State.DEEMED_LICENSED: ["record_inspection"],
            State.INSPECTION: ["add_finding"], State.RECTIFICATION: ["add_finding", "grant_licence"],
            State.LICENCE_GRANTED: ["confirm_pen_test"], State.RESTRICTED_OPERATION: ["engage_assessor"],
            State.EXTERNAL_ASSESSMENT: ["decide_assessment"],
        }.get(state, [])
        if state == State.RECTIFICATION and record["plan_status"] == "submitted":
            actions.append("decide_plan")
    if own:
        if state == State.RECTIFICATION and record["plan_status"] in (None, "returned"):
            actions.append("submit_plan")
        if state == State.LICENCE_GRANTED:
            actions.append("file_pen_test")
        if any(f["status"] == "open" for f in record["findings"]) and state in (*MAIN_PATH[1:],):
            actions.append("close_finding")
    if (principal.role == Role.ASSESSOR and state == State.EXTERNAL_ASSESSMENT and record["assessments"]
            and record["assessments"][-1]["assessor_user_id"] == principal.user_id
            and record["assessments"][-1]["status"] in ("engaged", "returned")):
        actions.append("file_assessment")
    if own or is_officer:
        actions.append("upload_document")
    return actions


ACTION_LABELS = {name: t.verb.capitalize() for name, t in TRANSITIONS.items()}
