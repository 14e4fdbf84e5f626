"""Licensing records: applications and everything that hangs off them, the public alert list and the
consultative panel.

Every row that belongs to a platform carries ``platform_id`` (directly or through its application) so the
queries in ``service``/``register`` can scope it to what the caller may see.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from harbour.core.db import Base, utcnow


class Application(Base):
    """A platform's licence application; ``state`` is one of ``workflow.State``."""

    __tablename__ = "lic_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"), index=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    brand: Mapped[str] = mapped_column(String(120))
    website: Mapped[str] = mapped_column(String(300))
    responsible_officers: Mapped[list[str]]
    business_plan: Mapped[str] = mapped_column(Text)
    licences_applied: Mapped[list[str]]
    state: Mapped[str] = mapped_column(String(40), index=True)
    deemed: Mapped[bool] = mapped_column(Boolean, default=False)
    target_decision_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    state_since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    platform = relationship("Platform", lazy="joined")
    findings: Mapped[list[Finding]] = relationship(back_populates="application", order_by="Finding.id")
    history: Mapped[list[StateChange]] = relationship(order_by="StateChange.id")


class StateChange(Base):
    __tablename__ = "lic_state_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("lic_applications.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(40), nullable=True)
    to_state: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(Text)


class Document(Base):
    """An uploaded file's metadata; the bytes live content-addressed under ``settings.upload_dir``."""

    __tablename__ = "lic_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platforms.id"), index=True, nullable=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("lic_applications.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))  # application, evidence, pen_test, assessment, paper
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(80))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Inspection(Base):
    __tablename__ = "lic_inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("lic_applications.id"), index=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    inspectors: Mapped[list[str]]
    areas: Mapped[list[str]]
    summary: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(80))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Finding(Base):
    __tablename__ = "lic_findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("lic_applications.id"), index=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("lic_inspections.id"))
    area: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(10))  # critical, major, minor
    description: Mapped[str] = mapped_column(Text)
    due_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open, closed
    closure_evidence: Mapped[str] = mapped_column(Text, default="")
    closure_document_id: Mapped[int | None] = mapped_column(ForeignKey("lic_documents.id"), nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    application: Mapped[Application] = relationship(back_populates="findings")


class RectificationPlan(Base):
    __tablename__ = "lic_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("lic_applications.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # submitted, agreed, returned
    comments: Mapped[str] = mapped_column(Text, default="")
    submitted_by: Mapped[str] = mapped_column(String(80))
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    items: Mapped[list[PlanItem]] = relationship(order_by="PlanItem.id")


class PlanItem(Base):
    __tablename__ = "lic_plan_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("lic_plans.id"), index=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("lic_findings.id"))
    action: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(120))
    target_date: Mapped[dt.date] = mapped_column(Date)


class Licence(Base):
    __tablename__ = "lic_licences"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("lic_applications.id"), unique=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    restrictions_lifted_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    conditions: Mapped[list[LicenceCondition]] = relationship(order_by="LicenceCondition.id")
    restrictions: Mapped[list[LicenceRestriction]] = relationship(order_by="LicenceRestriction.id")


class LicenceCondition(Base):
    __tablename__ = "lic_conditions"

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("lic_licences.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open, met
    due_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class LicenceRestriction(Base):
    """A restriction on the scope of business, e.g. ``no_retail_clients`` or ``permitted_tokens``."""

    __tablename__ = "lic_restrictions"

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("lic_licences.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(Text, default="")
    lifted_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class PenTestReport(Base):
    __tablename__ = "lic_pen_tests"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("lic_applications.id"), index=True)
    firm: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("lic_documents.id"), nullable=True)
    filed_by: Mapped[str] = mapped_column(String(80))
    filed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)


class Assessment(Base):
    """The tripartite engagement (regulator, platform, assessor) and the assessor's report."""

    __tablename__ = "lic_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("lic_applications.id"), index=True)
    assessor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    scope: Mapped[str] = mapped_column(Text, default="")
    due_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    engaged_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="engaged")  # engaged, filed, accepted, returned
    report: Mapped[str] = mapped_column(Text, default="")
    opinion: Mapped[str] = mapped_column(String(20), default="")  # satisfactory, qualified, adverse
    filed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    comments: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class AlertListEntry(Base):
    """A suspicious unlicensed platform on the public alert list."""

    __tablename__ = "lic_alert_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    website: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)
    added_on: Mapped[dt.date] = mapped_column(Date)
    added_by: Mapped[str] = mapped_column(String(80))


class Consultation(Base):
    __tablename__ = "lic_consultations"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(200))
    paper_document_id: Mapped[int | None] = mapped_column(ForeignKey("lic_documents.id"), nullable=True)
    deadline: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open, published
    summary: Mapped[str] = mapped_column(Text, default="")
    opened_by: Mapped[str] = mapped_column(String(80))
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    responses: Mapped[list[ConsultationResponse]] = relationship(order_by="ConsultationResponse.id")


class ConsultationResponse(Base):
    __tablename__ = "lic_consultation_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("lic_consultations.id"), index=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[str] = mapped_column(String(80))
    filed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
