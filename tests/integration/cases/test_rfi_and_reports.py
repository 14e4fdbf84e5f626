"""Requests for information (tenant isolation, answers with files, overdue flag) and the STR documents."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from lxml import etree
from sqlalchemy import select, update

from harbour.cases.models import InfoRequest
from harbour.cases.reports import XSD_PATH, validate_xml
from harbour.core.audit import AuditEntry, verify_chain
from harbour.core.errors import Invalid

from .conftest import make_alert

pytestmark = pytest.mark.db


def _deadline(days: float = 7) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


@pytest.fixture
def hbx_case(client, world):
    world.add_alerts(
        make_alert("r-1", accounts=["acc-1", "acc-2"], evidence=["t-100", "t-101"]),
        make_alert("r-2", accounts=["acc-2"], typology="pump_and_dump", evidence=["t-102"]),
    )
    r = client.post("/api/cases", headers=world.h("ana"), json={"alert_ids": ["r-1", "r-2"]})
    assert r.status_code == 201
    return r.json()


def _send(client, world, case_id, **extra):
    body = {"questions": "Who controls acc-1 and acc-2?", "deadline": _deadline(), **extra}
    r = client.post(f"/api/cases/{case_id}/requests", headers=world.h("ana"), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_platform_user_sees_only_requests_to_their_platform(client, world, hbx_case):
    world.add_alerts(make_alert("o-1", venue="OKQ"))
    okq_case = client.post("/api/cases", headers=world.h("ana"), json={"alert_ids": ["o-1"]}).json()
    to_hbx = _send(client, world, hbx_case["id"])
    to_okq = _send(client, world, okq_case["id"])
    mine = client.get("/api/requests", headers=world.h("hbx_co")).json()["requests"]
    assert [r["id"] for r in mine] == [to_hbx["id"]]
    assert mine[0]["case_id"] is None  # the regulator's case id stays internal
    assert client.get(f"/api/requests/{to_okq['id']}", headers=world.h("hbx_co")).status_code == 404
    r = client.post(f"/api/requests/{to_okq['id']}/answer", headers=world.h("hbx_co"), data={"answer": "not ours"})
    assert r.status_code == 404
    assert [r["id"] for r in client.get("/api/requests", headers=world.h("okq_co")).json()["requests"]] == [
        to_okq["id"]
    ]
    assert len(client.get("/api/requests", headers=world.h("ana")).json()["requests"]) == 2
    assert client.get("/api/requests", headers=world.h("lic")).status_code == 403


def test_answer_with_files_moves_case_back_to_investigating(client, world, hbx_case, session_factory):
    req = _send(client, world, hbx_case["id"])
    detail = client.get(f"/api/cases/{hbx_case['id']}", headers=world.h("ana")).json()
    assert detail["status"] == "pending_information"
    assert (
        client.post(
            f"/api/requests/{req['id']}/answer", headers=world.h("ana"), data={"answer": "supervisor cannot answer"}
        ).status_code
        == 403
    )
    empty = client.post(f"/api/requests/{req['id']}/answer", headers=world.h("hbx_co"), data={"answer": " "})
    assert empty.status_code == 422 and empty.json()["field"] == "answer"
    r = client.post(
        f"/api/requests/{req['id']}/answer",
        headers=world.h("hbx_co"),
        data={"answer": "Same person."},
        files=[("files", ("kyc.csv", io.BytesIO(b"account,owner\nacc-1,Ann\n"), "text/csv"))],
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "answered"
    again = client.post(f"/api/requests/{req['id']}/answer", headers=world.h("hbx_co"), data={"answer": "again"})
    assert again.status_code == 409
    got = client.get(f"/api/requests/{req['id']}", headers=world.h("ana")).json()
    assert got["answer"] == "Same person." and got["files"][0]["name"] == "kyc.csv"
    assert client.get(f"/api/cases/files/{got['files'][0]['id']}", headers=world.h("hbx_co")).status_code == 200
    assert client.get(f"/api/cases/files/{got['files'][0]['id']}", headers=world.h("okq_co")).status_code == 404
    detail = client.get(f"/api/cases/{hbx_case['id']}", headers=world.h("ana")).json()
    assert detail["status"] == "investigating"
    with session_factory() as s:
        actions = set(s.scalars(select(AuditEntry.action)))
        assert {"rfi.sent", "rfi.answered", "case.status_changed"} <= actions
        assert verify_chain(s).ok


def test_bad_requests_are_refused(client, world, hbx_case):
    cid = hbx_case["id"]
    past = client.post(
        f"/api/cases/{cid}/requests", headers=world.h("ana"), json={"questions": "q", "deadline": _deadline(-1)}
    )
    assert past.status_code == 422 and past.json()["field"] == "deadline"
    assert (
        client.post(
            f"/api/cases/{cid}/requests", headers=world.h("hbx_co"), json={"questions": "q", "deadline": _deadline()}
        ).status_code
        == 403
    )


def test_overdue_requests_are_flagged(client, world, hbx_case, session_factory):
    req = _send(client, world, hbx_case["id"])
    with session_factory() as s:
        s.execute(
            update(InfoRequest)
            .where(InfoRequest.id == req["id"])
            .values(deadline=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
        )
        s.commit()
    listed = client.get("/api/requests", headers=world.h("hbx_co")).json()["requests"]
    assert listed[0]["overdue"] is True
    late = client.post(f"/api/requests/{req['id']}/answer", headers=world.h("hbx_co"), data={"answer": "sorry, late"})
    assert late.status_code == 200 and late.json()["overdue"] is False


def test_report_documents_json_pdf_and_schema_valid_xml(client, world, hbx_case):
    cid = hbx_case["id"]
    h = world.h("ana")
    assert client.get(f"/api/cases/{cid}/report.json", headers=h).status_code == 404
    draft = client.post(f"/api/cases/{cid}/report", headers=h, json={}).json()
    assert "r-1" not in draft["narrative"] and "wash trade" in draft["narrative"]
    edited = draft["narrative"] + "Accounts acc-1 and acc-2 share a device."
    client.post(f"/api/cases/{cid}/report", headers=h, json={"narrative": edited})
    payload = client.get(f"/api/cases/{cid}/report.json", headers=h).json()
    assert payload["narrative"] == edited
    assert {s["account"] for s in payload["subjects"]} == {"acc-1", "acc-2"}
    # no lake rows in this test: transactions degrade to the alerts' evidence ids
    assert sorted(t["id"] for t in payload["transactions"]) == ["t-100", "t-101", "t-102"]
    assert all(t["from_lake"] is False for t in payload["transactions"])
    pdf = client.get(f"/api/cases/{cid}/report.pdf", headers=h)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-") and len(pdf.content) > 1500
    xml = client.get(f"/api/cases/{cid}/report.xml", headers=h)
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    schema = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    doc = etree.fromstring(xml.content)
    assert schema.validate(doc), schema.error_log
    assert doc.findtext("report_code") == "STR"
    assert len(doc.findall("transaction")) == 3 and len(doc.findall("activity/report_parties/report_party")) == 2
    assert client.get(f"/api/cases/{cid}/report.docx", headers=h).status_code == 422


def test_xml_validation_names_the_problem():
    bad = b"<report><rentity_id>X</rentity_id><submission_code>Q</submission_code></report>"
    with pytest.raises(Invalid) as exc:
        validate_xml(bad)
    assert "submission_code" in str(exc.value.message) or "submission_code" in json.dumps(exc.value.details)
    with pytest.raises(Invalid):
        validate_xml(b"<report>")


def test_report_reads_transactions_from_the_lake_when_present(client, world, hbx_case, settings):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = settings.lake_root / "trades" / "venue=HBX" / "date=2026-03-02"
    folder.mkdir(parents=True)
    ts = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    pq.write_table(
        pa.table(
            {
                "venue": ["HBX", "HBX"],
                "symbol": ["BTC/USD", "BTC/USD"],
                "trade_id": ["t-100", "t-999"],
                "ts": pa.array([ts, ts], pa.timestamp("us", tz="UTC")),
                "price": [60000.0, 1.0],
                "quantity": [0.5, 1.0],
                "buyer": ["acc-1", "x"],
                "seller": ["acc-2", "y"],
            }
        ),
        folder / "part-0.parquet",
    )
    orders = settings.lake_root / "orders" / "venue=HBX" / "date=2026-03-02"
    orders.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "venue": ["HBX", "HBX"],
                "symbol": ["BTC/USD", "BTC/USD"],
                "order_id": ["t-102", "t-102"],
                "account": ["acc-2", "acc-2"],
                "ts": pa.array([ts, ts + dt.timedelta(seconds=1)], pa.timestamp("us", tz="UTC")),
                "event": ["new", "cancel"],
                "side": ["buy", "buy"],
                "order_type": ["limit", "limit"],
                "price": [59000.0, 59000.0],
                "quantity": [2.0, 0.0],
            }
        ),
        orders / "part-0.parquet",
    )
    accounts = settings.lake_root / "accounts" / "venue=HBX"
    accounts.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "venue": ["HBX"],
                "account": ["acc-1"],
                "customer_id": ["cust-7"],
                "name": ["Ann Lee"],
                "country": ["HK"],
                "account_type": ["individual"],
            }
        ),
        accounts / "part-0.parquet",
    )
    h = world.h("ana")
    client.post(f"/api/cases/{hbx_case['id']}/report", headers=h, json={})
    payload = client.get(f"/api/cases/{hbx_case['id']}/report.json", headers=h).json()
    tx = {t["id"]: t for t in payload["transactions"]}
    assert tx["t-100"]["from_lake"] is True and tx["t-100"]["amount"] == pytest.approx(30000.0)
    assert tx["t-100"]["from"] == "acc-2" and tx["t-100"]["to"] == "acc-1"
    assert tx["t-101"]["from_lake"] is False
    assert tx["t-102"]["kind"] == "order" and tx["t-102"]["amount"] == pytest.approx(118000.0)  # the "new" event
    assert tx["t-102"]["from"] == "acc-2"
    ann = next(s for s in payload["subjects"] if s["account"] == "acc-1")
    assert ann["name"] == "Ann Lee" and ann["customer_id"] == "cust-7"
    xml = client.get(f"/api/cases/{hbx_case['id']}/report.xml", headers=h).content
    validate_xml(xml)
    assert b"<amount_local>30000.00</amount_local>" in xml
