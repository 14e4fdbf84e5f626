"""The public register and lists (no login): licensed platforms with their conditions and restrictions,
deemed to be licensed, applicants, closed applications, closing-down platforms and the alert list of
suspicious unlicensed platforms. Each entry carries its history. Also the alert list's maintenance.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbour.core import audit
from harbour.core.auth import Principal, require_role
from harbour.core.db import unit_of_work, utcnow
from harbour.core.errors import NotFound
from harbour.core.tenancy import Platform
from harbour.licensing.models import AlertListEntry, Application, Licence
from harbour.licensing.schemas import AlertEntryIn
from harbour.licensing.workflow import LABELS, LICENSED, OFFICER, OPEN_STEPS, State


@dataclass(frozen=True)
class PublicList:
    slug: str
    title: str
    blurb: str


LISTS: dict[str, PublicList] = {
    pl.slug: pl
    for pl in (
        PublicList("licensed", "Licensed platforms",
                   "Platforms holding a licence, with its conditions and any restrictions on the scope of business."),
        PublicList("deemed", "Deemed to be licensed",
                   "Platforms that operated before the regime and applied in time; they may keep operating while "
                   "their application runs."),
        PublicList("applicants", "Applicants", "Applications under consideration."),
        PublicList("closed", "Returned, refused, withdrawn or revoked",
                   "Applications that ended without a licence, and licences revoked."),
        PublicList("closing-down", "Closing down", "Platforms winding down their business in Hong Kong."),
        PublicList("alert-list", "Alert list",
                   "Suspicious platforms that are NOT licensed. Do not deal with them."),
    )
}

_LICENSED_STATES = [*LICENSED, State.SUSPENDED]
_CLOSED_STATES = [State.RETURNED, State.REFUSED, State.WITHDRAWN, State.REVOKED]


def _list_filter(slug: str) -> Any:
    open_steps = [s.value for s in OPEN_STEPS]
    if slug == "licensed":
        return Application.state.in_([s.value for s in _LICENSED_STATES])
    if slug == "deemed":
        return Application.state.in_(open_steps) & Application.deemed.is_(True)
    if slug == "applicants":
        return Application.state.in_(open_steps) & Application.deemed.is_(False)
    if slug == "closed":
        return Application.state.in_([s.value for s in _CLOSED_STATES])
    if slug == "closing-down":
        return Application.state == State.CLOSING_DOWN.value
    raise NotFound(f"no public list {slug!r}; choose one of {', '.join(LISTS)}", field="list")


def entry(session: Session, app: Application, with_history: bool = True) -> dict[str, Any]:
    """One application as the public sees it."""
    licence = session.scalar(select(Licence).where(Licence.application_id == app.id))
    out: dict[str, Any] = {
        "platform": app.platform.code,
        "legal_name": app.legal_name,
        "brand": app.brand,
        "website": app.website,
        "state": app.state,
        "status": LABELS[State(app.state)],
        "deemed": app.deemed,
        "applied_on": app.submitted_at.date().isoformat(),
        "since": app.state_since.date().isoformat(),
        "demo": app.platform.is_demo,
        "licence_number": licence.number if licence else None,
        "conditions": [
            {"text": c.text, "status": c.status, "due_date": c.due_date.isoformat() if c.due_date else None}
            for c in (licence.conditions if licence else [])
        ],
        "restrictions": [
            {"kind": r.kind, "detail": r.detail} for r in (licence.restrictions if licence else []) if not r.lifted_at
        ],
    }
    if with_history:
        out["history"] = [
            {"on": h.at.date().isoformat(), "from": h.from_state, "to": h.to_state, "reason": h.reason}
            for h in app.history
        ]
    return out


def public_list(session: Session, slug: str) -> list[dict[str, Any]]:
    if slug == "alert-list":
        return alert_list(session)
    stmt = select(Application).join(Platform).where(_list_filter(slug)).order_by(Application.legal_name)
    return [entry(session, app) for app in session.scalars(stmt).unique()]


def platform_entry(session: Session, code: str) -> dict[str, Any]:
    """The public record of one platform: its latest application with history, and earlier ones."""
    stmt = select(Application).join(Platform).where(Platform.code == code).order_by(Application.id.desc())
    apps = list(session.scalars(stmt).unique())
    if not apps:
        raise NotFound(f"no platform {code!r} on the public register", field="code")
    current = entry(session, apps[0])
    current["earlier_applications"] = [entry(session, a) for a in apps[1:]]
    return current


def alert_list(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(AlertListEntry).order_by(AlertListEntry.added_on.desc(), AlertListEntry.id))
    return [{"id": r.id, "name": r.name, "website": r.website, "reason": r.reason,
             "added_on": r.added_on.isoformat()} for r in rows]


def add_alert_entry(session: Session, principal: Principal, data: AlertEntryIn) -> AlertListEntry:
    require_role(principal, *OFFICER)
    with unit_of_work(session):
        row = AlertListEntry(name=data.name, website=data.website, reason=data.reason, added_on=utcnow().date(),
                             added_by=principal.username)
        session.add(row)
        session.flush()
        audit.record(session, principal, "licensing.alert_list_added", "alert_list_entry", row.id, before=None,
                     after={"name": row.name, "website": row.website}, reason=data.reason)
    return row


def counts(session: Session) -> dict[str, int]:
    """How many entries each public list has, for the front page."""
    out = {slug: 0 for slug in LISTS}
    for app in session.scalars(select(Application)):
        for slug in ("licensed", "deemed", "applicants", "closed", "closing-down"):
            if _matches(app, slug):
                out[slug] += 1
    out["alert-list"] = len(list(session.scalars(select(AlertListEntry.id))))
    out["fully_licensed"] = len(list(session.scalars(
        select(Application.id).where(Application.state == State.FULLY_LICENSED.value))))
    return out


def _matches(app: Application, slug: str) -> bool:
    state = State(app.state)
    return {
        "licensed": state in _LICENSED_STATES,
        "deemed": state in OPEN_STEPS and app.deemed,
        "applicants": state in OPEN_STEPS and not app.deemed,
        "closed": state in _CLOSED_STATES,
        "closing-down": state == State.CLOSING_DOWN,
    }[slug]


CSV_COLUMNS = ("platform", "legal_name", "brand", "website", "status", "since", "licence_number", "conditions",
               "restrictions")
ALERT_CSV_COLUMNS = ("name", "website", "reason", "added_on")


def to_csv(slug: str, rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    columns = ALERT_CSV_COLUMNS if slug == "alert-list" else CSV_COLUMNS
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in rows:
        flat = dict(row)
        if slug != "alert-list":
            flat["conditions"] = " | ".join(f"{c['text']} ({c['status']})" for c in row["conditions"])
            flat["restrictions"] = " | ".join(f"{r['kind']}: {r['detail']}" for r in row["restrictions"])
        writer.writerow([_safe_cell(flat.get(c)) for c in columns])
    return buf.getvalue()


def _safe_cell(value: Any) -> str:
    # A cell starting with = + - @ would run as a formula in a spreadsheet: neutralise it.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
