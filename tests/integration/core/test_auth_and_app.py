"""Login, tokens, roles, the secret-key rule and the error handler, through the real app."""

from __future__ import annotations

import pytest

from harbour.core.auth import Role
from harbour.core.config import Settings
from harbour.core.errors import Invalid


def test_token_login_and_whoami(client, actors):
    pid = actors.platform("ACME")
    actors.user("alice", Role.PLATFORM_USER, platform_id=pid)
    r = client.get("/api/auth/me", headers=actors.headers("alice"))
    assert r.status_code == 200
    assert r.json() == {"username": "alice", "role": "platform_user", "platform_id": pid, "assessor_platform_ids": []}


def test_wrong_password_is_401_and_names_field(client, actors):
    actors.user("bob", Role.SUPERVISOR)
    r = client.post("/api/auth/token", json={"username": "bob", "password": "nope-nope"})
    assert r.status_code == 401
    assert r.json()["field"] == "password"


def test_missing_field_is_422_naming_it(client):
    r = client.post("/api/auth/token", json={"username": "bob"})
    assert r.status_code == 422
    assert r.json()["field"] == "password"


def test_api_without_token_is_401(client):
    assert client.get("/api/auth/me").status_code == 401


def test_page_login_sets_cookie_and_logout_clears_it(client, actors):
    actors.user("carol", Role.LICENSING_OFFICER)
    actors.login("carol")
    assert client.get("/api/auth/me").json()["username"] == "carol"
    client.post("/logout", headers={"Origin": "http://testserver"})
    assert client.get("/api/auth/me").status_code == 401


def test_cookie_write_from_another_site_is_refused(client, actors):
    actors.user("dave", Role.LICENSING_OFFICER)
    actors.login("dave")
    r = client.post("/logout", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403


def test_bad_login_form_shows_error_page(client, actors):
    r = client.post("/login", data={"username": "ghost", "password": "whatever1"}, headers={"Origin": "http://testserver"})
    assert r.status_code == 401
    assert "unknown username or wrong password" in r.text


@pytest.mark.parametrize("key", [None, "", "demo", "changeme", "short"])
def test_refuses_default_or_missing_secret_outside_demo(key):
    with pytest.raises(Invalid) as info:
        Settings(secret_key=key, demo_mode=False).effective_secret_key()
    assert info.value.field == "HARBOUR_SECRET_KEY"


def test_demo_mode_allows_builtin_secret():
    assert Settings(secret_key=None, demo_mode=True).effective_secret_key()


def test_create_app_refuses_to_start_without_secret(engine):
    from harbour.web.app import create_app

    with pytest.raises(Invalid):
        create_app(Settings(secret_key=None, demo_mode=False, database_url="sqlite://"), engine)


def test_every_response_carries_the_security_headers(client):
    for path in ("/login", "/api/auth/me", "/static/app.css"):
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "same-origin", path


def test_cookie_write_without_origin_is_refused_but_bearer_is_not(client, actors):
    actors.user("erin", Role.SUPERVISOR)
    headers = actors.headers("erin")
    actors.login("erin")
    assert client.post("/logout").status_code == 403  # cookie, no Origin or Referer
    # the same client with a bearer token is an API call: no cross-site check
    r = client.post("/api/auth/token", json={"username": "erin", "password": "correct-horse-battery"},
                    headers=headers)
    assert r.status_code == 200
