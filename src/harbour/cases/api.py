"""JSON API of the case work, under /api/cases and /api/requests. Routes parse, call one service, present."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from harbour.cases import feedback, grouping, reports, rfi, service, triage
from harbour.cases.models import Case, CaseEntry, InfoRequest
from harbour.core.auth import Principal
from harbour.core.http import DbSession, LoggedIn

router = APIRouter(prefix="/api", tags=["cases"])


# --- bodies -----------------------------------------------------------------------------------------------


class BulkBody(BaseModel):
    alert_ids: list[str] = Field(min_length=1, max_length=service.MAX_BULK)
    action: Literal["close_false_positive", "assign"]
    reason: str = Field(min_length=1, max_length=2000)
    assignee_id: int | None = None


class OpenCaseBody(BaseModel):
    alert_ids: list[str] = Field(min_length=1, max_length=service.MAX_BULK)
    title: str | None = Field(default=None, max_length=200)
    owner_id: int | None = None
    reason: str | None = Field(default=None, max_length=2000)


class AddAlertsBody(BaseModel):
    alert_ids: list[str] = Field(min_length=1, max_length=service.MAX_BULK)
    reason: str = Field(min_length=1, max_length=2000)


class NoteBody(BaseModel):
    body: str = Field(min_length=1, max_length=20000)


class QueryBody(BaseModel):
    title: str = Field(default="saved query", max_length=200)
    query: str = Field(min_length=1, max_length=10000)


class PinBody(BaseModel):
    alert_id: str = Field(min_length=1, max_length=64)
    chart: str = Field(min_length=1, max_length=500)
    caption: str = Field(default="", max_length=500)


class StatusBody(BaseModel):
    status: str
    reason: str = Field(min_length=1, max_length=2000)


class CloseBody(BaseModel):
    outcome: str
    reason: str = Field(min_length=1, max_length=2000)


class OwnerBody(BaseModel):
    owner_id: int
    reason: str = Field(min_length=1, max_length=2000)


class DueBody(BaseModel):
    due_at: dt.datetime
    reason: str = Field(min_length=1, max_length=2000)


class ReviewBody(BaseModel):
    kind: Literal["close", "file_report"]
    reason: str = Field(min_length=1, max_length=2000)
    outcome: str | None = None


class DecisionBody(BaseModel):
    approve: bool
    reason: str = Field(min_length=1, max_length=2000)


class ReportBody(BaseModel):
    narrative: str | None = Field(default=None, max_length=20000)


class RequestBody(BaseModel):
    questions: str = Field(min_length=1, max_length=20000)
    deadline: dt.datetime
    subject: str = Field(default="", max_length=200)
    platform_id: int | None = None


# --- presenters -------------------------------------------------------------------------------------------


def case_json(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "reference": case.reference,
        "title": case.title,
        "status": case.status,
        "outcome": case.outcome,
        "owner_id": case.owner_id,
        "platform_id": case.platform_id,
        "priority": case.priority,
        "high_priority": case.high_priority,
        "due_at": case.due_at.isoformat(),
        "overdue": service.is_overdue(case),
        "created_at": case.created_at.isoformat(),
    }


def entry_json(e: CaseEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind,
        "author": e.author,
        "body": e.body,
        "data": e.data,
        "created_at": e.created_at.isoformat(),
    }


def request_json(r: InfoRequest, principal: Principal | None = None) -> dict[str, Any]:
    # The platform does not learn the regulator's internal case id.
    hide_case = principal is not None and not principal.is_regulator
    return {
        "id": r.id,
        "case_id": None if hide_case else r.case_id,
        "platform_id": r.platform_id,
        "subject": r.subject,
        "questions": r.questions,
        "deadline": r.deadline.isoformat(),
        "status": r.status,
        "overdue": rfi.is_overdue(r),
        "sent_by": r.sent_by,
        "sent_at": r.sent_at.isoformat(),
        "answer": r.answer,
        "answered_by": r.answered_by,
        "answered_at": r.answered_at.isoformat() if r.answered_at else None,
    }


# --- triage -----------------------------------------------------------------------------------------------


@router.get("/cases/queue")
def get_queue(
    session: DbSession,
    principal: LoggedIn,
    state: str = "open",
    typology: str | None = None,
    venue: str | None = None,
    detector: str | None = None,
    assignee: str | None = None,
    min_priority: float | None = None,
    sort: str = "priority",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Open alerts ranked by priority, each with its factors' contributions."""
    flt = triage.QueueFilter(state, typology, venue, detector, assignee, min_priority, sort, page, per_page)
    result = triage.read_queue(session, principal, flt)
    return {
        "total": result.total,
        "page": page,
        "pages": result.pages,
        "per_page": per_page,
        "alerts": [r.as_dict() for r in result.rows],
    }


