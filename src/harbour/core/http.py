"""HTTP plumbing shared by every feature's routes: the request's database session and principal,
templates, navigation and the one error handler. Features import from here; ``web`` assembles."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker

from harbour.core.auth import PUBLIC, Principal, Role, principal_from_token
from harbour.core.errors import HarbourError, Unauthenticated

log = logging.getLogger(__name__)

SESSION_COOKIE = "harbour_session"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


# --- navigation --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    roles: frozenset[Role]
    order: int = 50


_NAV: dict[str, NavItem] = {}


def register_nav(label: str, href: str, roles: set[Role] | frozenset[Role], order: int = 50) -> None:
    """Add a link to the top navigation for the given roles (Role.PUBLIC means everyone)."""
    _NAV[href] = NavItem(label, href, frozenset(roles), order)


def nav_for(principal: Principal) -> list[NavItem]:
    items = [i for i in _NAV.values() if Role.PUBLIC in i.roles or principal.role in i.roles]
    return sorted(items, key=lambda i: (i.order, i.label))


def active_nav_href(items: list[NavItem], path: str) -> str | None:
    """The one nav link to highlight: the longest href that is the path or a folder above it."""
    matches = [i.href for i in items if path == i.href or (i.href != "/" and path.startswith(i.href.rstrip("/") + "/"))]
    return max(matches, key=len) if matches else None


# --- templates ---------------------------------------------------------------------------------------


def build_template_env() -> Environment:
    """One Jinja2 environment over every ``templates/`` folder in the package (features and sub-features);
    names are prefixed (``licensing/board.html`` lives in ``licensing/templates/licensing/board.html``)."""
    folders = [str(p) for p in sorted(PACKAGE_ROOT.rglob("templates")) if p.is_dir()]
    env = Environment(loader=FileSystemLoader(folders), autoescape=select_autoescape(["html", "xml"]))
    env.filters["dt"] = _format_dt
    env.filters["date"] = _format_date
    env.globals["now"] = lambda: dt.datetime.now(dt.UTC)
    return env


def _format_dt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def _format_date(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    return str(value)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    env: Environment = request.app.state.templates
    principal = getattr(request.state, "principal", PUBLIC)
    nav = nav_for(principal)
    ctx = {
        "request": request,
        "principal": principal,
        "nav": nav,
        "active_nav": active_nav_href(nav, request.url.path),
        "demo_mode": request.app.state.settings.demo_mode,
        "path": request.url.path,
    }
    ctx.update(context or {})
    return HTMLResponse(env.get_template(template).render(ctx), status_code=status_code)


# --- request dependencies ----------------------------------------------------------------------------


def get_session(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    try:
        yield session
    finally:
        session.rollback()  # anything a service did not commit is discarded
        session.close()


DbSession = Annotated[Session, Depends(get_session)]


def cookie_serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.secret_key, salt="harbour-session")


def get_principal(request: Request, session: DbSession) -> Principal:
    """The caller: a bearer token (API), else the signed session cookie (pages), else the public."""
    token = _bearer_token(request) or _cookie_token(request)
    principal = principal_from_token(session, token) if token else None
    principal = principal or PUBLIC
    request.state.principal = principal
    return principal


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def _cookie_token(request: Request) -> str | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    max_age = request.app.state.settings.session_hours * 3600
    try:
        return str(cookie_serializer(request).loads(raw, max_age=max_age))
    except BadSignature:
        return None


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_login(principal: CurrentPrincipal) -> Principal:
    if not principal.is_authenticated:
        raise Unauthenticated("log in to see this page")
    return principal


LoggedIn = Annotated[Principal, Depends(require_login)]


# --- errors ------------------------------------------------------------------------------------------


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api") or "application/json" in request.headers.get("accept", "")


async def harbour_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HarbourError)
    if wants_json(request):
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)
    if isinstance(exc, Unauthenticated):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return render(request, "web/error.html", {"error": exc}, status_code=exc.status_code)


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")),
         "reason": err.get("msg", "invalid")}
        for err in exc.errors()
    ]
    first = problems[0] if problems else {"field": None, "reason": "invalid input"}
    error = HarbourError(f"{first['field']}: {first['reason']}", field=first["field"], details=problems)
    error.status_code, error.category = 422, "invalid"
    return await harbour_error_handler(request, error)
