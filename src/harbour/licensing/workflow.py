"""The licensing states and the one table of transitions that drives the service.

Each transition names the states it may start from, the state it leads to, the roles that may take it
and the guards (preconditions on the record) that must hold. ``service.transition`` is the only code
that changes ``Application.state``; it consults this table, so the rules live here and nowhere else.

Decision (documented in docs/user-guide/licensing-officer.md): every *critical* finding must be closed
before the officer confirms the penetration test (restricted operation starts), and it is checked
again when restrictions are lifted. Major and minor findings may stay open, tracked by their due dates.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from harbour.core.auth import Role
from harbour.licensing.models import Application, Assessment, Finding, Inspection, PenTestReport, RectificationPlan


class State(enum.StrEnum):
    APPLICATION_RECEIVED = "application_received"
    DEEMED_LICENSED = "deemed_licensed"
    INSPECTION = "inspection"
    RECTIFICATION = "rectification"
    LICENCE_GRANTED = "licence_granted"
    RESTRICTED_OPERATION = "restricted_operation"
    EXTERNAL_ASSESSMENT = "external_assessment"
    FULLY_LICENSED = "fully_licensed"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"
    REFUSED = "refused"
    CLOSING_DOWN = "closing_down"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


S = State
OFFICER = frozenset({Role.LICENSING_OFFICER, Role.ADMIN})
PLATFORM = frozenset({Role.PLATFORM_USER})

# The main path, in order (for timelines and the pipeline board).
MAIN_PATH = (
    S.APPLICATION_RECEIVED, S.INSPECTION, S.RECTIFICATION, S.LICENCE_GRANTED,
    S.RESTRICTED_OPERATION, S.EXTERNAL_ASSESSMENT, S.FULLY_LICENSED,
)
# Applications still in the licensing steps (not decided, not closed).
OPEN_STEPS = (S.APPLICATION_RECEIVED, S.DEEMED_LICENSED, S.INSPECTION, S.RECTIFICATION)
LICENSED = (S.LICENCE_GRANTED, S.RESTRICTED_OPERATION, S.EXTERNAL_ASSESSMENT, S.FULLY_LICENSED)
CLOSED = (S.RETURNED, S.WITHDRAWN, S.REFUSED, S.REVOKED)
BEFORE_LICENCE = (S.APPLICATION_RECEIVED, S.DEEMED_LICENSED, S.INSPECTION, S.RECTIFICATION)

LABELS = {s: s.value.replace("_", " ").capitalize() for s in State}
LABELS[S.DEEMED_LICENSED] = "Deemed to be licensed"


# --- guards: each returns None when it holds, else what is missing --------------------------------------

Guard = Callable[[Session, Application], str | None]


def has_inspection(session: Session, app: Application) -> str | None:
    n = session.scalar(select(func.count()).select_from(Inspection).where(Inspection.application_id == app.id))
    return None if n else "no on-site inspection has been recorded"


def plan_agreed(session: Session, app: Application) -> str | None:
    plan = latest_plan(session, app.id)
    if plan is None:
        return "the platform has not submitted a rectification plan"
    return None if plan.status == "agreed" else "the rectification plan has not been agreed"


def critical_findings_closed(session: Session, app: Application) -> str | None:
    n = session.scalar(
        select(func.count()).select_from(Finding).where(
            Finding.application_id == app.id, Finding.severity == "critical", Finding.status != "closed"
        )
    )
    return None if not n else f"{n} critical finding(s) are still open"


def pen_test_filed(session: Session, app: Application) -> str | None:
    return None if latest_pen_test(session, app.id) else "no penetration test report has been filed"


def pen_test_confirmed(session: Session, app: Application) -> str | None:
    report = latest_pen_test(session, app.id)
    return None if report and report.confirmed_at else "the penetration test report has not been confirmed"


def assessment_filed(session: Session, app: Application) -> str | None:
    a = latest_assessment(session, app.id)
    if a is None:
        return "no external assessor has been engaged"
    return None if a.status in ("filed", "accepted") else "the external assessor has not filed a report"


def latest_plan(session: Session, application_id: int) -> RectificationPlan | None:
    stmt = select(RectificationPlan).where(RectificationPlan.application_id == application_id)
    return session.scalar(stmt.order_by(RectificationPlan.version.desc()).limit(1))


def latest_pen_test(session: Session, application_id: int) -> PenTestReport | None:
    stmt = select(PenTestReport).where(PenTestReport.application_id == application_id)
    return session.scalar(stmt.order_by(PenTestReport.id.desc()).limit(1))


def latest_assessment(session: Session, application_id: int) -> Assessment | None:
    stmt = select(Assessment).where(Assessment.application_id == application_id)
    return session.scalar(stmt.order_by(Assessment.id.desc()).limit(1))


# --- the table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    name: str
    verb: str  # for messages: "cannot <verb>: <what is missing>"
    sources: tuple[State, ...]
    target: State
    roles: frozenset[Role]
    guards: tuple[Guard, ...] = ()


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("mark_deemed", "mark the applicant deemed to be licensed", (S.APPLICATION_RECEIVED,),
                   S.DEEMED_LICENSED, OFFICER),
        Transition("record_inspection", "record an inspection", (S.APPLICATION_RECEIVED, S.DEEMED_LICENSED),
                   S.INSPECTION, OFFICER),
        Transition("send_feedback", "send the inspection feedback", (S.INSPECTION,), S.RECTIFICATION, OFFICER,
                   (has_inspection,)),
        Transition("grant_licence", "grant a licence", (S.RECTIFICATION,), S.LICENCE_GRANTED, OFFICER,
                   (has_inspection, plan_agreed)),
        Transition("confirm_pen_test", "confirm the penetration test and start restricted operation",
                   (S.LICENCE_GRANTED,), S.RESTRICTED_OPERATION, OFFICER,
                   (pen_test_filed, critical_findings_closed)),
        Transition("engage_assessor", "engage an external assessor", (S.RESTRICTED_OPERATION,),
                   S.EXTERNAL_ASSESSMENT, OFFICER, (pen_test_confirmed,)),
        Transition("lift_restrictions", "accept the assessment and lift the restrictions",
                   (S.EXTERNAL_ASSESSMENT,), S.FULLY_LICENSED, OFFICER,
                   (has_inspection, plan_agreed, critical_findings_closed, pen_test_confirmed, assessment_filed)),
        Transition("return_application", "return the application", BEFORE_LICENCE, S.RETURNED, OFFICER),
        Transition("refuse", "refuse the application", BEFORE_LICENCE, S.REFUSED, OFFICER),
        Transition("withdraw", "withdraw the application", BEFORE_LICENCE, S.WITHDRAWN, PLATFORM),
        Transition("suspend", "suspend the licence", LICENSED, S.SUSPENDED, OFFICER),
        Transition("revoke", "revoke the licence", (*LICENSED, S.SUSPENDED), S.REVOKED, OFFICER),
        Transition("close_down", "record the platform as closing down",
                   (S.DEEMED_LICENSED, *LICENSED, S.SUSPENDED), S.CLOSING_DOWN, OFFICER),
    )
}


def allowed_from(state: str) -> list[Transition]:
    return [t for t in TRANSITIONS.values() if state in t.sources]


def missing_step(session: Session, app: Application, transition: Transition) -> str | None:
    """The first unmet precondition of ``transition`` for ``app``, or None when it may be taken."""
    if app.state not in transition.sources:
        allowed = ", ".join(LABELS[s].lower() for s in transition.sources)
        return f"the application is {LABELS[State(app.state)].lower()}; this step needs it to be {allowed}"
    for guard in transition.guards:
        problem = guard(session, app)
        if problem:
            return problem
    return None
