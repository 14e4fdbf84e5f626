"""HTML pages of the licensing track: the front page, the public register and lists, applications with
their step timeline and the forms each role may use, the pipeline board and the consultative panel.

Routes parse the form into the same typed inputs as the API (``schemas``), call one service function and
redirect (post/redirect/get); errors are shown by the shared error page with the field or step named.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from harbour.core.auth import REGULATOR_ROLES, Principal, Role, User, require_role
from harbour.core.db import utcnow
from harbour.core.errors import Invalid
from harbour.core.http import CurrentPrincipal, DbSession, LoggedIn, register_nav, render
from harbour.core.tenancy import Platform
from harbour.licensing import board, panel, register, service, views
from harbour.licensing import schemas as sc
from harbour.licensing.workflow import LABELS, MAIN_PATH, OFFICER, State

router = APIRouter(include_in_schema=False)

ALL = set(Role)
register_nav("Register", "/register", {Role.PUBLIC}, order=10)
register_nav("Applications", "/licensing", {Role.PLATFORM_USER, Role.ASSESSOR, *REGULATOR_ROLES}, order=20)
register_nav("Pipeline", "/licensing/board", set(REGULATOR_ROLES), order=21)
register_nav("Panel", "/panel", {Role.PLATFORM_USER, *REGULATOR_ROLES}, order=22)


async def _form_data(request: Request) -> AsyncIterator[FormData]:
    # Closed after the response: uploaded files are spooled to temporary files that must not leak.
    async with request.form() as form:
        yield form


PageForm = Annotated[FormData, Depends(_form_data)]


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _opt(value: Any) -> Any:
    return value if value not in ("", None) else None


def _file(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    return value if isinstance(value, UploadFile) and value.filename else None


# --- front page and public register ---------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: DbSession, principal: CurrentPrincipal) -> HTMLResponse:
    return render(request, "licensing/home.html", {"counts": register.counts(session), "lists": register.LISTS})


@router.get("/register", response_class=HTMLResponse)
def register_hub(request: Request, session: DbSession, principal: CurrentPrincipal) -> HTMLResponse:
    return render(request, "licensing/register_hub.html", {"counts": register.counts(session), "lists": register.LISTS})


@router.get("/register/platforms/{code}", response_class=HTMLResponse)
def register_entry(code: str, request: Request, session: DbSession, principal: CurrentPrincipal) -> HTMLResponse:
    return render(request, "licensing/register_entry.html", {"e": register.platform_entry(session, code),
                                                             "labels": LABELS})


@router.get("/register/{slug}", response_class=HTMLResponse)
def register_list(slug: str, request: Request, session: DbSession, principal: CurrentPrincipal) -> HTMLResponse:
    rows = register.public_list(session, slug)
    return render(request, "licensing/register_list.html", {
        "slug": slug, "info": register.LISTS[slug], "rows": rows, "lists": register.LISTS,
        "can_add": principal.role in OFFICER})


@router.post("/register/alert-list")
async def add_alert_entry(request: Request, session: DbSession, principal: LoggedIn,
                          form: PageForm) -> RedirectResponse:
    data = sc.parse(sc.AlertEntryIn, {k: form.get(k, "") for k in ("name", "website", "reason")})
    await run_in_threadpool(register.add_alert_entry, session, principal, data)
    return _redirect("/register/alert-list")


# --- applications ------------------------------------------------------------------------------------


@router.get("/licensing", response_class=HTMLResponse)
def applications(request: Request, session: DbSession, principal: LoggedIn, state: str = "") -> HTMLResponse:
    apps = service.list_applications(session, principal, state or None)
    own_open = principal.role == Role.PLATFORM_USER and not any(
        State(a.state) not in (State.RETURNED, State.WITHDRAWN, State.REFUSED, State.REVOKED) for a in apps)
    return render(request, "licensing/applications.html", {
        "apps": apps, "labels": LABELS, "state": state, "can_apply": own_open or principal.role in OFFICER,
        "today": utcnow().date()})


@router.get("/licensing/apply", response_class=HTMLResponse)
def apply_form(request: Request, session: DbSession, principal: LoggedIn) -> HTMLResponse:
    require_role(principal, Role.PLATFORM_USER, *OFFICER)
    platforms = list(session.scalars(select(Platform).order_by(Platform.code))) if principal.role in OFFICER else []
    return render(request, "licensing/apply.html", {"licence_types": sc.LICENCE_TYPES, "platforms": platforms})


@router.post("/licensing/apply")
async def apply(request: Request, session: DbSession, principal: LoggedIn, form: PageForm) -> RedirectResponse:
    data = sc.parse(sc.ApplicationIn, {
        "legal_name": form.get("legal_name", ""), "brand": form.get("brand", ""), "website": form.get("website", ""),
        "responsible_officers": _lines(form, "responsible_officers"),
        "business_plan": form.get("business_plan", ""), "licences_applied": form.getlist("licences_applied"),
        "target_decision_date": _opt(form.get("target_decision_date")),
        "platform_id": _opt(form.get("platform_id")), "deemed": form.get("deemed") == "on",
    })
    app = await run_in_threadpool(service.apply, session, principal, data)
    return _redirect(f"/licensing/applications/{app.id}")


@router.get("/licensing/applications/{application_id}", response_class=HTMLResponse)
def application_page(application_id: int, request: Request, session: DbSession, principal: LoggedIn) -> HTMLResponse:
    app = service.get_application(session, principal, application_id)
    record = views.detail(session, principal, app)
    assessors = []
    if "engage_assessor" in record["actions"]:
        assessors = list(session.scalars(select(User.username).where(User.role == Role.ASSESSOR.value)))
    return render(request, "licensing/application.html", {
        "a": record, "labels": LABELS, "main_path": MAIN_PATH, "areas": sc.AREAS, "assessors": assessors,
        "action_labels": views.ACTION_LABELS, "reached": {h["to"] for h in record["history"]},
        "open_findings": [f for f in record["findings"] if f["status"] == "open"]})


@router.post("/licensing/applications/{application_id}/{action}")
async def application_action(application_id: int, action: str, request: Request, session: DbSession,
                             principal: LoggedIn, form: PageForm) -> RedirectResponse:
    handler = ACTIONS.get(action)
    if handler is None:
        raise Invalid(f"unknown action {action!r}", field="action")
    await run_in_threadpool(handler, session, principal, request, application_id, form)
    return _redirect(f"/licensing/applications/{application_id}")


@router.post("/licensing/findings/{finding_id}/close")
async def close_finding(finding_id: int, request: Request, session: DbSession, principal: LoggedIn,
                        form: PageForm) -> RedirectResponse:
    data = sc.parse(sc.CloseFindingIn, {"evidence": form.get("evidence", "")})
    finding = await run_in_threadpool(service.close_finding, session, principal, finding_id, data)
    return _redirect(f"/licensing/applications/{finding.application_id}")


@router.get("/licensing/documents/{document_id}")
def download(document_id: int, request: Request, session: DbSession, principal: LoggedIn) -> FileResponse:
    doc, path = service.open_document(session, principal, request.app.state.settings, document_id)
    return FileResponse(path, filename=doc.original_name)


@router.get("/licensing/board", response_class=HTMLResponse)
def pipeline(request: Request, session: DbSession, principal: LoggedIn) -> HTMLResponse:
    b = board.build_board(session, principal)
    return render(request, "licensing/board.html", {"b": b, "labels": LABELS})


# --- form → service, one per action ------------------------------------------------------------------


def _inspection(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
    findings = []
    for i in range(1, 4):
        if str(form.get(f"finding_description_{i}", "")).strip():
            findings.append({"area": form.get(f"finding_area_{i}", ""),
                             "severity": form.get(f"finding_severity_{i}", ""),
                             "description": form.get(f"finding_description_{i}", ""),
                             "due_date": _opt(form.get(f"finding_due_{i}"))})
    data = sc.parse(sc.InspectionIn, {
        "start_date": _opt(form.get("start_date")), "end_date": _opt(form.get("end_date")),
        "inspectors": _lines(form, "inspectors"), "areas": form.getlist("areas"),
        "summary": form.get("summary", ""), "findings": findings, "reason": form.get("reason", "")})
    service.record_inspection(session, principal, app_id, data)


def _finding(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
    data = sc.parse(sc.FindingIn, {k: _opt(form.get(k)) or "" for k in ("area", "severity", "description")}
                    | {"due_date": _opt(form.get("due_date"))})
    service.add_finding(session, principal, app_id, data)


def _plan(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
    ids = sorted({int(k.split("_")[1]) for k in form if k.startswith("action_") and k.split("_")[1].isdigit()})
    items = [{"finding_id": fid, "action": form.get(f"action_{fid}", ""), "owner": form.get(f"owner_{fid}", ""),
              "target_date": _opt(form.get(f"target_{fid}"))} for fid in ids]
    service.submit_plan(session, principal, app_id, sc.parse(sc.PlanIn, {"items": items}))


def _decide_plan(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
    data = sc.parse(sc.PlanDecisionIn, {k: form.get(k, "") for k in ("decision", "comments", "reason")})
    service.decide_plan(session, principal, app_id, data)


def _lines(form: FormData, name: str) -> list[str]:
    return [line.strip() for line in str(form.get(name, "")).splitlines() if line.strip()]


def _licence(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
    # One condition per line, optionally "text | due date".
    conditions = [{"text": text.strip(), "due_date": _opt(due.strip())}
                  for text, _, due in (line.partition("|") for line in _lines(form, "conditions"))]
    data = sc.parse(sc.LicenceIn, {
        "conditions": conditions, "no_retail_clients": form.get("no_retail_clients") == "on",
        "no_new_clients": form.get("no_new_clients") == "on",
        "permitted_tokens": [t.strip() for t in str(form.get("permitted_tokens", "")).split(",") if t.strip()],
        "other_restrictions": _lines(form, "other_restrictions"), "reason": form.get("reason", "")})
    service.grant_licence(session, principal, app_id, data)


def _pen_test(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
    data = sc.parse(sc.PenTestIn, {"firm": form.get("firm", ""), "summary": form.get("summary", "")})
    doc_id = _upload(session, principal, request, app_id, form, "pen_test")
    service.file_pen_test(session, principal, app_id, data, doc_id)


def _confirm_pen_test(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
    service.confirm_pen_test(session, principal, app_id, str(form.get("reason", "")))


def _engage(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
    data = sc.parse(sc.EngageIn, {"assessor": form.get("assessor", ""), "scope": form.get("scope", ""),
                                  "due_date": _opt(form.get("due_date")), "reason": form.get("reason", "")})
    service.engage_assessor(session, principal, app_id, data)


def _assessment(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
    data = sc.parse(sc.AssessmentReportIn, {"report": form.get("report", ""), "opinion": form.get("opinion", "")})
    service.file_assessment(session, principal, app_id, data)


def _decide_assessment(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
    data = sc.parse(sc.AssessmentDecisionIn, {k: form.get(k, "") for k in ("decision", "comments", "reason")})
    service.decide_assessment(session, principal, app_id, data)


def _document(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
    if _upload(session, principal, request, app_id, form, str(form.get("kind") or "application")) is None:
        raise Invalid("file: choose a file to upload", field="file")


def _upload(session: Any, principal: Principal, request: Request, app_id: int, form: FormData,
            kind: str) -> int | None:
    upload = _file(form, "file")
    if upload is None:
        return None
    doc = service.upload_document(session, principal, request.app.state.settings, app_id, upload.file,
                                  upload.filename or "", kind)
    return doc.id


def _plain(name: str) -> Any:
    def handler(session: Any, principal: Principal, request: Request, app_id: int, form: FormData) -> None:
        service.transition(session, principal, app_id, name, str(form.get("reason", "")))

    return handler


ACTIONS: dict[str, Any] = {
    "record_inspection": _inspection, "add_finding": _finding, "submit_plan": _plan, "decide_plan": _decide_plan,
    "grant_licence": _licence, "file_pen_test": _pen_test, "confirm_pen_test": _confirm_pen_test,
    "engage_assessor": _engage, "file_assessment": _assessment, "decide_assessment": _decide_assessment,
    "upload_document": _document, **{name: _plain(name) for name in service.PLAIN_TRANSITIONS},
}


# --- consultative panel ------------------------------------------------------------------------------


@router.get("/panel", response_class=HTMLResponse)
def panel_page(request: Request, session: DbSession, principal: LoggedIn) -> HTMLResponse:
    return render(request, "licensing/panel.html", {
        "consultations": panel.list_consultations(session, principal), "members": panel.members(session),
        "can_open": principal.role in OFFICER, "today": utcnow().date()})


@router.post("/panel")
async def open_consultation(request: Request, session: DbSession, principal: LoggedIn,
                            form: PageForm) -> RedirectResponse:
    data = sc.parse(sc.ConsultationIn, {"topic": form.get("topic", ""), "deadline": _opt(form.get("deadline"))})
    paper = _file(form, "paper")
    row = await run_in_threadpool(panel.open_consultation, session, principal, request.app.state.settings, data,
                                  paper.file if paper else None, (paper.filename or "") if paper else "")
    return _redirect(f"/panel/{row.id}")


@router.get("/panel/{consultation_id}", response_class=HTMLResponse)
def consultation_page(consultation_id: int, request: Request, session: DbSession, principal: LoggedIn) -> HTMLResponse:
    c = panel.get_consultation(session, principal, consultation_id)
    codes = {p.id: p.code for p in session.scalars(select(Platform))}
    return render(request, "licensing/consultation.html", {
        "c": c, "responses": panel.visible_responses(session, principal, c), "codes": codes,
        "can_respond": principal.role == Role.PLATFORM_USER and c.status == "open"
        and panel.is_member(session, principal.platform_id),
        "can_publish": principal.role in OFFICER and c.status == "open"})


@router.post("/panel/{consultation_id}/responses")
async def respond(consultation_id: int, request: Request, session: DbSession, principal: LoggedIn,
                  form: PageForm) -> RedirectResponse:
    data = sc.parse(sc.ResponseIn, {"text": form.get("text", "")})
    await run_in_threadpool(panel.file_response, session, principal, consultation_id, data)
    return _redirect(f"/panel/{consultation_id}")


@router.post("/panel/{consultation_id}/summary")
async def summary(consultation_id: int, request: Request, session: DbSession, principal: LoggedIn,
                  form: PageForm) -> RedirectResponse:
    data = sc.parse(sc.SummaryIn, {"summary": form.get("summary", "")})
    await run_in_threadpool(panel.publish_summary, session, principal, consultation_id, data)
    return _redirect(f"/panel/{consultation_id}")
