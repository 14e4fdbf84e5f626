"""Alerts in the operational database through the API and the pages, on SQLite and PostgreSQL: tenant
scoping, filters, bad input, runs by a supervisor and by a platform user, evidence charts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from sqlalchemy import func, select

from harbour.core.audit import AuditEntry
from harbour.core.auth import SYSTEM, Role
from harbour.core.db import transaction
from harbour.detect.alert_store import AlertRecord
from harbour.detect.runners import run_detectors
from harbour.detect.runners.reference import REFERENCE_DETECTORS
from harbour.detect.service import store_alerts

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def reference_run(sample_lake: Path) -> Any:
    return run_detectors(sample_lake, REFERENCE_DETECTORS, workers=1)


@pytest.fixture
def world(client: Any, actors: Any, settings: Any, session_factory: Any, sample_lake: Path, reference_run: Any,
          monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Platforms HBX and KBT (the sample lake's venues), users, and the reference detectors' alerts stored."""
    monkeypatch.setenv("HARBOUR_SURVEIL_WORKERS", "1")
    settings.lake_root = sample_lake
    hbx, kbt = actors.platform("HBX"), actors.platform("KBT")
    actors.user("sup", Role.SUPERVISOR)
    actors.user("hbx_user", Role.PLATFORM_USER, platform_id=hbx)
    actors.user("kbt_user", Role.PLATFORM_USER, platform_id=kbt)
    with transaction(session_factory) as s:
        store_alerts(s, SYSTEM, reference_run)
    return {"alerts": reference_run.alerts.to_pylist(), "hbx": hbx, "kbt": kbt, "run": reference_run}


