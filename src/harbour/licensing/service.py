"""The licensing service: one function per action, each role-checked, tenant-checked, audited, and run in
its own transaction. State changes go through :func:`_transition`, which consults ``workflow.TRANSITIONS``.

Example::

    app = apply(session, principal, parse(ApplicationIn, {...}))
    record_inspection(session, officer, app.id, parse(InspectionIn, {...}))
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbour.core import audit
from harbour.core.auth import Principal, Role, User, assign_assessor, require_platform_access, require_role
from harbour.core.config import Settings
from harbour.core.db import unit_of_work, utcnow
from harbour.core.errors import Conflict, Invalid, NotFound
from harbour.core.tenancy import get_platform
from harbour.core.uploads import store_upload
from harbour.licensing import schemas as sc
from harbour.licensing.models import (
    Application,
    Assessment,
    Document,
    Finding,
    Inspection,
    Licence,
    LicenceCondition,
    LicenceRestriction,
    PenTestReport,
    PlanItem,
    RectificationPlan,
    StateChange,
)
from harbour.licensing.workflow import (
    OFFICER,
    TRANSITIONS,
    State,
    latest_assessment,
    latest_pen_test,
    latest_plan,
    missing_step,
)

log = logging.getLogger(__name__)


# --- reading -----------------------------------------------------------------------------------------


def get_application(session: Session, principal: Principal, application_id: int) -> Application:
    """The application, if the principal may see it (else NotFound, so ids cannot be probed)."""
    app = session.get(Application, application_id)
    if app is None or not principal.can_see_platform(app.platform_id):
        raise NotFound(f"no application {application_id} that you may see", field="application_id")
    return app


def list_applications(session: Session, principal: Principal, state: str | None = None) -> list[Application]:
    require_role(principal, *Role)
    stmt = select(Application).order_by(Application.id)
    visible = principal.visible_platform_ids()
    if visible is not None:
        stmt = stmt.where(Application.platform_id.in_(sorted(visible)))
    if state:
        stmt = stmt.where(Application.state == state)
    return list(session.scalars(stmt))


def licence_for(session: Session, application_id: int) -> Licence | None:
    return session.scalar(select(Licence).where(Licence.application_id == application_id))


def inspections_for(session: Session, application_id: int) -> list[Inspection]:
    return list(session.scalars(select(Inspection).where(Inspection.application_id == application_id)))


def plans_for(session: Session, application_id: int) -> list[RectificationPlan]:
    stmt = select(RectificationPlan).where(RectificationPlan.application_id == application_id)
    return list(session.scalars(stmt.order_by(RectificationPlan.version)))


def documents_for(session: Session, application_id: int) -> list[Document]:
    return list(session.scalars(select(Document).where(Document.application_id == application_id)))


def assessments_for(session: Session, application_id: int) -> list[Assessment]:
    return list(session.scalars(select(Assessment).where(Assessment.application_id == application_id)))


def pen_tests_for(session: Session, application_id: int) -> list[PenTestReport]:
    return list(session.scalars(select(PenTestReport).where(PenTestReport.application_id == application_id)))


# --- the state machine -------------------------------------------------------------------------------


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise Invalid("reason: give a reason of at least 3 characters; it is kept in the history", field="reason")
    return reason


def _transition(
    session: Session, principal: Principal, app: Application, name: str, reason: str, **details: Any
) -> None:
    """Move ``app`` along transition ``name`` or raise Conflict naming the missing step."""
    transition = TRANSITIONS[name]
    require_role(principal, *transition.roles)
    require_platform_access(principal, app.platform_id)
    reason = _require_reason(reason)
    problem = missing_step(session, app, transition)
    if problem:
        raise Conflict(f"cannot {transition.verb}: {problem}", field=name)
    before, now = app.state, utcnow()
    app.state, app.state_since, app.updated_at = transition.target.value, now, now
    session.add(StateChange(application_id=app.id, from_state=before, to_state=app.state, action=name,
                            actor=principal.username, at=now, reason=reason))
    audit.record(session, principal, f"licensing.{name}", "application", app.id,
                 before={"state": before}, after={"state": app.state, **details}, reason=reason)
    session.flush()


def _audit(session: Session, principal: Principal, action: str, entity: str, entity_id: object,
           before: Any, after: Any, reason: str) -> None:
    audit.record(session, principal, f"licensing.{action}", entity, entity_id, before=before, after=after,
                 reason=reason)


def _require_own_platform(principal: Principal, app: Application) -> None:
    """Actions only the applicant platform's own users take (plans, evidence, pen test, withdrawal)."""
    require_role(principal, Role.PLATFORM_USER)
    require_platform_access(principal, app.platform_id)


