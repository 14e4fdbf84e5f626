"""HTML pages of the case work: the triage queue, suggestions, cases, detector history (supervisors) and
requests for information (platform compliance officers). Forms post here and redirect back (303)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from harbour.cases import feedback, grouping, reports, rfi, service, triage
from harbour.cases.models import CASE_OUTCOMES, CASE_STATUSES
from harbour.core.auth import Role
from harbour.core.errors import Invalid
from harbour.core.http import DbSession, LoggedIn, register_nav, render

router = APIRouter(include_in_schema=False)

STAFF = {Role.SUPERVISOR, Role.ADMIN}
register_nav("Queue", "/cases/queue", STAFF, order=40)
register_nav("Cases", "/cases", STAFF, order=41)
register_nav("Requests", "/requests", {Role.PLATFORM_USER}, order=40)

Text = Annotated[str, Form()]


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _parse_when(value: str, field: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise Invalid(f"{field}: {value!r} is not a date (use YYYY-MM-DD)", field=field) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --- triage -----------------------------------------------------------------------------------------------


@router.get("/cases/queue", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: DbSession,
    principal: LoggedIn,
    state: str = "open",
    typology: str = "",
    venue: str = "",
    detector: str = "",
    assignee: str = "",
    sort: str = "priority",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> HTMLResponse:
    flt = triage.QueueFilter(
        state, typology or None, venue or None, detector or None, assignee or None, None, sort, page, per_page
    )
    result = triage.read_queue(session, principal, flt)
    return render(
        request,
        "cases/queue.html",
        {
            "result": result,
            "flt": flt,
            "facets": triage.facet_values(session, flt.state),
            "staff": service.staff_users(session),
            "weights": triage.WEIGHTS,
            "high": triage.HIGH_PRIORITY,
        },
    )


@router.post("/cases/queue/bulk")
def queue_bulk(
    session: DbSession,
    principal: LoggedIn,
    action: Text,
    reason: Text = "",
    alert_ids: Annotated[list[str] | None, Form()] = None,
    assignee_id: Text = "",
    return_to: Text = "/cases/queue",
) -> RedirectResponse:
    if action == "open_case":
        case = service.open_case(session, principal, alert_ids or [], reason=reason or None)
        return back(f"/cases/{case.id}")
    service.bulk_action(
        session, principal, alert_ids or [], action, reason, int(assignee_id) if assignee_id.isdigit() else None
    )
    return back(return_to if return_to.startswith("/cases") else "/cases/queue")


@router.get("/cases/suggestions", response_class=HTMLResponse)
def suggestions_page(request: Request, session: DbSession, principal: LoggedIn, venue: str = "") -> HTMLResponse:
    found = grouping.suggest(session, principal, venue=venue or None, lake_root=request.app.state.settings.lake_root)
    return render(request, "cases/suggestions.html", {"suggestions": found[:100], "total": len(found), "venue": venue})


@router.post("/cases/new")
def new_case(
    session: DbSession,
    principal: LoggedIn,
    alert_ids: Annotated[list[str] | None, Form()] = None,
    groups: Annotated[list[str] | None, Form()] = None,
    title: Text = "",
) -> RedirectResponse:
    """Accept a suggestion (its checked alerts: a split when some are unchecked) or merge several (``groups``)."""
    ids = list(alert_ids or [])
    for group in groups or []:
        ids.extend(i for i in group.split(",") if i)
    how = "merged suggestions" if groups else "accepted suggestion"
    case = service.open_case(session, principal, ids, title=title or None, reason=how)
    return back(f"/cases/{case.id}")


@router.get("/cases/pin", response_class=HTMLResponse)
def pin_page(request: Request, session: DbSession, principal: LoggedIn, alert_id: str, chart: str) -> HTMLResponse:
    """Where an alert page's "Pin to case" link lands: choose the open case to pin the chart to."""
    cases = [c for c in service.list_cases(session, principal) if c.status != "closed"]
    return render(request, "cases/pin.html", {"cases": cases, "alert_id": alert_id, "chart": chart})