def all_items(client: Any, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = client.get("/api/alerts", params={"page_size": 500, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_supervisor_sees_every_alert_and_a_platform_user_only_their_own(client: Any, actors: Any,
                                                                         world: dict[str, Any]) -> None:
    body = all_items(client, actors.headers("sup"))
    assert body["total"] == len(world["alerts"])
    own = all_items(client, actors.headers("hbx_user"))
    expected = {a["alert_id"] for a in world["alerts"] if a["venue"] == "HBX"}
    assert expected and {a["alert_id"] for a in own["items"]} == expected
    assert all(a["platform_id"] == world["hbx"] for a in own["items"])
    other = next(a["alert_id"] for a in world["alerts"] if a["venue"] == "KBT")
    assert client.get(f"/api/alerts/{other}", headers=actors.headers("hbx_user")).status_code == 404
    assert client.get(f"/api/alerts/{other}", headers=actors.headers("sup")).json()["venue"] == "KBT"
    assert client.get("/api/alerts").status_code == 401


def test_filters_and_pages(client: Any, actors: Any, world: dict[str, Any]) -> None:
    h = actors.headers("sup")
    spoof = all_items(client, h, typology="spoofing", venue="KBT")
    assert spoof["total"] == sum(a["typology"] == "spoofing" and a["venue"] == "KBT" for a in world["alerts"]) > 0
    high = all_items(client, h, min_score=0.7)
    assert high["total"] == sum(a["score"] >= 0.7 for a in world["alerts"])
    first = client.get("/api/alerts", params={"page_size": 10, "page": 1}, headers=h).json()
    second = client.get("/api/alerts", params={"page_size": 10, "page": 2}, headers=h).json()
    assert len(first["items"]) == 10 and not {a["alert_id"] for a in first["items"]} & {
        a["alert_id"] for a in second["items"]}
    scores = [a["score"] for a in first["items"]]
    assert scores == sorted(scores, reverse=True)


BAD_FILTERS = [
    ({"typology": "murder"}, "typology"), ({"status": "lost"}, "status"), ({"min_score": 2}, "min_score"),
    ({"from": "2026-01-06T00:00:00Z", "to": "2026-01-05T00:00:00Z"}, "from"), ({"page": 0}, "page"),
]


def test_bad_filters_are_422_naming_the_field(client: Any, actors: Any, world: dict[str, Any]) -> None:
    h = actors.headers("sup")
    for params, field in BAD_FILTERS:
        r = client.get("/api/alerts", params=params, headers=h)
        assert r.status_code == 422 and r.json()["field"] == field, (params, r.text)


def test_rerunning_upserts_keeps_triage_status_and_audits_each_run(client: Any, actors: Any, world: dict[str, Any],
                                                                   session_factory: Any) -> None:
    some = world["alerts"][0]["alert_id"]
    with transaction(session_factory) as s:
        s.get(AlertRecord, some).status = "in_case"
        before = s.scalar(select(func.count()).select_from(AuditEntry))
    r = client.post("/api/surveillance/runs", json={"detectors": ["ref_self_trade"]}, headers=actors.headers("sup"))
    assert r.status_code == 422 and "unknown detector" in r.json()["message"]  # reference ones are not registered
    with transaction(session_factory) as s:
        summary = store_alerts(s, SYSTEM, world["run"])
    assert (summary.inserted, summary.updated) == (0, len(world["alerts"]))
    with transaction(session_factory) as s:
        assert s.get(AlertRecord, some).status == "in_case"
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == before + 1
        entry = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        assert entry.action == "surveillance.run" and f'"alerts":{len(world["alerts"])}' in entry.after


def test_a_platform_user_runs_only_on_their_own_venue(client: Any, actors: Any, world: dict[str, Any],
                                                      session_factory: Any) -> None:
    with transaction(session_factory) as s:
        s.query(AlertRecord).delete()
    h = actors.headers("hbx_user")
    denied = client.post("/api/surveillance/runs", json={"venues": ["KBT"]}, headers=h)
    assert denied.status_code == 403 and "KBT" in denied.json()["message"]
    with transaction(session_factory) as s:
        assert s.scalar(select(func.count()).select_from(AlertRecord)) == 0
    bad = client.post("/api/surveillance/runs", json={"from": "2026-01-05T00:00:00"}, headers=h)
    assert bad.status_code == 422  # a time without a zone is refused
    ok = client.post("/api/surveillance/runs", json={"detectors": ["wash_trade"]}, headers=h)
    assert ok.status_code == 201, ok.text
    assert ok.json()["venues"] == ["HBX"] and [d["detector"] for d in ok.json()["detectors"]] == ["wash_trade"]
    with transaction(session_factory) as s:
        assert set(s.scalars(select(AlertRecord.venue).distinct())) <= {"HBX"}
    assert client.post("/api/surveillance/runs", json={}).status_code == 401


def test_alert_pages_show_the_list_the_evidence_chart_and_the_catalogue(client: Any, actors: Any,
                                                                        world: dict[str, Any]) -> None:
    actors.login("sup")
    page = client.get("/alerts", params={"typology": "wash_trade"})
    assert page.status_code == 200
    wash = [a for a in world["alerts"] if a["typology"] == "wash_trade"]
    assert wash and all(a["alert_id"] in page.text for a in wash)
    alert = wash[0]
    detail = client.get(f"/alerts/{alert['alert_id']}")
    assert detail.status_code == 200
    svg = re.search(r'<svg[^>]*data-testid="evidence-chart".*?</svg>', detail.text, re.S)
    assert svg is not None
    assert svg.group(0).count('class="trade evidence"') == len(alert["evidence_ids"])
    assert '<polyline class="price"' in svg.group(0)
    for tid in alert["evidence_ids"]:
        assert tid in detail.text
    assert alert["explanation"] in detail.text
    withdrawal = next(a for a in world["alerts"] if a["detector"] == "ref_big_withdrawal")
    aml = client.get(f"/alerts/{withdrawal['alert_id']}")
    svg = re.search(r'<svg[^>]*data-testid="evidence-chart".*?</svg>', aml.text, re.S)
    assert aml.status_code == 200 and svg is not None
    assert svg.group(0).count('class="xfer evidence"') == len(withdrawal["evidence_ids"]) == 1
    # the account's other transfers around it give context (the sample lake spans three days)
    party = f"{withdrawal['venue']}:{withdrawal['accounts'][0]}"
    transfers = ds.dataset(Path(client.app.state.settings.lake_root) / "transfers", format="parquet").to_table()
    theirs = [t for t in transfers.to_pylist() if party in (t["from_party"], t["to_party"])]
    assert svg.group(0).count('class="xfer"') == len(theirs) - 1
    catalogue = client.get("/detectors")
    assert catalogue.status_code == 200 and "Detectors" in catalogue.text


def test_a_platform_user_cannot_open_another_platforms_alert_page(client: Any, actors: Any,
                                                                  world: dict[str, Any]) -> None:
    actors.login("hbx_user")
    other = next(a["alert_id"] for a in world["alerts"] if a["venue"] == "KBT")
    assert client.get(f"/alerts/{other}").status_code == 404
    assert other not in client.get("/alerts").text
