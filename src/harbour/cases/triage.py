"""The triage queue: open alerts ranked by a priority that explains itself.

Priority is a sum of four contributions, in points out of 100 (see docs/cases.md)::

    score      40 × alert score (0..1)
    severity   25 × typology severity (SEVERITY, 0..1)
    licensing  15 × the platform's licensing risk (0..1: restricted operation, open findings, ...)
    history    20 × the detector's confirmation rate, with a Beta(2, 2) prior (a new detector scores 10)

Each contribution is persisted on ``alert_triage`` beside the total, so the queue is an index range scan
on ``(queue_state, priority)`` and every row can show why it ranks where it does. Contributions are
re-priced when their input changes: history when an outcome is recorded for the detector, licensing
when a platform's licensing record differs from the factor last applied (checked on each queue read).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, and_, case, func, insert, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from harbour.cases.models import AlertTriage, OutcomeLabel, PlatformTriageFactor
from harbour.core.auth import Principal, Role, User, require_role
from harbour.core.db import UTCDateTime, utcnow
from harbour.core.errors import Invalid
from harbour.core.tenancy import Platform  # licensing's models also refer to Platform by name
from harbour.detect.alert_store import AlertRecord

log = logging.getLogger(__name__)

WEIGHTS = {"score": 40.0, "severity": 25.0, "licensing": 15.0, "history": 20.0}
PRIOR_CONFIRMED, PRIOR_FALSE_POSITIVE = 2.0, 2.0
HIGH_PRIORITY = 60.0  # a case at or above this priority needs four eyes to close

# How grave a typology is if the alert is right (0..1). Sanctions and laundering patterns rank highest,
# noisy order-book patterns lowest; see docs/cases.md for the reasoning.
SEVERITY: dict[str, float] = {
    "sanctions_exposure": 1.0,
    "insider_pre_listing": 0.9,
    "pump_and_dump": 0.85,
    "peel_chain": 0.8,
    "structuring": 0.8,
    "cycle": 0.75,
    "scatter_gather": 0.75,
    "gather_scatter": 0.75,
    "front_running": 0.75,
    "wash_trade": 0.7,
    "cross_venue": 0.7,
    "layering": 0.7,
    "fan_in": 0.65,
    "fan_out": 0.65,
    "bipartite": 0.65,
    "stack": 0.65,
    "rapid_movement": 0.6,
    "spoofing": 0.6,
    "marking_the_close": 0.55,
    "momentum_ignition": 0.5,
    "travel_rule_gap": 0.45,
    "quote_stuffing": 0.35,
}
DEFAULT_SEVERITY = 0.5

# Licensing risk of a platform by the state of its latest application.
STATE_RISK: dict[str, float] = {
    "suspended": 1.0,
    "revoked": 1.0,
    "closing_down": 0.9,
    "refused": 0.9,
    "restricted_operation": 0.6,
    "rectification": 0.5,
    "inspection": 0.4,
    "deemed_licensed": 0.4,
    "application_received": 0.4,
    "licence_granted": 0.3,
    "external_assessment": 0.3,
    "fully_licensed": 0.0,
}
NO_RECORD_RISK = 0.5  # a venue without any licensing record is itself a concern
FINDING_RISK = {"critical": 0.2, "major": 0.1, "minor": 0.05}

SORTS = {"priority", "score", "start", "typology"}
QUEUE_STATES = ("open", "in_case", "closed_false_positive", "closed")


@dataclass(frozen=True)
class Factors:
    score_pts: float
    severity_pts: float
    licensing_pts: float
    history_pts: float

    @property
    def priority(self) -> float:
        # The same additions in the same order as the SQL that prices alerts in bulk, so Python and
        # the database agree to the last bit (the ranking never depends on where a row was priced).
        return self.score_pts + self.severity_pts + self.licensing_pts + self.history_pts


def severity_of(typology: str) -> float:
    return SEVERITY.get(typology, DEFAULT_SEVERITY)


def confirmation_rate(confirmed: int, false_positive: int) -> float:
    """Posterior mean of the share of a detector's alerts that analysts confirm (Beta(2, 2) prior)."""
    return (confirmed + PRIOR_CONFIRMED) / (confirmed + false_positive + PRIOR_CONFIRMED + PRIOR_FALSE_POSITIVE)