@router.post("/cases/pin")
def pin_from_alert(
    session: DbSession, principal: LoggedIn, case_id: Text, alert_id: Text, chart: Text, caption: Text = ""
) -> RedirectResponse:
    if not case_id.isdigit():
        raise Invalid("choose the case to pin the chart to", field="case_id")
    service.pin_chart(session, principal, int(case_id), alert_id, chart, caption)
    return back(f"/cases/{case_id}#timeline")


@router.get("/cases/detectors", response_class=HTMLResponse)
def detectors_page(request: Request, session: DbSession, principal: LoggedIn) -> HTMLResponse:
    history = feedback.detector_history(session, principal)
    return render(request, "cases/detectors.html", {"history": history, "weights": triage.WEIGHTS})


@router.get("/cases/detectors/{detector}", response_class=HTMLResponse)
def detector_page(detector: str, request: Request, session: DbSession, principal: LoggedIn) -> HTMLResponse:
    """One detector's outcome history; with ``HX-Request`` only the fragment (for the detector's own page)."""
    history = feedback.history_of(session, principal, detector)
    labels = feedback.detector_labels(session, principal, detector)
    template = "cases/_detector_history.html" if request.headers.get("hx-request") else "cases/detector.html"
    return render(request, template, {"h": history, "labels": labels, "weights": triage.WEIGHTS})


# --- cases ------------------------------------------------------------------------------------------------


