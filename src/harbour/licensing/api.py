"""JSON API of the licensing track (bearer tokens): the workflow actions, documents, the pipeline board,
the public register and lists (no login, with CSV export) and the consultative panel."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response

from harbour.core.http import CurrentPrincipal, DbSession, LoggedIn
from harbour.licensing import board, panel, register, service, views
from harbour.licensing import schemas as sc

router = APIRouter(prefix="/api")
LIC: list[str | Enum] = ["licensing"]
REG: list[str | Enum] = ["public register"]
PANEL: list[str | Enum] = ["consultative panel"]


def _ok(app_id: int, session: DbSession, principal: Any) -> dict[str, Any]:
    app = service.get_application(session, principal, app_id)
    return views.detail(session, principal, app)


# --- applications ------------------------------------------------------------------------------------


@router.get("/licensing/applications", tags=LIC)
def list_applications(session: DbSession, principal: LoggedIn, state: str | None = None) -> list[dict[str, Any]]:
    """Applications the caller may see (regulators: all; a platform user: their own; an assessor: assigned)."""
    return [views.summary(a) for a in service.list_applications(session, principal, state)]


@router.post("/licensing/applications", tags=LIC, status_code=201)
def apply(body: sc.ApplicationIn, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    """Submit an application (platform user), or record one for a platform (officer, optionally deemed)."""
    app = service.apply(session, principal, body)
    return _ok(app.id, session, principal)


@router.get("/licensing/applications/{application_id}", tags=LIC)
def get_application(application_id: int, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    return _ok(application_id, session, principal)


@router.post("/licensing/applications/{application_id}/inspection", tags=LIC)
def record_inspection(application_id: int, body: sc.InspectionIn, session: DbSession,
                      principal: LoggedIn) -> dict[str, Any]:
    """Officer: record the on-site inspection and its findings (state → inspection)."""
    service.record_inspection(session, principal, application_id, body)
    return _ok(application_id, session, principal)


@router.post("/licensing/applications/{application_id}/findings", tags=LIC)
def add_finding(application_id: int, body: sc.FindingIn, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    service.add_finding(session, principal, application_id, body)
    return _ok(application_id, session, principal)


@router.post("/licensing/applications/{application_id}/plan", tags=LIC)
def submit_plan(application_id: int, body: sc.PlanIn, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    """Platform user: submit the rectification plan (an action, owner and target date per open finding)."""
    service.submit_plan(session, principal, application_id, body)
    return _ok(application_id, session, principal)


@router.post("/licensing/applications/{application_id}/plan/decision", tags=LIC)
def decide_plan(application_id: int, body: sc.PlanDecisionIn, session: DbSession,
                principal: LoggedIn) -> dict[str, Any]:
    """Officer: agree the plan, or return it with comments."""
    service.decide_plan(session, principal, application_id, body)
    return _ok(application_id, session, principal)


@router.post("/licensing/findings/{finding_id}/close", tags=LIC)
def close_finding(finding_id: int, body: sc.CloseFindingIn, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    finding = service.close_finding(session, principal, finding_id, body)
    return _ok(finding.application_id, session, principal)


@router.post("/licensing/applications/{application_id}/licence", tags=LIC)
def grant_licence(application_id: int, body: sc.LicenceIn, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    """Officer: grant the licence with conditions and restrictions (needs an inspection and an agreed plan)."""
    service.grant_licence(session, principal, application_id, body)
    return _ok(application_id, session, principal)


@router.post("/licensing/conditions/{condition_id}", tags=LIC)
def set_condition(condition_id: int, body: sc.ConditionStatusIn, session: DbSession,
                  principal: LoggedIn) -> dict[str, Any]:
    """Officer: mark a licence condition met (or open again)."""
    cond = service.set_condition_status(session, principal, condition_id, body.status, body.reason)
    return {"id": cond.id, "status": cond.status}


@router.post("/licensing/applications/{application_id}/pen-test", tags=LIC)
def file_pen_test(application_id: int, body: sc.PenTestIn, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    service.file_pen_test(session, principal, application_id, body)
    return _ok(application_id, session, principal)


@router.post("/licensing/applications/{application_id}/pen-test/confirm", tags=LIC)
def confirm_pen_test(application_id: int, body: sc.TransitionIn, session: DbSession,
                     principal: LoggedIn) -> dict[str, Any]:
    """Officer: confirm the pen test (critical findings closed) → restricted operation."""
    service.confirm_pen_test(session, principal, application_id, body.reason)
    return _ok(application_id, session, principal)


@router.post("/licensing/applications/{application_id}/assessor", tags=LIC)
def engage_assessor(application_id: int, body: sc.EngageIn, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    """Officer: engage an external assessor (tripartite engagement) → external assessment."""
    service.engage_assessor(session, principal, application_id, body)
    return _ok(application_id, session, principal)


@router.post("/licensing/applications/{application_id}/assessment", tags=LIC)
def file_assessment(application_id: int, body: sc.AssessmentReportIn, session: DbSession,
                    principal: LoggedIn) -> dict[str, Any]:
    """Assessor: file the second-phase assessment report with an opinion."""
    service.file_assessment(session, principal, application_id, body)
    return _ok(application_id, session, principal)


@router.post("/licensing/applications/{application_id}/assessment/decision", tags=LIC)
def decide_assessment(application_id: int, body: sc.AssessmentDecisionIn, session: DbSession,
                      principal: LoggedIn) -> dict[str, Any]:
    """Officer: accept the report and lift the restrictions (→ fully licensed), or send it back."""
    service.decide_assessment(session, principal, application_id, body)
    return _ok(application_id, session, principal)


@router.post("/licensing/applications/{application_id}/transitions/{action}", tags=LIC)
def take_transition(application_id: int, action: str, body: sc.TransitionIn, session: DbSession,
                    principal: LoggedIn) -> dict[str, Any]:
    """Plain steps that need only a reason: mark_deemed, send_feedback, return_application, refuse, withdraw,
    suspend, revoke, close_down."""
    service.transition(session, principal, application_id, action, body.reason)
    return _ok(application_id, session, principal)


# --- documents ---------------------------------------------------------------------------------------


@router.post("/licensing/applications/{application_id}/documents", tags=LIC, status_code=201)
def upload_document(application_id: int, request: Request, session: DbSession, principal: LoggedIn,
                    file: Annotated[UploadFile, File()],
                    kind: Annotated[str, Form()] = "application") -> dict[str, Any]:
    doc = service.upload_document(session, principal, request.app.state.settings, application_id, file.file,
                                  file.filename or "", kind)
    return {"id": doc.id, "name": doc.original_name, "size": doc.size, "sha256": doc.sha256}


@router.get("/licensing/documents/{document_id}", tags=LIC)
def download_document(document_id: int, request: Request, session: DbSession, principal: LoggedIn) -> FileResponse:
    doc, path = service.open_document(session, principal, request.app.state.settings, document_id)
    return FileResponse(path, filename=doc.original_name)


@router.get("/licensing/board", tags=LIC)
def pipeline_board(session: DbSession, principal: LoggedIn, target: dt.date | None = None) -> dict[str, Any]:
    """Counts by step, median/mean days in each step, overdue items and progress towards the target date."""
    return board.build_board(session, principal, target).as_dict()


# --- public register (no login) -----------------------------------------------------------------------


@router.get("/register", tags=REG)
def register_counts(session: DbSession, principal: CurrentPrincipal) -> dict[str, int]:
    """How many entries each public list has."""
    return register.counts(session)


@router.get("/register/platforms/{code}", tags=REG)
def register_platform(code: str, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """One platform's public record with its history."""
    return register.platform_entry(session, code)


