"""The screening JSON API and pages through the real app: upload (re-screens), checks, the hits queue
scoped per platform, decisions, and bad input answered with a 4xx naming the field."""

from __future__ import annotations

import pytest

from harbour.core.auth import Role

from .conftest import EVM

LIST = b"name,country,id\nPetrov Ivan,RU,S-1\nMuhammad Rashid,SY,S-2\n"


@pytest.fixture
def who(client, actors, small_lake):
    hbx = actors.platform("HBX")
    actors.platform("KLN")
    actors.user("sup", Role.SUPERVISOR)
    actors.user("hbx", Role.PLATFORM_USER, platform_id=hbx)
    return {name: actors.headers(name) for name in ("sup", "hbx")}


def upload(client, headers, data=LIST, **form):
    fields = {"name": "api-list", "kind": "sanctions", **form}
    return client.post("/api/screening/lists", data=fields, files={"file": ("l.csv", data, "text/csv")},
                       headers=headers)


@pytest.mark.db
def test_api_upload_check_queue_and_decide(client, who):
    assert upload(client, who["hbx"]).status_code == 403
    r = upload(client, who["sup"])
    assert r.status_code == 201, r.text
    assert r.json()["rescreen"]["new_hits"] == 3  # HBX:a1, KLN:k1, HBX:a3
    r = client.post("/api/screening/check/name", json={"name": "Mr Ivan PETROV"}, headers=who["hbx"])
    assert [m["entry_key"] for m in r.json()] == ["S-1"]
    r = client.post("/api/screening/check/address", json={"chain": "eth", "address": EVM}, headers=who["hbx"])
    assert r.status_code == 200 and r.json() == []
    sup_hits = client.get("/api/screening/hits", headers=who["sup"]).json()
    own_hits = client.get("/api/screening/hits", headers=who["hbx"]).json()
    assert {h["venue"] for h in sup_hits} == {"HBX", "KLN"}
    assert {h["venue"] for h in own_hits} == {"HBX"}  # a platform sees only its own customers' hits
    kln = next(h for h in sup_hits if h["venue"] == "KLN")
    r = client.post(f"/api/screening/hits/{kln['id']}/decision",
                    json={"decision": "false_positive", "reason": "not ours"}, headers=who["hbx"])
    assert r.status_code == 404
    hit = own_hits[0]
    r = client.post(f"/api/screening/hits/{hit['id']}/decision",
                    json={"decision": "true_match", "reason": "passport number matches"}, headers=who["hbx"])
    assert r.status_code == 200 and r.json()["status"] == "true_match"


@pytest.mark.db
@pytest.mark.parametrize(
    ("form", "data", "field"),
    [
        ({"kind": "gossip"}, LIST, "kind"),
        ({"threshold": "2"}, LIST, "threshold"),
        ({"name": "bad name!"}, LIST, "name"),
        ({}, b"\xff\xfe\x00", "file"),
    ],
)
def test_api_bad_uploads_name_the_field(client, who, form, data, field):
    r = upload(client, who["sup"], data=data, **form)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert client.get("/api/screening/lists", headers=who["sup"]).json() == []  # nothing was created


@pytest.mark.db
def test_pages_queue_hit_and_decision_form(client, actors, who):
    upload(client, who["sup"])
    actors.login("hbx")
    page = client.get("/screening")
    assert page.status_code == 200 and "Ivan Petrov" in page.text and "KLN:k1" not in page.text
    hit_id = client.get("/api/screening/hits", headers=who["hbx"]).json()[0]["id"]
    assert "decision-form" in client.get(f"/screening/hits/{hit_id}").text
    r = client.post(f"/screening/hits/{hit_id}/decision", data={"decision": "false_positive", "reason": "DOB differs"},
                    headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/screening/hits/{hit_id}").text
    assert "DOB differs" in page and "false positive" in page
    assert client.get("/screening/lists").status_code == 200