@router.get("/cases", response_class=HTMLResponse)
def cases_page(
    request: Request, session: DbSession, principal: LoggedIn, status: str = "", mine: bool = False
) -> HTMLResponse:
    cases = service.list_cases(session, principal, status=status or None, mine=mine)
    owners = {u.id: u.username for u in service.staff_users(session)}
    return render(
        request,
        "cases/list.html",
        {
            "cases": cases,
            "owners": owners,
            "status": status,
            "mine": mine,
            "statuses": CASE_STATUSES,
            "counts": service.case_counts(session),
            "is_overdue": service.is_overdue,
        },
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(case_id: int, request: Request, session: DbSession, principal: LoggedIn) -> HTMLResponse:
    case = service.get_case(session, principal, case_id)
    report = service.report_of(session, case)
    staff = service.staff_users(session)
    return render(
        request,
        "cases/case.html",
        {
            "case": case,
            "alerts": service.case_alerts(session, case),
            "timeline": service.timeline(session, case),
            "review": service.pending_review(session, case),
            "report": report,
            "narrative": report.narrative if report else reports.draft_narrative(session, case),
            "requests": rfi.list_requests(session, principal, case_id=case.id),
            "rfi_overdue": rfi.is_overdue,
            "staff": staff,
            "owners": {u.id: u.username for u in staff},
            "outcomes": CASE_OUTCOMES,
            "moves": sorted(service.TRANSITIONS[case.status]),
            "overdue": service.is_overdue(case),
            "default_deadline": (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).date().isoformat(),
        },
    )


@router.post("/cases/{case_id}/note")
def case_note(case_id: int, session: DbSession, principal: LoggedIn, body: Text) -> RedirectResponse:
    service.add_note(session, principal, case_id, body)
    return back(f"/cases/{case_id}#timeline")


@router.post("/cases/{case_id}/query")
def case_query(
    case_id: int, session: DbSession, principal: LoggedIn, query: Text, title: Text = ""
) -> RedirectResponse:
    service.add_query(session, principal, case_id, title or "saved query", query)
    return back(f"/cases/{case_id}#timeline")


@router.post("/cases/{case_id}/pin")
def case_pin(
    case_id: int, session: DbSession, principal: LoggedIn, alert_id: Text, chart: Text, caption: Text = ""
) -> RedirectResponse:
    service.pin_chart(session, principal, case_id, alert_id, chart, caption)
    return back(f"/cases/{case_id}#timeline")


@router.post("/cases/{case_id}/file")
def case_file(
    case_id: int,
    request: Request,
    session: DbSession,
    principal: LoggedIn,
    file: Annotated[UploadFile, File()],
    caption: Text = "",
) -> RedirectResponse:
    settings = request.app.state.settings
    service.add_file(
        session,
        principal,
        case_id,
        file.file,
        file.filename or "",
        settings.upload_dir,
        settings.max_upload_bytes,
        caption,
    )
    return back(f"/cases/{case_id}#timeline")


@router.post("/cases/{case_id}/move")
def case_move(
    case_id: int, session: DbSession, principal: LoggedIn, status: Text, reason: Text = ""
) -> RedirectResponse:
    service.move_case(session, principal, case_id, status, reason)
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/close")
def case_close(
    case_id: int, session: DbSession, principal: LoggedIn, outcome: Text, reason: Text = ""
) -> RedirectResponse:
    service.close_case(session, principal, case_id, outcome, reason)
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/owner")
def case_owner(
    case_id: int, session: DbSession, principal: LoggedIn, owner_id: Text, reason: Text = ""
) -> RedirectResponse:
    if not owner_id.isdigit():
        raise Invalid("choose the new owner", field="owner_id")
    service.reassign_case(session, principal, case_id, int(owner_id), reason)
    return back(f"/cases/{case_id}")


@router.post("/cases/{case_id}/review")
def case_review(
    case_id: int, session: DbSession, principal: LoggedIn, kind: Text, reason: Text = "", outcome: Text = ""
) -> RedirectResponse:
    service.submit_for_review(session, principal, case_id, kind, reason, outcome or None)
    return back(f"/cases/{case_id}")


@router.post("/cases/reviews/{review_id}/decide")
def case_decide(
    review_id: int, request: Request, session: DbSession, principal: LoggedIn, decision: Text, reason: Text = ""
) -> RedirectResponse:
    review = service.decide_review(
        session, principal, review_id, decision == "approve", reason, request.app.state.settings.lake_root
    )
    return back(f"/cases/{review.case_id}")


@router.post("/cases/{case_id}/report")
def case_report(
    case_id: int, session: DbSession, principal: LoggedIn, narrative: Text = "", submit: Text = "", reason: Text = ""
) -> RedirectResponse:
    """Save the narrative; with ``submit`` also submit the report for four-eyes approval (one click)."""
    reports.save_draft(session, principal, case_id, narrative)
    if submit:
        service.submit_for_review(session, principal, case_id, "file_report", reason or "report ready for approval")
    return back(f"/cases/{case_id}#report")


@router.post("/cases/{case_id}/rfi")
def case_rfi(
    case_id: int, session: DbSession, principal: LoggedIn, questions: Text, deadline: Text, subject: Text = ""
) -> RedirectResponse:
    rfi.send_request(
        session, principal, case_id, questions=questions, deadline=_parse_when(deadline, "deadline"), subject=subject
    )
    return back(f"/cases/{case_id}#requests")


# --- requests for information (platform side, and staff) -------------------------------------------------


@router.get("/requests", response_class=HTMLResponse)
def requests_page(request: Request, session: DbSession, principal: LoggedIn, status: str = "") -> HTMLResponse:
    found = rfi.list_requests(session, principal, status=status or None)
    return render(request, "cases/requests.html", {"requests": found, "status": status, "is_overdue": rfi.is_overdue})


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(request_id: int, request: Request, session: DbSession, principal: LoggedIn) -> HTMLResponse:
    req = rfi.get_request(session, principal, request_id)
    return render(
        request,
        "cases/request.html",
        {
            "req": req,
            "files": rfi.request_files(session, req),
            "overdue": rfi.is_overdue(req),
            "can_answer": principal.role == Role.PLATFORM_USER and req.status == "sent",
        },
    )


@router.post("/requests/{request_id}/answer")
def request_answer(
    request_id: int,
    request: Request,
    session: DbSession,
    principal: LoggedIn,
    answer: Text = "",
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> RedirectResponse:
    settings = request.app.state.settings
    uploads = [(f.file, f.filename or "") for f in (files or []) if f.filename]
    rfi.answer_request(
        session,
        principal,
        request_id,
        answer=answer,
        files=uploads,
        upload_dir=settings.upload_dir,
        max_bytes=settings.max_upload_bytes,
    )
    return back(f"/requests/{request_id}")