def factors(score: float, typology: str, licensing_risk: float, rate: float) -> Factors:
    clamp = min(max(float(score), 0.0), 1.0)
    return Factors(
        score_pts=WEIGHTS["score"] * clamp,
        severity_pts=round(WEIGHTS["severity"] * severity_of(typology), 2),
        licensing_pts=round(WEIGHTS["licensing"] * licensing_risk, 2),
        history_pts=round(WEIGHTS["history"] * rate, 2),
    )


def explain(row: AlertTriage) -> list[dict[str, Any]]:
    """Each factor's contribution in points, with the reason it has that value."""
    return [
        {"factor": "score", "points": row.score_pts, "why": f"detector score × {WEIGHTS['score']:.0f}"},
        {
            "factor": "severity",
            "points": row.severity_pts,
            "why": f"{row.typology} severity {severity_of(row.typology):.2f} × {WEIGHTS['severity']:.0f}",
        },
        {
            "factor": "licensing",
            "points": row.licensing_pts,
            "why": f"platform licensing risk × {WEIGHTS['licensing']:.0f}",
        },
        {
            "factor": "history",
            "points": row.history_pts,
            "why": f"{row.detector} confirmation rate × {WEIGHTS['history']:.0f} (new detectors: 10)",
        },
    ]


# --- the licensing factor ------------------------------------------------------------------------------


def licensing_risks(session: Session, platform_ids: set[int | None]) -> dict[int | None, tuple[float, str]]:
    """Each platform's licensing risk (0..1) and a short description, read from the licensing record in two
    queries (latest application per platform, open findings per application).

    The licensing feature is optional to this module: without its tables the factor is neutral.
    """
    out: dict[int | None, tuple[float, str]] = {}
    if None in platform_ids:
        out[None] = (NO_RECORD_RISK, "venue not tied to a registered platform")
    ids = sorted(p for p in platform_ids if p is not None)
    if not ids:
        return out
    try:
        from harbour.licensing.models import Application, Finding
    except ImportError:
        return {**out, **{pid: (0.0, "licensing record not available") for pid in ids}}
    latest = (
        select(Application.platform_id, func.max(Application.id).label("app_id"))
        .where(Application.platform_id.in_(ids))
        .group_by(Application.platform_id)
        .subquery()
    )
    apps = {
        pid: (app_id, state)
        for pid, app_id, state in session.execute(
            select(latest.c.platform_id, latest.c.app_id, Application.state).join(
                Application, Application.id == latest.c.app_id
            )
        )
    }
    findings: dict[int, list[tuple[str, int]]] = {}
    if apps:
        for app_id, severity, n in session.execute(
            select(Finding.application_id, Finding.severity, func.count())
            .where(Finding.application_id.in_([a for a, _ in apps.values()]), Finding.status == "open")
            .group_by(Finding.application_id, Finding.severity)
        ):
            findings.setdefault(app_id, []).append((severity, n))
    for pid in ids:
        if pid not in apps:
            out[pid] = (NO_RECORD_RISK, "no licence application on record")
            continue
        app_id, state = apps[pid]
        found = findings.get(app_id, [])
        extra = sum(FINDING_RISK.get(sev, 0.05) * n for sev, n in found)
        open_count = sum(n for _, n in found)
        described = state + (f", {open_count} open finding(s)" if open_count else "")
        out[pid] = (round(min(1.0, STATE_RISK.get(state, 0.3) + extra), 3), described)
    return out


def licensing_risk(session: Session, platform_id: int | None) -> tuple[float, str]:
    """One platform's licensing risk and its description (see ``licensing_risks``)."""
    return licensing_risks(session, {platform_id})[platform_id]


# --- the outcome history factor -------------------------------------------------------------------------


