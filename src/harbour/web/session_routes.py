"""Login and logout (pages, session cookie) and API tokens (bearer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from harbour.core.auth import authenticate, issue_token, revoke_token
from harbour.core.db import unit_of_work
from harbour.core.errors import Unauthenticated
from harbour.core.http import (
    SESSION_COOKIE,
    CurrentPrincipal,
    DbSession,
    LoggedIn,
    cookie_serializer,
    render,
)

router = APIRouter()


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    platform_id: int | None


class WhoAmI(BaseModel):
    username: str
    role: str
    platform_id: int | None
    assessor_platform_ids: list[int]


@router.post("/api/auth/token", response_model=TokenResponse, tags=["auth"])
def create_api_token(body: TokenRequest, request: Request, session: DbSession) -> TokenResponse:
    """Exchange a username and password for a bearer token."""
    with unit_of_work(session):
        user = authenticate(session, body.username, body.password)
        token = issue_token(session, user, "api", request.app.state.settings.session_hours)
    return TokenResponse(access_token=token, role=user.role, platform_id=user.platform_id)


@router.get("/api/auth/me", response_model=WhoAmI, tags=["auth"])
def who_am_i(principal: LoggedIn) -> WhoAmI:
    return WhoAmI(
        username=principal.username,
        role=str(principal.role),
        platform_id=principal.platform_id,
        assessor_platform_ids=sorted(principal.assessor_platform_ids),
    )


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, principal: CurrentPrincipal, next: str = "/") -> HTMLResponse:
    return render(request, "web/login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
):  # type: ignore[no-untyped-def]
    try:
        with unit_of_work(session):
            user = authenticate(session, username, password)
            token = issue_token(session, user, "session", request.app.state.settings.session_hours)
    except Unauthenticated as exc:
        context = {"next": _safe_next(next), "error": exc.message, "username": username}
        return render(request, "web/login.html", context, 401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie_serializer(request).dumps(token),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=request.app.state.settings.session_hours * 3600,
    )
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: DbSession) -> RedirectResponse:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        try:
            token = cookie_serializer(request).loads(raw)
            with unit_of_work(session):
                revoke_token(session, str(token))
        except Exception:  # a bad or expired cookie is simply dropped
            pass
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _safe_next(target: str) -> str:
    # Only same-site relative paths: never an open redirect.
    return target if target.startswith("/") and not target.startswith("//") else "/"
