"""Alerts in the operational database (the analyst's working copy; Parquet holds the same rows).

Columns follow the alerts contract of DESIGN.md, plus the workflow fields that triage and cases use.
``platform_id`` ties an alert to its tenant (the platform whose ``code`` equals the alert's venue).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from harbour.core.db import Base, utcnow

ALERT_STATUSES = ("open", "in_case", "closed_false_positive", "closed")


class AlertRecord(Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_status_score", "status", "score"),)

    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    detector: Mapped[str] = mapped_column(String(60), index=True)
    detector_version: Mapped[str] = mapped_column(String(20))
    typology: Mapped[str] = mapped_column(String(40), index=True)
    venue: Mapped[str] = mapped_column(String(40), index=True)
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platforms.id"), nullable=True, index=True)
    symbol: Mapped[str | None] = mapped_column(String(40), nullable=True)
    accounts: Mapped[list[str]]
    start: Mapped[dt.datetime]
    end: Mapped[dt.datetime]
    score: Mapped[float] = mapped_column(Float)
    evidence_ids: Mapped[list[str]]
    explanation: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(30), default="open", index=True)
    run_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
