"""Fixtures for the licensing API tests: a cast of users and a helper that drives an application along
the main path through the real JSON API."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import pytest
from tests.conftest import PASSWORD

from harbour.core.auth import Role, User, hash_password
from harbour.core.db import transaction

TODAY = dt.date.today()
SOON = (TODAY + dt.timedelta(days=30)).isoformat()


def application_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "legal_name": "Acme Digital Exchange Limited",
        "brand": "AcmeX",
        "website": "https://acmex.example",
        "responsible_officers": ["Alice Chan", "Bob Lee"],
        "business_plan": "Spot trading of large-cap tokens for professional investors, custody in cold storage.",
        "licences_applied": ["SFO Type 1 (dealing in securities)", "AMLO virtual asset service provider"],
    }
    body.update(overrides)
    return body


@functools.cache
def _password_hash() -> str:
    # Hash the test password once per run: argon2 is slow by design and the machine is shared.
    return hash_password(PASSWORD)


class _LazyHeaders(dict):
    """Bearer headers fetched on first use (each login costs an argon2 verification)."""

    def __init__(self, actors: Any) -> None:
        super().__init__()
        self.actors = actors

    def __missing__(self, name: str) -> dict[str, str]:
        self[name] = self.actors.headers(name)
        return self[name]


class Cast:
    """Two platforms (ACME, BETA), their users, an officer, a supervisor and an assessor."""

    def __init__(self, client: Any, actors: Any) -> None:
        self.client = client
        self.acme = actors.platform("ACME")
        self.beta = actors.platform("BETA")
        with transaction(actors.factory) as s:
            for name, role, pid in (("officer", Role.LICENSING_OFFICER, None), ("supervisor", Role.SUPERVISOR, None),
                                    ("acme_user", Role.PLATFORM_USER, self.acme),
                                    ("beta_user", Role.PLATFORM_USER, self.beta), ("assessor", Role.ASSESSOR, None)):
                s.add(User(username=name, display_name=name, role=role.value, platform_id=pid,
                           password_hash=_password_hash()))
        self.h = _LazyHeaders(actors)

    def post(self, who: str, url: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        r = self.client.post(url, json=body or {}, headers=self.h[who])
        assert r.status_code == status, r.text
        return r.json()

    def get(self, who: str, url: str, status: int = 200) -> Any:
        r = self.client.get(url, headers=self.h[who])
        assert r.status_code == status, r.text
        return r.json()

    # The main path, one step per method, each returning the application record.
    def apply(self, who: str = "acme_user") -> dict[str, Any]:
        return self.post(who, "/api/licensing/applications", application_body(), 201)

    def inspect(self, app_id: int, severity: str = "critical") -> dict[str, Any]:
        return self.post("officer", f"/api/licensing/applications/{app_id}/inspection", {
            "start_date": TODAY.isoformat(), "end_date": TODAY.isoformat(), "inspectors": ["I. Wong"],
            "areas": ["cybersecurity", "AML/KYC"], "reason": "on-site visit",
            "findings": [{"area": "cybersecurity", "severity": severity, "description": "Hot wallet keys on one host",
                          "due_date": SOON}],
        })

    def to_rectification(self, app_id: int) -> dict[str, Any]:
        return self.post("officer", f"/api/licensing/applications/{app_id}/transitions/send_feedback",
                         {"reason": "feedback letter sent"})

    def submit_plan(self, record: dict[str, Any], who: str = "acme_user") -> dict[str, Any]:
        items = [{"finding_id": f["id"], "action": "Move keys to HSM", "owner": "CTO", "target_date": SOON}
                 for f in record["findings"] if f["status"] == "open"]
        return self.post(who, f"/api/licensing/applications/{record['id']}/plan", {"items": items})

    def agree_plan(self, app_id: int) -> dict[str, Any]:
        return self.post("officer", f"/api/licensing/applications/{app_id}/plan/decision",
                         {"decision": "agreed", "reason": "plan is adequate"})

    def grant(self, app_id: int) -> dict[str, Any]:
        return self.post("officer", f"/api/licensing/applications/{app_id}/licence", {
            "conditions": [{"text": "Quarterly cyber report to the regulator", "due_date": SOON}],
            "no_retail_clients": True, "permitted_tokens": ["BTC", "ETH"], "reason": "plan agreed",
        })

    def close_findings(self, record: dict[str, Any]) -> dict[str, Any]:
        for f in record["findings"]:
            if f["status"] == "open":
                record = self.post("acme_user", f"/api/licensing/findings/{f['id']}/close",
                                   {"evidence": "HSM in production since May"})
        return record

    def pen_test(self, app_id: int) -> dict[str, Any]:
        self.post("acme_user", f"/api/licensing/applications/{app_id}/pen-test",
                  {"firm": "Bastion Security", "summary": "No high findings remain"})
        return self.post("officer", f"/api/licensing/applications/{app_id}/pen-test/confirm", {"reason": "reviewed"})

    def assess(self, app_id: int) -> dict[str, Any]:
        self.post("officer", f"/api/licensing/applications/{app_id}/assessor",
                  {"assessor": "assessor", "scope": "second phase", "reason": "tripartite engagement signed"})
        self.post("assessor", f"/api/licensing/applications/{app_id}/assessment",
                  {"report": "Controls operate effectively.", "opinion": "satisfactory"})
        return self.post("officer", f"/api/licensing/applications/{app_id}/assessment/decision",
                         {"decision": "accept", "reason": "report accepted"})

    def to_fully_licensed(self) -> dict[str, Any]:
        rec = self.apply()
        app_id = rec["id"]
        rec = self.inspect(app_id)
        rec = self.to_rectification(app_id)
        rec = self.submit_plan(rec)
        self.agree_plan(app_id)
        rec = self.grant(app_id)
        rec = self.close_findings(rec)
        self.pen_test(app_id)
        return self.assess(app_id)


@pytest.fixture
def cast(client: Any, actors: Any) -> Cast:
    return Cast(client, actors)
