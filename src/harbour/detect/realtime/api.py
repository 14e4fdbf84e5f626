"""``POST /api/transfers/score``: score one transfer now, against recent history.

The history lives in memory (``state.py``), rebuilt from the lake at start-up (the router's lifespan;
or at the first request when the app runs without one) and updated by every scored transfer. The route
is ``async`` and does no I/O on the hot path: the caller's token is resolved once and cached for
``TOKEN_CACHE_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from harbour.core.auth import Principal, Role, principal_from_token, require_role
from harbour.core.errors import Conflict, HarbourError, Invalid, NotFound, Unauthenticated
from harbour.core.tenancy import Platform
from harbour.detect.realtime.scoring import RealtimeConfig, Transfer, score
from harbour.detect.realtime.state import TransferState
from harbour.detect.screening.addresses import split_party

log = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Rebuild the history at start-up, so the first scored transfer does not wait for it."""
    try:
        await run_in_threadpool(build_state, app)
    except Exception:  # a start-up problem must not take the whole platform down: build on first use
        log.exception("real-time state could not be built at start-up; it will be built on the first request")
    yield


router = APIRouter(tags=["real-time"], lifespan=_lifespan)

SCORERS = (Role.PLATFORM_USER, Role.SUPERVISOR, Role.ADMIN)
TOKEN_CACHE_SECONDS = 30.0
LISTS_REFRESH_SECONDS = 30.0
MAX_BATCH = 1000

Text = Annotated[str, Field(min_length=1, max_length=200, strict=True)]
OptionalText = Annotated[str | None, Field(default=None, max_length=200, strict=True)]
Party = Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+:\S+$", strict=True)]
Money = Annotated[float, Field(strict=True, ge=0, le=1e15)]


