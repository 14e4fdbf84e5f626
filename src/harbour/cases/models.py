"""Tables of the case work: triage state of alerts, cases and their timeline, four-eyes reviews,
requests for information, suspicious transaction reports and the outcome labels that feed triage.

The ``alerts`` table belongs to the detectors; everything the workflow adds about an alert (its
persisted priority, assignee, case) lives in ``alert_triage`` keyed by ``alert_id``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from harbour.core.db import Base, utcnow

CASE_STATUSES = ("open", "investigating", "pending_information", "escalated", "closed")
CASE_OUTCOMES = (
    "no_further_action",
    "warning_to_platform",
    "suspicious_transaction_report",
    "referral_for_enforcement",
)
# Outcomes that confirm the alerts were worth raising (the rest count as false positives).
CONFIRMING_OUTCOMES = frozenset(CASE_OUTCOMES[1:])
REVIEW_KINDS = ("close", "file_report")
RFI_STATUSES = ("sent", "answered", "withdrawn")
ENTRY_KINDS = ("note", "file", "query", "chart", "status", "review", "rfi", "report", "alerts")


class AlertTriage(Base):
    """The workflow's view of one alert: persisted priority (with its factors), queue state, assignee.

    Priority is persisted (not computed per request) so the queue is an index range scan on
    ``(queue_state, priority)`` even with 100,000 open alerts.
    """

    __tablename__ = "alert_triage"
    # Each filter of the queue has an index ending in priority, so a filtered page and its count are
    # range scans, not table scans, at 100,000 open alerts.
    __table_args__ = (
        Index("ix_alert_triage_queue", "queue_state", "priority"),
        Index("ix_alert_triage_queue_venue", "queue_state", "venue", "priority"),
        Index("ix_alert_triage_queue_typology", "queue_state", "typology", "priority"),
        Index("ix_alert_triage_queue_detector", "queue_state", "detector", "priority"),
        Index("ix_alert_triage_queue_assignee", "queue_state", "assignee_id", "priority"),
        Index("ix_alert_triage_platform", "platform_id", "queue_state"),
    )

    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.alert_id"), primary_key=True)
    queue_state: Mapped[str] = mapped_column(String(30), default="open")
    priority: Mapped[float] = mapped_column(Float)
    score_pts: Mapped[float] = mapped_column(Float)
    severity_pts: Mapped[float] = mapped_column(Float)
    licensing_pts: Mapped[float] = mapped_column(Float)
    history_pts: Mapped[float] = mapped_column(Float)
    detector: Mapped[str] = mapped_column(String(60))
    typology: Mapped[str] = mapped_column(String(40))
    venue: Mapped[str] = mapped_column(String(40))
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platforms.id"), nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PlatformTriageFactor(Base):
    """The licensing factor last applied to a platform's alerts; compared on each queue read so a
    change in the licensing record re-prices only that platform's alerts."""

    __tablename__ = "platform_triage_factors"

    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"), primary_key=True)
    points: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(30), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platforms.id"), nullable=True, index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(30), default="open", index=True)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    high_priority: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[dt.datetime]
    narrative: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class CaseAlert(Base):
    """An alert linked to a case; an alert belongs to at most one case."""

    __tablename__ = "case_alerts"

    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.alert_id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CaseEntry(Base):
    """One item of a case's timeline: a note, a file, a saved query, a pinned chart, or a state change."""

    __tablename__ = "case_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    author: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CaseReview(Base):
    """A four-eyes request: the owner proposes to close (or to file the report); another supervisor decides."""

    __tablename__ = "case_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    proposed_outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending | approved | rejected
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class InfoRequest(Base):
    """A request for information sent from a case to a platform's compliance officer."""

    __tablename__ = "info_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    questions: Mapped[str] = mapped_column(Text)
    deadline: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(20), default="sent")
    sent_by: Mapped[str] = mapped_column(String(80))
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class Attachment(Base):
    """A stored file (content-addressed by core.uploads) attached to a case entry or an RFI answer."""

    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    info_request_id: Mapped[int | None] = mapped_column(ForeignKey("info_requests.id"), nullable=True, index=True)
    original_name: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SuspiciousTransactionReport(Base):
    """The STR of a case: drafted, submitted for approval, filed. ``payload`` is frozen at filing."""

    __tablename__ = "str_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | pending_approval | filed
    narrative: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(80))
    approved_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    filed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutcomeLabel(Base):
    """An analyst's verdict on one alert: ``confirmed`` or ``false_positive``; the detector's history."""

    __tablename__ = "outcome_labels"
    __table_args__ = (UniqueConstraint("alert_id", name="uq_outcome_labels_alert_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.alert_id"))
    detector: Mapped[str] = mapped_column(String(60), index=True)
    detector_version: Mapped[str] = mapped_column(String(20))
    typology: Mapped[str] = mapped_column(String(40))
    venue: Mapped[str] = mapped_column(String(40))
    verdict: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    decided_by: Mapped[str] = mapped_column(String(80))
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
