"""Acceptance 5: in a real browser, an analyst filters the alert list, opens an alert and finds its evidence
chart (an SVG with the evidence trades marked). Screenshots for docs/user-guide/alerts.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harbour.core.auth import SYSTEM, Role
from harbour.core.db import transaction
from harbour.detect.runners import run_detectors
from harbour.detect.runners.reference import REFERENCE_DETECTORS
from harbour.detect.service import store_alerts

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct-horse-battery"  # tests/conftest.PASSWORD


def test_an_analyst_opens_an_alert_and_sees_its_evidence_chart(live_server: str, page: Any, actors: Any,
                                                                settings: Any, session_factory: Any,
                                                                sample_lake: Path, screenshot: Any) -> None:
    settings.lake_root = sample_lake
    actors.platform("HBX")
    actors.platform("KBT")
    actors.user("analyst", Role.SUPERVISOR)
    result = run_detectors(sample_lake, REFERENCE_DETECTORS, workers=1)
    with transaction(session_factory) as s:
        store_alerts(s, SYSTEM, result)
    wash = [a for a in result.alerts.to_pylist() if a["typology"] == "wash_trade"]

    page.goto(f"{live_server}/login?next=/alerts")
    page.fill("input[name=username]", "analyst")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/alerts")
    page.select_option("[data-testid=filter-typology]", "wash_trade")
    page.click("form[aria-label='Filter alerts'] button[type=submit]")
    page.wait_for_url("**typology=wash_trade**")
    rows = page.locator("#alerts-table tbody tr")
    assert rows.count() == len(wash)
    screenshot(page, "alerts-list")

    page.locator("#alerts-table tbody tr a").first.click()
    chart = page.locator("svg[data-testid=evidence-chart]")
    chart.wait_for()
    opened = next(a for a in wash if a["alert_id"] in page.url)
    assert chart.locator("circle.trade.evidence").count() == len(opened["evidence_ids"])
    assert chart.locator("polyline.price").count() == 1 and chart.locator("rect.vol").count() > 0
    assert page.locator("[data-testid=explanation]").inner_text().endswith(opened["explanation"])
    assert page.locator("#evidence-trades tbody tr").count() == len(opened["evidence_ids"])
    screenshot(page, "alert-evidence")

    # Case work from the alert page: the detector's outcome history loads beside the chart (HTMX), and the
    # chart can be pinned to a case.
    page.locator("#detector-history").wait_for()
    assert opened["detector"] in page.locator("#detector-history h2").inner_text()
    page.click("[data-testid=pin-to-case]")
    page.wait_for_url(f"**/cases/pin?alert_id={opened['alert_id']}**")
