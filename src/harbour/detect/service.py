"""Surveillance as a service: run detectors over the lake, keep their alerts (Parquet and the operational
database), and answer queries about them with tenant scoping.

- :func:`surveil` runs detectors and returns the alerts (no database).
- :func:`store_alerts` upserts alerts by ``alert_id`` and writes one audit entry per run.
- :func:`run_surveillance` is the API's door: permission checks, a platform user's run restricted to their
  own venue, run, store.
- :func:`list_alerts`, :func:`get_alert`, :func:`load_evidence` serve the pages and the API.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from harbour.core.audit import record
from harbour.core.auth import Principal, Role, require_role, scope_to_platforms
from harbour.core.db import unit_of_work
from harbour.core.errors import Forbidden, Invalid, NotFound
from harbour.core.tenancy import Platform
from harbour.data.schemas import ALERTS, AML_TYPOLOGIES, TYPOLOGIES
from harbour.detect.alert_store import ALERT_STATUSES, AlertRecord
from harbour.detect.builtin import load_detectors
from harbour.detect.framework import Detector, Window
from harbour.detect.runners import RunResult, run_detectors
from harbour.detect.runners.plan import lake_files
from harbour.detect.runners.progress import NO_PROGRESS, Progress

log = logging.getLogger(__name__)

RUN_ROLES = (Role.SUPERVISOR, Role.ADMIN, Role.PLATFORM_USER)
READ_ROLES = (Role.SUPERVISOR, Role.ADMIN, Role.LICENSING_OFFICER, Role.PLATFORM_USER)
MAX_PAGE_SIZE = 500


# --- running ------------------------------------------------------------------------------------------


def resolve_detectors(names: Sequence[str] | None) -> list[Detector[Any]]:
    """Registered detectors by name (all of them when ``names`` is empty)."""
    registry = load_detectors()
    if not names:
        return registry.all()
    unknown = [n for n in names if n not in registry.names()]
    if unknown:
        raise Invalid(f"unknown detector(s) {', '.join(unknown)}; known: {', '.join(registry.names()) or 'none'}",
                      field="detector")
    return [registry.get(n) for n in dict.fromkeys(names)]


def check_lake(lake_root: Path) -> Path:
    root = Path(lake_root)
    if not root.is_dir() or not any(root.iterdir()):
        raise Invalid(f"no lake at {root}: generate one with `harbour generate --out {root}` or point "
                      "--lake / HARBOUR_LAKE_ROOT at an existing one", field="lake")
    return root


def surveil(lake_root: Path, *, detectors: Sequence[str] | None = None, window: Window | None = None,
            venues: Sequence[str] | None = None, runner: str = "local", workers: int | None = None,
            spark: Any | None = None, progress: Progress = NO_PROGRESS) -> RunResult:
    """Run the named (or all registered) detectors over the lake; nothing is stored."""
    root = check_lake(lake_root)
    chosen = resolve_detectors(detectors)
    return run_detectors(root, chosen, runner=runner, window=window, venues=venues or None, workers=workers,
                         spark=spark, progress=progress)


def write_alerts_parquet(alerts: pa.Table, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(alerts.cast(ALERTS), path)
    return path


@dataclass(frozen=True)
class StoreSummary:
    run_id: str
    inserted: int
    updated: int
    by_detector: dict[str, int]
    without_platform: int  # alerts whose venue is no registered platform (visible to the regulator only)


def store_alerts(session: Session, principal: Principal, result: RunResult, *, run_id: str | None = None,
                 venues: Sequence[str] | None = None) -> StoreSummary:
    """Upsert the run's alerts by alert_id and record one audit entry. Triage status of known alerts is kept.
    The caller owns the transaction."""
    run_id = run_id or uuid.uuid4().hex
    rows = result.alerts.to_pylist()
    platforms = {code: pid for code, pid in session.execute(select(Platform.code, Platform.id))}
    existing: dict[str, AlertRecord] = {}
    ids = [r["alert_id"] for r in rows]
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        existing.update({a.alert_id: a for a in session.scalars(select(AlertRecord).where(
            AlertRecord.alert_id.in_(chunk)))})
    inserted = updated = orphans = 0
    for row in rows:
        platform_id = platforms.get(row["venue"])
        orphans += platform_id is None
        values = {k: row[k] for k in ALERTS.names if k != "alert_id"}
        current = existing.get(row["alert_id"])
        if current is None:
            session.add(AlertRecord(alert_id=row["alert_id"], platform_id=platform_id, run_id=run_id,
                                    status="open", details={}, **values))
            inserted += 1
        else:
            for k, v in values.items():
                setattr(current, k, v)
            current.platform_id = platform_id
            current.run_id = run_id
            updated += 1
    by_detector = {d.detector: d.alerts for d in result.detectors}
    session.flush()
    record(session, principal, "surveillance.run", "surveillance_run", run_id, after={
        "runner": result.runner, "venues": list(venues or []), "alerts": len(rows), "inserted": inserted,
        "updated": updated, "by_detector": by_detector, "seconds": round(result.seconds, 3)},
        reason=f"surveillance run with {len(result.detectors)} detector(s)")
    return StoreSummary(run_id, inserted, updated, by_detector, orphans)


class RunRequest:
    """What the API accepts for a run (validated by the pydantic model in ``api``)."""

    def __init__(self, venues: Sequence[str] | None = None, detectors: Sequence[str] | None = None,
                 start: dt.datetime | None = None, end: dt.datetime | None = None) -> None:
        self.venues = list(venues or [])
        self.detectors = list(detectors or [])
        self.start = start
        self.end = end


@dataclass
class RunSummary:
    run_id: str
    venues: list[str]
    alerts: int
    inserted: int
    updated: int
    seconds: float
    detectors: list[dict[str, Any]] = field(default_factory=list)


def run_surveillance(session: Session, principal: Principal, lake_root: Path, req: RunRequest,
                     *, workers: int | None = None) -> RunSummary:
    """A supervisor runs over any venues; a platform user only over their own platform's venue."""
    require_role(principal, *RUN_ROLES)
    venues = list(req.venues)
    if principal.role == Role.PLATFORM_USER:
        own = session.get(Platform, principal.platform_id) if principal.platform_id else None
        if own is None:
            raise Forbidden("your account is not bound to a platform, so there is no venue to survey")
        others = [v for v in venues if v != own.code]
        if others:
            raise Forbidden(f"you may only survey your own platform's venue {own.code!r}, not {', '.join(others)}",
                            field="venues")
        venues = [own.code]
    window = _window(req.start, req.end)
    result = surveil(lake_root, detectors=req.detectors, window=window, venues=venues or None, workers=workers)
    with unit_of_work(session):
        stored = store_alerts(session, principal, result, venues=venues)
    return RunSummary(stored.run_id, venues, result.alerts.num_rows, stored.inserted, stored.updated,
                      round(result.seconds, 3), [d.__dict__ | {"rows_per_second": round(d.rows_per_second)}
                                                 for d in result.detectors])


