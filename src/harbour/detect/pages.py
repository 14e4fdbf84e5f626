"""Pages of surveillance: the alert list, one page per alert with its evidence chart, the detector catalogue,
and the form that starts a run. Thin: parse, call the service, render."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from harbour.core.auth import Role
from harbour.core.errors import Invalid
from harbour.core.http import CurrentPrincipal, DbSession, register_nav, render
from harbour.detect import service
from harbour.detect.charts import market_chart, transfer_chart

router = APIRouter(include_in_schema=False)

register_nav("Alerts", "/alerts", {Role.SUPERVISOR, Role.ADMIN, Role.PLATFORM_USER}, order=30)
register_nav("Detectors", "/detectors", {Role.SUPERVISOR, Role.ADMIN, Role.PLATFORM_USER}, order=36)

PAGE_SIZE = 200


def _float(value: str | None, name: str) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise Invalid(f"{name} must be a number between 0 and 1", field=name) from exc


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    q = request.query_params
    page = int(q.get("page", "1")) if q.get("page", "1").isdigit() else 1
    filters = service.AlertFilters(q.get("typology") or None, q.get("detector") or None, q.get("venue") or None,
                                   q.get("status") or None, None, None, _float(q.get("min_score"), "min_score"),
                                   page, PAGE_SIZE)
    result = service.list_alerts(session, principal, filters)
    return render(request, "detect/alerts.html", {
        "result": result, "filters": filters, "facets": service.alert_facets(session, principal),
        "can_run": principal.role in service.RUN_ROLES, "run": q.get("run"),
        "pages": max(1, -(-result.total // PAGE_SIZE)),
    })


@router.post("/alerts/run")
async def run_page(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    form = await request.form()
    venue = str(form.get("venue") or "").strip()
    req = service.RunRequest([venue] if venue else [], [])
    summary = service.run_surveillance(session, principal, request.app.state.settings.lake_root, req,
                                       workers=service.default_workers())
    return RedirectResponse(f"/alerts?run={summary.run_id}&new={summary.inserted}", status_code=303)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(alert_id: str, request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    alert = service.get_alert(session, principal, alert_id)
    evidence = service.load_evidence(request.app.state.settings.lake_root, alert)
    window = (evidence.context_start, evidence.context_end)
    span = (alert.start, alert.end)
    if alert.symbol:
        chart = market_chart(evidence.series, evidence.trades, evidence.orders, span, window,
                             title=f"{alert.symbol} on {alert.venue}: price and volume, evidence marked")
    else:
        chart = transfer_chart(evidence.context_transfers or evidence.transfers, set(alert.evidence_ids), span, window,
                               title=f"transfers on {alert.venue} named by the alert")
    return render(request, "detect/alert.html", {"alert": alert, "evidence": evidence, "chart": chart})


@router.get("/detectors", response_class=HTMLResponse)
def detectors_page(request: Request, principal: CurrentPrincipal) -> Response:
    from harbour.core.auth import require_role

    require_role(principal, *service.READ_ROLES)
    return render(request, "detect/detectors.html", {"detectors": service.detector_catalogue()})
