"""Requests for information: a supervisor asks a platform questions from a case, with a deadline; the
platform's compliance officer answers with text and files on their side of Harbour.

Tenancy: a platform user sees (and may answer) only requests addressed to their own platform; anyone
else's request is reported as not found, so ids cannot be probed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbour.cases.models import Attachment, InfoRequest
from harbour.cases.service import STAFF, _open_case_for_edit, _transition, add_entry, get_case
from harbour.core.audit import record
from harbour.core.auth import Principal, Role, require_platform_access, require_role, scope_to_platforms
from harbour.core.db import unit_of_work, utcnow
from harbour.core.errors import Conflict, Invalid, NotFound
from harbour.core.tenancy import get_platform
from harbour.core.uploads import store_upload

READERS = (Role.SUPERVISOR, Role.ADMIN, Role.PLATFORM_USER)
MAX_FILES = 10


def is_overdue(req: InfoRequest, now: dt.datetime | None = None) -> bool:
    return req.status == "sent" and req.deadline < (now or utcnow())


def send_request(
    session: Session,
    principal: Principal,
    case_id: int,
    *,
    questions: str,
    deadline: dt.datetime,
    subject: str = "",
    platform_id: int | None = None,
) -> InfoRequest:
    """Send a request from a case; the case moves to pending_information."""
    require_role(principal, *STAFF)
    text = (questions or "").strip()
    if not text:
        raise Invalid("write the questions for the platform", field="questions")
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=dt.UTC)
    if deadline <= utcnow():
        raise Invalid("the deadline must be in the future", field="deadline")
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        target = platform_id or case.platform_id
        if target is None:
            raise Invalid("this case spans several venues: choose the platform to ask", field="platform_id")
        platform = get_platform(session, target)
        req = InfoRequest(
            case_id=case.id,
            platform_id=platform.id,
            subject=(subject or "").strip()[:200] or f"Request for information on {case.reference}",
            questions=text[:20000],
            deadline=deadline,
            status="sent",
            sent_by=principal.username,
        )
        session.add(req)
        session.flush()
        add_entry(
            session,
            case,
            principal,
            "rfi",
            f"request for information sent to {platform.code}: {req.subject}",
            {"request_id": req.id, "deadline": deadline.isoformat()},
        )
        record(
            session,
            principal,
            "rfi.sent",
            "info_request",
            req.id,
            after={"case_id": case.id, "platform_id": platform.id, "deadline": deadline, "status": "sent"},
        )
        if case.status != "pending_information":
            _transition(session, principal, case, "pending_information", f"awaiting answer to request {req.id}")
        return req


def list_requests(
    session: Session, principal: Principal, *, status: str | None = None, case_id: int | None = None
) -> list[InfoRequest]:
    require_role(principal, *READERS)
    stmt = scope_to_platforms(select(InfoRequest), InfoRequest.platform_id, principal)
    if status:
        stmt = stmt.where(InfoRequest.status == status)
    if case_id is not None:
        stmt = stmt.where(InfoRequest.case_id == case_id)
    return list(session.scalars(stmt.order_by(InfoRequest.status != "sent", InfoRequest.deadline)))


def get_request(session: Session, principal: Principal, request_id: int) -> InfoRequest:
    require_role(principal, *READERS)
    req = session.get(InfoRequest, request_id)
    if req is None:
        raise NotFound(f"no request for information with id {request_id}", field="request_id")
    require_platform_access(principal, req.platform_id)
    return req


def request_files(session: Session, req: InfoRequest) -> list[Attachment]:
    return list(session.scalars(select(Attachment).where(Attachment.info_request_id == req.id).order_by(Attachment.id)))


def answer_request(
    session: Session,
    principal: Principal,
    request_id: int,
    *,
    answer: str,
    files: Sequence[tuple[BinaryIO, str]] = (),
    upload_dir: Path,
    max_bytes: int,
) -> InfoRequest:
    """The platform's compliance officer answers; the case returns to investigating when nothing else is pending."""
    require_role(principal, Role.PLATFORM_USER)
    text = (answer or "").strip()
    if not text:
        raise Invalid("write an answer (files alone are not an answer)", field="answer")
    if len(files) > MAX_FILES:
        raise Invalid(f"at most {MAX_FILES} files per answer", field="files")
    with unit_of_work(session):
        req = get_request(session, principal, request_id)
        if req.status != "sent":
            raise Conflict(f"request {req.id} is {req.status}; it can be answered only once", field="request_id")
        stored = [
            store_upload(stream, name, Path(upload_dir) / "rfi", max_bytes=max_bytes, field="files")
            for stream, name in files
        ]
        for s in stored:
            session.add(
                Attachment(
                    info_request_id=req.id,
                    case_id=req.case_id,
                    original_name=s.original_name,
                    stored_path=str(s.stored_path),
                    sha256=s.sha256,
                    size=s.size,
                    uploaded_by=principal.username,
                )
            )
        late = is_overdue(req)
        req.status, req.answer, req.answered_by, req.answered_at = (
            "answered",
            text[:50000],
            principal.username,
            utcnow(),
        )
        record(
            session,
            principal,
            "rfi.answered",
            "info_request",
            req.id,
            before={"status": "sent"},
            after={"status": "answered", "files": [s.sha256 for s in stored], "late": late},
        )
        _after_answer(session, principal, req, len(stored), late)
        return req


def _after_answer(session: Session, principal: Principal, req: InfoRequest, n_files: int, late: bool) -> None:
    from harbour.cases.models import Case

    case = session.get(Case, req.case_id)
    if case is None or case.status == "closed":
        return
    add_entry(
        session,
        case,
        principal,
        "rfi",
        f"answer received from the platform{' (late)' if late else ''}, {n_files} file(s): "
        + (req.answer[:500] + ("…" if len(req.answer) > 500 else "")),
        {"request_id": req.id},
    )
    still_waiting = session.scalar(
        select(InfoRequest.id).where(InfoRequest.case_id == case.id, InfoRequest.status == "sent").limit(1)
    )
    if case.status == "pending_information" and still_waiting is None:
        _transition(session, principal, case, "investigating", f"request {req.id} answered")


def withdraw_request(session: Session, principal: Principal, request_id: int, reason: str | None) -> InfoRequest:
    require_role(principal, *STAFF)
    text = (reason or "").strip()
    if not text:
        raise Invalid("give a reason for withdrawing the request", field="reason")
    with unit_of_work(session):
        req = get_request(session, principal, request_id)
        get_case(session, principal, req.case_id)
        if req.status != "sent":
            raise Conflict(
                f"request {req.id} is {req.status}; only a sent request can be withdrawn", field="request_id"
            )
        req.status = "withdrawn"
        record(
            session,
            principal,
            "rfi.withdrawn",
            "info_request",
            req.id,
            before={"status": "sent"},
            after={"status": "withdrawn"},
            reason=text,
        )
        return req