def detector_rates(session: Session, detectors: set[str] | None = None) -> dict[str, float]:
    stmt = select(OutcomeLabel.detector, OutcomeLabel.verdict, func.count()).group_by(
        OutcomeLabel.detector, OutcomeLabel.verdict
    )
    if detectors is not None:
        stmt = stmt.where(OutcomeLabel.detector.in_(sorted(detectors)))
    counts: dict[str, list[int]] = {}
    for detector, verdict, n in session.execute(stmt):
        pair = counts.setdefault(detector, [0, 0])
        pair[0 if verdict == "confirmed" else 1] += n
    return {d: confirmation_rate(c, f) for d, (c, f) in counts.items()}


def reprice_detector(session: Session, detector: str) -> int:
    """Re-price the open alerts of one detector after its outcome history changed; returns rows touched."""
    rate = detector_rates(session, {detector}).get(detector, confirmation_rate(0, 0))
    pts = round(WEIGHTS["history"] * rate, 2)
    result = session.execute(
        update(AlertTriage)
        .where(AlertTriage.detector == detector, AlertTriage.queue_state == "open")
        .values(
            history_pts=pts,
            priority=AlertTriage.score_pts + AlertTriage.severity_pts + AlertTriage.licensing_pts + pts,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def reprice_open(session: Session) -> int:
    """Re-price every open alert from its current score (a surveillance re-run may re-score known
    alerts), every detector's history and every platform's licensing risk. Returns open alerts re-priced."""
    sync_queue(session)
    current = select(AlertRecord.score).where(AlertRecord.alert_id == AlertTriage.alert_id).scalar_subquery()
    clamped = case((current < 0, literal(0.0, Float)), (current > 1, literal(1.0, Float)), else_=current)
    score = WEIGHTS["score"] * clamped
    result = session.execute(
        update(AlertTriage)
        .where(AlertTriage.queue_state == "open")
        .values(
            score_pts=score,
            priority=((score + AlertTriage.severity_pts) + AlertTriage.licensing_pts) + AlertTriage.history_pts,
        )
        .execution_options(synchronize_session=False)
    )
    for detector in session.scalars(select(AlertTriage.detector).distinct()):
        reprice_detector(session, detector)
    for factor in session.scalars(select(PlatformTriageFactor)):
        factor.points = -1.0  # forces _refresh_platform_factors to re-apply the current risk
    _refresh_platform_factors(session)
    return int(getattr(result, "rowcount", 0) or 0)


# --- keeping alert_triage in step with alerts ------------------------------------------------------------


def sync_queue(session: Session) -> int:
    """Give every alert without a triage row one (priced now), and re-price platforms whose licensing
    state changed. Idempotent; returns the number of alerts added. The caller commits."""
    added = _add_missing(session)
    _refresh_platform_factors(session)
    return added


def _add_missing(session: Session) -> int:
    """Price every alert without a triage row in one INSERT … SELECT (no rows travel through Python).

    The per-typology, per-platform and per-detector points are computed here (few values) and passed as
    float parameters in CASE expressions; the score part is ``40 × clamp(score)`` in SQL.
    """
    # Counting both tables is far cheaper than the anti-join, and the counts differ only when the
    # detectors stored new alerts since the last read.
    n_alerts = session.scalar(select(func.count()).select_from(AlertRecord)) or 0
    n_triage = session.scalar(select(func.count()).select_from(AlertTriage)) or 0
    if n_alerts == n_triage:
        return 0
    platform_ids: set[int | None] = {None, *session.scalars(select(Platform.id))}
    risk = _platform_risk_recorded(session, platform_ids)
    rates = detector_rates(session)
    neutral = factors(0.0, "", 0.0, confirmation_rate(0, 0))

    def pts(value: float) -> Any:
        return literal(value, Float)

    score = WEIGHTS["score"] * case(
        (AlertRecord.score < 0, pts(0.0)), (AlertRecord.score > 1, pts(1.0)), else_=AlertRecord.score
    )
    severity = case(
        {t: pts(factors(0.0, t, 0.0, 0.0).severity_pts) for t in SEVERITY},
        value=AlertRecord.typology,
        else_=pts(neutral.severity_pts),
    )
    licensing_by_platform = {pid: pts(factors(0.0, "", r, 0.0).licensing_pts) for pid, r in risk.items() if pid}
    licensing = (
        case(
            licensing_by_platform,
            value=AlertRecord.platform_id,
            else_=pts(factors(0.0, "", risk[None], 0.0).licensing_pts),
        )
        if licensing_by_platform
        else pts(factors(0.0, "", risk[None], 0.0).licensing_pts)
    )
    history = (
        case(
            {d: pts(factors(0.0, "", 0.0, r).history_pts) for d, r in rates.items()},
            value=AlertRecord.detector,
            else_=pts(neutral.history_pts),
        )
        if rates
        else pts(neutral.history_pts)
    )
    source = select(
        AlertRecord.alert_id,
        AlertRecord.status,
        ((score + severity) + licensing) + history,
        score,
        severity,
        licensing,
        history,
        AlertRecord.detector,
        AlertRecord.typology,
        AlertRecord.venue,
        AlertRecord.platform_id,
        literal(utcnow(), UTCDateTime()),
    ).where(~select(AlertTriage.alert_id).where(AlertTriage.alert_id == AlertRecord.alert_id).exists())
    columns = [
        "alert_id",
        "queue_state",
        "priority",
        "score_pts",
        "severity_pts",
        "licensing_pts",
        "history_pts",
        "detector",
        "typology",
        "venue",
        "platform_id",
        "updated_at",
    ]
    try:
        with session.begin_nested():
            result = session.execute(insert(AlertTriage).from_select(columns, source))
    except IntegrityError:
        # Another request priced the same alerts at the same moment; theirs are as good as ours.
        log.info("triage rows were added concurrently by another request")
        return 0
    return int(getattr(result, "rowcount", 0) or 0)


def _platform_risk_recorded(session: Session, platform_ids: set[int | None]) -> dict[int | None, float]:
    """Current licensing risk of these platforms; remembered for those not yet on record."""
    current = licensing_risks(session, platform_ids)
    known = set(session.scalars(select(PlatformTriageFactor.platform_id)))
    for pid, (risk, state) in current.items():
        if pid is not None and pid not in known:
            session.add(PlatformTriageFactor(platform_id=pid, points=risk, state=state[:200]))
    session.flush()
    return {pid: risk for pid, (risk, _) in current.items()}


def _refresh_platform_factors(session: Session) -> None:
    stored = session.scalars(select(PlatformTriageFactor)).all()
    if not stored:
        return
    current = licensing_risks(session, {f.platform_id for f in stored})
    for factor in stored:
        risk, state = current[factor.platform_id]
        if abs(risk - factor.points) < 1e-9:
            continue
        pts = round(WEIGHTS["licensing"] * risk, 2)
        session.execute(
            update(AlertTriage)
            .where(AlertTriage.platform_id == factor.platform_id, AlertTriage.queue_state == "open")
            .values(
                licensing_pts=pts,
                priority=AlertTriage.score_pts + AlertTriage.severity_pts + pts + AlertTriage.history_pts,
            )
            .execution_options(synchronize_session=False)
        )
        factor.points, factor.state, factor.updated_at = risk, state[:200], utcnow()
    session.flush()


# --- the queue -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    state: str = "open"
    typology: str | None = None
    venue: str | None = None
    detector: str | None = None
    assignee: str | None = None  # "me", "none", or a user id
    min_priority: float | None = None
    sort: str = "priority"
    page: int = 1
    per_page: int = 50

    def check(self) -> None:
        if self.state not in QUEUE_STATES:
            raise Invalid(f"state must be one of {', '.join(QUEUE_STATES)}", field="state")
        if self.sort not in SORTS:
            raise Invalid(f"sort must be one of {', '.join(sorted(SORTS))}", field="sort")
        if self.page < 1:
            raise Invalid("page starts at 1", field="page")
        if not 1 <= self.per_page <= 500:
            raise Invalid("per_page must be between 1 and 500", field="per_page")
        if self.assignee not in (None, "", "me", "none") and not str(self.assignee).isdigit():
            raise Invalid("assignee must be 'me', 'none' or a user id", field="assignee")


@dataclass
class QueueRow:
    triage: AlertTriage
    alert: AlertRecord
    assignee: str | None

    def as_dict(self) -> dict[str, Any]:
        a = self.alert
        return {
            "alert_id": a.alert_id,
            "priority": self.triage.priority,
            "explanation": explain(self.triage),
            "detector": a.detector,
            "typology": a.typology,
            "venue": a.venue,
            "platform_id": a.platform_id,
            "symbol": a.symbol,
            "accounts": a.accounts,
            "start": a.start.isoformat(),
            "end": a.end.isoformat(),
            "score": a.score,
            "summary": a.explanation,
            "status": self.triage.queue_state,
            "assignee": self.assignee,
            "case_id": self.triage.case_id,
        }


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int
    filter: QueueFilter

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.filter.per_page))


