"""The consultative panel: licensed platforms are members; an officer opens a consultation (topic, paper,
deadline), member platforms' users file responses, and the officer publishes a summary. All kept."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbour.core import audit
from harbour.core.auth import Principal, Role, require_role
from harbour.core.config import Settings
from harbour.core.db import unit_of_work, utcnow
from harbour.core.errors import Conflict, Forbidden, NotFound
from harbour.core.tenancy import Platform
from harbour.core.uploads import store_upload
from harbour.licensing.models import Application, Consultation, ConsultationResponse, Document
from harbour.licensing.schemas import ConsultationIn, ResponseIn, SummaryIn
from harbour.licensing.workflow import OFFICER, State

# Licensees at any stage of the licence (external assessment included: the licence is in force).
MEMBER_STATES = (State.LICENCE_GRANTED, State.RESTRICTED_OPERATION, State.EXTERNAL_ASSESSMENT, State.FULLY_LICENSED)


def members(session: Session) -> list[Platform]:
    stmt = (select(Platform).join(Application, Application.platform_id == Platform.id)
            .where(Application.state.in_([s.value for s in MEMBER_STATES])).order_by(Platform.code))
    return list(session.scalars(stmt).unique())


def is_member(session: Session, platform_id: int | None) -> bool:
    return platform_id is not None and any(p.id == platform_id for p in members(session))


def list_consultations(session: Session, principal: Principal) -> list[Consultation]:
    require_role(principal, *Role)
    return list(session.scalars(select(Consultation).order_by(Consultation.opened_at.desc())))


def get_consultation(session: Session, principal: Principal, consultation_id: int) -> Consultation:
    require_role(principal, *Role)
    row = session.get(Consultation, consultation_id)
    if row is None:
        raise NotFound(f"no consultation {consultation_id}", field="consultation_id")
    return row


def visible_responses(session: Session, principal: Principal, consultation: Consultation) -> list[ConsultationResponse]:
    """Regulators read every response; a member platform reads only its own until a summary is published."""
    if principal.is_regulator:
        return list(consultation.responses)
    return [r for r in consultation.responses if principal.can_see_platform(r.platform_id)]


def open_consultation(session: Session, principal: Principal, settings: Settings, data: ConsultationIn,
                      paper: BinaryIO | None = None, paper_name: str = "") -> Consultation:
    require_role(principal, *OFFICER)
    with unit_of_work(session):
        doc_id = None
        if paper is not None and paper_name:
            stored = store_upload(paper, paper_name, Path(settings.upload_dir), max_bytes=settings.max_upload_bytes,
                                  field="paper")
            doc = Document(platform_id=None, application_id=None, kind="paper", original_name=stored.original_name,
                           stored_name=stored.stored_path.name, sha256=stored.sha256, size=stored.size,
                           uploaded_by=principal.username)
            session.add(doc)
            session.flush()
            doc_id = doc.id
        row = Consultation(topic=data.topic, deadline=data.deadline, paper_document_id=doc_id,
                           opened_by=principal.username)
        session.add(row)
        session.flush()
        audit.record(session, principal, "licensing.consultation_opened", "consultation", row.id, before=None,
                     after={"topic": row.topic, "deadline": row.deadline, "paper": doc_id}, reason=data.reason)
    return row


def file_response(session: Session, principal: Principal, consultation_id: int,
                  data: ResponseIn) -> ConsultationResponse:
    require_role(principal, Role.PLATFORM_USER)
    with unit_of_work(session):
        consultation = get_consultation(session, principal, consultation_id)
        if not is_member(session, principal.platform_id):
            raise Forbidden("only licensed platforms (members of the consultative panel) may respond",
                            field="platform")
        if consultation.status != "open":
            raise Conflict("cannot respond: the consultation is closed and its summary published", field="status")
        if consultation.deadline < utcnow().date():
            raise Conflict(f"cannot respond: the deadline ({consultation.deadline}) has passed", field="deadline")
        assert principal.platform_id is not None
        row = ConsultationResponse(consultation_id=consultation.id, platform_id=principal.platform_id,
                                   text=data.text, filed_by=principal.username)
        session.add(row)
        session.flush()
        audit.record(session, principal, "licensing.consultation_response", "consultation", consultation.id,
                     before=None, after={"response": row.id, "platform_id": row.platform_id},
                     reason="response filed")
    return row


def publish_summary(session: Session, principal: Principal, consultation_id: int, data: SummaryIn) -> Consultation:
    require_role(principal, *OFFICER)
    with unit_of_work(session):
        consultation = get_consultation(session, principal, consultation_id)
        if consultation.status == "published":
            raise Conflict("the summary of this consultation is already published", field="status")
        consultation.status, consultation.summary, consultation.published_at = "published", data.summary, utcnow()
        audit.record(session, principal, "licensing.consultation_published", "consultation", consultation.id,
                     before={"status": "open"}, after={"status": "published"}, reason="summary published")
    return consultation
