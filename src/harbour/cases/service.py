"""Cases: opening from alerts, bulk triage actions, the timeline, status moves, and four eyes.

Every function here is one unit of work on the caller's session (``unit_of_work``), checks the
principal's role first, and writes an audit entry for every state change of an alert or a case.

Four-eyes rule: a case at or above ``triage.HIGH_PRIORITY`` cannot be closed directly, and no report can
be filed directly; the owner submits a review and a *different* supervisor (not the owner, not the
submitter) approves it. Approval is what closes the case or files the report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from harbour.cases import feedback
from harbour.cases.models import (
    CASE_OUTCOMES,
    CASE_STATUSES,
    CONFIRMING_OUTCOMES,
    REVIEW_KINDS,
    AlertTriage,
    Attachment,
    Case,
    CaseAlert,
    CaseEntry,
    CaseReview,
    SuspiciousTransactionReport,
)
from harbour.cases.triage import HIGH_PRIORITY, sync_queue
from harbour.core.audit import record
from harbour.core.auth import Principal, Role, User, require_role
from harbour.core.db import unit_of_work, utcnow
from harbour.core.errors import Conflict, Forbidden, Invalid, NotFound
from harbour.core.uploads import store_upload
from harbour.detect.alert_store import AlertRecord

STAFF = (Role.SUPERVISOR, Role.ADMIN)
MAX_BULK = 1000
DUE_DAYS = {True: 5, False: 10}  # high priority → 5 days

# Legal status moves (closing goes through close_case / reviews, never through this table).
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"investigating", "pending_information", "escalated"}),
    "investigating": frozenset({"pending_information", "escalated"}),
    "pending_information": frozenset({"investigating", "escalated"}),
    "escalated": frozenset({"investigating", "pending_information"}),
    "closed": frozenset(),
}


# --- helpers --------------------------------------------------------------------------------------------


def _reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise Invalid(f"give a reason for {what}: it goes into the audit log", field="reason")
    return text


def get_case(session: Session, principal: Principal, case_id: int) -> Case:
    require_role(principal, *STAFF)
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case with id {case_id}", field="case_id")
    return case


def _staff_user(session: Session, user_id: int, field: str) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active or user.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise Invalid(f"user {user_id} is not an active supervisor or admin", field=field)
    return user


def _load_alerts(session: Session, alert_ids: Sequence[str], *, want_status: str | None = "open") -> list[AlertRecord]:
    ids = list(dict.fromkeys(a.strip() for a in alert_ids if a and a.strip()))
    if not ids:
        raise Invalid("choose at least one alert", field="alert_ids")
    if len(ids) > MAX_BULK:
        raise Invalid(f"at most {MAX_BULK} alerts per action; you sent {len(ids)}", field="alert_ids")
    # Lock the rows (PostgreSQL) so two analysts acting on the same alert at once queue up and the second
    # sees the first one's status; SQLite serialises writers anyway.
    stmt = select(AlertRecord).where(AlertRecord.alert_id.in_(ids)).with_for_update()
    alerts = {a.alert_id: a for a in session.scalars(stmt)}
    missing = [i for i in ids if i not in alerts]
    if missing:
        raise NotFound(f"no alert with id {', '.join(missing[:5])}", field="alert_ids", details=missing)
    if want_status:
        wrong = [i for i in ids if alerts[i].status != want_status]
        if wrong:
            raise Conflict(
                f"alerts {', '.join(wrong[:5])} are not {want_status} (already in a case or closed)",
                field="alert_ids",
                details=wrong,
            )
    sync_queue(session)  # every alert acted on has a triage row
    return [alerts[i] for i in ids]


def _set_alert_status(
    session: Session,
    principal: Principal,
    alert: AlertRecord,
    status: str,
    action: str,
    reason: str,
    case_id: int | None = None,
) -> None:
    before = alert.status
    alert.status = status
    triage = session.get(AlertTriage, alert.alert_id)
    if triage is not None:
        triage.queue_state, triage.updated_at = status, utcnow()
        if case_id is not None:
            triage.case_id = case_id
    record(
        session,
        principal,
        action,
        "alert",
        alert.alert_id,
        before={"status": before},
        after={"status": status, "case_id": case_id},
        reason=reason,
    )


def add_entry(
    session: Session, case: Case, principal: Principal, kind: str, body: str = "", data: dict[str, Any] | None = None
) -> CaseEntry:
    entry = CaseEntry(case_id=case.id, kind=kind, author=principal.username, body=body, data=data or {})
    session.add(entry)
    case.updated_at = utcnow()
    session.flush()
    return entry


# --- bulk triage ------------------------------------------------------------------------------------------


def bulk_action(
    session: Session,
    principal: Principal,
    alert_ids: Sequence[str],
    action: str,
    reason: str | None,
    assignee_id: int | None = None,
) -> int:
    """Close alerts as false positives or assign them to an analyst; one audit entry per alert."""
    require_role(principal, *STAFF)
    text = _reason(reason, "a bulk action")
    with unit_of_work(session):
        if action == "close_false_positive":
            alerts = _load_alerts(session, alert_ids)
            for alert in alerts:
                _set_alert_status(
                    session, principal, alert, "closed_false_positive", "alert.closed_false_positive", text
                )
            feedback.record_verdicts(session, principal, alerts, "false_positive")
        elif action == "assign":
            if assignee_id is None:
                raise Invalid("choose the analyst to assign the alerts to", field="assignee_id")
            user = _staff_user(session, assignee_id, "assignee_id")
            alerts = _load_alerts(session, alert_ids)
            for alert in alerts:
                triage = session.get(AlertTriage, alert.alert_id)
                assert triage is not None
                before = triage.assignee_id
                triage.assignee_id, triage.updated_at = user.id, utcnow()
                record(
                    session,
                    principal,
                    "alert.assigned",
                    "alert",
                    alert.alert_id,
                    before={"assignee_id": before},
                    after={"assignee_id": user.id, "assignee": user.username},
                    reason=text,
                )
        else:
            raise Invalid("action must be close_false_positive or assign", field="action")
        return len(alerts)


# --- cases ------------------------------------------------------------------------------------------------


def open_case(
    session: Session,
    principal: Principal,
    alert_ids: Sequence[str],
    *,
    title: str | None = None,
    owner_id: int | None = None,
    reason: str | None = None,
) -> Case:
    """Open a case holding the given open alerts (accepting, splitting or merging a suggestion)."""
    require_role(principal, *STAFF)
    with unit_of_work(session):
        alerts = _load_alerts(session, alert_ids)
        owner = (
            _staff_user(session, owner_id, "owner_id")
            if owner_id
            else _staff_user(session, principal.user_id or 0, "owner_id")
        )
        priorities = session.scalars(
            select(AlertTriage.priority).where(AlertTriage.alert_id.in_([a.alert_id for a in alerts]))
        )
        priority = max(priorities, default=0.0)
        high = priority >= HIGH_PRIORITY
        platforms = {a.platform_id for a in alerts}
        title = (title or "").strip() or _default_title(alerts)
        case = Case(
            reference=f"tmp-{utcnow().timestamp()}",
            title=title[:200],
            platform_id=platforms.pop() if len(platforms) == 1 else None,
            owner_id=owner.id,
            status="open",
            priority=priority,
            high_priority=high,
            due_at=utcnow() + dt.timedelta(days=DUE_DAYS[high]),
        )
        session.add(case)
        session.flush()
        case.reference = f"CASE-{case.created_at.year}-{case.id:05d}"
        text = (reason or "").strip() or f"opened from {len(alerts)} alert(s)"
        record(
            session,
            principal,
            "case.opened",
            "case",
            case.id,
            after={
                "reference": case.reference,
                "status": "open",
                "owner": owner.username,
                "priority": priority,
                "alert_ids": [a.alert_id for a in alerts],
            },
            reason=text,
        )
        _link(session, principal, case, alerts, text)
        return case


def _default_title(alerts: Sequence[AlertRecord]) -> str:
    typologies = sorted({a.typology for a in alerts})
    venues = sorted({a.venue for a in alerts})
    accounts = sorted({acc for a in alerts for acc in a.accounts})
    who = ", ".join(accounts[:2]) + (" …" if len(accounts) > 2 else "")
    return f"{' / '.join(typologies)} on {', '.join(venues)}" + (f" ({who})" if who else "")


def _link(session: Session, principal: Principal, case: Case, alerts: Sequence[AlertRecord], reason: str) -> None:
    try:
        with session.begin_nested():
            session.add_all([CaseAlert(alert_id=a.alert_id, case_id=case.id) for a in alerts])
    except IntegrityError as exc:
        raise Conflict(
            "one of these alerts was just linked to another case; reload the queue", field="alert_ids"
        ) from exc
    for alert in alerts:
        _set_alert_status(session, principal, alert, "in_case", "alert.linked_to_case", reason, case_id=case.id)
    add_entry(
        session,
        case,
        principal,
        "alerts",
        f"{len(alerts)} alert(s) linked",
        {"alert_ids": [a.alert_id for a in alerts]},
    )


def add_alerts(
    session: Session, principal: Principal, case_id: int, alert_ids: Sequence[str], reason: str | None
) -> Case:
    require_role(principal, *STAFF)
    text = _reason(reason, "adding alerts")
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        alerts = _load_alerts(session, alert_ids)
        _link(session, principal, case, alerts, text)
        priority = max(session.scalars(select(AlertTriage.priority).where(AlertTriage.case_id == case.id)), default=0.0)
        if priority > case.priority:
            before = {"priority": case.priority, "high_priority": case.high_priority}
            case.priority, case.high_priority = priority, case.high_priority or priority >= HIGH_PRIORITY
            record(
                session,
                principal,
                "case.reprioritised",
                "case",
                case.id,
                before=before,
                after={"priority": priority, "high_priority": case.high_priority},
                reason=text,
            )
        return case


def _open_case_for_edit(session: Session, principal: Principal, case_id: int) -> Case:
    case = get_case(session, principal, case_id)
    if case.status == "closed":
        raise Conflict(f"case {case.reference} is closed; closed cases cannot change", field="case_id")
    return case


def list_cases(session: Session, principal: Principal, *, status: str | None = None, mine: bool = False) -> list[Case]:
    require_role(principal, *STAFF)
    stmt = select(Case).order_by(Case.status == "closed", Case.due_at)
    if status:
        if status not in CASE_STATUSES:
            raise Invalid(f"status must be one of {', '.join(CASE_STATUSES)}", field="status")
        stmt = stmt.where(Case.status == status)
    if mine:
        stmt = stmt.where(Case.owner_id == principal.user_id)
    return list(session.scalars(stmt.limit(500)))


def case_alerts(session: Session, case: Case) -> list[tuple[AlertRecord, AlertTriage | None]]:
    stmt = (
        select(AlertRecord, AlertTriage)
        .join(CaseAlert, CaseAlert.alert_id == AlertRecord.alert_id)
        .outerjoin(AlertTriage, AlertTriage.alert_id == AlertRecord.alert_id)
        .where(CaseAlert.case_id == case.id)
        .order_by(AlertRecord.start)
    )
    return [(a, t) for a, t in session.execute(stmt)]


def timeline(session: Session, case: Case) -> list[CaseEntry]:
    return list(session.scalars(select(CaseEntry).where(CaseEntry.case_id == case.id).order_by(CaseEntry.id)))


def pending_review(session: Session, case: Case) -> CaseReview | None:
    return session.scalar(select(CaseReview).where(CaseReview.case_id == case.id, CaseReview.state == "pending"))


def staff_users(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User).where(User.role.in_([str(r) for r in STAFF]), User.active.is_(True)).order_by(User.username)
        )
    )


# --- timeline entries -----------------------------------------------------------------------------------


def add_note(session: Session, principal: Principal, case_id: int, body: str) -> CaseEntry:
    text = (body or "").strip()
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        if not text:
            raise Invalid("the note is empty", field="body")
        entry = add_entry(session, case, principal, "note", text[:20000])
        record(session, principal, "case.note_added", "case", case.id, after={"entry_id": entry.id})
        return entry


def add_query(session: Session, principal: Principal, case_id: int, title: str, query: str) -> CaseEntry:
    """Save a query (SQL over the lake, or a filter URL) on the case's timeline."""
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        if not (query or "").strip():
            raise Invalid("the saved query is empty", field="query")
        entry = add_entry(
            session, case, principal, "query", (title or "saved query").strip()[:200], {"query": query.strip()[:10000]}
        )
        record(session, principal, "case.query_saved", "case", case.id, after={"entry_id": entry.id})
        return entry