def read_queue(session: Session, principal: Principal, flt: QueueFilter) -> QueuePage:
    """One page of the triage queue. Supervisors and admins only (every platform's alerts)."""
    require_role(principal, Role.SUPERVISOR, Role.ADMIN)
    flt.check()
    sync_queue(session)
    session.commit()  # the triage rows are derived data; keep them even if rendering fails later
    conditions = [AlertTriage.queue_state == flt.state]
    if flt.typology:
        conditions.append(AlertTriage.typology == flt.typology)
    if flt.venue:
        conditions.append(AlertTriage.venue == flt.venue)
    if flt.detector:
        conditions.append(AlertTriage.detector == flt.detector)
    if flt.min_priority is not None:
        conditions.append(AlertTriage.priority >= flt.min_priority)
    if flt.assignee == "me":
        conditions.append(AlertTriage.assignee_id == principal.user_id)
    elif flt.assignee == "none":
        conditions.append(AlertTriage.assignee_id.is_(None))
    elif flt.assignee:
        conditions.append(AlertTriage.assignee_id == int(flt.assignee))
    where = and_(*conditions)
    total = int(session.scalar(select(func.count()).select_from(AlertTriage).where(where)) or 0)
    order = {
        "priority": (AlertTriage.priority.desc(), AlertTriage.alert_id),
        "score": (AlertTriage.score_pts.desc(), AlertTriage.alert_id),
        "typology": (AlertTriage.typology, AlertTriage.priority.desc()),
        "start": (AlertRecord.start.desc(), AlertTriage.alert_id),
    }[flt.sort]
    stmt = (
        select(AlertTriage, AlertRecord, User.username)
        .join(AlertRecord, AlertRecord.alert_id == AlertTriage.alert_id)
        .outerjoin(User, User.id == AlertTriage.assignee_id)
        .where(where)
        .order_by(*order)
        .limit(flt.per_page)
        .offset((flt.page - 1) * flt.per_page)
    )
    rows = [QueueRow(t, a, u) for t, a, u in session.execute(stmt)]
    return QueuePage(rows, total, flt)


def facet_values(session: Session, state: str = "open") -> dict[str, list[str]]:
    """Distinct typologies, venues and detectors among alerts in ``state``, for the filter drop-downs.

    A loose index scan (one index seek per distinct value, via a recursive query that both SQLite and
    PostgreSQL run) instead of DISTINCT, which would walk all 100,000 index entries.
    """
    out: dict[str, list[str]] = {}
    for name in ("typology", "venue", "detector"):
        # ``name`` comes from the fixed tuple above, never from the request.
        sql = text(
            f"WITH RECURSIVE v(x) AS ("
            f" SELECT min({name}) FROM alert_triage WHERE queue_state = :s"
            f" UNION ALL SELECT (SELECT min({name}) FROM alert_triage WHERE queue_state = :s AND {name} > v.x)"
            f" FROM v WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL"
        )
        out[name] = [row[0] for row in session.execute(sql, {"s": state})]
    return out


def ago(value: dt.datetime) -> str:
    """A short age such as '3d' for table cells."""
    seconds = (utcnow() - value).total_seconds()
    return f"{int(seconds // 86400)}d" if seconds >= 86400 else f"{int(seconds // 3600)}h"