@router.post("/cases/alerts/bulk")
def bulk(body: BulkBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    """Close as false positive or assign many alerts at once, with a reason (one audit entry per alert)."""
    n = service.bulk_action(session, principal, body.alert_ids, body.action, body.reason, body.assignee_id)
    return {"changed": n, "action": body.action}


@router.get("/cases/suggestions")
def suggestions(
    request: Request,
    session: DbSession,
    principal: LoggedIn,
    venue: str | None = None,
    gap_hours: Annotated[float, Query(gt=0, le=24 * 30)] = 24,
) -> dict[str, Any]:
    found = grouping.suggest(
        session,
        principal,
        venue=venue,
        lake_root=request.app.state.settings.lake_root,
        gap=dt.timedelta(hours=gap_hours),
    )
    return {"suggestions": [s.as_dict() for s in found]}


@router.get("/cases/detectors")
def detectors(session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    """Each detector's confirmed / false-positive history and the priority points it earns."""
    return {"detectors": [h.as_dict() for h in feedback.detector_history(session, principal)]}


@router.get("/cases/detectors/{detector}")
def detector(detector: str, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    """One detector's history and its latest verdicts."""
    history = feedback.history_of(session, principal, detector)
    labels = feedback.detector_labels(session, principal, detector)
    return {
        **history.as_dict(),
        "labels": [
            {
                "alert_id": lb.alert_id,
                "verdict": lb.verdict,
                "case_id": lb.case_id,
                "decided_by": lb.decided_by,
                "decided_at": lb.decided_at.isoformat(),
            }
            for lb in labels
        ],
    }


# --- cases ------------------------------------------------------------------------------------------------


@router.get("/cases")
def list_cases(
    session: DbSession, principal: LoggedIn, status: str | None = None, mine: bool = False
) -> dict[str, Any]:
    return {"cases": [case_json(c) for c in service.list_cases(session, principal, status=status, mine=mine)]}


@router.post("/cases", status_code=201)
def open_case(body: OpenCaseBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    """Open a case from alerts: accept a suggestion (all its ids), split it (a subset) or merge (the union)."""
    case = service.open_case(
        session, principal, body.alert_ids, title=body.title, owner_id=body.owner_id, reason=body.reason
    )
    return case_json(case)


@router.get("/cases/{case_id}")
def get_case(case_id: int, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    case = service.get_case(session, principal, case_id)
    review = service.pending_review(session, case)
    return {
        **case_json(case),
        "alerts": [
            {
                "alert_id": a.alert_id,
                "typology": a.typology,
                "venue": a.venue,
                "score": a.score,
                "priority": t.priority if t else None,
                "status": a.status,
            }
            for a, t in service.case_alerts(session, case)
        ],
        "timeline": [entry_json(e) for e in service.timeline(session, case)],
        "pending_review": {
            "id": review.id,
            "kind": review.kind,
            "outcome": review.proposed_outcome,
            "requested_by_id": review.requested_by_id,
        }
        if review
        else None,
        "requests": [request_json(r) for r in rfi.list_requests(session, principal, case_id=case.id)],
    }


@router.post("/cases/{case_id}/alerts")
def add_alerts(case_id: int, body: AddAlertsBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    return case_json(service.add_alerts(session, principal, case_id, body.alert_ids, body.reason))


@router.post("/cases/{case_id}/notes", status_code=201)
def add_note(case_id: int, body: NoteBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    return entry_json(service.add_note(session, principal, case_id, body.body))


@router.post("/cases/{case_id}/queries", status_code=201)
def add_query(case_id: int, body: QueryBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    return entry_json(service.add_query(session, principal, case_id, body.title, body.query))


@router.post("/cases/{case_id}/pins", status_code=201)
def pin_chart(case_id: int, body: PinBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    return entry_json(service.pin_chart(session, principal, case_id, body.alert_id, body.chart, body.caption))


@router.post("/cases/{case_id}/files", status_code=201)
def add_file(
    case_id: int,
    request: Request,
    session: DbSession,
    principal: LoggedIn,
    file: Annotated[UploadFile, File()],
    caption: Annotated[str, Form()] = "",
) -> dict[str, Any]:
    settings = request.app.state.settings
    entry = service.add_file(
        session,
        principal,
        case_id,
        file.file,
        file.filename or "",
        settings.upload_dir,
        settings.max_upload_bytes,
        caption,
    )
    return entry_json(entry)


@router.get("/cases/files/{attachment_id}")
def download_file(attachment_id: int, session: DbSession, principal: LoggedIn) -> FileResponse:
    att = service.get_attachment(session, principal, attachment_id)
    return FileResponse(att.stored_path, filename=att.original_name)


@router.post("/cases/{case_id}/status")
def move(case_id: int, body: StatusBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    return case_json(service.move_case(session, principal, case_id, body.status, body.reason))


@router.post("/cases/{case_id}/close")
def close(case_id: int, body: CloseBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    """Close directly (below the high-priority bar only; otherwise submit a review)."""
    return case_json(service.close_case(session, principal, case_id, body.outcome, body.reason))


@router.post("/cases/{case_id}/owner")
def reassign(case_id: int, body: OwnerBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    return case_json(service.reassign_case(session, principal, case_id, body.owner_id, body.reason))


@router.post("/cases/{case_id}/due")
def set_due(case_id: int, body: DueBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    return case_json(service.set_due(session, principal, case_id, body.due_at, body.reason))


@router.post("/cases/{case_id}/reviews", status_code=201)
def submit_review(case_id: int, body: ReviewBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    review = service.submit_for_review(session, principal, case_id, body.kind, body.reason, body.outcome)
    return {"id": review.id, "case_id": review.case_id, "kind": review.kind, "state": review.state}


@router.post("/cases/reviews/{review_id}/decision")
def decide(
    review_id: int, body: DecisionBody, request: Request, session: DbSession, principal: LoggedIn
) -> dict[str, Any]:
    review = service.decide_review(
        session, principal, review_id, body.approve, body.reason, request.app.state.settings.lake_root
    )
    return {"id": review.id, "case_id": review.case_id, "kind": review.kind, "state": review.state}


# --- reports ----------------------------------------------------------------------------------------------


@router.post("/cases/{case_id}/report")
def draft_report(case_id: int, body: ReportBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    report = reports.save_draft(session, principal, case_id, body.narrative)
    return {"id": report.id, "reference": report.reference, "status": report.status, "narrative": report.narrative}


@router.get("/cases/{case_id}/report.{fmt}")
def get_report(case_id: int, fmt: str, request: Request, session: DbSession, principal: LoggedIn) -> Response:
    """The report as json, pdf or goAML-style xml (validated against the XSD before it is sent)."""
    payload = reports.report_payload(session, principal, case_id, request.app.state.settings.lake_root)
    content, media = reports.render(payload, fmt)
    name = f"{payload['reference']}.{fmt}"
    return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- requests for information -----------------------------------------------------------------------------


@router.post("/cases/{case_id}/requests", status_code=201)
def send_request(case_id: int, body: RequestBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    req = rfi.send_request(
        session,
        principal,
        case_id,
        questions=body.questions,
        deadline=body.deadline,
        subject=body.subject,
        platform_id=body.platform_id,
    )
    return request_json(req)


@router.get("/requests")
def list_requests(session: DbSession, principal: LoggedIn, status: str | None = None) -> dict[str, Any]:
    """Requests for information: a platform user sees only those addressed to their platform."""
    return {"requests": [request_json(r, principal) for r in rfi.list_requests(session, principal, status=status)]}


@router.get("/requests/{request_id}")
def get_request(request_id: int, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    req = rfi.get_request(session, principal, request_id)
    files = [{"id": f.id, "name": f.original_name, "size": f.size} for f in rfi.request_files(session, req)]
    return {**request_json(req, principal), "files": files}


@router.post("/requests/{request_id}/answer")
def answer_request(
    request_id: int,
    request: Request,
    session: DbSession,
    principal: LoggedIn,
    answer: Annotated[str, Form()] = "",
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> dict[str, Any]:
    settings = request.app.state.settings
    uploads = [(f.file, f.filename or "") for f in (files or []) if f.filename]
    req = rfi.answer_request(
        session,
        principal,
        request_id,
        answer=answer,
        files=uploads,
        upload_dir=settings.upload_dir,
        max_bytes=settings.max_upload_bytes,
    )
    return request_json(req, principal)


@router.post("/requests/{request_id}/withdraw")
def withdraw(request_id: int, body: NoteBody, session: DbSession, principal: LoggedIn) -> dict[str, Any]:
    return request_json(rfi.withdraw_request(session, principal, request_id, body.body))
