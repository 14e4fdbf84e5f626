"""Suspicious transaction reports (STR) generated from a case: JSON, PDF (reportlab) and goAML-style XML
(lxml, validated against ``schemas/goaml_str.xsd``).

The payload is built from the case's alerts: subjects and accounts from the alerts (names and customers
from the lake's accounts table when present), transactions from the alerts' evidence ids (with amounts,
parties and times read from the lake's trades/transfers when those rows exist; otherwise the evidence id
alone), and a narrative drafted from the alerts' explanations that the analyst edits. At filing the
payload is frozen, so the documents of a filed report never change.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from harbour.cases.models import Case, SuspiciousTransactionReport
from harbour.cases.service import STAFF, _open_case_for_edit, add_entry, case_alerts, get_case, report_of
from harbour.core.audit import record
from harbour.core.auth import Principal, User, require_role
from harbour.core.db import unit_of_work, utcnow
from harbour.core.errors import Conflict, Invalid, NotFound
from harbour.core.tenancy import Platform
from harbour.data.schemas import AML_TYPOLOGIES

log = logging.getLogger(__name__)

XSD_PATH = Path(__file__).resolve().parent / "schemas" / "goaml_str.xsd"
REPORTING_ENTITY = "HARBOUR-SUPERVISION"
CURRENCY = "USD"
MAX_TRANSACTIONS = 500
LOOKUP_ORDER = {
    True: (("transfers", "transfer_id"), ("trades", "trade_id"), ("orders", "order_id")),
    False: (("trades", "trade_id"), ("orders", "order_id"), ("transfers", "transfer_id")),
}


# --- drafting and filing ----------------------------------------------------------------------------------


def draft_narrative(session: Session, case: Case) -> str:
    """A first narrative from the alerts' explanations, for the analyst to edit."""
    alerts = [a for a, _ in case_alerts(session, case)]
    lines = [f"Case {case.reference} ({case.title}) links {len(alerts)} alert(s) raised by Harbour's surveillance."]
    for a in alerts:
        lines.append(
            f"- {a.start:%Y-%m-%d %H:%M} UTC, {a.venue}, {a.typology.replace('_', ' ')} "
            f"(score {a.score:.2f}): {a.explanation}"
        )
    lines.append("The analyst's assessment: ")
    return "\n".join(lines)


def save_draft(
    session: Session, principal: Principal, case_id: int, narrative: str | None = None
) -> SuspiciousTransactionReport:
    """Create the case's STR draft (narrative drafted from the alerts) or update its narrative."""
    require_role(principal, *STAFF)
    with unit_of_work(session):
        case = _open_case_for_edit(session, principal, case_id)
        report = report_of(session, case)
        if report is not None and report.status != "draft":
            raise Conflict(
                f"report {report.reference} is {report.status}; it can no longer be edited", field="narrative"
            )
        text = (narrative or "").strip() or draft_narrative(session, case)
        if len(text) > 20000:
            raise Invalid("the narrative is longer than 20,000 characters", field="narrative")
        if report is None:
            report = SuspiciousTransactionReport(
                case_id=case.id,
                reference=f"STR-{case.reference[5:]}",
                status="draft",
                narrative=text,
                created_by=principal.username,
            )
            session.add(report)
            session.flush()
            action = "str.drafted"
            add_entry(
                session, case, principal, "report", f"report {report.reference} drafted", {"report_id": report.id}
            )
        else:
            report.narrative = text
            action = "str.edited"
        case.narrative = text
        record(session, principal, action, "str_report", report.id, after={"status": "draft", "chars": len(text)})
        return report


def file_report(
    session: Session,
    principal: Principal,
    case: Case,
    report: SuspiciousTransactionReport,
    lake_root: Path | None = None,
) -> None:
    """Freeze the payload and mark the report filed. Called only from an approved four-eyes review."""
    if report.status != "pending_approval":
        raise Conflict(f"report {report.reference} is {report.status}; only an approved submission is filed")
    report.approved_by, report.filed_at, report.status = principal.username, utcnow(), "filed"
    report.payload = build_payload(session, case, report, lake_root=lake_root)
    add_entry(session, case, principal, "report", f"report {report.reference} filed", {"report_id": report.id})
    record(
        session,
        principal,
        "str.filed",
        "str_report",
        report.id,
        before={"status": "pending_approval"},
        after={"status": "filed", "approved_by": principal.username},
    )


def get_report(session: Session, principal: Principal, case_id: int) -> tuple[Case, SuspiciousTransactionReport]:
    case = get_case(session, principal, case_id)
    report = report_of(session, case)
    if report is None:
        raise NotFound(f"case {case.reference} has no report yet; draft one first", field="case_id")
    return case, report