def pin_chart(
    session: Session, principal: Principal, case_id: int, alert_id: str, chart: str, caption: str = ""
) -> CaseEntry:
    """Pin a chart from an alert page: the pin stores the alert id and the chart's reference (its URL)."""
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        if session.get(AlertRecord, alert_id) is None:
            raise NotFound(f"no alert with id {alert_id}", field="alert_id")
        chart = (chart or "").strip()
        if not chart.startswith("/") or chart.startswith("//"):
            raise Invalid("the chart reference must be a path inside Harbour, e.g. /alerts/<id>#chart", field="chart")
        entry = add_entry(
            session,
            case,
            principal,
            "chart",
            caption.strip()[:500] or f"chart of alert {alert_id}",
            {"alert_id": alert_id, "chart": chart[:500]},
        )
        record(
            session,
            principal,
            "case.chart_pinned",
            "case",
            case.id,
            after={"entry_id": entry.id, "alert_id": alert_id, "chart": chart[:500]},
        )
        return entry


def add_file(
    session: Session,
    principal: Principal,
    case_id: int,
    stream: BinaryIO,
    filename: str,
    upload_dir: Path,
    max_bytes: int,
    caption: str = "",
) -> CaseEntry:
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        stored = store_upload(stream, filename, Path(upload_dir) / "cases", max_bytes=max_bytes)
        att = Attachment(
            case_id=case.id,
            original_name=stored.original_name,
            stored_path=str(stored.stored_path),
            sha256=stored.sha256,
            size=stored.size,
            uploaded_by=principal.username,
        )
        session.add(att)
        session.flush()
        entry = add_entry(
            session,
            case,
            principal,
            "file",
            caption.strip()[:500] or stored.original_name,
            {"attachment_id": att.id, "name": stored.original_name, "sha256": stored.sha256, "size": stored.size},
        )
        record(
            session,
            principal,
            "case.file_added",
            "case",
            case.id,
            after={"attachment_id": att.id, "sha256": stored.sha256, "name": stored.original_name},
        )
        return entry


