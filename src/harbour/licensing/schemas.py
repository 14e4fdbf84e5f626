"""Typed inputs of every licensing action, shared by the JSON API (request bodies) and the HTML forms
(parsed with :func:`parse`), so both reject bad input the same way and name the field at fault."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from harbour.core.errors import Invalid

AREAS = (
    "custody of client assets", "cybersecurity", "AML/KYC", "governance", "market surveillance",
    "conflicts of interest", "financial resources", "token admission", "risk management",
)
LICENCE_TYPES = ("SFO Type 1 (dealing in securities)", "SFO Type 7 (automated trading services)",
                 "AMLO virtual asset service provider")
RESTRICTION_KINDS = ("no_retail_clients", "no_new_clients", "permitted_tokens", "other")

Text = Field(min_length=1, max_length=20000)
Reason = Field(min_length=3, max_length=2000, description="why: kept in the history and the audit log")
URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*\.[^\s]+$"


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ApplicationIn(Input):
    legal_name: str = Field(min_length=2, max_length=200)
    brand: str = Field(min_length=1, max_length=120)
    website: str = Field(pattern=URL_PATTERN, max_length=300, description="http(s) address of the platform")
    responsible_officers: list[str] = Field(min_length=2, description="at least two responsible officers")
    business_plan: str = Field(min_length=20, max_length=50000)
    licences_applied: list[str] = Field(min_length=1, description=f"any of {', '.join(LICENCE_TYPES)}")
    target_decision_date: dt.date | None = None
    platform_id: int | None = Field(default=None, description="officers only: the applicant platform")
    deemed: bool = Field(default=False, description="officers only: a transitional applicant deemed to be licensed")
    reason: str = Field(default="application submitted", min_length=3, max_length=2000)

    @field_validator("responsible_officers")
    @classmethod
    def _officers(cls, value: list[str]) -> list[str]:
        names = [v.strip() for v in value if v.strip()]
        if len(set(names)) < 2:
            raise ValueError("name at least two different responsible officers")
        return names

    @field_validator("licences_applied")
    @classmethod
    def _licences(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in LICENCE_TYPES]
        if unknown:
            raise ValueError(f"unknown licence type {unknown[0]!r}; choose from {', '.join(LICENCE_TYPES)}")
        return value


class FindingIn(Input):
    area: str
    severity: Literal["critical", "major", "minor"]
    description: str = Field(min_length=5, max_length=5000)
    due_date: dt.date

    @field_validator("area")
    @classmethod
    def _area(cls, value: str) -> str:
        if value not in AREAS:
            raise ValueError(f"unknown area {value!r}; choose from {', '.join(AREAS)}")
        return value


class InspectionIn(Input):
    start_date: dt.date
    end_date: dt.date
    inspectors: list[str] = Field(min_length=1)
    areas: list[str] = Field(min_length=1)
    summary: str = Field(default="", max_length=20000)
    findings: list[FindingIn] = Field(default_factory=list)
    reason: str = Reason

    @field_validator("areas")
    @classmethod
    def _areas(cls, value: list[str]) -> list[str]:
        for area in value:
            FindingIn._area(area)
        return value

    @field_validator("end_date")
    @classmethod
    def _dates(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("start_date")
        if start is not None and value < start:
            raise ValueError("the inspection cannot end before it starts (end_date < start_date)")
        return value


class PlanItemIn(Input):
    finding_id: int
    action: str = Field(min_length=5, max_length=5000)
    owner: str = Field(min_length=2, max_length=120)
    target_date: dt.date


class PlanIn(Input):
    items: list[PlanItemIn] = Field(default_factory=list)
    reason: str = Field(default="rectification plan submitted", min_length=3, max_length=2000)


class PlanDecisionIn(Input):
    decision: Literal["agreed", "returned"]
    comments: str = Field(default="", max_length=20000, validate_default=True)
    reason: str = Reason

    @field_validator("comments")
    @classmethod
    def _comments(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("decision") == "returned" and len(value) < 3:
            raise ValueError("say what the platform must change when returning a plan")
        return value


class ConditionIn(Input):
    text: str = Field(min_length=5, max_length=5000)
    due_date: dt.date | None = None


class LicenceIn(Input):
    conditions: list[ConditionIn] = Field(default_factory=list)
    no_retail_clients: bool = False
    no_new_clients: bool = False
    permitted_tokens: list[str] = Field(default_factory=list)
    other_restrictions: list[str] = Field(default_factory=list)
    reason: str = Reason


class CloseFindingIn(Input):
    evidence: str = Field(min_length=5, max_length=20000)
    reason: str = Field(default="finding closed", min_length=3, max_length=2000)


class ConditionStatusIn(Input):
    status: Literal["open", "met"]
    reason: str = Reason


class PenTestIn(Input):
    firm: str = Field(min_length=2, max_length=200)
    summary: str = Field(min_length=5, max_length=20000)
    reason: str = Field(default="penetration test report filed", min_length=3, max_length=2000)


class EngageIn(Input):
    assessor: str = Field(min_length=1, max_length=80, description="username of the external assessor")
    scope: str = Field(default="", max_length=5000)
    due_date: dt.date | None = None
    reason: str = Reason


class AssessmentReportIn(Input):
    report: str = Field(min_length=10, max_length=50000)
    opinion: Literal["satisfactory", "qualified", "adverse"]
    reason: str = Field(default="assessment report filed", min_length=3, max_length=2000)


class AssessmentDecisionIn(Input):
    decision: Literal["accept", "return"]
    comments: str = Field(default="", max_length=20000)
    reason: str = Reason


class TransitionIn(Input):
    reason: str = Reason


class AlertEntryIn(Input):
    name: str = Field(min_length=2, max_length=200)
    website: str = Field(pattern=URL_PATTERN, max_length=300)
    reason: str = Field(min_length=5, max_length=5000)


class ConsultationIn(Input):
    topic: str = Field(min_length=3, max_length=200)
    deadline: dt.date
    reason: str = Field(default="consultation opened", min_length=3, max_length=2000)


class ResponseIn(Input):
    text: str = Field(min_length=5, max_length=50000)


class SummaryIn(Input):
    summary: str = Field(min_length=10, max_length=50000)


def parse(model: type[Input], data: dict[str, Any]) -> Any:
    """Validate ``data`` into ``model`` or raise ``Invalid`` naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "input", "reason": err["msg"]}
            for err in exc.errors()
        ]
        first = problems[0]
        raise Invalid(f"{first['field']}: {first['reason']}", field=first["field"], details=problems) from exc
