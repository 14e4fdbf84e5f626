"""Watch lists (versioned), their entries, screening hits and analysts' decisions on them.

A list keeps every loaded version; ``WatchList.current_version`` names the one screening uses. A hit
ties a screened subject (a customer account, a counterparty name or a chain address) to one entry; when a
newer version no longer yields it, the open hit becomes ``stale``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from harbour.core.db import Base, utcnow

LIST_KINDS = ("sanctions", "pep", "watch", "crypto")
SUBJECT_KINDS = ("customer", "counterparty", "address")
HIT_STATUSES = ("open", "true_match", "false_positive", "stale")
DECISIONS = ("true_match", "false_positive")


class WatchList(Base):
    __tablename__ = "screening_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    threshold: Mapped[float] = mapped_column(Float)
    description: Mapped[str] = mapped_column(Text, default="")
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WatchListVersion(Base):
    __tablename__ = "screening_list_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("screening_lists.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    source_name: Mapped[str] = mapped_column(String(200))
    source_format: Mapped[str] = mapped_column(String(30))
    sha256: Mapped[str] = mapped_column(String(64))
    entry_count: Mapped[int] = mapped_column(Integer)
    loaded_by: Mapped[str] = mapped_column(String(80))
    loaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WatchListEntry(Base):
    __tablename__ = "screening_entries"
    __table_args__ = (Index("ix_screening_entries_version_key", "version_id", "entry_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("screening_list_versions.id"), index=True)
    entry_key: Mapped[str] = mapped_column(String(200))  # the list's own id (OpenSanctions id, CSV id)
    schema: Mapped[str] = mapped_column(String(40), default="Person")
    name: Mapped[str] = mapped_column(String(400))
    aliases: Mapped[list[str]] = mapped_column(default=list)
    countries: Mapped[list[str]] = mapped_column(default=list)
    birth_date: Mapped[str] = mapped_column(String(60), default="")
    programme: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)  # chain:normal-form


class ScreeningHit(Base):
    __tablename__ = "screening_hits"
    __table_args__ = (Index("ix_screening_hits_list_subject", "list_id", "subject", "entry_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("screening_lists.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    entry_key: Mapped[str] = mapped_column(String(200))
    entry_name: Mapped[str] = mapped_column(String(400))
    matched_name: Mapped[str] = mapped_column(String(400))
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300), index=True)  # venue:account, or chain:address
    subject_name: Mapped[str] = mapped_column(String(400))
    venue: Mapped[str] = mapped_column(String(40), index=True)
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platforms.id"), nullable=True, index=True)
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ScreeningDecision(Base):
    __tablename__ = "screening_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("screening_hits.id"), index=True)
    decision: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(80))
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
