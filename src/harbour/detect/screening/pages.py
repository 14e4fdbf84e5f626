"""Screening pages: the hits queue, a hit with its decision form, and the lists with their upload form.

Routes parse the form, call one service function and redirect (post/redirect/get); errors are shown by
the shared error page with the field named.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import UploadFile

from harbour.core.auth import Role
from harbour.core.errors import Invalid, TooLarge
from harbour.core.http import DbSession, LoggedIn, register_nav, render
from harbour.detect.screening import service
from harbour.detect.screening.models import HIT_STATUSES, LIST_KINDS

router = APIRouter(include_in_schema=False)
register_nav("Screening", "/screening", {Role.SUPERVISOR, Role.ADMIN, Role.PLATFORM_USER}, order=45)


@router.get("/screening", response_class=HTMLResponse)
def hits_page(request: Request, session: DbSession, principal: LoggedIn, status: str | None = None) -> HTMLResponse:
    rows = service.list_hits(session, principal, status=status or None, limit=500)
    counts = service.hit_counts(session, principal)
    return render(request, "screening/hits.html", {"rows": rows, "counts": counts, "statuses": HIT_STATUSES,
                                                   "status": status})


@router.get("/screening/hits/{hit_id}", response_class=HTMLResponse)
def hit_page(request: Request, hit_id: int, session: DbSession, principal: LoggedIn) -> HTMLResponse:
    hit = service.get_hit(session, principal, hit_id)
    wl = service.get_list(session, principal, hit.list_id)
    can_decide = principal.role in service.DECIDERS and hit.status != "stale"
    decisions = service.decisions_for(session, hit)
    return render(request, "screening/hit.html", {"hit": hit, "wl": wl, "decisions": decisions,
                                                  "can_decide": can_decide})


@router.post("/screening/hits/{hit_id}/decision")
async def decide_page(request: Request, hit_id: int, session: DbSession, principal: LoggedIn) -> RedirectResponse:
    async with request.form() as form:
        decision, reason = str(form.get("decision") or ""), str(form.get("reason") or "")
    service.decide_hit(session, principal, hit_id, decision, reason)
    return RedirectResponse(f"/screening/hits/{hit_id}", status_code=303)


@router.get("/screening/lists", response_class=HTMLResponse)
def lists_page(request: Request, session: DbSession, principal: LoggedIn) -> HTMLResponse:
    lists = service.list_lists(session, principal)
    versions = {wl.id: service.list_versions(session, wl)[:5] for wl in lists}
    return render(request, "screening/lists.html", {"lists": lists, "versions": versions, "kinds": LIST_KINDS,
                                                    "can_load": principal.role in service.LIST_MANAGERS})


@router.post("/screening/lists")
async def upload_page(request: Request, session: DbSession, principal: LoggedIn) -> RedirectResponse:
    limit = request.app.state.settings.max_upload_bytes
    async with request.form() as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise Invalid("file: choose a list file to upload", field="file")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(f"file: the list is larger than the limit of {limit:,} bytes", field="file")
        threshold_text = str(form.get("threshold") or "").strip()
        try:
            threshold = float(threshold_text) if threshold_text else None
        except ValueError as exc:
            raise Invalid(f"threshold: {threshold_text!r} is not a number", field="threshold") from exc
        service.load_list(session, principal, name=str(form.get("name") or "").strip(),
                          kind=str(form.get("kind") or ""), data=data, source_name=upload.filename,
                          fmt=str(form.get("format") or "") or None,
                          threshold=threshold, lake_root=request.app.state.settings.lake_root)
    return RedirectResponse("/screening/lists", status_code=303)