def report_payload(session: Session, principal: Principal, case_id: int, lake_root: Path | None) -> dict[str, Any]:
    case, report = get_report(session, principal, case_id)
    if report.status == "filed" and report.payload:
        return report.payload
    return build_payload(session, case, report, lake_root=lake_root)


# --- the payload ----------------------------------------------------------------------------------------


def build_payload(
    session: Session, case: Case, report: SuspiciousTransactionReport, lake_root: Path | None
) -> dict[str, Any]:
    alerts = [a for a, _ in case_alerts(session, case)]
    owner = session.get(User, case.owner_id)
    platform = session.get(Platform, case.platform_id) if case.platform_id else None
    accounts = sorted({(a.venue, acc) for a in alerts for acc in a.accounts})
    people = _lake_accounts(lake_root, accounts) if lake_root else {}
    evidence = [(a.venue, e, a) for a in alerts for e in a.evidence_ids][:MAX_TRANSACTIONS]
    details = _lake_transactions(lake_root, evidence) if lake_root else {}
    return {
        "reference": report.reference,
        "status": report.status,
        "reporting_entity": REPORTING_ENTITY,
        "submitted_by": owner.display_name if owner else report.created_by,
        "approved_by": report.approved_by,
        "filed_at": report.filed_at.isoformat() if report.filed_at else None,
        "generated_at": utcnow().isoformat(),
        "case": {
            "reference": case.reference,
            "title": case.title,
            "priority": case.priority,
            "opened_at": case.created_at.isoformat(),
            "status": case.status,
        },
        "platform": {"code": platform.code, "legal_name": platform.legal_name} if platform else None,
        "indicators": sorted({a.typology for a in alerts}),
        "narrative": report.narrative,
        "subjects": [{"venue": v, "account": acc, **people.get((v, acc), {})} for v, acc in accounts],
        "transactions": [_transaction(v, e, a, details.get((v, e))) for v, e, a in evidence],
        "alerts": [
            {
                "alert_id": a.alert_id,
                "detector": a.detector,
                "typology": a.typology,
                "score": a.score,
                "start": a.start.isoformat(),
                "end": a.end.isoformat(),
                "explanation": a.explanation,
            }
            for a in alerts
        ],
    }


def _transaction(venue: str, evidence_id: str, alert: Any, row: dict[str, Any] | None) -> dict[str, Any]:
    base = {"id": evidence_id, "venue": venue, "alert_id": alert.alert_id, "from_lake": row is not None}
    if row is None:
        return {**base, "kind": "evidence", "description": f"evidence of alert {alert.alert_id} ({alert.typology})"}
    return {**base, **row}