def _window(start: dt.datetime | None, end: dt.datetime | None) -> Window:
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise Invalid(f"'{name}' must carry a time zone (e.g. 2026-01-05T00:00:00Z)", field=name)
    if start and end and start >= end:
        raise Invalid(f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()})", field="from")
    return Window(start, end)


# --- queries ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertFilters:
    typology: str | None = None
    detector: str | None = None
    venue: str | None = None
    status: str | None = None
    start: dt.datetime | None = None  # alerts ending at or after
    end: dt.datetime | None = None  # alerts starting before
    min_score: float | None = None
    page: int = 1
    page_size: int = 50

    def validate(self) -> AlertFilters:
        if self.typology and self.typology not in TYPOLOGIES:
            raise Invalid(f"unknown typology {self.typology!r}; choose one of {', '.join(TYPOLOGIES)}",
                          field="typology")
        if self.status and self.status not in ALERT_STATUSES:
            raise Invalid(f"unknown status {self.status!r}; choose one of {', '.join(ALERT_STATUSES)}",
                          field="status")
        if self.min_score is not None and not 0 <= self.min_score <= 1:
            raise Invalid("min_score must lie between 0 and 1", field="min_score")
        if self.page < 1:
            raise Invalid("page starts at 1", field="page")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise Invalid(f"page_size must lie between 1 and {MAX_PAGE_SIZE}", field="page_size")
        _window(self.start, self.end)
        return self


@dataclass(frozen=True)
class AlertPage:
    items: list[AlertRecord]
    total: int
    page: int
    page_size: int


def list_alerts(session: Session, principal: Principal, filters: AlertFilters) -> AlertPage:
    """Alerts the principal may see, filtered, highest score first."""
    require_role(principal, *READ_ROLES)
    filters.validate()
    stmt = scope_to_platforms(select(AlertRecord), AlertRecord.platform_id, principal)
    for column, value in ((AlertRecord.typology, filters.typology), (AlertRecord.detector, filters.detector),
                          (AlertRecord.venue, filters.venue), (AlertRecord.status, filters.status)):
        if value:
            stmt = stmt.where(column == value)
    if filters.start is not None:
        stmt = stmt.where(AlertRecord.end >= filters.start)
    if filters.end is not None:
        stmt = stmt.where(AlertRecord.start < filters.end)
    if filters.min_score is not None:
        stmt = stmt.where(AlertRecord.score >= filters.min_score)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = stmt.order_by(AlertRecord.score.desc(), AlertRecord.start.desc(), AlertRecord.alert_id)
    items = list(session.scalars(stmt.limit(filters.page_size).offset((filters.page - 1) * filters.page_size)))
    return AlertPage(items, total, filters.page, filters.page_size)