def _require_state(app: Application, verb: str, *states: State) -> None:
    if app.state not in states:
        needed = " or ".join(s.value.replace("_", " ") for s in states)
        raise Conflict(f"cannot {verb}: the application is {app.state.replace('_', ' ')}; this needs it to be "
                       f"{needed}", field="state")


def transition(session: Session, principal: Principal, application_id: int, name: str, reason: str) -> Application:
    """Take a plain transition that needs nothing but a reason (return, refuse, withdraw, suspend, ...)."""
    if name not in PLAIN_TRANSITIONS:
        raise Invalid(f"unknown action {name!r}; choose one of {', '.join(PLAIN_TRANSITIONS)}", field="action")
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        _transition(session, principal, app, name, reason)
    return app


PLAIN_TRANSITIONS = ("mark_deemed", "send_feedback", "return_application", "refuse", "withdraw", "suspend",
                     "revoke", "close_down")


# --- step 1: application ------------------------------------------------------------------------------


def apply(session: Session, principal: Principal, data: sc.ApplicationIn) -> Application:
    """A platform user applies for their own platform; an officer may record an application (and mark a
    transitional applicant deemed to be licensed) for any platform."""
    require_role(principal, Role.PLATFORM_USER, *OFFICER)
    with unit_of_work(session):
        if principal.role == Role.PLATFORM_USER:
            if data.deemed:
                raise Invalid("deemed: only a licensing officer marks an applicant deemed to be licensed",
                              field="deemed")
            if data.platform_id not in (None, principal.platform_id):
                raise Invalid("platform_id: platform users apply for their own platform only", field="platform_id")
            platform_id = principal.platform_id
        else:
            if data.platform_id is None:
                raise Invalid("platform_id: name the applicant platform", field="platform_id")
            platform_id = data.platform_id
        assert platform_id is not None
        get_platform(session, platform_id)
        _refuse_second_open_application(session, platform_id)
        now = utcnow()
        app = Application(
            platform_id=platform_id, legal_name=data.legal_name, brand=data.brand, website=data.website,
            responsible_officers=data.responsible_officers, business_plan=data.business_plan,
            licences_applied=data.licences_applied, state=State.APPLICATION_RECEIVED.value, deemed=data.deemed,
            target_decision_date=data.target_decision_date, submitted_at=now, state_since=now, updated_at=now,
        )
        session.add(app)
        session.flush()
        session.add(StateChange(application_id=app.id, from_state=None, to_state=app.state, action="apply",
                                actor=principal.username, at=now, reason=data.reason))
        _audit(session, principal, "apply", "application", app.id, None,
               {"state": app.state, "platform_id": platform_id, "legal_name": app.legal_name}, data.reason)
        if data.deemed:
            _transition(session, principal, app, "mark_deemed", "transitional applicant: applied in time")
    return app


def _refuse_second_open_application(session: Session, platform_id: int) -> None:
    finished = (State.RETURNED, State.WITHDRAWN, State.REFUSED, State.REVOKED)
    stmt = select(Application).where(Application.platform_id == platform_id,
                                     Application.state.not_in([s.value for s in finished]))
    existing = session.scalar(stmt.limit(1))
    if existing is not None:
        raise Conflict(f"platform {platform_id} already has application {existing.id} "
                       f"({existing.state.replace('_', ' ')}); withdraw it before applying again",
                       field="platform_id")


# --- step 2: inspection and rectification --------------------------------------------------------------


def record_inspection(session: Session, principal: Principal, application_id: int,
                      data: sc.InspectionIn) -> Inspection:
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        _transition(session, principal, app, "record_inspection", data.reason,
                    inspection={"start": data.start_date, "end": data.end_date, "areas": data.areas})
        inspection = Inspection(application_id=app.id, start_date=data.start_date, end_date=data.end_date,
                                inspectors=data.inspectors, areas=data.areas, summary=data.summary,
                                recorded_by=principal.username)
        session.add(inspection)
        session.flush()
        for finding in data.findings:
            _add_finding(session, principal, app, inspection, finding)
    return inspection