def get_attachment(session: Session, principal: Principal, attachment_id: int) -> Attachment:
    """A stored file: staff see every file; a platform user only files of requests to their platform."""
    att = session.get(Attachment, attachment_id)
    if att is None:
        raise NotFound(f"no file with id {attachment_id}", field="attachment_id")
    if principal.is_regulator and principal.role in STAFF:
        return att
    if att.info_request_id is not None:
        from harbour.cases.rfi import get_request

        get_request(session, principal, att.info_request_id)  # raises NotFound for other tenants
        return att
    raise NotFound(f"no file with id {attachment_id}", field="attachment_id")


# --- status, owner, due date ------------------------------------------------------------------------------


def move_case(session: Session, principal: Principal, case_id: int, to_status: str, reason: str | None) -> Case:
    """Move an open case between working states; closing goes through ``close_case``."""
    text = _reason(reason, "the status change")
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        _transition(session, principal, case, to_status, text)
        return case


def _transition(session: Session, principal: Principal, case: Case, to_status: str, reason: str) -> None:
    if to_status == "closed":
        raise Conflict("close a case with an outcome (close_case), not as a plain status move", field="status")
    if to_status not in CASE_STATUSES:
        raise Invalid(f"status must be one of {', '.join(CASE_STATUSES)}", field="status")
    if to_status == case.status:
        return
    if to_status not in TRANSITIONS[case.status]:
        raise Conflict(
            f"case {case.reference} cannot move from {case.status} to {to_status}; allowed: "
            f"{', '.join(sorted(TRANSITIONS[case.status])) or 'none'}",
            field="status",
        )
    before = case.status
    case.status, case.updated_at = to_status, utcnow()
    add_entry(
        session, case, principal, "status", f"{before} → {to_status}: {reason}", {"from": before, "to": to_status}
    )
    record(
        session,
        principal,
        "case.status_changed",
        "case",
        case.id,
        before={"status": before},
        after={"status": to_status},
        reason=reason,
    )


