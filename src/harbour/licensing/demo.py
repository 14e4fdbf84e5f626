"""Demo seed: fictitious platforms (all named "Demo …", ``is_demo=True``) at every licensing step, matching
the counts reported for the regime — 11 deemed to be licensed, 14 awaiting approval, a few fully licensed —
plus closed applications, one closing down, alert-list entries, a consultation with responses and one demo
user per role.

Every record is made through the same service functions the pages use, so the history and the audit log
are real; the dates are then spread over the past year so the pipeline board has times and overdue items.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbour.core.auth import Principal, Role, User, create_user, principal_for
from harbour.core.db import transaction, utcnow
from harbour.core.tenancy import Platform
from harbour.licensing import panel, register, service
from harbour.licensing import schemas as sc
from harbour.licensing.models import Application, Finding, Licence, StateChange
from harbour.licensing.workflow import State

log = logging.getLogger(__name__)
S = State


@dataclass(frozen=True)
class DemoPlatform:
    code: str
    name: str
    target: State
    deemed: bool = False
    trades: bool = False  # a venue of the synthetic market


_PLACES = ("Aberdeen", "Sai Kung", "Wan Chai", "Sheung Wan", "Tai Po", "Mong Kok", "Lamma", "Cheung Chau",
           "Tsuen Wan", "Sha Tin", "Tai O", "Repulse Bay", "Mui Wo", "Yau Tong", "Kwun Tong", "Causeway",
           "Quarry Bay", "Chai Wan", "Ap Lei Chau", "Discovery Bay", "Tung Chung", "Fanling", "Yuen Long",
           "Tuen Mun", "Ma On Shan", "Clear Water", "Pok Fu Lam", "Happy Valley", "Lok Fu", "Kennedy Town")


def demo_platforms() -> list[DemoPlatform]:
    """The cast: named trading venues first, then numbered applicants to reach the regime's counts."""
    named = [
        DemoPlatform("HBX", "Harbour Bay Exchange", S.RESTRICTED_OPERATION, trades=True),
        DemoPlatform("PEAK", "Peak Digital Markets", S.FULLY_LICENSED, trades=True),
        DemoPlatform("JNK", "Junk Boat Exchange", S.FULLY_LICENSED, trades=True),
        DemoPlatform("KOWL", "Kowloon Virtual Asset Exchange", S.EXTERNAL_ASSESSMENT, trades=True),
        DemoPlatform("LNTA", "Lantau Trading", S.LICENCE_GRANTED, trades=True),
        DemoPlatform("DRGN", "Dragon Gate Exchange", S.INSPECTION, deemed=True, trades=True),
        DemoPlatform("TSIM", "Tsim Sha Tsui Digital", S.DEEMED_LICENSED, deemed=True, trades=True),
        DemoPlatform("STAN", "Stanley Digital Assets", S.FULLY_LICENSED),
        DemoPlatform("VICT", "Victoria Crypto", S.RESTRICTED_OPERATION),
        DemoPlatform("CNTR", "Central Coin Exchange", S.LICENCE_GRANTED),
        DemoPlatform("FRGR", "Fragrant Harbour Exchange", S.CLOSING_DOWN, deemed=True),
        DemoPlatform("TYPH", "Typhoon Exchange", S.REFUSED),
        DemoPlatform("SMPN", "Sampan Markets", S.WITHDRAWN),
        DemoPlatform("MIST", "Mist Harbour Trading", S.RETURNED),
        DemoPlatform("NDRG", "Nine Dragons Exchange", S.RETURNED),
    ]
    deemed_rest = [S.DEEMED_LICENSED] * 4 + [S.INSPECTION] * 2 + [S.RECTIFICATION] * 3  # + DRGN, TSIM = 11
    applicants = [S.APPLICATION_RECEIVED] * 6 + [S.INSPECTION] * 4 + [S.RECTIFICATION] * 4  # 14
    places = iter(_PLACES)
    out = list(named)
    for i, target in enumerate(deemed_rest):
        out.append(DemoPlatform(f"DM{i + 1:02d}", f"{next(places)} Digital Exchange", target, deemed=True))
    for i, target in enumerate(applicants):
        out.append(DemoPlatform(f"AP{i + 1:02d}", f"{next(places)} Virtual Assets", target))
    return out