def add_finding(session: Session, principal: Principal, application_id: int, data: sc.FindingIn) -> Finding:
    require_role(principal, *OFFICER)
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        _require_state(app, "record a finding", State.INSPECTION, State.RECTIFICATION)
        inspection = inspections_for(session, app.id)[-1]
        return _add_finding(session, principal, app, inspection, data)


def _add_finding(session: Session, principal: Principal, app: Application, inspection: Inspection,
                 data: sc.FindingIn) -> Finding:
    finding = Finding(application_id=app.id, inspection_id=inspection.id, area=data.area,
                      severity=data.severity, description=data.description, due_date=data.due_date)
    session.add(finding)
    session.flush()
    _audit(session, principal, "finding_recorded", "finding", finding.id, None,
           {"application_id": app.id, "area": data.area, "severity": data.severity, "due": data.due_date},
           "inspection finding")
    return finding


def submit_plan(session: Session, principal: Principal, application_id: int, data: sc.PlanIn) -> RectificationPlan:
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        _require_own_platform(principal, app)
        _require_state(app, "submit a rectification plan", State.RECTIFICATION)
        previous = latest_plan(session, app.id)
        if previous is not None and previous.status in ("submitted", "agreed"):
            raise Conflict(f"cannot submit a rectification plan: plan v{previous.version} is already "
                           f"{previous.status}", field="plan")
        _check_plan_covers_findings(session, app, data)
        plan = RectificationPlan(application_id=app.id, version=(previous.version + 1) if previous else 1,
                                 status="submitted", submitted_by=principal.username)
        session.add(plan)
        session.flush()
        for item in data.items:
            session.add(PlanItem(plan_id=plan.id, finding_id=item.finding_id, action=item.action,
                                 owner=item.owner, target_date=item.target_date))
        _audit(session, principal, "plan_submitted", "application", app.id,
               {"plan": previous.status if previous else None},
               {"plan": "submitted", "version": plan.version, "items": len(data.items)}, data.reason)
        session.flush()
    return plan


def _check_plan_covers_findings(session: Session, app: Application, data: sc.PlanIn) -> None:
    findings = {f.id: f for f in session.scalars(select(Finding).where(Finding.application_id == app.id))}
    for i, item in enumerate(data.items):
        if item.finding_id not in findings:
            raise Invalid(f"items.{i}.finding_id: finding {item.finding_id} is not a finding of this application",
                          field=f"items.{i}.finding_id")
    covered = {item.finding_id for item in data.items}
    missing = sorted(fid for fid, f in findings.items() if f.status == "open" and fid not in covered)
    if missing:
        raise Invalid(f"items: the plan has no action for open finding(s) {', '.join(map(str, missing))}",
                      field="items")


def decide_plan(session: Session, principal: Principal, application_id: int,
                data: sc.PlanDecisionIn) -> RectificationPlan:
    require_role(principal, *OFFICER)
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        _require_state(app, "decide on the rectification plan", State.RECTIFICATION)
        plan = latest_plan(session, app.id)
        if plan is None or plan.status != "submitted":
            raise Conflict("cannot decide on the rectification plan: no plan is awaiting a decision "
                           "(the platform must submit one)", field="plan")
        plan.status, plan.comments, plan.decided_at = data.decision, data.comments, utcnow()
        _audit(session, principal, f"plan_{data.decision}", "application", app.id,
               {"plan": "submitted", "version": plan.version}, {"plan": data.decision, "comments": data.comments},
               data.reason)
        session.flush()
    return plan


def close_finding(session: Session, principal: Principal, finding_id: int, data: sc.CloseFindingIn,
                  document_id: int | None = None) -> Finding:
    with unit_of_work(session):
        finding = session.get(Finding, finding_id)
        if finding is None or not principal.can_see_platform(finding.application.platform_id):
            raise NotFound(f"no finding {finding_id} that you may see", field="finding_id")
        app = finding.application
        _require_own_platform(principal, app)
        _require_state(app, "close a finding", State.INSPECTION, State.RECTIFICATION, State.LICENCE_GRANTED,
                       State.RESTRICTED_OPERATION, State.EXTERNAL_ASSESSMENT, State.FULLY_LICENSED)
        if finding.status == "closed":
            raise Conflict(f"finding {finding_id} is already closed", field="finding_id")
        finding.status, finding.closure_evidence, finding.closed_at = "closed", data.evidence, utcnow()
        finding.closure_document_id = document_id
        _audit(session, principal, "finding_closed", "finding", finding.id, {"status": "open"},
               {"status": "closed", "evidence": data.evidence[:200]}, data.reason)
        session.flush()
    return finding