def reassign_case(session: Session, principal: Principal, case_id: int, owner_id: int, reason: str | None) -> Case:
    text = _reason(reason, "the new owner")
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        owner = _staff_user(session, owner_id, "owner_id")
        if pending_review(session, case) is not None:
            raise Conflict("a review is pending; decide it before changing the owner", field="owner_id")
        before = case.owner_id
        case.owner_id = owner.id
        add_entry(session, case, principal, "status", f"owner → {owner.username}: {text}")
        record(
            session,
            principal,
            "case.reassigned",
            "case",
            case.id,
            before={"owner_id": before},
            after={"owner_id": owner.id},
            reason=text,
        )
        return case


def set_due(session: Session, principal: Principal, case_id: int, due_at: dt.datetime, reason: str | None) -> Case:
    text = _reason(reason, "the new due date")
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        if due_at.tzinfo is None:
            due_at = due_at.replace(tzinfo=dt.UTC)
        before = case.due_at
        case.due_at = due_at
        record(
            session,
            principal,
            "case.due_changed",
            "case",
            case.id,
            before={"due_at": before},
            after={"due_at": due_at},
            reason=text,
        )
        return case


def is_overdue(case: Case, now: dt.datetime | None = None) -> bool:
    return case.status != "closed" and case.due_at < (now or utcnow())