ORDER = (S.APPLICATION_RECEIVED, S.INSPECTION, S.RECTIFICATION, S.LICENCE_GRANTED, S.RESTRICTED_OPERATION,
         S.EXTERNAL_ASSESSMENT, S.FULLY_LICENSED)
Severity = Literal["critical", "major", "minor"]
FINDINGS: tuple[tuple[str, Severity, str], ...] = (
    ("custody of client assets", "critical",
     "Over 5% of client assets held in hot wallets; cold-storage policy not enforced."),
    ("cybersecurity", "major", "Privileged access to the matching engine not reviewed in the last 12 months."),
    ("AML/KYC", "major", "Ongoing monitoring does not screen transfers against the alert list and sanctions lists."),
    ("governance", "minor", "Board minutes do not record the token admission committee's decisions."),
    ("market surveillance", "major", "No surveillance for wash trading between house and client accounts."),
    ("conflicts of interest", "minor", "Proprietary trading desk shares a floor with client order handling."),
)


class Seeder:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.factory = ctx.session_factory
        self.rng = random.Random(2026)
        self.today = utcnow().date()

    def session(self) -> Session:
        return self.factory()

    # -- people -----------------------------------------------------------------------------------------

    def users(self, platforms: dict[str, int]) -> dict[str, Principal]:
        pw = self.ctx.password
        with transaction(self.factory) as s:
            officer = create_user(s, username="officer", password=pw, role=Role.LICENSING_OFFICER,
                                  display_name="Olivia Officer (demo)")
            create_user(s, username="supervisor", password=pw, role=Role.SUPERVISOR,
                        display_name="Sam Supervisor (demo)")
            create_user(s, username="admin", password=pw, role=Role.ADMIN, display_name="Ada Admin (demo)")
            compliance = create_user(s, username="compliance", password=pw, role=Role.PLATFORM_USER,
                                     platform_id=platforms["HBX"], display_name="Chris Compliance, HBX (demo)")
            create_user(s, username="assessor", password=pw, role=Role.ASSESSOR, display_name="Avery Assessor (demo)")
            create_user(s, username="assessor2", password=pw, role=Role.ASSESSOR, display_name="Blake Assessor (demo)")
            # One compliance user per other platform; hashing once and reusing the hash keeps the seed fast.
            for code, pid in platforms.items():
                if code != "HBX":
                    s.add(User(username=f"{code.lower()}-compliance", display_name=f"Compliance, {code} (demo)",
                               role=Role.PLATFORM_USER.value, platform_id=pid, password_hash=compliance.password_hash))
            s.flush()
            return {"officer": principal_for(s, officer)}

    def platform_principal(self, code: str) -> Principal:
        name = "compliance" if code == "HBX" else f"{code.lower()}-compliance"
        with transaction(self.factory) as s:
            return principal_for(s, s.scalars(select(User).where(User.username == name)).one())

    def assessor_principal(self, name: str) -> Principal:
        with transaction(self.factory) as s:
            return principal_for(s, s.scalars(select(User).where(User.username == name)).one())

    # -- one application, driven to its target --------------------------------------------------------------

    def drive(self, p: DemoPlatform, platform_id: int, officer: Principal) -> int:
        user = self.platform_principal(p.code)
        s = self.session()
        try:
            app = service.apply(s, officer if p.deemed else user, sc.ApplicationIn(
                legal_name=f"Demo {p.name} Limited", brand=f"Demo {p.name}",
                website=f"https://{p.code.lower()}.demo.example",
                responsible_officers=["Demo Officer A", "Demo Officer B"],
                business_plan=f"Demo business plan: spot trading of major tokens for professional investors "
                              f"on {p.name}.",
                licences_applied=list(sc.LICENCE_TYPES[:2] if self.rng.random() < .5 else sc.LICENCE_TYPES),
                target_decision_date=dt.date(self.today.year, 12, 31) if p.deemed else None,
                platform_id=platform_id if p.deemed else None, deemed=p.deemed,
                reason="transitional applicant, applied in time" if p.deemed else "application submitted"))
            self._steps(s, p, app.id, officer, user)
            return app.id
        finally:
            s.close()

    def _steps(self, s: Session, p: DemoPlatform, app_id: int, officer: Principal, user: Principal) -> None:
        if p.target in (S.RETURNED, S.REFUSED, S.WITHDRAWN):
            if p.target == S.REFUSED:
                self._inspect(s, app_id, officer)
            name = {S.RETURNED: "return_application", S.REFUSED: "refuse", S.WITHDRAWN: "withdraw"}[p.target]
            why = {S.RETURNED: "application incomplete: no audited financial statements",
                   S.REFUSED: "responsible officers not fit and proper", S.WITHDRAWN: "business plan changed"}[p.target]
            service.transition(s, user if name == "withdraw" else officer, app_id, name, why)
            return
        if p.target == S.CLOSING_DOWN:
            service.transition(s, officer, app_id, "close_down", "platform announced it will cease its business")
            return
        target = ORDER.index(p.target) if p.target in ORDER else 0
        if target >= 1:
            self._inspect(s, app_id, officer)
        if target >= 2:
            service.transition(s, officer, app_id, "send_feedback", "inspection feedback letter sent")
            if target == 2 and self.rng.random() < .5:
                return  # waiting for the platform's plan
            self._plan(s, app_id, user)
            if target == 2 and self.rng.random() < .5:
                return  # plan awaiting the officer's decision
            service.decide_plan(s, officer, app_id, sc.PlanDecisionIn(decision="agreed", reason="plan is adequate"))
        if target >= 3:
            self._licence(s, app_id, officer)
        if target >= 4:
            self._close_findings(s, app_id, user, only_critical=target == 4)
            service.file_pen_test(s, user, app_id, sc.PenTestIn(firm="Demo Bastion Security Ltd",
                                                                 summary="No critical or high findings remain open."))
            service.confirm_pen_test(s, officer, app_id, "pen test report reviewed")
        if target >= 5:
            assessor = "assessor" if p.code in ("KOWL", "PEAK") else "assessor2"
            service.engage_assessor(s, officer, app_id, sc.EngageIn(
                assessor=assessor, scope="Second-phase review of custody, cybersecurity and AML controls",
                due_date=self.today + dt.timedelta(days=self.rng.choice([-10, 20, 45])),
                reason="tripartite engagement signed"))
        if target >= 6:
            service.file_assessment(s, self.assessor_principal(assessor), app_id, sc.AssessmentReportIn(
                report="Controls designed and operating effectively over the review period.", opinion="satisfactory"))
            service.decide_assessment(s, officer, app_id, sc.AssessmentDecisionIn(decision="accept",
                                                                                   reason="assessment accepted"))
            licence = service.licence_for(s, app_id)
            assert licence is not None
            service.set_condition_status(s, officer, licence.conditions[-1].id, "met", "director appointed")

    def _inspect(self, s: Session, app_id: int, officer: Principal) -> None:
        start = self.today - dt.timedelta(days=self.rng.randint(40, 200))
        picked = self.rng.sample(FINDINGS, 3)
        service.record_inspection(s, officer, app_id, sc.InspectionIn(
            start_date=start, end_date=start + dt.timedelta(days=4),
            inspectors=["Demo Inspector Wong", "Demo Inspector Lam"],
            areas=sorted({f[0] for f in picked} | {"financial resources"}), summary="Demo on-site inspection.",
            findings=[sc.FindingIn(area=a, severity=sev, description=d,
                                   due_date=self.today + dt.timedelta(days=self.rng.choice([-21, -5, 14, 30, 60])))
                      for a, sev, d in picked],
            reason="on-site inspection completed"))

    def _plan(self, s: Session, app_id: int, user: Principal) -> None:
        findings = s.scalars(select(Finding).where(Finding.application_id == app_id, Finding.status == "open"))
        service.submit_plan(s, user, app_id, sc.PlanIn(items=[
            sc.PlanItemIn(finding_id=f.id, action=f"Remediate: {f.description[:60]}", owner="Demo Head of Compliance",
                          target_date=f.due_date) for f in findings]))

    def _licence(self, s: Session, app_id: int, officer: Principal) -> None:
        service.grant_licence(s, officer, app_id, sc.LicenceIn(
            conditions=[sc.ConditionIn(text="Report client asset reconciliation to the regulator monthly",
                                       due_date=self.today + dt.timedelta(days=self.rng.choice([-7, 25]))),
                        sc.ConditionIn(text="Appoint an independent non-executive director with technology expertise",
                                       due_date=self.today + dt.timedelta(days=90))],
            no_retail_clients=True, no_new_clients=self.rng.random() < .3, permitted_tokens=["BTC", "ETH"],
            reason="rectification plan agreed"))

    def _close_findings(self, s: Session, app_id: int, user: Principal, only_critical: bool) -> None:
        for f in list(s.scalars(select(Finding).where(Finding.application_id == app_id, Finding.status == "open"))):
            if f.severity == "critical" or not only_critical:
                service.close_finding(s, user, f.id, sc.CloseFindingIn(evidence="Demo evidence: remediation verified"))

    # -- dates, lists, panel ---------------------------------------------------------------------------

    def spread_dates(self) -> None:
        """Move each application's history into the past so time-in-step figures mean something."""
        with transaction(self.factory) as s:
            for app in s.scalars(select(Application)).unique():
                changes = list(s.scalars(select(StateChange).where(StateChange.application_id == app.id)
                                         .order_by(StateChange.id)))
                at = utcnow() - dt.timedelta(days=self.rng.randint(150, 420))
                app.submitted_at = at
                for change in changes:
                    change.at = at
                    quick = app.deemed and change.to_state == "application_received"  # marked deemed at once
                    at += dt.timedelta(days=self.rng.randint(0, 2) if quick else self.rng.randint(12, 60))
                    at = min(at, utcnow() - dt.timedelta(days=1))
                app.state_since = changes[-1].at
                self._align_records(s, app.id, {c.to_state: c.at for c in changes})

    def _align_records(self, s: Session, app_id: int, at: dict[str, dt.datetime]) -> None:
        """Date inspections, plans, licences, pen tests and assessments to match the moved history."""
        day = dt.timedelta(days=1)
        if "inspection" in at:
            for inspection in service.inspections_for(s, app_id):
                inspection.start_date = (at["inspection"] - 5 * day).date()
                inspection.end_date = (at["inspection"] - day).date()
        for plan in service.plans_for(s, app_id):
            plan.submitted_at = at.get("rectification", plan.submitted_at) + 10 * day
            if plan.decided_at:
                plan.decided_at = at.get("licence_granted", plan.submitted_at + 5 * day) - day
        licence = s.scalar(select(Licence).where(Licence.application_id == app_id))
        if licence and "licence_granted" in at:
            licence.granted_at = at["licence_granted"]
            if licence.restrictions_lifted_at and "fully_licensed" in at:
                licence.restrictions_lifted_at = at["fully_licensed"]
                for restriction in licence.restrictions:
                    restriction.lifted_at = at["fully_licensed"]
        for report in service.pen_tests_for(s, app_id):
            if "restricted_operation" in at:
                report.confirmed_at = at["restricted_operation"]
                report.filed_at = at["restricted_operation"] - 7 * day
        for engagement in service.assessments_for(s, app_id):
            engagement.engaged_at = at.get("external_assessment", engagement.engaged_at)
            if "fully_licensed" in at:
                engagement.filed_at = at["fully_licensed"] - 5 * day
                engagement.decided_at = at["fully_licensed"]

    def lists_and_panel(self, officer: Principal) -> None:
        s = self.session()
        try:
            for name, site, why in (
                ("Demo Golden Junk Crypto", "https://goldenjunk.demo.example", "Claims to be licensed; it is not."),
                ("Demo HK Moon Exchange", "https://hkmoon.demo.example", "Promises guaranteed returns of 3% a day."),
                ("Demo Victoria Yield", "https://victoriayield.demo.example", "Offers staking to Hong Kong retail "
                 "investors without a licence."),
                ("Demo Pearl Swap", "https://pearlswap.demo.example", "Impersonates a licensed platform's website."),
            ):
                register.add_alert_entry(s, officer, sc.AlertEntryIn(name=name, website=site, reason=why))
            done = panel.open_consultation(s, officer, self.ctx.settings, sc.ConsultationIn(
                topic="Admission of stablecoins for trading", deadline=self.today + dt.timedelta(days=1)))
            live = panel.open_consultation(s, officer, self.ctx.settings, sc.ConsultationIn(
                topic="Offering staking services to professional investors",
                deadline=self.today + dt.timedelta(days=30)))
            for code, text in (("HBX", "We support admission subject to reserve attestations published monthly."),
                               ("PEAK", "Only fully reserved stablecoins with a licensed issuer should be admitted."),
                               ("JNK", "We ask for a transition period of six months.")):
                panel.file_response(s, self.platform_principal(code), done.id, sc.ResponseIn(text=text))
            panel.file_response(s, self.platform_principal("PEAK"), live.id,
                                sc.ResponseIn(text="Staking should be limited to tokens on the permitted list."))
            panel.publish_summary(s, officer, done.id, sc.SummaryIn(
                summary="Members support admission of fully reserved stablecoins with monthly attestations; "
                        "one member asked for a transition period."))
        finally:
            s.close()