@router.get("/register/{slug}.csv", tags=REG)
def register_csv(slug: str, session: DbSession, principal: CurrentPrincipal) -> Response:
    rows = register.public_list(session, slug)
    return Response(register.to_csv(slug, rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="harbour-{slug}.csv"'})


@router.get("/register/{slug}", tags=REG)
def register_list(slug: str, session: DbSession, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """A public list: licensed, deemed, applicants, closed, closing-down or alert-list."""
    return register.public_list(session, slug)


@router.post("/register/alert-list", tags=REG, status_code=201)
def add_alert_entry(body: sc.AlertEntryIn, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    """Officer: add a suspicious unlicensed platform to the alert list."""
    row = register.add_alert_entry(session, principal, body)
    return {"id": row.id, "name": row.name}


# --- consultative panel ------------------------------------------------------------------------------


def _consultation(session: DbSession, principal: Any, consultation_id: int) -> dict[str, Any]:
    c = panel.get_consultation(session, principal, consultation_id)
    return {"id": c.id, "topic": c.topic, "deadline": c.deadline, "status": c.status, "summary": c.summary,
            "paper_document_id": c.paper_document_id, "opened_at": c.opened_at, "published_at": c.published_at,
            "responses": [{"id": r.id, "platform_id": r.platform_id, "text": r.text, "filed_by": r.filed_by,
                           "filed_at": r.filed_at} for r in panel.visible_responses(session, principal, c)]}


@router.get("/panel/consultations", tags=PANEL)
def list_consultations(session: DbSession, principal: LoggedIn) -> list[dict[str, Any]]:
    return [{"id": c.id, "topic": c.topic, "deadline": c.deadline, "status": c.status,
             "responses": len(c.responses)} for c in panel.list_consultations(session, principal)]


@router.post("/panel/consultations", tags=PANEL, status_code=201)
def open_consultation(request: Request, session: DbSession, principal: LoggedIn,
                      topic: Annotated[str, Form()], deadline: Annotated[str, Form()],
                      paper: Annotated[UploadFile | None, File()] = None) -> dict[str, Any]:
    """Officer: open a consultation (multipart form: topic, deadline, optional paper)."""
    data = sc.parse(sc.ConsultationIn, {"topic": topic, "deadline": deadline})
    row = panel.open_consultation(session, principal, request.app.state.settings, data,
                                  paper.file if paper else None, paper.filename or "" if paper else "")
    return _consultation(session, principal, row.id)


@router.get("/panel/consultations/{consultation_id}", tags=PANEL)
def get_consultation(consultation_id: int, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    return _consultation(session, principal, consultation_id)


@router.post("/panel/consultations/{consultation_id}/responses", tags=PANEL, status_code=201)
def file_response(consultation_id: int, body: sc.ResponseIn, session: DbSession,
                  principal: LoggedIn) -> dict[str, Any]:
    """Member platform user: file a response."""
    row = panel.file_response(session, principal, consultation_id, body)
    return {"id": row.id}


@router.post("/panel/consultations/{consultation_id}/summary", tags=PANEL)
def publish_summary(consultation_id: int, body: sc.SummaryIn, session: DbSession,
                    principal: LoggedIn) -> dict[str, Any]:
    """Officer: publish the summary of responses."""
    panel.publish_summary(session, principal, consultation_id, body)
    return _consultation(session, principal, consultation_id)