# --- step 3: licence, pen test ------------------------------------------------------------------------


def grant_licence(session: Session, principal: Principal, application_id: int, data: sc.LicenceIn) -> Licence:
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        restrictions = _restrictions(data)
        _transition(session, principal, app, "grant_licence", data.reason,
                    conditions=len(data.conditions), restrictions=[r[0] for r in restrictions])
        licence = Licence(application_id=app.id, number=f"HBR-{app.platform.code}-{app.id:04d}")
        session.add(licence)
        session.flush()
        for cond in data.conditions:
            session.add(LicenceCondition(licence_id=licence.id, text=cond.text, due_date=cond.due_date))
        for kind, detail in restrictions:
            session.add(LicenceRestriction(licence_id=licence.id, kind=kind, detail=detail))
        session.flush()
    return licence


def _restrictions(data: sc.LicenceIn) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if data.no_retail_clients:
        out.append(("no_retail_clients", "professional investors only; no retail clients"))
    if data.no_new_clients:
        out.append(("no_new_clients", "no new clients may be onboarded"))
    if data.permitted_tokens:
        out.append(("permitted_tokens", ", ".join(data.permitted_tokens)))
    out.extend(("other", text) for text in data.other_restrictions)
    return out


def file_pen_test(session: Session, principal: Principal, application_id: int, data: sc.PenTestIn,
                  document_id: int | None = None) -> PenTestReport:
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        _require_own_platform(principal, app)
        _require_state(app, "file a penetration test report", State.LICENCE_GRANTED)
        report = PenTestReport(application_id=app.id, firm=data.firm, summary=data.summary,
                               document_id=document_id, filed_by=principal.username)
        session.add(report)
        session.flush()
        _audit(session, principal, "pen_test_filed", "application", app.id, None,
               {"pen_test": report.id, "firm": data.firm}, data.reason)
    return report


def confirm_pen_test(session: Session, principal: Principal, application_id: int, reason: str) -> Application:
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        _transition(session, principal, app, "confirm_pen_test", reason)
        report = latest_pen_test(session, app.id)
        assert report is not None  # the guard checked it
        report.confirmed_at, report.confirmed_by = utcnow(), principal.username
        session.flush()
    return app


def set_condition_status(session: Session, principal: Principal, condition_id: int, status: str,
                         reason: str) -> LicenceCondition:
    require_role(principal, *OFFICER)
    if status not in ("open", "met"):
        raise Invalid("status: a condition is either open or met", field="status")
    with unit_of_work(session):
        cond = session.get(LicenceCondition, condition_id)
        if cond is None:
            raise NotFound(f"no licence condition {condition_id}", field="condition_id")
        reason = _require_reason(reason)
        before, cond.status = cond.status, status
        _audit(session, principal, "condition_status", "licence_condition", cond.id, {"status": before},
               {"status": status}, reason)
        session.flush()
    return cond


# --- step 4: external assessment ----------------------------------------------------------------------


def engage_assessor(session: Session, principal: Principal, application_id: int, data: sc.EngageIn) -> Assessment:
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        assessor = session.scalar(select(User).where(User.username == data.assessor))
        if assessor is None or assessor.role != Role.ASSESSOR.value:
            raise Invalid(f"assessor: {data.assessor!r} is not an external assessor's username", field="assessor")
        _transition(session, principal, app, "engage_assessor", data.reason, assessor=assessor.username)
        # The tripartite engagement: the assessor now sees this platform's records.
        assign_assessor(session, assessor.id, app.platform_id)
        engagement = Assessment(application_id=app.id, assessor_user_id=assessor.id, scope=data.scope,
                                due_date=data.due_date)
        session.add(engagement)
        session.flush()
    return engagement


