"""The pipeline board for the regulator: counts by step, time spent in each step, overdue items and
progress towards a target date (e.g. every deemed applicant decided by year-end)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbour.core.auth import REGULATOR_ROLES, Principal, require_role
from harbour.core.db import utcnow
from harbour.licensing.models import (
    Application,
    Assessment,
    Finding,
    Licence,
    LicenceCondition,
    PlanItem,
    RectificationPlan,
    StateChange,
)
from harbour.licensing.workflow import LABELS, OPEN_STEPS, State


@dataclass
class StepStats:
    state: str
    label: str
    count: int = 0
    days: list[float] = field(default_factory=list)

    @property
    def median_days(self) -> float | None:
        return round(statistics.median(self.days), 1) if self.days else None

    @property
    def mean_days(self) -> float | None:
        return round(statistics.fmean(self.days), 1) if self.days else None


@dataclass(frozen=True)
class OverdueItem:
    kind: str
    application_id: int
    platform: str
    what: str
    due: dt.date
    days_late: int


@dataclass
class Board:
    steps: list[StepStats]
    overdue: list[OverdueItem]
    target_date: dt.date
    deemed_total: int
    deemed_decided: int
    late_decisions: list[dict[str, Any]]

    @property
    def deemed_progress(self) -> float:
        return 100.0 * self.deemed_decided / self.deemed_total if self.deemed_total else 100.0

    @property
    def max_count(self) -> int:
        return max((s.count for s in self.steps), default=0) or 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": [{"state": s.state, "count": s.count, "median_days": s.median_days, "mean_days": s.mean_days}
                      for s in self.steps],
            "overdue": [o.__dict__ | {"due": o.due.isoformat()} for o in self.overdue],
            "target": {"date": self.target_date.isoformat(), "deemed_total": self.deemed_total,
                       "deemed_decided": self.deemed_decided, "progress_pct": round(self.deemed_progress, 1)},
            "late_decisions": self.late_decisions,
        }


def build_board(session: Session, principal: Principal, target_date: dt.date | None = None,
                today: dt.date | None = None) -> Board:
    require_role(principal, *REGULATOR_ROLES)
    today = today or utcnow().date()
    target_date = target_date or dt.date(today.year, 12, 31)
    apps = {a.id: a for a in session.scalars(select(Application)).unique()}
    steps = {s.value: StepStats(s.value, LABELS[s]) for s in State}
    for app in apps.values():
        steps[app.state].count += 1
    _time_in_steps(session, steps, apps)
    deemed = [a for a in apps.values() if a.deemed]
    decided = [a for a in deemed if State(a.state) not in OPEN_STEPS]
    late = [
        {"application_id": a.id, "platform": a.platform.code, "target": a.target_decision_date.isoformat(),
         "state": a.state}
        for a in apps.values()
        if a.target_decision_date and a.target_decision_date < today and State(a.state) in OPEN_STEPS
    ]
    return Board(list(steps.values()), overdue_items(session, apps, today), target_date, len(deemed),
                 len(decided), late)


def _time_in_steps(session: Session, steps: dict[str, StepStats], apps: dict[int, Application]) -> None:
    """Days each application spent in each state, from its history (the current state counts until now)."""
    by_app: dict[int, list[StateChange]] = defaultdict(list)
    for change in session.scalars(select(StateChange).order_by(StateChange.application_id, StateChange.at)):
        by_app[change.application_id].append(change)
    now = utcnow()
    for app_id, changes in by_app.items():
        for current, following in zip(changes, [*changes[1:], None], strict=True):
            end = following.at if following else now
            if following is None and app_id in apps and State(apps[app_id].state) not in (*OPEN_STEPS,
                                                                                          *_TIMED_LICENSED):
                continue  # a finished application's last state is not a step still being timed
            steps[current.to_state].days.append(max(0.0, (end - current.at).total_seconds() / 86400))


_TIMED_LICENSED = (State.LICENCE_GRANTED, State.RESTRICTED_OPERATION, State.EXTERNAL_ASSESSMENT)


def overdue_items(session: Session, apps: dict[int, Application], today: dt.date) -> list[OverdueItem]:
    items: list[OverdueItem] = []

    def add(kind: str, app_id: int, what: str, due: dt.date | None) -> None:
        if due and due < today and app_id in apps:
            items.append(OverdueItem(kind, app_id, apps[app_id].platform.code, what, due, (today - due).days))

    for f in session.scalars(select(Finding).where(Finding.status == "open")):
        add("finding", f.application_id, f"{f.severity} finding: {f.area}", f.due_date)
    plan_rows = session.execute(
        select(PlanItem, RectificationPlan.application_id, Finding.status)
        .join(RectificationPlan, PlanItem.plan_id == RectificationPlan.id)
        .join(Finding, PlanItem.finding_id == Finding.id)
        .where(RectificationPlan.status == "agreed", Finding.status == "open")
    )
    for item, app_id, _status in plan_rows:
        add("plan item", app_id, f"plan action by {item.owner}", item.target_date)
    cond_rows = session.execute(
        select(LicenceCondition, Licence.application_id).join(Licence).where(LicenceCondition.status == "open")
    )
    for cond, app_id in cond_rows:
        add("condition", app_id, cond.text[:80], cond.due_date)
    for a in session.scalars(select(Assessment).where(Assessment.status.in_(["engaged", "returned"]))):
        add("assessment", a.application_id, "external assessment report", a.due_date)
    return sorted(items, key=lambda i: -i.days_late)
