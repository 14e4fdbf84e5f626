"""Screening services: load list versions, screen names and addresses, record hits and decisions, and
re-screen every customer when a list changes.

Services own their transaction (``unit_of_work``) and check roles and tenants here, not in routes::

    result = load_list(session, principal, name="un-sc", kind="sanctions", data=raw, source_name="un.csv",
                       lake_root=settings.lake_root)
    print(result.version, result.rescreen.new_hits)
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from harbour.core.audit import record
from harbour.core.auth import Principal, Role, require_role, scope_to_platforms
from harbour.core.db import unit_of_work, utcnow
from harbour.core.errors import Forbidden, Invalid, NotFound
from harbour.core.tenancy import Platform
from harbour.detect.screening.addresses import normalise_address, normalise_party
from harbour.detect.screening.lists import ParsedEntry, parse_list
from harbour.detect.screening.matching import DEFAULT_THRESHOLD, Match, NameIndex
from harbour.detect.screening.models import (
    DECISIONS,
    HIT_STATUSES,
    LIST_KINDS,
    ScreeningDecision,
    ScreeningHit,
    WatchList,
    WatchListEntry,
    WatchListVersion,
)
from harbour.detect.screening.subjects import Subject, lake_subjects

log = logging.getLogger(__name__)

LIST_MANAGERS = (Role.SUPERVISOR, Role.ADMIN)
SCREENERS = (Role.SUPERVISOR, Role.ADMIN, Role.PLATFORM_USER)
HIT_READERS = (Role.SUPERVISOR, Role.ADMIN, Role.PLATFORM_USER, Role.ASSESSOR)
DECIDERS = (Role.SUPERVISOR, Role.ADMIN, Role.PLATFORM_USER)

_INDEXES: OrderedDict[tuple[int, int, str], NameIndex] = OrderedDict()
_INDEX_CACHE_SIZE = 8


@dataclass
class RescreenSummary:
    subjects: int = 0
    new_hits: int = 0
    reopened: int = 0
    stale: int = 0
    kept: int = 0


@dataclass
class LoadResult:
    list_id: int
    name: str
    version: int
    entries: int
    rescreen: RescreenSummary = field(default_factory=RescreenSummary)


@dataclass(frozen=True)
class NameResult:
    list_name: str
    list_kind: str
    entry_key: str
    entry_name: str
    matched_name: str
    score: float


# --- lists ------------------------------------------------------------------------------------------------


def load_list(
    session: Session,
    principal: Principal,
    *,
    name: str,
    kind: str,
    data: bytes,
    source_name: str,
    fmt: str | None = None,
    threshold: float | None = None,
    description: str = "",
    lake_root: Path | None = None,
) -> LoadResult:
    """Add a new version of list ``name`` (creating the list on first load) and, when ``lake_root`` is
    given, re-screen every customer and counterparty against it; one transaction for all of it."""
    require_role(principal, *LIST_MANAGERS)
    _check_list_fields(name, kind, threshold)
    entries = parse_list(data, source_name, fmt)
    with unit_of_work(session):
        wl = session.scalar(select(WatchList).where(WatchList.name == name))
        if wl is None:
            wl = WatchList(name=name, kind=kind, threshold=threshold or DEFAULT_THRESHOLD, description=description)
            session.add(wl)
            session.flush()
            record(session, principal, "screening.list_created", "screening_list", wl.id,
                   after={"name": name, "kind": kind, "threshold": wl.threshold})
        elif threshold is not None and threshold != wl.threshold:
            record(session, principal, "screening.threshold_changed", "screening_list", wl.id,
                   before={"threshold": wl.threshold}, after={"threshold": threshold})
            wl.threshold = threshold
        version = _add_version(session, principal, wl, entries, data, source_name, fmt or "detected")
        result = LoadResult(wl.id, wl.name, version, len(entries))
        if lake_root is not None:
            result.rescreen = _rescreen(session, principal, [wl], lake_subjects(lake_root))
    return result


def _check_list_fields(name: str, kind: str, threshold: float | None) -> None:
    if not name or len(name) > 80 or not name.replace("-", "").replace("_", "").isalnum():
        raise Invalid("list name: use 1–80 letters, digits, '-' or '_'", field="name")
    if kind not in LIST_KINDS:
        raise Invalid(f"list kind {kind!r} is unknown; choose one of {', '.join(LIST_KINDS)}", field="kind")
    if threshold is not None and not 0.5 <= threshold <= 1.0:
        raise Invalid(f"threshold {threshold} is outside 0.5–1.0", field="threshold")


def _add_version(session: Session, principal: Principal, wl: WatchList, entries: list[ParsedEntry],
                 data: bytes, source_name: str, fmt: str) -> int:
    version = WatchListVersion(
        list_id=wl.id, version=wl.current_version + 1, source_name=source_name[:200], source_format=fmt,
        sha256=hashlib.sha256(data).hexdigest(), entry_count=len(entries), loaded_by=principal.username,
    )
    session.add(version)
    session.flush()
    rows = [
        {"version_id": version.id, "entry_key": e.entry_key[:200], "schema": e.schema[:40], "name": e.name,
         "aliases": e.aliases, "countries": e.countries, "birth_date": e.birth_date[:60],
         "programme": e.programme, "address": e.address}
        for e in entries
    ]
    for start in range(0, len(rows), 5000):
        session.execute(insert(WatchListEntry), rows[start:start + 5000])
    before = wl.current_version
    wl.current_version = version.version
    record(session, principal, "screening.list_version_loaded", "screening_list", wl.id,
           before={"version": before}, after={"version": version.version, "entries": len(entries),
                                              "sha256": version.sha256, "source": source_name})
    return version.version


def list_lists(session: Session, principal: Principal) -> list[WatchList]:
    require_role(principal, *HIT_READERS, Role.LICENSING_OFFICER)
    return list(session.scalars(select(WatchList).order_by(WatchList.name)))


def get_list(session: Session, principal: Principal, list_id: int) -> WatchList:
    require_role(principal, *HIT_READERS, Role.LICENSING_OFFICER)
    wl = session.get(WatchList, list_id)
    if wl is None:
        raise NotFound(f"no screening list with id {list_id}", field="list_id")
    return wl


def list_versions(session: Session, wl: WatchList) -> list[WatchListVersion]:
    stmt = select(WatchListVersion).where(WatchListVersion.list_id == wl.id).order_by(WatchListVersion.version.desc())
    return list(session.scalars(stmt))


def _current_version(session: Session, wl: WatchList) -> WatchListVersion | None:
    return session.scalar(select(WatchListVersion).where(
        WatchListVersion.list_id == wl.id, WatchListVersion.version == wl.current_version))


def name_index(session: Session, wl: WatchList) -> NameIndex:
    """The matcher's index of the list's current version, built once and cached per version."""
    version = _current_version(session, wl)
    if version is None:
        return NameIndex([])
    # The file's hash is part of the key: ids alone repeat across databases (tests, demo, production).
    cache_key = (wl.id, version.version, version.sha256)
    if cache_key in _INDEXES:
        _INDEXES.move_to_end(cache_key)
        return _INDEXES[cache_key]
    rows = session.execute(
        select(WatchListEntry.entry_key, WatchListEntry.name, WatchListEntry.aliases)
        .where(WatchListEntry.version_id == version.id, WatchListEntry.address.is_(None)))
    index = NameIndex((key, n) for key, name, aliases in rows for n in [name, *(aliases or [])])
    _INDEXES[cache_key] = index
    while len(_INDEXES) > _INDEX_CACHE_SIZE:
        _INDEXES.popitem(last=False)
    return index


def listed_addresses(session: Session, lists: list[WatchList] | None = None) -> dict[str, tuple[str, str]]:
    """Every address on the current version of the given (default: all) lists: normal form -> (list, entry)."""
    lists = lists if lists is not None else list(session.scalars(select(WatchList)))
    out: dict[str, tuple[str, str]] = {}
    for wl in lists:
        version = _current_version(session, wl)
        if version is None:
            continue
        stmt = select(WatchListEntry.address, WatchListEntry.entry_key).where(
            WatchListEntry.version_id == version.id, WatchListEntry.address.is_not(None))
        for address, key in session.execute(stmt):
            if address:
                out.setdefault(address, (wl.name, key))
    return out


# --- ad-hoc screening ----------------------------------------------------------------------------------


def screen_name(session: Session, principal: Principal, name: str, list_names: list[str] | None = None,
                threshold: float | None = None) -> list[NameResult]:
    """Screen one name against the current versions of the lists (each at its own threshold)."""
    require_role(principal, *SCREENERS)
    if not name.strip() or len(name) > 400:
        raise Invalid("name: give 1–400 characters", field="name")
    out: list[NameResult] = []
    for wl in _lists_named(session, list_names):
        for match in name_index(session, wl).search(name, threshold or wl.threshold):
            out.append(_name_result(session, wl, match))
    return sorted(out, key=lambda r: -r.score)


def _name_result(session: Session, wl: WatchList, match: Match) -> NameResult:
    entry_name = session.scalar(select(WatchListEntry.name).join(WatchListVersion).where(
        WatchListVersion.list_id == wl.id, WatchListVersion.version == wl.current_version,
        WatchListEntry.entry_key == str(match.entry_key)).limit(1)) or match.matched_name
    return NameResult(wl.name, wl.kind, str(match.entry_key), entry_name, match.matched_name, match.score)


def screen_address(session: Session, principal: Principal, chain: str, address: str) -> list[NameResult]:
    """Exact match of one address (in its chain's normal form) against every list."""
    require_role(principal, *SCREENERS)
    normal = normalise_address(chain, address)
    found = listed_addresses(session).get(normal)
    if found is None:
        return []
    wl = session.scalar(select(WatchList).where(WatchList.name == found[0]))
    assert wl is not None
    return [NameResult(wl.name, wl.kind, found[1], normal, normal, 1.0)]


def _lists_named(session: Session, names: list[str] | None) -> list[WatchList]:
    stmt = select(WatchList).where(WatchList.current_version > 0).order_by(WatchList.name)
    lists = list(session.scalars(stmt))
    if names:
        unknown = sorted(set(names) - {wl.name for wl in lists})
        if unknown:
            raise NotFound(f"no loaded screening list named {', '.join(unknown)}", field="lists")
        lists = [wl for wl in lists if wl.name in names]
    return lists


# --- re-screening and hits ---------------------------------------------------------------------------------


def rescreen_all(session: Session, principal: Principal, lake_root: Path) -> RescreenSummary:
    """Screen every customer and counterparty in the lake against every list, in one transaction."""
    require_role(principal, *LIST_MANAGERS)
    with unit_of_work(session):
        lists = _lists_named(session, None)
        return _rescreen(session, principal, lists, lake_subjects(lake_root))


def _rescreen(session: Session, principal: Principal, lists: list[WatchList], subjects: list[Subject]
              ) -> RescreenSummary:
    summary = RescreenSummary(subjects=len(subjects))
    platforms = {code: pid for code, pid in session.execute(select(Platform.code, Platform.id))}
    for wl in lists:
        found = _find_hits(session, wl, subjects)
        _reconcile(session, principal, wl, found, platforms, summary)
    log.info("re-screened %d subjects against %d list(s): %d new hits, %d stale", summary.subjects,
             len(lists), summary.new_hits, summary.stale)
    return summary


def _find_hits(
    session: Session, wl: WatchList, subjects: list[Subject]
) -> dict[tuple[str, str], tuple[Subject, Match]]:
    index = name_index(session, wl)
    addresses = listed_addresses(session, [wl])
    names_seen: dict[str, list[Match]] = {}
    found: dict[tuple[str, str], tuple[Subject, Match]] = {}
    for subject in subjects:
        if subject.kind == "address":
            normal = normalise_party(subject.name)
            if normal and normal in addresses:
                found[(subject.key, addresses[normal][1])] = (subject, Match(addresses[normal][1], normal, 1.0))
            continue
        if len(index) == 0:
            continue
        matches = names_seen.get(subject.name)
        if matches is None:
            matches = names_seen[subject.name] = index.search(subject.name, wl.threshold)
        for match in matches:
            found[(subject.key, str(match.entry_key))] = (subject, match)
    return found


def _reconcile(session: Session, principal: Principal, wl: WatchList,
               found: dict[tuple[str, str], tuple[Subject, Match]], platforms: dict[str, int],
               summary: RescreenSummary) -> None:
    existing = {(h.subject, h.entry_key): h for h in session.scalars(
        select(ScreeningHit).where(ScreeningHit.list_id == wl.id).order_by(ScreeningHit.id))}
    now = utcnow()
    for key, (subject, match) in found.items():
        hit = existing.get(key)
        if hit is None:
            _record_hit(session, principal, wl, subject, match, platforms)
            summary.new_hits += 1
            continue
        hit.version, hit.score, hit.updated_at = wl.current_version, match.score, now
        if hit.status == "stale":
            hit.status = "open"
            record(session, principal, "screening.hit_reopened", "screening_hit", hit.id,
                   before={"status": "stale"}, after={"status": "open", "version": wl.current_version})
            summary.reopened += 1
        else:
            summary.kept += 1
    for key, hit in existing.items():
        if key not in found and hit.status != "stale":
            record(session, principal, "screening.hit_stale", "screening_hit", hit.id,
                   before={"status": hit.status}, after={"status": "stale", "version": wl.current_version},
                   reason=f"version {wl.current_version} of list {wl.name} no longer yields this hit")
            hit.status, hit.updated_at = "stale", now
            summary.stale += 1
    session.flush()


def _record_hit(session: Session, principal: Principal, wl: WatchList, subject: Subject, match: Match,
                platforms: dict[str, int]) -> ScreeningHit:
    entry_name = match.matched_name
    hit = ScreeningHit(
        list_id=wl.id, version=wl.current_version, entry_key=str(match.entry_key), entry_name=entry_name,
        matched_name=match.matched_name, subject_kind=subject.kind, subject=subject.key,
        subject_name=subject.name, venue=subject.venue, platform_id=platforms.get(subject.venue),
        score=match.score, status="open", details=subject.details,
    )
    session.add(hit)
    session.flush()
    record(session, principal, "screening.hit_recorded", "screening_hit", hit.id,
           after={"list": wl.name, "version": wl.current_version, "entry": hit.entry_key, "subject": hit.subject,
                  "subject_name": hit.subject_name, "matched_name": hit.matched_name, "score": hit.score})
    return hit


def list_hits(session: Session, principal: Principal, *, status: str | None = None, list_id: int | None = None,
              limit: int = 200, offset: int = 0) -> list[tuple[ScreeningHit, str]]:
    """Hits the principal may see (a platform's own; all for the regulator), with their list's name."""
    require_role(principal, *HIT_READERS)
    if status is not None and status not in HIT_STATUSES:
        raise Invalid(f"status {status!r} is unknown; choose one of {', '.join(HIT_STATUSES)}", field="status")
    stmt = select(ScreeningHit, WatchList.name).join(WatchList, WatchList.id == ScreeningHit.list_id)
    stmt = scope_to_platforms(stmt, ScreeningHit.platform_id, principal)
    if status:
        stmt = stmt.where(ScreeningHit.status == status)
    if list_id is not None:
        stmt = stmt.where(ScreeningHit.list_id == list_id)
    stmt = stmt.order_by(ScreeningHit.status != "open", ScreeningHit.score.desc(), ScreeningHit.id)
    return [(h, n) for h, n in session.execute(stmt.limit(min(limit, 1000)).offset(offset))]


def hit_counts(session: Session, principal: Principal) -> dict[str, int]:
    require_role(principal, *HIT_READERS)
    stmt = scope_to_platforms(select(ScreeningHit.status, func.count()), ScreeningHit.platform_id, principal)
    return {status: n for status, n in session.execute(stmt.group_by(ScreeningHit.status))}


def get_hit(session: Session, principal: Principal, hit_id: int) -> ScreeningHit:
    require_role(principal, *HIT_READERS)
    hit = session.get(ScreeningHit, hit_id)
    # A hit of a venue without a platform record is the regulator's alone.
    if hit is None or (not principal.is_regulator and
                       (hit.platform_id is None or not principal.can_see_platform(hit.platform_id))):
        raise NotFound(f"no screening hit {hit_id} that you may see", field="hit_id")
    return hit


def decisions_for(session: Session, hit: ScreeningHit) -> list[ScreeningDecision]:
    stmt = select(ScreeningDecision).where(ScreeningDecision.hit_id == hit.id).order_by(ScreeningDecision.id)
    return list(session.scalars(stmt))


def decide_hit(session: Session, principal: Principal, hit_id: int, decision: str, reason: str) -> ScreeningHit:
    """Record an analyst's decision (true match or false positive, with a reason) on a hit."""
    require_role(principal, *DECIDERS)
    if decision not in DECISIONS:
        raise Invalid(f"decision {decision!r} is unknown; choose one of {', '.join(DECISIONS)}", field="decision")
    reason = (reason or "").strip()
    if len(reason) < 3 or len(reason) > 2000:
        raise Invalid("reason: say in 3–2000 characters why (e.g. 'date of birth differs')", field="reason")
    with unit_of_work(session):
        hit = get_hit(session, principal, hit_id)
        if principal.role == Role.PLATFORM_USER and hit.platform_id != principal.platform_id:
            raise Forbidden("platform users decide only on their own platform's hits")
        before = hit.status
        session.add(ScreeningDecision(hit_id=hit.id, decision=decision, reason=reason, decided_by=principal.username))
        hit.status, hit.updated_at = decision, utcnow()
        record(session, principal, "screening.hit_decided", "screening_hit", hit.id,
               before={"status": before}, after={"status": decision}, reason=reason)
    return hit

