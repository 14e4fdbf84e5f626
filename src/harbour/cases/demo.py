"""Demo step: turn the detectors' alerts into case work at different stages.

After the detector step: price the queue, close a few noisy alerts as false positives, and open cases
from the best suggestions — one waiting on a request for information, one whose request the platform
answered, one waiting for a second reviewer, one closed with no further action, and one whose suspicious
transaction report has been filed through four eyes.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbour.cases import grouping, reports, rfi, service, triage
from harbour.cases.models import AlertTriage
from harbour.core.auth import Principal, Role, User, create_user, principal_for
from harbour.core.db import transaction, utcnow

log = logging.getLogger(__name__)


def seed(ctx: Any) -> str:
    with transaction(ctx.session_factory) as session:
        added = triage.sync_queue(session)
    if added == 0 and not ctx.facts.get("alerts"):
        return "no alerts to triage (the detector step found none)"
    owner, reviewer = _staff(ctx)
    session = ctx.session_factory()
    try:
        return _build(ctx, session, owner, reviewer)
    finally:
        session.close()


def _staff(ctx: Any) -> tuple[Principal, Principal]:
    """The demo supervisor (from the licensing step, or created here) and a second supervisor to review."""
    with transaction(ctx.session_factory) as s:
        sup = s.scalar(select(User).where(User.username == "supervisor"))
        if sup is None:
            sup = create_user(
                s,
                username="supervisor",
                password=ctx.password,
                role=Role.SUPERVISOR,
                display_name="Sam Supervisor (demo)",
            )
            ctx.logins.append(("supervisor", "supervisor", "the triage queue, cases, reports"))
        rev = s.scalar(select(User).where(User.username == "reviewer"))
        if rev is None:
            # Same password as the supervisor; reusing the hash keeps the seed fast.
            rev = User(
                username="reviewer",
                display_name="Riley Reviewer (demo)",
                role=Role.SUPERVISOR.value,
                password_hash=sup.password_hash,
            )
            s.add(rev)
            s.flush()
        ctx.logins.append(("reviewer", "supervisor", "second pair of eyes: approves closures and reports"))
        return principal_for(s, sup), principal_for(s, rev)


def _build(ctx: Any, session: Session, owner: Principal, reviewer: Principal) -> str:
    noisy = _close_noise(session, owner)
    groups = grouping.suggest(session, owner, lake_root=ctx.lake_root)
    seeds = [g.alert_ids for g in groups[:5]]
    singles = [
        a
        for (a,) in session.execute(
            select(AlertTriage.alert_id)
            .where(AlertTriage.queue_state == "open")
            .order_by(AlertTriage.priority.desc())
            .limit(20)
        )
    ]
    for alert_id in singles:  # top up with single alerts when there are few groups
        if len(seeds) >= 5:
            break
        if not any(alert_id in s for s in seeds):
            seeds.append([alert_id])
    stages = [_stage_rfi_pending, _stage_rfi_answered, _stage_review_pending, _stage_closed_nfa, _stage_str_filed]
    made = []
    for ids, stage in zip(seeds, stages, strict=False):
        case = service.open_case(session, owner, ids, reason="demo: accepted suggestion")
        made.append(stage(ctx, session, case.id, owner, reviewer))
    ctx.facts["cases"] = made
    return f"{noisy} alerts closed as false positives; {len(made)} cases: " + ", ".join(made)


def _close_noise(session: Session, owner: Principal) -> int:
    open_alerts = select(AlertTriage.alert_id).where(AlertTriage.queue_state == "open")
    if session.scalar(open_alerts.offset(15).limit(1)) is None:
        return 0  # too few alerts to spare any for the cases
    ids = list(session.scalars(open_alerts.order_by(AlertTriage.priority).limit(5)))
    return service.bulk_action(
        session, owner, ids, "close_false_positive", "demo: low-score alerts reviewed and found benign"
    )


def _deadline(days: int) -> dt.datetime:
    return utcnow() + dt.timedelta(days=days)


def _platform_user(session: Session, platform_id: int | None) -> Principal | None:
    if platform_id is None:
        return None
    user = session.scalar(select(User).where(User.role == Role.PLATFORM_USER.value, User.platform_id == platform_id))
    return principal_for(session, user) if user else None


def _stage_rfi_pending(ctx: Any, session: Session, case_id: int, owner: Principal, _r: Principal) -> str:
    service.move_case(session, owner, case_id, "investigating", "demo: reviewing the trades")
    service.add_note(session, owner, case_id, "Pattern repeats daily at the close; asked the platform for KYC.")
    case = service.get_case(session, owner, case_id)
    if case.platform_id is not None:
        rfi.send_request(
            session,
            owner,
            case_id,
            deadline=_deadline(7),
            questions="Please provide KYC files and the relationship between the accounts named.",
        )
    return f"{case.reference} awaiting information"


def _stage_rfi_answered(ctx: Any, session: Session, case_id: int, owner: Principal, _r: Principal) -> str:
    case = service.get_case(session, owner, case_id)
    officer = _platform_user(session, case.platform_id)
    if officer is None:
        service.move_case(session, owner, case_id, "investigating", "demo: no platform contact on record")
        return f"{case.reference} investigating"
    req = rfi.send_request(
        session, owner, case_id, deadline=_deadline(5), questions="Who are the beneficial owners of these accounts?"
    )
    rfi.answer_request(
        session,
        officer,
        req.id,
        answer="Two of the accounts belong to one customer; KYC on file.",
        upload_dir=ctx.settings.upload_dir,
        max_bytes=ctx.settings.max_upload_bytes,
    )
    return f"{case.reference} information received"


def _stage_review_pending(ctx: Any, session: Session, case_id: int, owner: Principal, _r: Principal) -> str:
    case = service.get_case(session, owner, case_id)
    service.submit_for_review(
        session, owner, case_id, "close", "demo: platform warned; asks for a second look", outcome="warning_to_platform"
    )
    return f"{case.reference} awaiting review"


def _stage_closed_nfa(ctx: Any, session: Session, case_id: int, owner: Principal, reviewer: Principal) -> str:
    case = service.get_case(session, owner, case_id)
    if case.high_priority:
        review = service.submit_for_review(
            session, owner, case_id, "close", "demo: explained by hedging", outcome="no_further_action"
        )
        service.decide_review(session, reviewer, review.id, True, "demo: agreed, hedging documented")
    else:
        service.close_case(session, owner, case_id, "no_further_action", "demo: explained by hedging")
    return f"{case.reference} closed (no further action)"


def _stage_str_filed(ctx: Any, session: Session, case_id: int, owner: Principal, reviewer: Principal) -> str:
    case = service.get_case(session, owner, case_id)
    draft = reports.draft_narrative(session, case)
    reports.save_draft(
        session,
        owner,
        case_id,
        draft + "The pattern is consistent with deliberate manipulation; the platform confirmed common control.",
    )
    review = service.submit_for_review(session, owner, case_id, "file_report", "demo: report ready")
    service.decide_review(session, reviewer, review.id, True, "demo: well evidenced", ctx.lake_root)
    return f"{case.reference} report filed"