def _lake_accounts(lake_root: Path, accounts: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    wanted = set(accounts)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for venue in sorted({v for v, _ in wanted}):
        rows = _lake_rows(lake_root, "accounts", venue, None, None, "account", {a for v, a in wanted if v == venue})
        for row in rows:
            out[(venue, row["account"])] = {k: row.get(k) for k in ("customer_id", "name", "country", "account_type")}
    return out


def _lake_transactions(lake_root: Path, evidence: list[tuple[str, str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Trades, orders and transfers whose id is an evidence id, read from the venue's partitions for the
    days the alerts span (the lake prunes the rest). Ids are looked up first in the tables the alert's
    typology draws on (transfers for AML typologies, trades and orders for market abuse), because ids
    are unique only within a table."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    spans: dict[tuple[str, bool], tuple[set[str], dt.date, dt.date]] = {}
    for venue, eid, alert in evidence:
        key = (venue, alert.typology in AML_TYPOLOGIES)
        ids, first, last = spans.get(key, (set(), alert.start.date(), alert.end.date()))
        ids.add(eid)
        spans[key] = (ids, min(first, alert.start.date()), max(last, alert.end.date()))
    for (venue, aml), (ids, first, last) in spans.items():
        found: set[str] = set()
        for table, column in LOOKUP_ORDER[aml]:
            remaining = ids - found
            if not remaining:
                break
            for row in _lake_rows(lake_root, table, venue, first, last, column, remaining):
                if row[column] not in found:  # an order's first event
                    found.add(row[column])
                    out[(venue, row[column])] = _describe(table, row)
    return out


def _lake_rows(
    lake_root: Path, table: str, venue: str, first: dt.date | None, last: dt.date | None, key: str, keys: set[str]
) -> list[dict[str, Any]]:
    """Rows of ``table`` whose ``key`` is in ``keys``; empty (with a warning) when the lake cannot say."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from harbour.data.lake import Lake

    try:
        with Lake(lake_root) as lake:
            if not lake.files(table, venue, first, last):
                return []
            arrow = lake.table(table, venue=venue, start=first, end=last).to_arrow()
    except Exception as exc:  # the report degrades to evidence ids rather than failing
        log.warning("cannot read %s of %s from the lake for the report: %s", table, venue, exc)
        return []
    if key not in arrow.column_names:
        return []
    matched = arrow.filter(pc.is_in(arrow.column(key), value_set=pa.array(sorted(keys), type=pa.string())))
    if "ts" in matched.column_names:
        matched = matched.sort_by("ts")
    return matched.to_pylist()


def _describe(table: str, row: dict[str, Any]) -> dict[str, Any]:
    ts = row.get("ts")
    when = ts.isoformat() if isinstance(ts, dt.datetime) else None
    if table == "trades":
        return {
            "kind": "trade",
            "ts": when,
            "amount": _money(row.get("price"), row.get("quantity")),
            "symbol": row.get("symbol"),
            "from": row.get("seller"),
            "to": row.get("buyer"),
            "description": f"trade {row.get('symbol')} {row.get('quantity')} @ {row.get('price')}",
        }
    if table == "orders":
        price = row.get("price")
        return {
            "kind": "order",
            "ts": when,
            "amount": _money(price, row.get("quantity")),
            "symbol": row.get("symbol"),
            "from": row.get("account"),
            "to": None,
            "description": f"{row.get('side')} {row.get('order_type')} order {row.get('order_id')} on "
            f"{row.get('symbol')}: {row.get('quantity')} @ {price if price is not None else 'market'} "
            f"({row.get('event')})",
        }
    return {
        "kind": "transfer",
        "ts": when,
        "amount": _money(row.get("usd_value"), 1.0),
        "asset": row.get("asset"),
        "from": row.get("from_party"),
        "to": row.get("to_party"),
        "description": f"{row.get('kind')} transfer of {row.get('amount')} {row.get('asset')}",
    }


def _money(value: Any, quantity: Any) -> float | None:
    """value × quantity rounded to cents; None when either is missing or not a finite number."""
    try:
        amount = float(value) * float(quantity)
    except (TypeError, ValueError):
        return None
    return round(amount, 2) if math.isfinite(amount) else None


# --- the three formats ----------------------------------------------------------------------------------


def to_json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, indent=2, sort_keys=True, default=str).encode()


def to_xml(payload: dict[str, Any]) -> bytes:
    """goAML-style XML; valid against ``schemas/goaml_str.xsd``."""
    E = etree.Element
    root = E("report")

    def add(parent: Any, tag: str, text: Any) -> Any:
        el = etree.SubElement(parent, tag)
        el.text = _clip(str(text), 4000 if tag in ("reason", "action", "transaction_description") else 255)
        return el

    add(root, "rentity_id", payload["reporting_entity"])
    add(root, "submission_code", "E")
    add(root, "report_code", "STR")
    add(root, "entity_reference", payload["reference"])
    add(root, "submission_date", payload.get("filed_at") or payload["generated_at"])
    add(root, "currency_code_local", CURRENCY)
    person = etree.SubElement(root, "reporting_person")
    first, _, last = (payload.get("submitted_by") or "Harbour analyst").partition(" ")
    add(person, "first_name", first or "Harbour")
    add(person, "last_name", last or "analyst")
    add(person, "occupation", "Supervisor")
    add(root, "reason", payload["narrative"] or "see the attached case")
    add(root, "action", f"case {payload['case']['reference']} closed with a suspicious transaction report")
    venue_name = (payload.get("platform") or {}).get("legal_name")
    for t in payload["transactions"]:
        tx = etree.SubElement(root, "transaction")
        add(tx, "transactionnumber", t["id"])
        add(tx, "internal_ref_number", t["alert_id"])
        add(tx, "transaction_location", t["venue"])
        add(tx, "transaction_description", t["description"])
        if t.get("ts"):
            add(tx, "date_transaction", t["ts"])
        if t.get("amount") is not None and math.isfinite(float(t["amount"])):
            add(tx, "amount_local", f"{float(t['amount']):.2f}")
        for side, party in (("from", t.get("from")), ("to", t.get("to"))):
            if party:
                s = etree.SubElement(tx, f"t_{side}")
                add(s, f"{side}_funds_code", "K")
                acc = etree.SubElement(s, f"{side}_account")
                add(acc, "institution_name", venue_name or t["venue"])
                add(acc, "account", party)
    if payload["subjects"]:
        parties = etree.SubElement(etree.SubElement(root, "activity"), "report_parties")
        for subj in payload["subjects"]:
            rp = etree.SubElement(parties, "report_party")
            acc = etree.SubElement(rp, "account")
            add(acc, "institution_name", venue_name or subj["venue"])
            add(acc, "account", subj["account"])
            if subj.get("name"):
                add(acc, "account_name", subj["name"])
            if subj.get("customer_id"):
                add(acc, "client_number", subj["customer_id"])
            add(rp, "significance", "8")
            add(rp, "reason", "account named in the alerts of this case")
    indicators = etree.SubElement(root, "report_indicators")
    for ind in payload["indicators"] or ["unspecified"]:
        add(indicators, "indicator", ind)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# Characters XML 1.0 forbids (control characters, lone surrogates, U+FFFE/U+FFFF); an analyst's pasted
# narrative or a detector's explanation may carry them.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clip(text: str, limit: int) -> str:
    text = _NOT_XML.sub("", text).strip() or "-"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


def validate_xml(document: bytes) -> None:
    """Raise Invalid naming the line and problem of each schema violation."""
    try:
        tree = etree.fromstring(document)
    except etree.XMLSyntaxError as exc:
        raise Invalid(f"the report XML is not well formed: {exc}", field="xml") from exc
    schema = _schema()
    if not schema.validate(tree):
        problems = [f"line {e.line}: {e.message}" for e in schema.error_log]
        raise Invalid(
            "the report XML does not match goaml_str.xsd: " + "; ".join(problems[:5]), field="xml", details=problems
        )


def to_pdf(payload: dict[str, Any]) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        title=f"Suspicious transaction report {payload['reference']}",
        author="Harbour",
    )
    st = getSampleStyleSheet()
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    p = payload.get("platform") or {}
    story: list[Any] = [
        Paragraph(f"Suspicious transaction report {escape(payload['reference'])}", st["Title"]),
        Paragraph(escape(f"Case {payload['case']['reference']}: {payload['case']['title']}"), st["Normal"]),
        Paragraph(
            escape(
                f"Platform: {p.get('legal_name', 'several venues')}  ·  status: {payload['status']}"
                f"  ·  filed: {payload.get('filed_at') or 'not yet'}"
            ),
            st["Normal"],
        ),
        Paragraph(
            escape(f"Prepared by {payload['submitted_by']}; approved by {payload.get('approved_by') or '—'}"),
            st["Normal"],
        ),
        Spacer(1, 4 * mm),
        Paragraph("Indicators", st["Heading2"]),
        Paragraph(escape(", ".join(payload["indicators"])), st["Normal"]),
        Paragraph("Narrative", st["Heading2"]),
    ]
    story += [Paragraph(escape(line) or "&nbsp;", st["Normal"]) for line in payload["narrative"].splitlines()]
    story.append(Paragraph("Subjects", st["Heading2"]))
    rows = [["venue", "account", "customer", "name", "country"]] + [
        [s["venue"], s["account"], s.get("customer_id", ""), s.get("name", ""), s.get("country", "")]
        for s in payload["subjects"]
    ]
    story.append(Table(rows, repeatRows=1, style=grid))
    story.append(Paragraph("Transactions", st["Heading2"]))
    rows = [["id", "kind", "time", "amount", "from", "to"]] + [
        [
            t["id"][:28],
            t["kind"],
            (t.get("ts") or "")[:19],
            t.get("amount", ""),
            str(t.get("from") or "")[:24],
            str(t.get("to") or "")[:24],
        ]
        for t in payload["transactions"]
    ]
    story.append(Table(rows, repeatRows=1, style=grid))
    story.append(Paragraph("Alerts", st["Heading2"]))
    story += [
        Paragraph(
            escape(f"{a['alert_id']} · {a['detector']} · {a['typology']} · score {a['score']:.2f}: {a['explanation']}"),
            st["Normal"],
        )
        for a in payload["alerts"]
    ]
    doc.build(story)
    return buf.getvalue()


def render(payload: dict[str, Any], fmt: str) -> tuple[bytes, str]:
    """The document in ``fmt`` (json, pdf, xml) and its media type; XML is validated before it leaves."""
    if fmt == "json":
        return to_json(payload), "application/json"
    if fmt == "pdf":
        return to_pdf(payload), "application/pdf"
    if fmt == "xml":
        document = to_xml(payload)
        validate_xml(document)
        return document, "application/xml"
    raise Invalid("format must be json, pdf or xml", field="format")
