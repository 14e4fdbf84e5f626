"""Outcomes flow back as labels: each closed alert gets a verdict (confirmed / false positive), which
builds the detector's history shown on /cases/detectors and feeds the triage priority."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from harbour.cases.models import OutcomeLabel
from harbour.cases.triage import WEIGHTS, confirmation_rate, reprice_detector
from harbour.core.auth import Principal, Role, require_role
from harbour.detect.alert_store import AlertRecord

VERDICTS = ("confirmed", "false_positive")


def record_verdicts(
    session: Session, principal: Principal, alerts: Iterable[AlertRecord], verdict: str, case_id: int | None = None
) -> int:
    """Label each alert with ``verdict`` (replacing an earlier label) and re-price its detector's open alerts."""
    assert verdict in VERDICTS, verdict
    detectors: set[str] = set()
    count = 0
    for alert in alerts:
        label = session.scalar(select(OutcomeLabel).where(OutcomeLabel.alert_id == alert.alert_id))
        if label is None:
            label = OutcomeLabel(alert_id=alert.alert_id)
            session.add(label)
        label.detector, label.detector_version = alert.detector, alert.detector_version
        label.typology, label.venue, label.verdict = alert.typology, alert.venue, verdict
        label.case_id, label.decided_by = case_id, principal.username
        detectors.add(alert.detector)
        count += 1
    session.flush()
    for detector in detectors:
        reprice_detector(session, detector)
    return count


@dataclass(frozen=True)
class DetectorHistory:
    detector: str
    confirmed: int
    false_positive: int

    @property
    def rate(self) -> float:
        return confirmation_rate(self.confirmed, self.false_positive)

    @property
    def points(self) -> float:
        return round(WEIGHTS["history"] * self.rate, 2)

    @property
    def observed_precision(self) -> float | None:
        total = self.confirmed + self.false_positive
        return self.confirmed / total if total else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "confirmed": self.confirmed,
            "false_positive": self.false_positive,
            "confirmation_rate": round(self.rate, 4),
            "priority_points": self.points,
            "observed_precision": self.observed_precision,
        }


def detector_history(session: Session, principal: Principal) -> list[DetectorHistory]:
    """Every detector that has raised alerts, with its confirmed / false-positive counts."""
    require_role(principal, Role.SUPERVISOR, Role.ADMIN)
    counts: dict[str, list[int]] = {d: [0, 0] for d in session.scalars(select(AlertRecord.detector).distinct())}
    stmt = select(OutcomeLabel.detector, OutcomeLabel.verdict, func.count()).group_by(
        OutcomeLabel.detector, OutcomeLabel.verdict
    )
    for detector, verdict, n in session.execute(stmt):
        counts.setdefault(detector, [0, 0])[0 if verdict == "confirmed" else 1] += n
    rows = [DetectorHistory(d, c, f) for d, (c, f) in counts.items()]
    return sorted(rows, key=lambda r: (-(r.confirmed + r.false_positive), r.detector))


def detector_labels(session: Session, principal: Principal, detector: str, limit: int = 50) -> list[OutcomeLabel]:
    """The latest verdicts on one detector's alerts, newest first."""
    require_role(principal, Role.SUPERVISOR, Role.ADMIN)
    stmt = (
        select(OutcomeLabel)
        .where(OutcomeLabel.detector == detector)
        .order_by(OutcomeLabel.decided_at.desc(), OutcomeLabel.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def history_of(session: Session, principal: Principal, detector: str) -> DetectorHistory:
    found = [h for h in detector_history(session, principal) if h.detector == detector]
    if not found:
        from harbour.core.errors import NotFound

        raise NotFound(f"no alerts from a detector named {detector!r}", field="detector")
    return found[0]