def seed(ctx: Any) -> str:
    """Demo step: platforms, users, applications at every step, public lists and the panel."""
    seeder = Seeder(ctx)
    cast = demo_platforms()
    with transaction(seeder.factory) as s:
        platforms = {}
        for p in cast:
            row = Platform(code=p.code, legal_name=f"Demo {p.name} Limited", brand=f"Demo {p.name}",
                           website=f"https://{p.code.lower()}.demo.example", is_demo=True)
            s.add(row)
            s.flush()
            platforms[p.code] = row.id
    officer = seeder.users(platforms)["officer"]
    for p in cast:
        seeder.drive(p, platforms[p.code], officer)
    seeder.spread_dates()
    seeder.lists_and_panel(officer)
    ctx.logins.extend([
        ("officer", "licensing_officer", "every application, the pipeline board, the panel; acts on each step"),
        ("supervisor", "supervisor", "every platform's record and the pipeline board (read-only for licensing)"),
        ("compliance", "platform_user", "HBX only (restricted operation): its application, findings, panel"),
        ("assessor", "assessor", "the two platforms assigned: KOWL (external assessment) and PEAK"),
        ("admin", "admin", "everything"),
    ])
    ctx.facts["venues"] = [p.code for p in cast if p.trades]
    ctx.facts["platform_ids"] = platforms
    with transaction(seeder.factory) as s:
        counts = register.counts(s)
    return (f"{len(cast)} demo platforms: {counts['deemed']} deemed to be licensed, {counts['applicants']} awaiting "
            f"approval, {counts['licensed']} licensed ({counts['fully_licensed']} fully), {counts['closed']} closed, "
            f"{counts['closing-down']} closing down; {counts['alert-list']} on the alert list")