# --- closing and four eyes --------------------------------------------------------------------------------


def close_case(session: Session, principal: Principal, case_id: int, outcome: str, reason: str | None) -> Case:
    """Close a case directly: allowed only below the high-priority bar and without a report to file."""
    text = _reason(reason, "closing the case")
    _check_outcome(outcome)
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        if case.high_priority:
            raise Conflict(
                f"case {case.reference} is high priority ({case.priority:.0f} ≥ {HIGH_PRIORITY:.0f}): "
                "submit it for review; a second supervisor must approve the closure",
                field="outcome",
            )
        if outcome == "suspicious_transaction_report":
            raise Conflict(
                "a suspicious transaction report is filed through review (submit the report for review)",
                field="outcome",
            )
        if pending_review(session, case) is not None:
            raise Conflict("a review is pending on this case; it decides the closure", field="outcome")
        _close(session, principal, case, outcome, text)
        return case


def _check_outcome(outcome: str | None) -> None:
    if outcome not in CASE_OUTCOMES:
        raise Invalid(f"outcome must be one of {', '.join(CASE_OUTCOMES)}", field="outcome")


def _close(session: Session, principal: Principal, case: Case, outcome: str, reason: str) -> None:
    before = {"status": case.status, "outcome": case.outcome}
    case.status, case.outcome, case.closed_at, case.updated_at = "closed", outcome, utcnow(), utcnow()
    add_entry(
        session, case, principal, "status", f"closed: {outcome.replace('_', ' ')} — {reason}", {"outcome": outcome}
    )
    record(
        session,
        principal,
        "case.closed",
        "case",
        case.id,
        before=before,
        after={"status": "closed", "outcome": outcome},
        reason=reason,
    )
    confirmed = outcome in CONFIRMING_OUTCOMES
    alerts = [a for a, _ in case_alerts(session, case)]
    for alert in alerts:
        _set_alert_status(
            session,
            principal,
            alert,
            "closed" if confirmed else "closed_false_positive",
            "alert.closed",
            f"case {case.reference} closed: {outcome}",
            case_id=case.id,
        )
    feedback.record_verdicts(session, principal, alerts, "confirmed" if confirmed else "false_positive", case.id)


