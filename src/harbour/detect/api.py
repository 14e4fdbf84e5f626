"""JSON API of surveillance: start a run, list and read alerts. Thin: parse, call the service, present."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from harbour.core.http import CurrentPrincipal, DbSession
from harbour.detect import service

router = APIRouter(prefix="/api", tags=["surveillance"])


class RunIn(BaseModel):
    """A surveillance run over the platform's lake. A platform user's run is limited to their own venue."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    venues: list[str] = Field(default_factory=list, description="venue codes (default: all you may survey)")
    detectors: list[str] = Field(default_factory=list, description="detector names (default: all registered)")
    start: AwareDatetime | None = Field(None, alias="from", description="window start (inclusive), with zone")
    end: AwareDatetime | None = Field(None, alias="to", description="window end (exclusive), with zone")


@router.post("/surveillance/runs", status_code=201)
def create_run(body: RunIn, request: Request, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Run the detectors now and store their alerts; returns the run's counts per detector."""
    req = service.RunRequest(body.venues, body.detectors, body.start, body.end)
    summary = service.run_surveillance(session, principal, request.app.state.settings.lake_root, req,
                                       workers=service.default_workers())
    return summary.__dict__


@router.get("/alerts")
def list_alerts(
    session: DbSession,
    principal: CurrentPrincipal,
    typology: str | None = None,
    detector: str | None = None,
    venue: str | None = None,
    status: str | None = None,
    start: dt.datetime | None = Query(None, alias="from", description="alerts ending at or after (ISO, with zone)"),
    end: dt.datetime | None = Query(None, alias="to", description="alerts starting before (ISO, with zone)"),
    min_score: float | None = Query(None, ge=0, le=1),
    page: int = Query(1, ge=1),
    page_size: int = Query(50, ge=1, le=service.MAX_PAGE_SIZE),
) -> dict[str, Any]:
    """Alerts you may see (a platform user: their own platform's), highest score first."""
    filters = service.AlertFilters(typology, detector, venue, status, start, end, min_score, page, page_size)
    result = service.list_alerts(session, principal, filters)
    return {"items": [service.alert_to_dict(a) for a in result.items], "total": result.total,
            "page": result.page, "page_size": result.page_size}


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: str, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    return service.alert_to_dict(service.get_alert(session, principal, alert_id))
