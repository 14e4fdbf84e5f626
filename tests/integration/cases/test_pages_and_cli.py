"""Pages (forms posting and redirecting, tenancy on the platform side) and the ``harbour cases`` commands."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from harbour.cases.models import Case, CaseAlert
from harbour.cli import app as cli_app
from harbour.detect.alert_store import AlertRecord

from .conftest import make_alert

pytestmark = pytest.mark.db
ORIGIN = {"Origin": "http://testserver"}


def _related(world):
    world.add_alerts(
        make_alert("g-1", accounts=["k-1"]),
        make_alert("g-2", accounts=["k-1", "k-2"]),
        make_alert("g-3", accounts=["k-2"]),
        make_alert("h-1", accounts=["z-1"], venue="OKQ"),
        make_alert("h-2", accounts=["z-1"], venue="OKQ"),
    )


def test_suggestions_split_and_merge_through_the_pages(client, actors, world, session_factory):
    _related(world)
    world.login("ana")
    page = client.get("/cases/suggestions")
    assert page.status_code == 200 and page.text.count("data-suggestion=") == 2
    # split: accept only two of the three alerts of the first suggestion
    r = client.post("/cases/new", data={"alert_ids": ["g-1", "g-2"]}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/cases/")
    # merge: what is left of the first suggestion with the second one
    r = client.post("/cases/new", data={"groups": ["g-3", "h-1,h-2"]}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303
    with session_factory() as s:
        by_case: dict[int, set[str]] = {}
        for link in s.scalars(select(CaseAlert)):
            by_case.setdefault(link.case_id, set()).add(link.alert_id)
        assert sorted(map(sorted, by_case.values())) == [["g-1", "g-2"], ["g-3", "h-1", "h-2"]]
        assert s.scalar(select(Case).where(Case.id == max(by_case))).platform_id is None  # spans two venues
    assert "No related open alerts" in client.get("/cases/suggestions").text


def test_case_page_forms_and_cross_site_post_refused(client, actors, world):
    world.add_alerts(make_alert("f-1", score=0.1, typology="quote_stuffing"))
    world.login("ana")
    r = client.post(
        "/cases/queue/bulk", data={"action": "open_case", "alert_ids": ["f-1"]}, headers=ORIGIN, follow_redirects=False
    )
    assert r.status_code == 303
    url = r.headers["location"]
    case_id = int(url.rsplit("/", 1)[1])
    assert client.post(f"{url}/note", data={"body": "x"}, headers={"Origin": "https://evil.example"}).status_code == 403
    r = client.post(f"{url}/note", data={"body": "checked the order book"}, headers=ORIGIN)
    assert r.status_code == 200 and "checked the order book" in r.text
    r = client.post(f"{url}/close", data={"outcome": "no_further_action", "reason": ""}, headers=ORIGIN)
    assert r.status_code == 422 and "reason" in r.text
    r = client.post(f"{url}/close", data={"outcome": "no_further_action", "reason": "benign"}, headers=ORIGIN)
    assert r.status_code == 200 and "no further action" in r.text
    assert client.get(f"/cases/{case_id}").status_code == 200
    assert (
        "quote_stuffing" in client.get("/cases/detectors").text
        or "wash_trade_pairs" in client.get("/cases/detectors").text
    )


def test_platform_pages_show_only_own_requests(client, actors, world, session_factory):
    world.add_alerts(make_alert("q-1"), make_alert("q-2", venue="OKQ"))
    h = world.h("ana")
    ids = [client.post("/api/cases", headers=h, json={"alert_ids": [a]}).json()["id"] for a in ("q-1", "q-2")]
    reqs = [
        client.post(
            f"/api/cases/{cid}/requests",
            headers=h,
            json={"questions": f"question for case {cid}", "deadline": "2099-01-01T00:00:00Z"},
        ).json()
        for cid in ids
    ]
    world.login("hbx_co")
    listing = client.get("/requests")
    assert listing.status_code == 200
    assert f"/requests/{reqs[0]['id']}" in listing.text and f"/requests/{reqs[1]['id']}" not in listing.text
    assert client.get(f"/requests/{reqs[1]['id']}").status_code == 404
    assert client.get("/cases/queue").status_code == 403
    page = client.get(f"/requests/{reqs[0]['id']}")
    assert "Send answer" in page.text and f"/cases/{ids[0]}" not in page.text


def test_cli_queue_detectors_report_and_validate(client, world, settings, monkeypatch, tmp_path, session_factory):
    world.add_alerts(make_alert("cli-1", score=0.9), make_alert("cli-2", score=0.2))
    h = world.h("ana")
    cid = client.post("/api/cases", headers=h, json={"alert_ids": ["cli-2"]}).json()["id"]
    client.post(f"/api/cases/{cid}/report", headers=h, json={})
    monkeypatch.setenv("HARBOUR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HARBOUR_LAKE_ROOT", str(settings.lake_root))
    runner = CliRunner()
    out = runner.invoke(cli_app, ["cases", "queue", "--limit", "5"])
    assert out.exit_code == 0, out.output
    assert "cli-1" in out.output and "1 open alerts" in out.output
    out = runner.invoke(cli_app, ["cases", "detectors"])
    assert out.exit_code == 0 and "wash_trade_pairs" in out.output
    target = tmp_path / "str.xml"
    out = runner.invoke(cli_app, ["cases", "report", str(cid), "--format", "xml", "--out", str(target)])
    assert out.exit_code == 0, out.output
    assert runner.invoke(cli_app, ["cases", "validate-xml", str(target)]).exit_code == 0
    broken = tmp_path / "bad.xml"
    broken.write_bytes(target.read_bytes().replace(b"<report_code>STR</report_code>", b""))
    bad = runner.invoke(cli_app, ["cases", "validate-xml", str(broken)])
    assert bad.exit_code == 2 and "goaml_str.xsd" in bad.output
    assert runner.invoke(cli_app, ["cases", "report", "9999"]).exit_code == 2
    # a surveillance re-run re-scores a known alert: reprice picks the new score up
    with session_factory() as s:
        s.get(AlertRecord, "cli-1").score = 0.1
        s.commit()
    out = runner.invoke(cli_app, ["cases", "reprice"])
    assert out.exit_code == 0 and "re-priced 1 open alerts" in out.output
    with session_factory() as s:
        from harbour.cases.models import AlertTriage

        assert s.get(AlertTriage, "cli-1").score_pts == pytest.approx(4.0)


def test_alert_rows_untouched_by_reads(client, world, session_factory):
    """Reading the queue prices alerts but never changes an alert's own row."""
    world.add_alerts(make_alert("ro-1"))
    assert client.get("/api/cases/queue", headers=world.h("ana")).status_code == 200
    with session_factory() as s:
        assert s.get(AlertRecord, "ro-1").status == "open"


def test_pin_a_chart_from_an_alert_page(client, actors, world):
    world.add_alerts(make_alert("pin-1", score=0.2))
    cid = client.post("/api/cases", headers=world.h("ana"), json={"alert_ids": ["pin-1"]}).json()["id"]
    world.login("ana")
    page = client.get("/cases/pin", params={"alert_id": "pin-1", "chart": "/alerts/pin-1#chart"})
    assert page.status_code == 200 and "CASE-" in page.text
    r = client.post(
        "/cases/pin",
        data={"case_id": str(cid), "alert_id": "pin-1", "chart": "/alerts/pin-1#chart", "caption": "price path"},
        headers=ORIGIN,
    )
    assert r.status_code == 200 and "price path" in r.text
    timeline = client.get(f"/api/cases/{cid}", headers=world.h("ana")).json()["timeline"]
    assert timeline[-1]["kind"] == "chart" and timeline[-1]["data"] == {
        "alert_id": "pin-1",
        "chart": "/alerts/pin-1#chart",
    }
