"""The README's run command, as a newcomer runs it: `harbour demo` builds everything and serves it; the
register, the pipeline board, the alerts and the API answer, and the audit log verifies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.slow]

DEMO_PASSWORD = "harbour-demo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    var_dir = tmp_path_factory.mktemp("demo")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOUR_")}
    harbour = Path(sys.executable).with_name("harbour")
    log = var_dir.parent / f"{var_dir.name}.log"  # a file, not a pipe: a full pipe would stall the demo
    with log.open("w") as out:
        proc = subprocess.Popen([str(harbour), "demo", "--port", str(port), "--var-dir", str(var_dir)],
                                stdout=out, stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc, log, deadline=time.monotonic() + 420)
        yield base, var_dir
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_until_up(base: str, proc: subprocess.Popen[str], log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"harbour demo exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(base + "/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError("harbour demo did not answer within 7 minutes")


def _token(base: str, username: str) -> dict[str, str]:
    r = httpx.post(base + "/api/auth/token", json={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_public_pages_and_register_answer(demo_server: tuple[str, Path]) -> None:
    base, _ = demo_server
    home = httpx.get(base + "/")
    assert home.status_code == 200 and "Demo mode" in home.text
    assert httpx.get(base + "/register").status_code == 200
    counts = httpx.get(base + "/api/register").json()
    assert counts and all(isinstance(v, int) for v in counts.values())
    licensed = httpx.get(base + "/api/register/licensed").json()
    assert licensed, "the demo has licensed platforms on the public register"
    assert httpx.get(base + "/docs").status_code == 200


def test_each_demo_role_logs_in_and_sees_its_work(demo_server: tuple[str, Path]) -> None:
    base, _ = demo_server
    board = httpx.get(base + "/api/licensing/board", headers=_token(base, "officer"))
    assert board.status_code == 200
    alerts = httpx.get(base + "/api/alerts", headers=_token(base, "supervisor"))
    assert alerts.status_code == 200
    body = alerts.json()
    items = body["items"] if isinstance(body, dict) else body
    assert items, "the demo runs the detectors and stores their alerts"
    mine = httpx.get(base + "/api/alerts", headers=_token(base, "compliance")).json()
    mine_items = mine["items"] if isinstance(mine, dict) else mine
    assert all(a["venue"] == "HBX" for a in mine_items), "a platform user sees only its own venue's alerts"
    me = httpx.get(base + "/api/auth/me", headers=_token(base, "assessor")).json()
    assert me["role"] == "assessor" and len(me["assessor_platform_ids"]) == 2


def test_audit_log_of_the_demo_verifies(demo_server: tuple[str, Path]) -> None:
    _, var_dir = demo_server
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOUR_")}
    env["HARBOUR_DATABASE_URL"] = f"sqlite:///{var_dir / 'harbour.db'}"
    harbour = Path(sys.executable).with_name("harbour")
    done = subprocess.run([str(harbour), "audit", "verify"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit log intact" in done.stdout


@pytest.mark.browser
def test_supervisor_pages_on_demo_data(demo_server: tuple[str, Path], page: Any, screenshot: Any) -> None:
    """A supervisor's tour of the demo in Chromium: alerts, authenticity screens, screening hits, and the triage
    queue holding the alerts that the real detectors raised on the generated market."""
    base, _ = demo_server
    page.goto(f"{base}/login?next=/alerts")
    page.fill("input[name=username]", "supervisor")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/alerts")
    assert page.locator("#alerts-table tbody tr").count() > 0
    for path, name, must_have in (("/surveillance/authenticity", "authenticity", "svg"),
                                  ("/screening", "screening-hits", "table"),
                                  ("/cases/queue", "demo-queue", "#queue tbody tr"),
                                  ("/detectors", "detectors", "#detectors-table")):
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        assert page.locator(must_have).count() > 0, path
        screenshot(page, name)
