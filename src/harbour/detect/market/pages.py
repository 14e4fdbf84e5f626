"""Pages of the market-abuse feature: the venue authenticity report (Benford, round sizes, power-law tail)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from harbour.core.auth import Role
from harbour.core.http import CurrentPrincipal, DbSession, register_nav, render
from harbour.detect.market import authenticity_charts as charts
from harbour.detect.market.authenticity_service import authenticity_report

router = APIRouter(include_in_schema=False)

register_nav("Authenticity", "/surveillance/authenticity", {Role.SUPERVISOR, Role.ADMIN, Role.PLATFORM_USER},
             order=38)


@router.get("/surveillance/authenticity", response_class=HTMLResponse)
def authenticity_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    venue = request.query_params.get("venue") or None
    reports = authenticity_report(session, principal, request.app.state.settings.lake_root, venue)
    return render(request, "detect_market/authenticity.html", {"reports": reports, "charts": charts,
                                                               "venue": venue})