class TransferIn(BaseModel):
    """One transfer in the canonical ``transfers`` shape (see docs/data-contracts in DESIGN.md)."""

    model_config = ConfigDict(extra="forbid")

    venue: Annotated[str, Field(min_length=1, max_length=40, strict=True)]
    transfer_id: Text
    ts: dt.datetime
    asset: Annotated[str, Field(min_length=1, max_length=20, strict=True)]
    amount: Annotated[float, Field(strict=True, gt=0, le=1e15)]
    usd_value: Money
    kind: Literal["deposit", "withdrawal", "internal", "onchain"]
    from_party: Party
    to_party: Party
    tx_hash: OptionalText = None
    originator_name: OptionalText = None
    originator_account: OptionalText = None
    beneficiary_name: OptionalText = None
    beneficiary_account: OptionalText = None
    counterparty_vasp: OptionalText = None

    @field_validator("ts")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("give the time zone, e.g. 2026-01-05T10:00:00Z")
        return value

    @field_validator("amount", "usd_value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class ReasonOut(BaseModel):
    rule: str
    action: Literal["review", "block"]
    detail: str
    value: float
    limit: float


class ScoreOut(BaseModel):
    transfer_id: str
    decision: Literal["allow", "review", "block"]
    score: float
    reasons: list[ReasonOut]


class _Runtime:
    """Per-app real-time state: the history, the token cache and the lists' refresh time."""

    def __init__(self) -> None:
        self.state: TransferState | None = None
        self.config = RealtimeConfig()
        self.build_lock = threading.Lock()
        self.tokens: dict[str, tuple[float, Principal, str | None]] = {}
        self.lists_loaded_at = 0.0


def runtime(app: FastAPI) -> _Runtime:
    app_state = app.state
    if not hasattr(app_state, "realtime"):
        app_state.realtime = _Runtime()
    return app_state.realtime  # type: ignore[no-any-return]


def build_state(app: FastAPI) -> TransferState:
    """The history, built from the lake at start-up or on first use (one builder; others wait)."""
    rt = runtime(app)
    if rt.state is not None:
        return rt.state
    with rt.build_lock:
        if rt.state is None:
            rt.state = TransferState.from_lake(app.state.settings.lake_root, listed=_listed(app))
            rt.lists_loaded_at = time.monotonic()
    return rt.state


def _listed(app: FastAPI) -> set[str]:
    from harbour.detect.screening.service import listed_addresses

    with app.state.session_factory() as session:
        return set(listed_addresses(session))


async def _principal(request: Request) -> tuple[Principal, str | None]:
    """The caller (bearer token) and their platform's code; cached so the hot path does no database I/O."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not token:
        raise Unauthenticated("send an API token: Authorization: Bearer <token> (POST /api/auth/token)")
    key = hashlib.sha256(token.encode()).hexdigest()
    rt = runtime(request.app)
    cached = rt.tokens.get(key)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1], cached[2]
    principal, code = await run_in_threadpool(_resolve_token, request, token)
    if len(rt.tokens) > 10_000:
        rt.tokens.clear()
    rt.tokens[key] = (now + TOKEN_CACHE_SECONDS, principal, code)
    return principal, code


def _resolve_token(request: Request, token: str) -> tuple[Principal, str | None]:
    with request.app.state.session_factory() as session:
        principal = principal_from_token(session, token)
        if principal is None:
            raise Unauthenticated("the API token is unknown or expired; get a new one from POST /api/auth/token")
        code = None
        if principal.platform_id is not None:
            code = session.scalar(select(Platform.code).where(Platform.id == principal.platform_id))
        return principal, code


def check_parties(state: TransferState, body: TransferIn) -> None:
    """Each side is a known account of a known venue or an address on a known chain; else a 4xx naming it."""
    if body.venue not in state.venues:
        raise NotFound(f"venue {body.venue!r} has no accounts in Harbour; load its accounts first", field="venue")
    for field_name in ("from_party", "to_party"):
        party: str = getattr(body, field_name)
        prefix = party.split(":", 1)[0]
        if prefix in state.venues:
            if party not in state.accounts:
                raise Invalid(f"{field_name}: account {party.split(':', 1)[1]!r} is unknown on venue {prefix}",
                              field=field_name)
        elif split_party(party) is None:
            raise Invalid(f"{field_name}: {prefix!r} is neither a venue in Harbour nor a known chain; write "
                          "venue:account or chain:address (e.g. eth:0x…)", field=field_name)


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transfers: list[TransferIn] = Field(min_length=1, max_length=MAX_BATCH)


class BatchOut(BaseModel):
    results: list[ScoreOut]


async def _ready_state(request: Request, venues: set[str]) -> tuple[_Runtime, TransferState]:
    """Authenticate, check the venue(s) are the caller's, and return the (built, refreshed) state."""
    principal, platform_code = await _principal(request)
    require_role(principal, *SCORERS)
    if principal.role == Role.PLATFORM_USER and venues - {platform_code}:
        raise NotFound(f"venue {sorted(venues - {platform_code})[0]!r} is not yours to score", field="venue")
    rt = runtime(request.app)
    state = rt.state if rt.state is not None else await run_in_threadpool(build_state, request.app)
    if time.monotonic() - rt.lists_loaded_at > LISTS_REFRESH_SECONDS:
        rt.lists_loaded_at = time.monotonic()
        state.listed = await run_in_threadpool(_listed, request.app)
    return rt, state


def _score_one(rt: _Runtime, state: TransferState, body: TransferIn) -> ScoreOut:
    transfer = Transfer(
        body.venue, body.transfer_id, body.ts.timestamp(), body.usd_value, body.kind, body.from_party, body.to_party,
        body.originator_name, body.originator_account, body.beneficiary_name, body.beneficiary_account,
        body.counterparty_vasp,
    )
    result = score(state, transfer, rt.config)
    state.add(body.venue, body.transfer_id, transfer.ts, body.usd_value, body.from_party, body.to_party)
    return ScoreOut(
        transfer_id=body.transfer_id, decision=result.decision, score=result.score,  # type: ignore[arg-type]
        reasons=[ReasonOut(rule=r.rule, action=r.action, detail=r.detail, value=r.value, limit=r.limit)  # type: ignore[arg-type]
                 for r in result.reasons],
    )


def _check_new(state: TransferState, body: TransferIn, field: str = "transfer_id") -> None:
    if state.seen(body.venue, body.transfer_id):
        raise Conflict(f"transfer {body.transfer_id!r} of {body.venue} was already scored", field=field)


@router.post("/api/transfers/score", response_model=ScoreOut)
async def score_transfer(body: TransferIn, request: Request) -> ScoreOut:
    """Score one transfer: allow, review or block, with the rules that fired and their numbers."""
    rt, state = await _ready_state(request, {body.venue})
    check_parties(state, body)
    _check_new(state, body)
    return _score_one(rt, state, body)


@router.post("/api/transfers/score/batch", response_model=BatchOut)
async def score_batch(body: BatchIn, request: Request) -> BatchOut:
    """Score up to 1,000 transfers in order (each sees the ones before it). Every transfer is checked
    first, so one bad transfer rejects the batch and nothing is remembered."""
    rt, state = await _ready_state(request, {t.venue for t in body.transfers})
    ids: set[tuple[str, str]] = set()
    for i, transfer in enumerate(body.transfers):
        try:
            check_parties(state, transfer)
        except HarbourError as exc:
            exc.field, exc.message = f"transfers.{i}.{exc.field}", f"transfers.{i}: {exc.message}"
            raise
        _check_new(state, transfer, f"transfers.{i}.transfer_id")
        if (transfer.venue, transfer.transfer_id) in ids:
            raise Conflict(f"transfers.{i}: transfer {transfer.transfer_id!r} appears twice in the batch",
                           field=f"transfers.{i}.transfer_id")
        ids.add((transfer.venue, transfer.transfer_id))
    return BatchOut(results=[_score_one(rt, state, t) for t in body.transfers])
