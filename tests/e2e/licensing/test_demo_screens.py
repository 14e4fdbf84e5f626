"""The main pages over the demo data, in a real browser: they render, tables sort and filter, each role
sees its own navigation. Screenshots for the user guide go to docs/screenshots/licensing-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker
from tests.conftest import PASSWORD

from harbour.demo import DemoContext
from harbour.licensing.demo import seed

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def login(page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_demo_pages_for_each_role(page, live_server, settings, session_factory: sessionmaker, screenshot):
    ctx = DemoContext(settings, session_factory, Path(settings.lake_root), password=PASSWORD)
    seed(ctx)
    base = live_server

    page.goto(f"{base}/")
    assert page.get_by_test_id("count-deemed").locator(".n").inner_text() == "11"
    assert page.get_by_test_id("count-applicants").locator(".n").inner_text() == "14"
    screenshot(page, "licensing-home")
    page.goto(f"{base}/register/licensed")
    page.fill("input[data-filter-for=register-table]", "HBX")
    assert page.locator("#register-table tbody tr:not([hidden])").count() == 1
    page.fill("input[data-filter-for=register-table]", "")
    screenshot(page, "licensing-register")
    page.goto(f"{base}/register/alert-list")
    screenshot(page, "licensing-alert-list")
    page.goto(f"{base}/register/platforms/HBX")
    screenshot(page, "licensing-public-entry")

    login(page, base, "officer")
    page.goto(f"{base}/licensing")
    page.click("#apps-table th:has-text('Step')")  # sortable
    screenshot(page, "licensing-applications")
    page.goto(f"{base}/licensing/board")
    assert page.locator("#overdue-table tbody tr").count() > 1
    screenshot(page, "licensing-board")
    page.goto(f"{base}/panel")
    page.click("text=Admission of stablecoins for trading")
    assert page.locator("article").count() == 3
    screenshot(page, "licensing-panel")

    login(page, base, "compliance")
    nav = page.locator("nav.mainnav").inner_text()
    assert "Applications" in nav and "Pipeline" not in nav
    page.goto(f"{base}/licensing")
    assert page.locator("#apps-table tbody tr").count() == 1
    page.click("#apps-table tbody a")
    screenshot(page, "licensing-platform-restricted")

    login(page, base, "assessor")
    page.goto(f"{base}/licensing")
    codes = sorted(page.locator("#apps-table tbody tr td:nth-child(2) strong").all_inner_texts())
    assert codes == ["KOWL", "PEAK"]
