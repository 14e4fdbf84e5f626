"""The FastAPI application: assembles every feature's routers, the static files and the error handler.

``web`` only assembles; each feature's routes live beside it (``licensing/api.py``, ``licensing/pages.py``).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harbour import __version__
from harbour.core.config import Settings, get_settings
from harbour.core.db import make_engine, make_session_factory
from harbour.core.errors import HarbourError
from harbour.core.http import SESSION_COOKIE, build_template_env, harbour_error_handler, validation_error_handler

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Every module here exposes ``router``; the order decides which route wins on a clash (none should).
FEATURE_ROUTERS = (
    "harbour.detect.realtime.api",  # first: route matching is linear, and this path is the hot one
    "harbour.web.session_routes",
    "harbour.licensing.api",
    "harbour.licensing.pages",
    "harbour.data.api",
    "harbour.detect.api",
    "harbour.detect.pages",
    "harbour.detect.market.pages",
    "harbour.detect.screening.api",
    "harbour.detect.screening.pages",
    "harbour.cases.api",
    "harbour.cases.pages",
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app. Refuses to start outside demo mode without a proper secret key."""
    settings = settings or get_settings()
    secret_key = settings.effective_secret_key()
    app = FastAPI(
        title="Harbour",
        version=__version__,
        description="Supervision of virtual-asset trading platforms: licensing, surveillance, AML, cases.",
        docs_url="/docs",
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.secret_key = secret_key
    app.state.engine = engine or make_engine(settings.database_url)
    app.state.session_factory = make_session_factory(app.state.engine)
    app.state.templates = build_template_env()
    app.add_exception_handler(HarbourError, harbour_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_middleware(SameOriginGuard)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module_name in FEATURE_ROUTERS:
        app.include_router(importlib.import_module(module_name).router)
    return app


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
CROSS_SITE_MESSAGE = "cross-site request refused: submit the form from Harbour itself"


class SameOriginGuard:
    """CSRF defence for cookie-authenticated writes: a state-changing request that carries the session
    cookie must come from our own origin (Origin or Referer header). Bearer-token API calls are exempt: a
    browser never attaches that header by itself. Also adds the security headers to every response.

    A plain ASGI middleware rather than ``@app.middleware("http")``: the latter wraps every request and
    response in extra objects and tasks, which cost a third of a real-time scoring request's CPU."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS and self._cross_site_cookie_write(scope):
            response = JSONResponse({"error": "forbidden", "message": CROSS_SITE_MESSAGE}, status_code=403)
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _cross_site_cookie_write(scope: Scope) -> bool:
        request = Request(scope)
        if SESSION_COOKIE not in request.cookies:
            return False
        if request.headers.get("authorization", "").lower().startswith("bearer "):
            return False
        source = request.headers.get("origin") or request.headers.get("referer")
        return not source or urlsplit(source).netloc != request.url.netloc
