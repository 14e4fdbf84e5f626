"""The audit log: every state change, as a hash chain that ``harbour audit verify`` checks.

Each entry's hash covers its own content and the previous entry's hash, so editing, deleting or
reordering a row breaks the chain at that row. Services call :func:`record` inside their transaction::

    record(session, principal, "licensing.inspection_recorded", "application", app.id,
           before={"state": "application_received"}, after={"state": "inspection"}, reason="site visit")
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from harbour.core.auth import Principal
from harbour.core.db import Base, utcnow

GENESIS_HASH = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True, index=True)
    ts: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(80))
    actor_role: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(80), index=True)
    entity_type: Mapped[str] = mapped_column(String(60), index=True)
    entity_id: Mapped[str] = mapped_column(String(80), index=True)
    before: Mapped[str] = mapped_column(Text)  # canonical JSON
    after: Mapped[str] = mapped_column(Text)  # canonical JSON
    reason: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the chain's last sequence number and hash. Locked while appending, so concurrent
    writers on PostgreSQL queue up instead of forking the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return str(value)


def entry_hash(entry: AuditEntry) -> str:
    ts = entry.ts if entry.ts.tzinfo else entry.ts.replace(tzinfo=dt.UTC)
    payload = canonical_json(
        [
            entry.seq,
            ts.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            entry.actor,
            entry.actor_role,
            entry.action,
            entry.entity_type,
            entry.entity_id,
            entry.before,
            entry.after,
            entry.reason,
        ]
    )
    return hashlib.sha256((entry.prev_hash + payload).encode()).hexdigest()


def record(
    session: Session,
    principal: Principal,
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEntry:
    """Append one entry to the chain, inside the caller's transaction."""
    head = session.scalar(select(AuditHead).where(AuditHead.id == 1).with_for_update())
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS_HASH)
        session.add(head)
        session.flush()
    entry = AuditEntry(
        seq=head.seq + 1,
        ts=utcnow(),
        actor=principal.username,
        actor_role=str(principal.role),
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=canonical_json(before),
        after=canonical_json(after),
        reason=reason or "",
        prev_hash=head.hash,
    )
    entry.hash = entry_hash(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    problem: str = ""


def verify_chain(session: Session) -> ChainReport:
    """Walk the chain in row order and name the first entry that was edited, deleted or reordered."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    present = set(session.scalars(select(AuditEntry.seq)))
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
    for entry in rows:
        count += 1
        problem = _check_entry(entry, expected_seq, prev_hash, present)
        if problem:
            return ChainReport(False, count, entry.seq, entry.id, problem)
        prev_hash = entry.hash
        expected_seq += 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev_hash):
        return ChainReport(
            False,
            count,
            expected_seq,
            None,
            f"the chain ends at entry {expected_seq - 1} but its head records entry {head.seq}: "
            "the last entries were deleted",
        )
    return ChainReport(True, count)


def _check_entry(entry: AuditEntry, expected_seq: int, prev_hash: str, present: set[int]) -> str:
    if entry.seq != expected_seq:
        if expected_seq in present or entry.seq < expected_seq:
            return f"entry {entry.seq} stands where entry {expected_seq} should: reordered"
        return f"entry {expected_seq} is missing (found entry {entry.seq} in its place): deleted"
    if entry.prev_hash != prev_hash:
        return f"entry {entry.seq} does not follow the entry before it: deleted or reordered"
    if entry_hash(entry) != entry.hash:
        return f"entry {entry.seq} does not match its hash: edited"
    return ""
