"""Shared fixtures: the operational database on SQLite and PostgreSQL, the app, users, a live server and
a real browser.

Every test that asks for ``engine`` (directly or through ``client``/``session_factory``) runs once per
backend in HARBOUR_TEST_BACKENDS (default ``sqlite,postgresql``). PostgreSQL is expected at
HARBOUR_TEST_PG_URL (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from harbour.core.auth import Role, assign_assessor, create_user
from harbour.core.config import Settings
from harbour.core.db import Base, make_engine, make_session_factory, transaction
from harbour.core.migrate import upgrade
from harbour.core.tenancy import Platform

BACKENDS = [b.strip() for b in os.environ.get("HARBOUR_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]
PG_URL = os.environ.get("HARBOUR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> None:
    """argon2id at minimal cost: real hashing, but users are created hundreds of times in the suite."""
    from argon2 import PasswordHasher

    from harbour.core.auth import use_password_hasher

    use_password_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


# --- databases -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    """A fresh PostgreSQL database for this test run, migrated once; tables are emptied per test."""
    admin = make_engine(PG_URL)
    name = f"harbour_test_{os.getpid()}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path / "harbour.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    elif request.param == "postgresql":
        eng = request.getfixturevalue("pg_engine")
        _empty_tables(eng)
        yield eng
    else:
        raise ValueError(f"unknown test backend {request.param!r} in HARBOUR_TEST_BACKENDS")


def _empty_tables(eng: Engine) -> None:
    with eng.begin() as conn:
        existing = {r[0] for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))}
        tables = [t for t in Base.metadata.sorted_tables if t.name in existing]
        if tables:
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for arranging and inspecting data; commit explicitly when arranging."""
    session = session_factory()
    yield session
    session.rollback()
    session.close()


# --- the app -----------------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, engine: Engine) -> Settings:
    return Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        lake_root=tmp_path / "lake",
        upload_dir=tmp_path / "uploads",
        secret_key=TEST_SECRET,
        demo_mode=False,
        max_upload_bytes=1024 * 1024,
    )


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Any:
    from harbour.web.app import create_app

    return create_app(settings, engine)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as c:
        yield c


class Actors:
    """Creates platforms and users for a test and hands out API headers for them."""

    def __init__(self, factory: sessionmaker[Session], client: Any | None) -> None:
        self.factory = factory
        self.client = client

    def platform(self, code: str, name: str | None = None) -> int:
        with transaction(self.factory) as s:
            p = Platform(code=code, legal_name=name or f"{code} Limited", brand=name or code,
                         website=f"https://{code.lower()}.example")
            s.add(p)
            s.flush()
            return p.id

    def user(
        self, username: str, role: Role, platform_id: int | None = None, assessor_of: list[int] | None = None
    ) -> int:
        with transaction(self.factory) as s:
            u = create_user(s, username=username, password=PASSWORD, role=role, platform_id=platform_id)
            for pid in assessor_of or []:
                assign_assessor(s, u.id, pid)
            return u.id

    def headers(self, username: str) -> dict[str, str]:
        assert self.client is not None, "headers() needs the client fixture"
        r = self.client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def login(self, username: str) -> None:
        """Log the test client in with a session cookie (for page tests)."""
        assert self.client is not None
        r = self.client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"},
                             headers={"Origin": "http://testserver"}, follow_redirects=False)
        assert r.status_code == 303, r.text


@pytest.fixture
def actors(session_factory: sessionmaker[Session], request: pytest.FixtureRequest) -> Actors:
    client = request.getfixturevalue("client") if "client" in request.fixturenames else None
    return Actors(session_factory, client)


# --- live server and browser ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live server did not start within 15 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


CHROMIUM = os.environ.get("HARBOUR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (make test does)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    context.close()


SCREENSHOT_DIR = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


@pytest.fixture
def screenshot(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``screenshot(page, name)`` takes a full-page screenshot. It lands in docs/screenshots/NAME.png (the
    user guide's pictures) when HARBOUR_UPDATE_SCREENSHOTS=1 (`make screenshots`), else in a temporary
    folder, so an ordinary test run leaves the work tree clean."""
    folder = SCREENSHOT_DIR if os.environ.get("HARBOUR_UPDATE_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("shots")

    def save(page: Any, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0, f"empty screenshot {path}"

    return save