def file_assessment(session: Session, principal: Principal, application_id: int,
                    data: sc.AssessmentReportIn) -> Assessment:
    require_role(principal, Role.ASSESSOR)
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        _require_state(app, "file an assessment report", State.EXTERNAL_ASSESSMENT)
        engagement = latest_assessment(session, app.id)
        if engagement is None or engagement.assessor_user_id != principal.user_id:
            raise NotFound(f"you are not the assessor engaged for application {app.id}", field="application_id")
        if engagement.status not in ("engaged", "returned"):
            raise Conflict(f"cannot file an assessment report: the report is already {engagement.status}",
                           field="assessment")
        before = engagement.status
        engagement.report, engagement.opinion = data.report, data.opinion
        engagement.status, engagement.filed_at = "filed", utcnow()
        _audit(session, principal, "assessment_filed", "application", app.id, {"assessment": before},
               {"assessment": "filed", "opinion": data.opinion}, data.reason)
        session.flush()
    return engagement


def decide_assessment(session: Session, principal: Principal, application_id: int,
                      data: sc.AssessmentDecisionIn) -> Application:
    """Accept the report and lift the restrictions (``fully_licensed``), or send the report back."""
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        if data.decision == "accept":
            _transition(session, principal, app, "lift_restrictions", data.reason)
            _accept_assessment(session, app, data.comments)
        else:
            _return_assessment(session, principal, app, data)
    return app


def _accept_assessment(session: Session, app: Application, comments: str) -> None:
    engagement = latest_assessment(session, app.id)
    assert engagement is not None  # the guard checked it
    now = utcnow()
    engagement.status, engagement.comments, engagement.decided_at = "accepted", comments, now
    licence = licence_for(session, app.id)
    if licence is not None:
        licence.restrictions_lifted_at = now
        for restriction in licence.restrictions:
            restriction.lifted_at = now
    session.flush()


def _return_assessment(session: Session, principal: Principal, app: Application,
                       data: sc.AssessmentDecisionIn) -> None:
    require_role(principal, *OFFICER)
    _require_state(app, "send the assessment back", State.EXTERNAL_ASSESSMENT)
    engagement = latest_assessment(session, app.id)
    if engagement is None or engagement.status != "filed":
        raise Conflict("cannot send the assessment back: the assessor has not filed a report", field="assessment")
    if len(data.comments) < 3:
        raise Invalid("comments: say what the assessor must address", field="comments")
    engagement.status, engagement.comments, engagement.decided_at = "returned", data.comments, utcnow()
    _audit(session, principal, "assessment_returned", "application", app.id, {"assessment": "filed"},
           {"assessment": "returned", "comments": data.comments}, _require_reason(data.reason))
    session.flush()


# --- documents ----------------------------------------------------------------------------------------


def upload_document(session: Session, principal: Principal, settings: Settings, application_id: int,
                    stream: BinaryIO, filename: str, kind: str = "application") -> Document:
    """Store a document for an application: its own platform's users and officers may upload."""
    require_role(principal, Role.PLATFORM_USER, Role.ASSESSOR, *OFFICER)
    with unit_of_work(session):
        app = get_application(session, principal, application_id)
        stored = store_upload(stream, filename, Path(settings.upload_dir), max_bytes=settings.max_upload_bytes)
        doc = Document(platform_id=app.platform_id, application_id=app.id, kind=kind,
                       original_name=stored.original_name, stored_name=stored.stored_path.name,
                       sha256=stored.sha256, size=stored.size, uploaded_by=principal.username)
        session.add(doc)
        session.flush()
        _audit(session, principal, "document_uploaded", "document", doc.id, None,
               {"application_id": app.id, "name": doc.original_name, "sha256": doc.sha256, "kind": kind},
               f"{kind} document uploaded")
    return doc


def open_document(session: Session, principal: Principal, settings: Settings,
                  document_id: int) -> tuple[Document, Path]:
    """The document and its file, if the principal may read it. Consultation papers (no platform) are
    readable by every logged-in user."""
    require_role(principal, *Role)
    doc = session.get(Document, document_id)
    if doc is None or (doc.platform_id is not None and not principal.can_see_platform(doc.platform_id)):
        raise NotFound(f"no document {document_id} that you may see", field="document_id")
    path = Path(settings.upload_dir) / doc.stored_name
    if not path.is_file():
        raise NotFound(f"document {document_id}'s file is missing from the upload store", field="document_id")
    return doc, path


def overdue(due: dt.date | None, done: bool, today: dt.date | None = None) -> bool:
    return bool(due and not done and due < (today or utcnow().date()))
