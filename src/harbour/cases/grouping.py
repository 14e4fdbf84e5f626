"""Case suggestions: related open alerts grouped together before an analyst opens a case.

Rule (docs/cases.md): two alerts are related when they are on the same venue, share an account (or two
accounts of the same customer, when the lake's accounts table says so), and their time spans overlap or
lie within ``gap`` of each other. Relatedness is closed transitively with a union-find, so a chain
A–B–C becomes one suggestion. The analyst accepts a suggestion (opens a case), splits it (accepts a
subset) or merges several (accepts their union).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbour.cases.models import AlertTriage
from harbour.cases.triage import sync_queue
from harbour.core.auth import Principal, Role, require_role
from harbour.core.errors import Invalid
from harbour.detect.alert_store import AlertRecord

log = logging.getLogger(__name__)

DEFAULT_GAP = dt.timedelta(hours=24)
DEFAULT_LIMIT = 5000  # the highest-priority open alerts considered per request


@dataclass(frozen=True)
class AlertSpan:
    alert_id: str
    venue: str
    accounts: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    priority: float = 0.0
    typology: str = ""


@dataclass
class Suggestion:
    alerts: list[AlertSpan]
    keys: set[str] = field(default_factory=set)  # the accounts/customers that tie the group together

    @property
    def alert_ids(self) -> list[str]:
        return sorted(a.alert_id for a in self.alerts)

    @property
    def id(self) -> str:
        return "g-" + hashlib.sha256("|".join(self.alert_ids).encode()).hexdigest()[:12]

    @property
    def venue(self) -> str:
        return self.alerts[0].venue

    @property
    def start(self) -> dt.datetime:
        return min(a.start for a in self.alerts)

    @property
    def end(self) -> dt.datetime:
        return max(a.end for a in self.alerts)

    @property
    def priority(self) -> float:
        return max(a.priority for a in self.alerts)

    @property
    def typologies(self) -> list[str]:
        return sorted({a.typology for a in self.alerts})

    @property
    def accounts(self) -> list[str]:
        return sorted({acc for a in self.alerts for acc in a.accounts})

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "venue": self.venue,
            "alert_ids": self.alert_ids,
            "accounts": self.accounts,
            "typologies": self.typologies,
            "priority": self.priority,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]  # path halving
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_alerts(
    alerts: Sequence[AlertSpan],
    *,
    gap: dt.timedelta = DEFAULT_GAP,
    customer_of: dict[tuple[str, str], str] | None = None,
    min_size: int = 2,
) -> list[Suggestion]:
    """Group related alerts (same venue, shared account or customer, overlapping/near in time).

    For each (venue, key) the alerts are swept in start order; an alert joins the running group when it
    starts no later than ``gap`` after the group's latest end. O(n log n) in the number of (alert, key) pairs.
    """
    customer_of = customer_of or {}
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, a in enumerate(alerts):
        for key in _keys(a, customer_of):
            by_key[(a.venue, key)].append(i)
    uf = _UnionFind(len(alerts))
    tie_keys: dict[int, set[str]] = defaultdict(set)
    for (_venue, key), members in by_key.items():
        if len(members) < 2:
            continue
        members.sort(key=lambda i: alerts[i].start)
        anchor, reach = members[0], alerts[members[0]].end
        for i in members[1:]:
            if alerts[i].start <= reach + gap:
                uf.union(anchor, i)
                tie_keys[anchor].add(key)
                reach = max(reach, alerts[i].end)
            else:
                anchor, reach = i, alerts[i].end
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(alerts)):
        groups[uf.find(i)].append(i)
    out = []
    for root, members in groups.items():
        if len(members) < min_size:
            continue
        keys = set().union(*(tie_keys.get(m, set()) for m in members)) if members else set()
        out.append(Suggestion([alerts[m] for m in members], keys or {root_key(alerts[root])}))
    out.sort(key=lambda s: (-s.priority, s.id))
    return out


def root_key(alert: AlertSpan) -> str:
    return alert.accounts[0] if alert.accounts else alert.alert_id


def _keys(alert: AlertSpan, customer_of: dict[tuple[str, str], str]) -> Iterable[str]:
    for account in alert.accounts:
        yield f"account:{account}"
        customer = customer_of.get((alert.venue, account))
        if customer:
            yield f"customer:{customer}"


def split(suggestion: Suggestion, keep: Iterable[str]) -> tuple[Suggestion, Suggestion]:
    """Split a suggestion into (kept alerts, the rest); both must be non-empty."""
    keep_set = set(keep)
    unknown = keep_set - set(suggestion.alert_ids)
    if unknown:
        raise Invalid(f"alerts {sorted(unknown)} are not in suggestion {suggestion.id}", field="alert_ids")
    kept = [a for a in suggestion.alerts if a.alert_id in keep_set]
    rest = [a for a in suggestion.alerts if a.alert_id not in keep_set]
    if not kept or not rest:
        raise Invalid("a split needs at least one alert on each side", field="alert_ids")
    return Suggestion(kept, set(suggestion.keys)), Suggestion(rest, set(suggestion.keys))


def merge(suggestions: Sequence[Suggestion]) -> Suggestion:
    """One suggestion holding every alert of the given ones (duplicates removed)."""
    if len(suggestions) < 2:
        raise Invalid("choose at least two suggestions to merge", field="suggestion_ids")
    seen: dict[str, AlertSpan] = {}
    keys: set[str] = set()
    for s in suggestions:
        keys |= s.keys
        for a in s.alerts:
            seen.setdefault(a.alert_id, a)
    return Suggestion(list(seen.values()), keys)


# --- reading from the database and the lake ---------------------------------------------------------------


def suggest(
    session: Session,
    principal: Principal,
    *,
    venue: str | None = None,
    lake_root: Path | None = None,
    gap: dt.timedelta = DEFAULT_GAP,
    limit: int = DEFAULT_LIMIT,
) -> list[Suggestion]:
    """Case suggestions over the highest-priority open alerts (supervisors and admins)."""
    require_role(principal, Role.SUPERVISOR, Role.ADMIN)
    sync_queue(session)
    session.commit()  # derived triage rows; kept whatever happens next
    stmt = (
        select(
            AlertRecord.alert_id,
            AlertRecord.venue,
            AlertRecord.accounts,
            AlertRecord.start,
            AlertRecord.end,
            AlertTriage.priority,
            AlertRecord.typology,
        )
        .join(AlertTriage, AlertTriage.alert_id == AlertRecord.alert_id)
        .where(AlertTriage.queue_state == "open")
        .order_by(AlertTriage.priority.desc())
        .limit(limit)
    )
    if venue:
        stmt = stmt.where(AlertTriage.venue == venue)
    spans = [AlertSpan(r[0], r[1], tuple(r[2] or ()), r[3], r[4], r[5], r[6]) for r in session.execute(stmt)]
    customers = customers_from_lake(lake_root, {s.venue for s in spans}) if lake_root else {}
    return group_alerts(spans, gap=gap, customer_of=customers)


def customers_from_lake(lake_root: Path, venues: set[str]) -> dict[tuple[str, str], str]:
    """(venue, account) → customer_id from the lake's accounts table; empty when it is absent."""
    files = [p for v in sorted(venues) for p in (Path(lake_root) / "accounts" / f"venue={v}").glob("*.parquet")]
    if not files:
        return {}
    import pyarrow.parquet as pq

    mapping: dict[tuple[str, str], str] = {}
    for path in files:
        try:
            table = pq.read_table(path, columns=["venue", "account", "customer_id"])
        except Exception as exc:  # an unreadable file must not stop triage; the rule falls back to accounts
            log.warning("cannot read customers from %s: %s", path, exc)
            continue
        for venue, account, customer in zip(
            *(table.column(c).to_pylist() for c in ("venue", "account", "customer_id")), strict=True
        ):
            if customer:
                mapping[(venue, account)] = customer
    return mapping