def alert_facets(session: Session, principal: Principal) -> dict[str, list[str]]:
    """Distinct values for the list page's filter menus, within what the principal may see."""
    require_role(principal, *READ_ROLES)
    out = {}
    for name, column in (("typology", AlertRecord.typology), ("detector", AlertRecord.detector),
                         ("venue", AlertRecord.venue), ("status", AlertRecord.status)):
        stmt = scope_to_platforms(select(column).distinct(), AlertRecord.platform_id, principal)
        out[name] = sorted(v for v in session.scalars(stmt) if v)
    return out


def get_alert(session: Session, principal: Principal, alert_id: str) -> AlertRecord:
    require_role(principal, *READ_ROLES)
    stmt = scope_to_platforms(select(AlertRecord).where(AlertRecord.alert_id == alert_id), AlertRecord.platform_id,
                              principal)
    alert = session.scalar(stmt)
    if alert is None:
        raise NotFound(f"no alert {alert_id!r} that you may see", field="alert_id")
    return alert


def alert_to_dict(a: AlertRecord) -> dict[str, Any]:
    return {
        "alert_id": a.alert_id, "detector": a.detector, "detector_version": a.detector_version,
        "typology": a.typology, "venue": a.venue, "platform_id": a.platform_id, "symbol": a.symbol,
        "accounts": list(a.accounts), "start": a.start.isoformat(), "end": a.end.isoformat(),
        "score": a.score, "evidence_ids": list(a.evidence_ids), "explanation": a.explanation,
        "status": a.status, "run_id": a.run_id, "created_at": a.created_at.isoformat() if a.created_at else None,
    }


# --- evidence from the lake ---------------------------------------------------------------------------

EVIDENCE_ROW_LIMIT = 500
CHART_BUCKETS = 240


@dataclass
class Evidence:
    """What the alert page shows: the market around the alert and the rows it names."""

    context_start: dt.datetime
    context_end: dt.datetime
    series: list[dict[str, Any]] = field(default_factory=list)  # bucketed: ts, close, high, low, volume
    trades: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    context_transfers: list[dict[str, Any]] = field(default_factory=list)  # the accounts' transfers around it
    missing: list[str] = field(default_factory=list)  # evidence ids not found in the lake


def load_evidence(lake_root: Path, alert: AlertRecord) -> Evidence:
    """Read the alert's evidence rows and the price/volume around it from the lake (DuckDB, pruned files)."""
    span = alert.end - alert.start
    # a market alert is read against the minutes around it; an AML alert against the accounts' days around it
    pad = max(span / 2, dt.timedelta(minutes=15) if alert.symbol else dt.timedelta(days=3))
    lo, hi = alert.start - pad, alert.end + pad
    days = [(lo + dt.timedelta(days=i)).date() for i in range((hi.date() - lo.date()).days + 1)]
    ev = Evidence(lo, hi)
    ids = list(alert.evidence_ids)
    con = duckdb.connect(config={"threads": 1})
    try:
        con.execute("SET TimeZone='UTC'")
        ev.trades = _rows(con, lake_root, "trades", [alert.venue], days, "trade_id", ids)
        ev.orders = _rows(con, lake_root, "orders", [alert.venue], days, "order_id", ids)
        ev.transfers = _rows(con, lake_root, "transfers", [alert.venue], days, "transfer_id", ids)
        if alert.symbol:
            ev.series = _series(con, lake_root, alert.venue, alert.symbol, days, lo, hi)
        else:
            ev.context_transfers = _account_transfers(con, lake_root, alert, days, lo, hi)
        files = [f.path for f in lake_files(lake_root, "accounts", [alert.venue])]
        if files and alert.accounts:
            ev.accounts = con.sql("SELECT * EXCLUDE (venue) FROM read_parquet($f, union_by_name=true) "
                                  "WHERE account IN (SELECT unnest($a)) ORDER BY account",
                                  params={"f": files, "a": list(alert.accounts)}).to_arrow_table().to_pylist()
    finally:
        con.close()
    found = {r.get("trade_id") for r in ev.trades} | {r.get("order_id") for r in ev.orders} | {
        r.get("transfer_id") for r in ev.transfers}
    ev.missing = [i for i in ids if i not in found][:50]
    return ev


