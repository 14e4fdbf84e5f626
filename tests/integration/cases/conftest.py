"""Fixtures for the case work: real AlertRecord rows in the real database, and a staffed regulator."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer

from harbour.core.auth import Role, User, hash_password, issue_token
from harbour.core.db import transaction
from harbour.core.http import SESSION_COOKIE
from harbour.detect.alert_store import AlertRecord

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def make_alert(
    alert_id: str,
    *,
    venue: str = "HBX",
    platform_id: int | None = None,
    accounts: list[str] | None = None,
    typology: str = "wash_trade",
    detector: str = "wash_trade_pairs",
    score: float = 0.8,
    start: dt.datetime = T0,
    hours: float = 2.0,
    evidence: list[str] | None = None,
) -> AlertRecord:
    return AlertRecord(
        alert_id=alert_id,
        detector=detector,
        detector_version="1.0",
        typology=typology,
        venue=venue,
        platform_id=platform_id,
        symbol="BTC/USD",
        accounts=accounts or ["acc-1"],
        start=start,
        end=start + dt.timedelta(hours=hours),
        score=score,
        evidence_ids=evidence or [f"t-{alert_id}"],
        explanation=f"{typology} between {', '.join(accounts or ['acc-1'])} in BTC/USD",
        details={},
        status="open",
    )


@functools.cache
def _password_hash(password: str) -> str:
    # Argon2 is slow on purpose; hash the shared test password once per run, not once per user.
    return hash_password(password)


@dataclass
class World:
    hbx: int
    okq: int
    add_alerts: Callable[..., list[str]]
    ids: dict[str, int]
    headers_for: Callable[[str], dict[str, str]]

    login_as: Callable[[str], None]

    def h(self, username: str) -> dict[str, str]:
        """Bearer headers for a user, one token per user per test."""
        return self.headers_for(username)

    def login(self, username: str) -> None:
        """Give the test client the session cookie of ``username`` (as /login would)."""
        self.login_as(username)


@pytest.fixture
def world(actors: Any, session_factory: Any, request: pytest.FixtureRequest) -> World:
    """Two platforms, two supervisors (ana owns, bob reviews), an admin, one compliance officer per platform."""
    hbx, okq = actors.platform("HBX"), actors.platform("OKQ")
    people = [
        ("ana", Role.SUPERVISOR, None),
        ("bob", Role.SUPERVISOR, None),
        ("root", Role.ADMIN, None),
        ("hbx_co", Role.PLATFORM_USER, hbx),
        ("okq_co", Role.PLATFORM_USER, okq),
        ("lic", Role.LICENSING_OFFICER, None),
    ]
    ids: dict[str, int] = {}
    password = inspect.getmodule(type(actors)).PASSWORD  # the root conftest's shared test password
    with transaction(session_factory) as s:
        for name, role, pid in people:
            user = User(
                username=name,
                display_name=name.title(),
                role=str(role),
                platform_id=pid,
                password_hash=_password_hash(password),
            )
            s.add(user)
            s.flush()
            ids[name] = user.id
    cache: dict[str, dict[str, str]] = {}

    def headers_for(name: str) -> dict[str, str]:
        # A real API token issued by core.auth (skipping the password round trip, which core tests cover).
        if name not in cache:
            with transaction(session_factory) as s:
                token = issue_token(s, s.get(User, ids[name]), "api", 1)
            cache[name] = {"Authorization": f"Bearer {token}"}
        return cache[name]

    def add_alerts(*alerts: AlertRecord) -> list[str]:
        with transaction(session_factory) as s:
            for a in alerts:
                if a.platform_id is None:
                    a.platform_id = hbx if a.venue == "HBX" else okq if a.venue == "OKQ" else None
                s.add(a)
        return [a.alert_id for a in alerts]

    def login_as(name: str) -> None:
        # A real session token and the signed cookie the login route sets, without the Argon2 round trip.
        client, app = request.getfixturevalue("client"), request.getfixturevalue("app")
        with transaction(session_factory) as s:
            token = issue_token(s, s.get(User, ids[name]), "session", 1)
        signed = URLSafeTimedSerializer(app.state.secret_key, salt="harbour-session").dumps(token)
        client.cookies.set(SESSION_COOKIE, signed)

    return World(hbx, okq, add_alerts, ids, headers_for, login_as)
