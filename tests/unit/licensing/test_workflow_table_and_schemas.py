"""The transition table and the typed inputs, without a database."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbour.core.auth import Role
from harbour.core.errors import Invalid
from harbour.licensing import schemas as sc
from harbour.licensing.register import CSV_COLUMNS, to_csv
from harbour.licensing.workflow import LABELS, MAIN_PATH, OPEN_STEPS, TRANSITIONS, State


def test_every_state_is_reachable_from_an_application():
    reached = {State.APPLICATION_RECEIVED}
    changed = True
    while changed:
        changed = False
        for t in TRANSITIONS.values():
            if reached & set(t.sources) and t.target not in reached:
                reached.add(t.target)
                changed = True
    assert reached == set(State)
    assert set(LABELS) == set(State)


def test_main_path_is_a_chain_of_single_transitions():
    for here, there in zip(MAIN_PATH, MAIN_PATH[1:], strict=False):
        assert any(here in t.sources and t.target == there for t in TRANSITIONS.values()), (here, there)


def test_licensing_steps_belong_to_officers_and_withdrawal_to_the_platform():
    for name, t in TRANSITIONS.items():
        expected = {Role.PLATFORM_USER} if name == "withdraw" else {Role.LICENSING_OFFICER, Role.ADMIN}
        assert set(t.roles) == expected, name
    assert TRANSITIONS["withdraw"].sources == OPEN_STEPS


def test_full_licence_guards_cover_every_precondition():
    guards = {g.__name__ for g in TRANSITIONS["lift_restrictions"].guards}
    assert guards == {"has_inspection", "plan_agreed", "critical_findings_closed", "pen_test_confirmed",
                      "assessment_filed"}
    assert "plan_agreed" in {g.__name__ for g in TRANSITIONS["grant_licence"].guards}


VALID = {
    "legal_name": "Acme Ltd", "brand": "Acme", "website": "https://acme.example",
    "responsible_officers": ["A Chan", "B Lee"], "business_plan": "Spot trading for professional investors.",
    "licences_applied": [sc.LICENCE_TYPES[0]],
}


@pytest.mark.parametrize(("change", "field"), [
    ({"responsible_officers": ["A Chan"]}, "responsible_officers"),
    ({"responsible_officers": ["A Chan", " ", "A Chan"]}, "responsible_officers"),
    ({"website": "ftp://acme.example"}, "website"),
    ({"business_plan": "short"}, "business_plan"),
    ({"licences_applied": []}, "licences_applied"),
    ({"brand": ""}, "brand"),
])
def test_application_input_names_the_bad_field(change, field):
    with pytest.raises(Invalid) as info:
        sc.parse(sc.ApplicationIn, {**VALID, **change})
    assert info.value.field == field
    assert field in info.value.message


def test_returning_a_plan_needs_comments_and_inspection_dates_must_be_ordered():
    with pytest.raises(Invalid) as info:
        sc.parse(sc.PlanDecisionIn, {"decision": "returned", "reason": "not good"})
    assert info.value.field == "comments"
    with pytest.raises(Invalid) as info:
        sc.parse(sc.InspectionIn, {"start_date": "2030-01-02", "end_date": "2030-01-01", "inspectors": ["I"],
                                   "areas": ["governance"], "reason": "visit"})
    assert info.value.field == "end_date"


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
                        max_size=30), min_size=4, max_size=4))
def test_csv_export_round_trips_and_never_starts_a_cell_with_a_formula(values):
    row = {"platform": values[0], "legal_name": values[1], "brand": values[2], "website": values[3],
           "status": "Applicant", "since": "2026-01-01", "licence_number": None,
           "conditions": [{"text": values[1], "status": "open"}], "restrictions": []}
    parsed = list(csv.reader(io.StringIO(to_csv("applicants", [row]), newline="")))
    assert parsed[0] == list(CSV_COLUMNS)
    cells = dict(zip(CSV_COLUMNS, parsed[1], strict=True))
    for key in ("platform", "legal_name", "brand", "website"):
        assert cells[key][:1] not in ("=", "+", "-", "@")
        assert cells[key].removeprefix("'") == row[key] or cells[key] == row[key]