def _rows(con: duckdb.DuckDBPyConnection, root: Path, table: str, venues: list[str], days: list[dt.date],
          id_col: str, ids: list[str]) -> list[dict[str, Any]]:
    files = [f.path for f in lake_files(root, table, venues, days)]
    if not files or not ids:
        return []
    data = con.sql(f"SELECT * FROM read_parquet($f, union_by_name=true) WHERE {id_col} IN (SELECT unnest($ids)) "
                   f"ORDER BY ts, {id_col} LIMIT {EVIDENCE_ROW_LIMIT}", params={"f": files, "ids": ids})
    return [{k: v for k, v in r.items() if k != "date"} for r in data.to_arrow_table().to_pylist()]


def _account_transfers(con: duckdb.DuckDBPyConnection, root: Path, alert: AlertRecord, days: list[dt.date],
                       lo: dt.datetime, hi: dt.datetime) -> list[dict[str, Any]]:
    """Transfers to or from the alert's accounts around its span (context for an AML chart)."""
    files = [f.path for f in lake_files(root, "transfers", [alert.venue], days)]
    if not files:
        return []
    parties = [f"{alert.venue}:{a}" for a in alert.accounts]
    sql = ("SELECT transfer_id, ts, kind, asset, amount, usd_value, from_party, to_party "
           "FROM read_parquet($f, union_by_name=true) WHERE ts >= $lo AND ts <= $hi AND "
           "(from_party IN (SELECT unnest($p)) OR to_party IN (SELECT unnest($p)) OR "
           f"transfer_id IN (SELECT unnest($ids))) ORDER BY ts, transfer_id LIMIT {EVIDENCE_ROW_LIMIT * 4}")
    params = {"f": files, "lo": lo, "hi": hi, "p": parties, "ids": list(alert.evidence_ids)}
    return con.sql(sql, params=params).to_arrow_table().to_pylist()


def _series(con: duckdb.DuckDBPyConnection, root: Path, venue: str, symbol: str, days: list[dt.date],
            lo: dt.datetime, hi: dt.datetime) -> list[dict[str, Any]]:
    """Price and volume in fixed time buckets (so a busy market stays a few hundred points)."""
    files = [f.path for f in lake_files(root, "trades", [venue], days)]
    if not files:
        return []
    width = max(1, int((hi - lo) / dt.timedelta(microseconds=1)) // CHART_BUCKETS)
    sql = ("SELECT min(ts) AS ts, arg_max(price, ts) AS close, max(price) AS high, min(price) AS low, "
           "sum(quantity) AS volume, count(*) AS trades FROM read_parquet($f, union_by_name=true) "
           "WHERE symbol = $s AND ts >= $lo AND ts <= $hi "
           "GROUP BY (epoch_us(ts) - epoch_us($lo::TIMESTAMPTZ)) // $w ORDER BY 1")
    return con.sql(sql, params={"f": files, "s": symbol, "lo": lo, "hi": hi, "w": width}).to_arrow_table().to_pylist()



# --- the catalogue ------------------------------------------------------------------------------------


def detector_catalogue() -> list[dict[str, Any]]:
    """Every registered detector with its typology, version, work spec and documented config defaults."""
    entries = []
    for d in load_detectors().all():
        config = d.default_config()
        spec = d.describe(config)
        params = []
        for name, info in type(config).model_fields.items():
            params.append({"name": name, "default": getattr(config, name), "description": info.description or ""})
        doc = (d.description or (type(d).__doc__ or "")).strip()
        entries.append({
            "name": d.name, "typology": d.typology, "version": d.version, "description": doc,
            "tables": list(spec.tables), "partition_by": list(spec.partition_by),
            "lookback": str(spec.lookback), "lookback_seconds": spec.lookback.total_seconds(),
            "broadcast": list(spec.broadcast), "parameters": params,
            "family": "aml" if d.typology in AML_TYPOLOGIES else "market",
        })
    return entries


def default_workers() -> int | None:
    """Worker processes for runs started from the web app (HARBOUR_SURVEIL_WORKERS; default: one per core)."""
    raw = os.environ.get("HARBOUR_SURVEIL_WORKERS", "")
    try:
        return max(1, int(raw)) if raw else None
    except ValueError as exc:
        raise Invalid(f"HARBOUR_SURVEIL_WORKERS={raw!r} is not a whole number",
                      field="HARBOUR_SURVEIL_WORKERS") from exc