def submit_for_review(
    session: Session, principal: Principal, case_id: int, kind: str, reason: str | None, outcome: str | None = None
) -> CaseReview:
    """The owner asks a second supervisor to approve closing the case or filing its report."""
    text = _reason(reason, "the review request")
    if kind not in REVIEW_KINDS:
        raise Invalid(f"kind must be one of {', '.join(REVIEW_KINDS)}", field="kind")
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        if principal.user_id != case.owner_id:
            raise Forbidden(f"only the case owner may submit case {case.reference} for review", field="case_id")
        if pending_review(session, case) is not None:
            raise Conflict("a review is already pending on this case", field="kind")
        if kind == "close":
            _check_outcome(outcome)
            if outcome == "suspicious_transaction_report":
                raise Conflict("to close with a report, submit the report (kind file_report)", field="outcome")
        else:
            report = report_of(session, case)
            if report is None:
                raise Conflict("draft the suspicious transaction report before submitting it", field="kind")
            if report.status != "draft":
                raise Conflict(f"the report is {report.status}, not a draft", field="kind")
            report.status = "pending_approval"
            outcome = "suspicious_transaction_report"
        review = CaseReview(
            case_id=case.id, kind=kind, proposed_outcome=outcome, requested_by_id=principal.user_id, reason=text
        )
        session.add(review)
        session.flush()
        add_entry(
            session,
            case,
            principal,
            "review",
            f"submitted for review ({kind.replace('_', ' ')}): {text}",
            {"review_id": review.id, "outcome": outcome},
        )
        record(
            session,
            principal,
            "case.review_requested",
            "case",
            case.id,
            after={"review_id": review.id, "kind": kind, "outcome": outcome},
            reason=text,
        )
        return review


def decide_review(
    session: Session,
    principal: Principal,
    review_id: int,
    approve: bool,
    reason: str | None,
    lake_root: Path | None = None,
) -> CaseReview:
    """A second supervisor approves (closing the case / filing the report) or rejects a review."""
    require_role(principal, *STAFF)
    text = _reason(reason, "the review decision")
    with unit_of_work(session):
        review = session.get(CaseReview, review_id)
        if review is None:
            raise NotFound(f"no review with id {review_id}", field="review_id")
        case = _open_case_for_edit(session, principal, review.case_id)
        if review.state != "pending":
            raise Conflict(f"review {review_id} was already {review.state}", field="review_id")
        if principal.user_id in (case.owner_id, review.requested_by_id):
            raise Forbidden(
                "four eyes: the reviewer must be a different supervisor from the case owner "
                "and the person who submitted it",
                field="review_id",
            )
        review.state = "approved" if approve else "rejected"
        review.decided_by_id, review.decision_reason, review.decided_at = principal.user_id, text, utcnow()
        add_entry(session, case, principal, "review", f"review {review.state}: {text}", {"review_id": review.id})
        record(
            session,
            principal,
            f"case.review_{review.state}",
            "case",
            case.id,
            before={"review_id": review.id, "state": "pending"},
            after={"state": review.state},
            reason=text,
        )
        report = report_of(session, case) if review.kind == "file_report" else None
        if not approve:
            if report is not None and report.status == "pending_approval":
                report.status = "draft"
            return review
        if review.kind == "file_report":
            assert report is not None
            from harbour.cases.reports import file_report

            file_report(session, principal, case, report, lake_root)
        _close(
            session,
            principal,
            case,
            review.proposed_outcome or "no_further_action",
            f"approved by {principal.username}: {text}",
        )
        return review


def report_of(session: Session, case: Case) -> SuspiciousTransactionReport | None:
    return session.scalar(select(SuspiciousTransactionReport).where(SuspiciousTransactionReport.case_id == case.id))


def case_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Case.status, func.count()).group_by(Case.status)).all()
    return {status: n for status, n in rows}
