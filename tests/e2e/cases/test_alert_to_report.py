"""Acceptance 1: in a real browser, generated alerts go through triage, grouping, a case, a request for
information answered by the platform user, four-eyes review and a filed report; the PDF and the XML are
produced and the XML is validated against the XSD in the repository. Page actions are counted."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree
from sqlalchemy import select

from harbour.cases.models import Case, SuspiciousTransactionReport
from harbour.cases.reports import XSD_PATH
from harbour.core.audit import AuditEntry, verify_chain
from harbour.core.auth import Role
from harbour.core.db import transaction
from harbour.detect.alert_store import AlertRecord

pytestmark = [pytest.mark.browser, pytest.mark.db]

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ANALYST_ACTION_BOUND = 16


def _alert(aid, platform_id, venue, accounts, typology, detector, score, hours_from_t0, evidence):
    start = T0 + dt.timedelta(hours=hours_from_t0)
    return AlertRecord(
        alert_id=aid,
        detector=detector,
        detector_version="1.0",
        typology=typology,
        venue=venue,
        platform_id=platform_id,
        symbol="PEPE/USD",
        accounts=accounts,
        start=start,
        end=start + dt.timedelta(hours=3),
        score=score,
        evidence_ids=evidence,
        explanation=f"{typology.replace('_', ' ')}: {', '.join(accounts)} traded {len(evidence)} times "
        "against each other at the quote",
        details={},
        status="open",
    )


class Counter:
    """Wraps the Playwright page so that every click, fill, selection and upload is counted."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def click(self, selector):
        self.count += 1
        self.page.click(selector)

    def fill(self, selector, value):
        self.count += 1
        self.page.fill(selector, value)

    def select(self, selector, value):
        self.count += 1
        self.page.select_option(selector, value)

    def upload(self, selector, files):
        self.count += 1
        self.page.set_input_files(selector, files)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_queue_to_filed_report(page, live_server, actors, session_factory, screenshot):
    hbx, okq = actors.platform("HBX"), actors.platform("OKQ")
    actors.user("ana", Role.SUPERVISOR)
    actors.user("bob", Role.SUPERVISOR)
    actors.user("hbx_co", Role.PLATFORM_USER, platform_id=hbx)
    with transaction(session_factory) as s:
        s.add_all(
            [
                _alert("pd-1", hbx, "HBX", ["acc-A", "acc-B"], "pump_and_dump", "pump_dump", 0.93, 0, ["t-1", "t-2"]),
                _alert("wt-1", hbx, "HBX", ["acc-B", "acc-C"], "wash_trade", "wash_pairs", 0.81, 2, ["t-3"]),
                _alert("wt-2", hbx, "HBX", ["acc-C"], "wash_trade", "wash_pairs", 0.77, 4, ["t-4", "t-5"]),
                _alert("qs-1", hbx, "HBX", ["mm-1"], "quote_stuffing", "stuffing", 0.35, 0, ["o-1"]),
                _alert("qs-2", hbx, "HBX", ["mm-2"], "quote_stuffing", "stuffing", 0.33, 30, ["o-2"]),
                _alert("sp-1", okq, "OKQ", ["z-1"], "spoofing", "spoof", 0.6, 0, ["o-9"]),
            ]
        )
    act = Counter(page)

    def login(username):
        page.goto(f"{live_server}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "correct-horse-battery")
        page.click("form.form button[type=submit]")

    def logout():
        page.click("text=Log out")

    # --- the analyst: triage ---------------------------------------------------------------------------
    login("ana")
    page.goto(f"{live_server}/cases/queue")
    rows = page.locator("#queue tbody tr").all_inner_texts()
    assert rows[0].split("\t")[2].strip() == "pump_and_dump" or "pump_and_dump" in rows[0]
    screenshot(page, "cases-queue")
    act.click("input[aria-label='select qs-1']")
    act.click("input[aria-label='select qs-2']")
    act.select("select[name=action]", "close_false_positive")
    act.fill("input[name=reason]", "Market maker's quote refresh; known pattern")
    act.click("text=Apply to selected")
    assert page.locator("[data-alert=qs-1]").count() == 0

    # --- grouping: accept the suggestion --------------------------------------------------------------
    act.click("text=Case suggestions →")
    card = page.locator("section[data-suggestion]").first
    assert card.locator("input[name=alert_ids]").count() == 3  # pd-1, wt-1, wt-2 chained by acc-B / acc-C
    screenshot(page, "cases-suggestions")
    act.click("section[data-suggestion] >> text=Open case")
    assert "four eyes required" in page.inner_text("main")
    case_url = page.url

    # --- request for information ----------------------------------------------------------------------
    act.fill("textarea[name=questions]", "Please identify the beneficial owners of acc-A, acc-B and acc-C.")
    act.click("text=Send request")
    assert page.inner_text("[data-testid=case-status]") == "pending information"
    screenshot(page, "cases-case")
    analyst_so_far = act.count
    logout()

    # --- the platform's compliance officer answers -----------------------------------------------------
    platform = Counter(page)
    login("hbx_co")
    platform.click("nav >> text=Requests")
    platform.click("#requests >> a")
    screenshot(page, "cases-request-platform")
    platform.fill("textarea[name=answer]", "All three accounts belong to one customer, Mr Chan (KYC attached).")
    platform.upload(
        "input[name=files]",
        {"name": "kyc.csv", "mimeType": "text/csv", "buffer": b"account,customer\nacc-A,C-1\nacc-B,C-1\nacc-C,C-1\n"},
    )
    platform.click("text=Send answer")
    assert page.inner_text("[data-testid=request-status]") == "answered"
    logout()

    # --- the analyst drafts and submits the report -----------------------------------------------------
    login("ana")
    act.click("nav >> text=Cases")
    act.click("#cases >> a")
    assert page.url == case_url
    assert page.inner_text("[data-testid=case-status]") == "investigating"
    narrative = page.input_value("textarea[name=narrative]")
    assert "pump and dump" in narrative
    act.fill("textarea[name=narrative]", narrative + "The platform confirmed one customer controls all three accounts.")
    act.click("text=Save and submit for approval")
    assert page.inner_text("[data-testid=report-status]") == "pending approval"
    analyst_actions = act.count
    logout()

    # --- a second supervisor approves (four eyes) ------------------------------------------------------
    reviewer = Counter(page)
    login("bob")
    reviewer.click("nav >> text=Cases")
    reviewer.click("#cases >> a")
    reviewer.fill("input[name=reason]", "Evidence and the platform's answer support a report")
    reviewer.click("button[value=approve]")
    assert page.inner_text("[data-testid=report-status]") == "filed"
    assert page.inner_text("[data-testid=case-outcome]") == "suspicious transaction report"
    screenshot(page, "cases-filed")

    # --- the documents --------------------------------------------------------------------------------
    case_id = int(case_url.rstrip("/").split("/")[-1])
    pdf = page.request.get(f"{live_server}/api/cases/{case_id}/report.pdf")
    assert pdf.ok and pdf.body().startswith(b"%PDF-")
    xml = page.request.get(f"{live_server}/api/cases/{case_id}/report.xml")
    assert xml.ok
    schema = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    assert schema.validate(etree.fromstring(xml.body())), schema.error_log
    page.goto(f"{live_server}/cases/detectors")
    screenshot(page, "cases-detectors")
    assert "stuffing" in page.inner_text("#detectors")

    # --- audit: every alert and case state change, and the chain verifies -------------------------------
    with session_factory() as s:
        case = s.get(Case, case_id)
        assert case.status == "closed" and case.outcome == "suspicious_transaction_report"
        assert s.scalar(select(SuspiciousTransactionReport.status)) == "filed"
        for alert in s.scalars(select(AlertRecord).where(AlertRecord.status != "open")):
            assert s.scalar(
                select(AuditEntry).where(
                    AuditEntry.entity_type == "alert",
                    AuditEntry.entity_id == alert.alert_id,
                    AuditEntry.after.contains(alert.status),
                )
            ), alert.alert_id
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "case")))
        assert {
            "case.opened",
            "case.status_changed",
            "case.review_requested",
            "case.review_approved",
            "case.closed",
        } <= actions
        assert verify_chain(s).ok

    print(
        f"\npage actions: analyst {analyst_actions} (of which {analyst_so_far} before the RFI answer), "
        f"platform user {platform.count}, reviewer {reviewer.count}; logins not counted"
    )
    assert analyst_actions <= ANALYST_ACTION_BOUND
    assert analyst_actions + platform.count + reviewer.count <= 30
