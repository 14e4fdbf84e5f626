"""Evaluation of alerts against ground-truth labels, with DESIGN.md's matching rule.

An alert *matches* an incident when the typology is equal, the venue is equal, they share an account and
their time spans overlap (closed intervals: touching ends count). Precision is over alerts (share of alerts
that match some incident), recall over incidents (share of incidents matched by some alert).

The match is one DuckDB hash join on (typology, venue, account) of the unnested account lists, filtered by
overlap, so 100k alerts against tens of thousands of incidents take well under a second.

A ratio whose denominator is zero is ``None`` (no alerts: precision undefined; no incidents: recall
undefined); F1 is ``None`` unless both are defined.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from harbour.core.errors import Invalid
from harbour.data.schemas import ALERTS, LABELS

MATCH_SQL = """
WITH a AS (SELECT alert_id, typology, venue, "start", "end", unnest(accounts) AS account FROM alerts_in),
     l AS (SELECT incident_id, typology, venue, "start", "end", unnest(accounts) AS account FROM labels_in)
SELECT DISTINCT a.alert_id, l.incident_id, a.typology
FROM a JOIN l ON a.typology = l.typology AND a.venue = l.venue AND a.account = l.account
WHERE a."start" <= l."end" AND l."start" <= a."end"
ORDER BY a.typology, a.alert_id, l.incident_id
"""

SCORES_SQL = """
WITH m AS (SELECT * FROM matches),
ta AS (SELECT typology, count(DISTINCT alert_id) AS alerts FROM alerts_in GROUP BY typology),
tl AS (SELECT typology, count(DISTINCT incident_id) AS incidents FROM labels_in GROUP BY typology),
ma AS (SELECT typology, count(DISTINCT alert_id) AS matched_alerts, count(DISTINCT incident_id) AS found
       FROM m GROUP BY typology),
ty AS (SELECT typology FROM ta UNION SELECT typology FROM tl)
SELECT ty.typology, coalesce(ta.alerts, 0) AS alerts, coalesce(ma.matched_alerts, 0) AS matched_alerts,
       coalesce(tl.incidents, 0) AS incidents, coalesce(ma.found, 0) AS detected_incidents
FROM ty LEFT JOIN ta USING (typology) LEFT JOIN tl USING (typology) LEFT JOIN ma USING (typology)
ORDER BY ty.typology
"""


@dataclass(frozen=True)
class TypologyScore:
    typology: str
    alerts: int
    matched_alerts: int
    incidents: int
    detected_incidents: int
    precision: float | None
    recall: float | None
    f1: float | None
    alerts_per_million_trades: float | None

    def as_json(self) -> dict[str, Any]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "alerts": self.alerts,
                "incidents": self.incidents}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _check(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    needed = ["typology", "venue", "accounts", "start", "end", "alert_id" if what == "alerts" else "incident_id"]
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise Invalid(f"{what} lack column(s) {', '.join(missing)}; expected the {what} contract "
                      f"({', '.join(schema.names)})", field=what)
    return table.select(needed)


def match(alerts: pa.Table, labels: pa.Table) -> pa.Table:
    """Pairs (alert_id, incident_id, typology) that match under DESIGN.md's rule."""
    con = duckdb.connect(config={"threads": 2})
    try:
        con.register("alerts_in", _check(alerts, ALERTS, "alerts"))
        con.register("labels_in", _check(labels, LABELS, "labels"))
        return con.sql(MATCH_SQL).to_arrow_table()
    finally:
        con.close()


def evaluate(alerts: pa.Table, labels: pa.Table, trades: int | None = None) -> dict[str, TypologyScore]:
    """Per-typology precision, recall and F1; alerts per million trades when ``trades`` is given."""
    con = duckdb.connect(config={"threads": 2})
    try:
        con.register("alerts_in", _check(alerts, ALERTS, "alerts"))
        con.register("labels_in", _check(labels, LABELS, "labels"))
        con.register("matches", con.sql(MATCH_SQL).to_arrow_table())
        rows = con.sql(SCORES_SQL).to_arrow_table().to_pylist()
    finally:
        con.close()
    out = {}
    for r in rows:
        p = _ratio(r["matched_alerts"], r["alerts"])
        rc = _ratio(r["detected_incidents"], r["incidents"])
        per_m = r["alerts"] / trades * 1e6 if trades else None
        out[r["typology"]] = TypologyScore(r["typology"], r["alerts"], r["matched_alerts"], r["incidents"],
                                           r["detected_incidents"], p, rc, _f1(p, rc), per_m)
    return out


def read_parquet_table(path: Path, what: str) -> pa.Table:
    """A Parquet file, or every Parquet file under a folder (e.g. a lake's ``labels/``)."""
    path = Path(path)
    if path.is_dir() and (path / what).is_dir():
        path = path / what  # a lake root was given
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise Invalid(f"no {what} Parquet at {path}", field=what)
    try:
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    except (pa.ArrowInvalid, OSError) as exc:
        raise Invalid(f"cannot read {what} from {path}: {exc}", field=what) from exc


def count_trades(lake_root: Path) -> int:
    """Trades in a lake, from the Parquet footers (no data read)."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in (Path(lake_root) / "trades").rglob("*.parquet"))


def find_lake(labels_path: Path) -> Path | None:
    """The lake a labels path belongs to (``LAKE/labels/...`` or ``LAKE``), if it has trades."""
    for candidate in (labels_path, *labels_path.parents):
        if (candidate / "trades").is_dir():
            return candidate
    return None


def scores_json(scores: dict[str, TypologyScore]) -> dict[str, dict[str, Any]]:
    return {t: s.as_json() for t, s in scores.items()}


def scores_rows(scores: dict[str, TypologyScore]) -> list[dict[str, Any]]:
    return [asdict(s) for s in scores.values()]
