"""One application from received to fully licensed through the pages, logged in as each role in turn,
then the public register shows it. Screenshots of the main pages go to docs/screenshots/licensing-*.png."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.conftest import PASSWORD

from harbour.core.auth import Role

pytestmark = pytest.mark.browser

SOON = (dt.date.today() + dt.timedelta(days=30)).isoformat()
TODAY = dt.date.today().isoformat()


def login(page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.get_by_test_id("whoami").inner_text().startswith(username)


def act(page, name: str, fields: dict[str, str] | None = None, checks: tuple[str, ...] = ()) -> None:
    """Fill and submit the action form ``name`` on an application page."""
    form = page.get_by_test_id(f"form-{name}")
    for field, value in (fields or {}).items():
        target = form.locator(f"[name='{field}']")
        if target.evaluate("e => e.tagName") == "SELECT":
            target.select_option(value)
        else:
            target.fill(value)
    for value in checks:
        form.locator(f"input[type=checkbox][value='{value}'], input[type=checkbox][name='{value}']").check()
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    assert page.get_by_test_id("error-message").count() == 0, page.get_by_test_id("error-message").inner_text()


def state(page) -> str:
    return page.get_by_test_id("state").inner_text()


def test_application_from_received_to_fully_licensed(page, live_server, actors, screenshot):
    base = live_server
    acme = actors.platform("ACME", "Acme Digital Exchange")
    actors.user("compliance", Role.PLATFORM_USER, platform_id=acme)
    actors.user("officer", Role.LICENSING_OFFICER)
    actors.user("assessor", Role.ASSESSOR)

    # Platform user applies.
    login(page, base, "compliance")
    page.goto(f"{base}/licensing")
    page.click("text=Apply for a licence")
    page.fill("input[name=legal_name]", "Acme Digital Exchange Limited")
    page.fill("input[name=brand]", "AcmeX")
    page.fill("input[name=website]", "https://acmex.example")
    page.fill("textarea[name=responsible_officers]", "Alice Chan\nBob Lee")
    page.fill("textarea[name=business_plan]", "Spot trading of BTC and ETH for professional investors.")
    page.check("input[value='AMLO virtual asset service provider']")
    screenshot(page, "licensing-apply")
    page.click("[data-testid=apply-form] button[type=submit]")
    page.wait_for_url(f"{base}/licensing/applications/*")
    app_url = page.url
    assert state(page) == "Application received"

    # Officer inspects, records a critical finding and sends the feedback.
    login(page, base, "officer")
    page.goto(app_url)
    act(page, "record_inspection", {"start_date": TODAY, "end_date": TODAY, "inspectors": "Ivy Wong",
                                    "finding_area_1": "custody of client assets", "finding_severity_1": "critical",
                                    "finding_description_1": "Client assets in hot wallets", "finding_due_1": SOON},
        checks=("custody of client assets", "cybersecurity"))
    assert state(page) == "Inspection"
    act(page, "send_feedback")
    assert state(page) == "Rectification"

    # Platform user submits the rectification plan.
    login(page, base, "compliance")
    page.goto(app_url)
    form = page.get_by_test_id("form-submit_plan")
    form.locator("input[name^=action_]").fill("Move client assets to cold storage")
    form.locator("input[name^=owner_]").fill("CTO")
    form.locator("input[name^=target_]").fill(SOON)
    act(page, "submit_plan")
    screenshot(page, "licensing-application-platform")

    # Officer agrees the plan and grants the licence with conditions and restrictions.
    login(page, base, "officer")
    page.goto(app_url)
    act(page, "decide_plan", {"decision": "agreed"})
    act(page, "grant_licence", {"conditions": f"Monthly client asset reconciliation | {SOON}",
                                "permitted_tokens": "BTC, ETH"}, checks=("no_retail_clients",))
    assert state(page) == "Licence granted"

    # Platform user closes the finding with evidence and files the pen test report.
    login(page, base, "compliance")
    page.goto(app_url)
    page.locator("form[data-testid^=close-finding] input[name=evidence]").fill("Cold storage in production since May")
    page.locator("form[data-testid^=close-finding] button").click()
    page.wait_for_load_state("load")
    act(page, "file_pen_test", {"firm": "Bastion Security", "summary": "No high or critical findings remain."})

    # Officer confirms the pen test (restricted operation) and engages the assessor.
    login(page, base, "officer")
    page.goto(app_url)
    act(page, "confirm_pen_test")
    assert state(page) == "Restricted operation"
    act(page, "engage_assessor", {"assessor": "assessor", "scope": "Second phase", "due_date": SOON})
    assert state(page) == "External assessment"

    # Assessor files the report.
    login(page, base, "assessor")
    page.goto(f"{base}/licensing")
    assert page.locator("#apps-table tbody tr").count() == 1
    page.goto(app_url)
    act(page, "file_assessment", {"report": "Controls operate effectively over the period.",
                                  "opinion": "satisfactory"})
    screenshot(page, "licensing-assessor")

    # Officer accepts the assessment and lifts the restrictions.
    login(page, base, "officer")
    page.goto(app_url)
    act(page, "decide_assessment", {"decision": "accept"})
    assert state(page) == "Fully licensed"
    assert page.get_by_test_id("timeline").locator("li").count() == 7
    screenshot(page, "licensing-application-officer")

    # The public register shows it, with its conditions and no restrictions left.
    page.context.clear_cookies()
    page.goto(f"{base}/register/licensed")
    row = page.locator("#register-table tbody tr", has_text="AcmeX")
    assert "Fully licensed" in row.inner_text()
    assert "Monthly client asset reconciliation" in row.inner_text()
    page.click("text=AcmeX")
    assert page.get_by_test_id("public-status").inner_text() == "Fully licensed"
    assert "restrictions lifted" in page.get_by_test_id("public-restrictions").inner_text()
