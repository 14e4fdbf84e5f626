"""Property: whatever sequence of actions is tried, by whichever role, no application reaches
``fully_licensed`` without an inspection, an agreed plan, every critical finding closed, a confirmed pen
test and an accepted external assessment; and none reaches ``restricted_operation`` without a confirmed pen
test and its critical findings closed.

Sequences are drawn mostly from the actions that make sense in the current state (so many examples get
far along the path) and sometimes from any action, with a random role, skipping steps at random. The
checks read the database directly, not the guards. SQLite only, bounded examples (the service runs on
both engines in the other tests).
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from harbour.core.auth import Principal, Role, User, create_user, principal_for
from harbour.core.db import make_engine, make_session_factory, transaction
from harbour.core.errors import HarbourError
from harbour.core.tenancy import Platform
from harbour.licensing import schemas as sc
from harbour.licensing import service
from harbour.licensing.models import Application, Assessment, Finding, Inspection, PenTestReport, RectificationPlan

DAY = dt.date(2030, 1, 1)
RELEVANT = {  # weighted towards progress, so many examples get far along the path
    "application_received": ["record_inspection"],
    "inspection": ["send_feedback", "send_feedback", "add_finding", "close_finding"],
    "rectification": ["submit_plan", "agree_plan", "grant_licence"] * 2 + ["return_plan", "close_finding",
                                                                          "add_finding"],
    "licence_granted": ["close_finding", "file_pen_test", "confirm_pen_test"] * 2,
    "restricted_operation": ["engage_assessor", "close_finding", "close_finding"],
    "external_assessment": ["file_assessment", "accept_assessment"] * 2 + ["return_assessment", "close_finding"],
}
ALL_ACTIONS = sorted({a for acts in RELEVANT.values() for a in acts} | {"withdraw", "refuse", "suspend"})
RIGHT_ROLE = {
    "record_inspection": "officer", "send_feedback": "officer", "add_finding": "officer", "agree_plan": "officer",
    "return_plan": "officer", "grant_licence": "officer", "confirm_pen_test": "officer", "engage_assessor": "officer",
    "accept_assessment": "officer", "return_assessment": "officer", "refuse": "officer", "suspend": "officer",
    "submit_plan": "own", "close_finding": "own", "file_pen_test": "own", "withdraw": "own",
    "file_assessment": "assessor",
}
ROLES = ["officer", "own", "other", "assessor", "supervisor"]
REACHED: list[str] = []


@pytest.fixture(scope="module")
def factory(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("licensing-property") / "harbour.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    # A scratch database: skip fsync so the many small commits of the property run stay fast.
    event.listen(engine, "connect", lambda conn, _rec: conn.execute("PRAGMA synchronous=OFF"))
    f = make_session_factory(engine)
    with transaction(f) as s:
        other = Platform(code="OTHER", legal_name="Other Ltd", brand="Other", website="https://other.example")
        s.add(other)
        s.flush()
        for name, role, pid in (("officer", Role.LICENSING_OFFICER, None), ("supervisor", Role.SUPERVISOR, None),
                                ("assessor", Role.ASSESSOR, None), ("other", Role.PLATFORM_USER, other.id)):
            create_user(s, username=name, password="property-test-pw", role=role, platform_id=pid)
    yield f
    engine.dispose()


_codes = (f"P{n:04d}" for n in itertools.count())


def _new_application(factory) -> tuple[int, int]:
    code = next(_codes)
    with transaction(factory) as s:
        platform = Platform(code=code, legal_name=f"{code} Ltd", brand=code, website="https://x.example")
        s.add(platform)
        s.flush()
        template = s.scalars(select(User).where(User.username == "other")).one()
        s.add(User(username=f"{code}-user", display_name=code, role="platform_user", platform_id=platform.id,
                   password_hash=template.password_hash))
        s.flush()
        platform_id = platform.id
    s = factory()
    try:
        app = service.apply(s, _principal(factory, f"{code}-user"), sc.ApplicationIn(
            legal_name=f"{code} Ltd", brand=code, website="https://x.example", responsible_officers=["A", "B"],
            business_plan="A business plan long enough to pass.", licences_applied=[sc.LICENCE_TYPES[0]]))
        return app.id, platform_id
    finally:
        s.close()


def _principal(factory, username: str) -> Principal:
    # Read afresh each time: an assessor's assignments change when they are engaged.
    with transaction(factory) as s:
        return principal_for(s, s.scalars(select(User).where(User.username == username)).one())


def _do(s, who: Principal, action: str, app_id: int, severity: str) -> None:
    finding = sc.FindingIn(area="cybersecurity", severity=severity, description="Keys on one host", due_date=DAY)
    open_finding = s.scalar(select(Finding.id).where(Finding.application_id == app_id, Finding.status == "open"))
    calls = {
        "record_inspection": lambda: service.record_inspection(s, who, app_id, sc.InspectionIn(
            start_date=DAY, end_date=DAY, inspectors=["I"], areas=["cybersecurity"], findings=[finding],
            reason="visit")),
        "add_finding": lambda: service.add_finding(s, who, app_id, finding),
        "send_feedback": lambda: service.transition(s, who, app_id, "send_feedback", "feedback"),
        "submit_plan": lambda: service.submit_plan(s, who, app_id, sc.PlanIn(items=[
            sc.PlanItemIn(finding_id=fid, action="Fix it now", owner="CTO", target_date=DAY)
            for fid in s.scalars(select(Finding.id).where(Finding.application_id == app_id,
                                                         Finding.status == "open"))])),
        "agree_plan": lambda: service.decide_plan(s, who, app_id, sc.PlanDecisionIn(decision="agreed", reason="ok!")),
        "return_plan": lambda: service.decide_plan(s, who, app_id, sc.PlanDecisionIn(
            decision="returned", comments="more detail", reason="not yet")),
        "grant_licence": lambda: service.grant_licence(s, who, app_id, sc.LicenceIn(no_retail_clients=True,
                                                                                     reason="granted")),
        "close_finding": lambda: service.close_finding(s, who, open_finding or 0, sc.CloseFindingIn(
            evidence="evidence of the fix")),
        "file_pen_test": lambda: service.file_pen_test(s, who, app_id, sc.PenTestIn(firm="Firm", summary="clean")),
        "confirm_pen_test": lambda: service.confirm_pen_test(s, who, app_id, "confirmed"),
        "engage_assessor": lambda: service.engage_assessor(s, who, app_id, sc.EngageIn(assessor="assessor",
                                                                                        reason="engaged")),
        "file_assessment": lambda: service.file_assessment(s, who, app_id, sc.AssessmentReportIn(
            report="All good, controls work.", opinion="satisfactory")),
        "accept_assessment": lambda: service.decide_assessment(s, who, app_id, sc.AssessmentDecisionIn(
            decision="accept", reason="accepted")),
        "return_assessment": lambda: service.decide_assessment(s, who, app_id, sc.AssessmentDecisionIn(
            decision="return", comments="redo section 2", reason="returned")),
        "withdraw": lambda: service.transition(s, who, app_id, "withdraw", "leaving"),
        "refuse": lambda: service.transition(s, who, app_id, "refuse", "not fit"),
        "suspend": lambda: service.transition(s, who, app_id, "suspend", "breach"),
    }
    calls[action]()


def _check_invariants(s, app_id: int) -> str:
    app = s.get(Application, app_id)
    s.refresh(app)

    def count(model, *where) -> int:
        return s.scalar(select(func.count()).select_from(model).where(model.application_id == app_id, *where))

    critical_open = count(Finding, Finding.severity == "critical", Finding.status != "closed")
    pen_confirmed = count(PenTestReport, PenTestReport.confirmed_at.is_not(None))
    if app.state in ("restricted_operation", "external_assessment", "fully_licensed"):
        assert pen_confirmed >= 1, f"{app.state} without a confirmed pen test"
        assert count(Inspection) >= 1
    if app.state == "fully_licensed":
        assert count(Inspection) >= 1, "fully licensed without an inspection"
        assert count(RectificationPlan, RectificationPlan.status == "agreed") >= 1, "without an agreed plan"
        assert critical_open == 0, "fully licensed with a critical finding open"
        assert count(Assessment, Assessment.status == "accepted") >= 1, "without an accepted assessment"
    return app.state


@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_shortcut_to_full_licence(factory, data):
    app_id, _ = _new_application(factory)
    code = None
    with transaction(factory) as s:
        code = s.get(Application, app_id).platform.code
    state = "application_received"
    for _ in range(data.draw(st.integers(12, 40), label="steps")):
        relevant = RELEVANT.get(state)
        if relevant and data.draw(st.integers(0, 9)) < 9:
            action = data.draw(st.sampled_from(relevant), label="action")
        else:
            action = data.draw(st.sampled_from(ALL_ACTIONS), label="any action")
        role = RIGHT_ROLE[action] if data.draw(st.integers(0, 9)) < 8 else data.draw(st.sampled_from(ROLES))
        username = {"own": f"{code}-user"}.get(role, role)
        severity = data.draw(st.sampled_from(["critical", "major", "minor"]))
        s = factory()
        try:
            _do(s, _principal(factory, username), action, app_id, severity)
        except HarbourError:
            pass  # refused: that is the point; the invariants below must still hold
        finally:
            s.close()
        with transaction(factory) as s:
            state = _check_invariants(s, app_id)
    REACHED.append(state)


def test_property_run_reached_full_licence():
    """The property above is only meaningful if some sequences got all the way; make sure they did."""
    if not REACHED:
        pytest.skip("the property test did not run in this session")
    assert "fully_licensed" in REACHED, f"no example reached fully_licensed; final states: {sorted(set(REACHED))}"
    assert len(set(REACHED)) >= 3
