"""Screening JSON API: lists (upload a new version, which re-screens everyone), ad-hoc name and address
checks, the hits queue and decisions. Routes parse, call one service function, present."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from harbour.core.errors import TooLarge
from harbour.core.http import CurrentPrincipal, DbSession
from harbour.detect.screening import service

router = APIRouter(prefix="/api/screening", tags=["screening"])


class ListOut(BaseModel):
    id: int
    name: str
    kind: str
    threshold: float
    current_version: int
    description: str


class RescreenOut(BaseModel):
    subjects: int
    new_hits: int
    reopened: int
    stale: int
    kept: int


class LoadOut(BaseModel):
    list_id: int
    name: str
    version: int
    entries: int
    rescreen: RescreenOut


class NameCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=400)
    lists: list[Annotated[str, Field(min_length=1, max_length=80)]] | None = Field(default=None, max_length=50)
    threshold: float | None = Field(default=None, ge=0.5, le=1.0)


class AddressCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chain: str = Field(min_length=2, max_length=20)
    address: str = Field(min_length=1, max_length=200)


class MatchOut(BaseModel):
    list_name: str
    list_kind: str
    entry_key: str
    entry_name: str
    matched_name: str
    score: float


class HitOut(BaseModel):
    id: int
    list_name: str
    version: int
    entry_key: str
    entry_name: str
    subject_kind: str
    subject: str
    subject_name: str
    venue: str
    score: float
    status: str
    created_at: dt.datetime


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["true_match", "false_positive"]
    reason: str = Field(min_length=3, max_length=2000)


def _list_out(wl: object) -> ListOut:
    return ListOut.model_validate(wl, from_attributes=True)


@router.get("/lists", response_model=list[ListOut])
def get_lists(session: DbSession, principal: CurrentPrincipal) -> list[ListOut]:
    """Every watch list and its current version."""
    return [_list_out(wl) for wl in service.list_lists(session, principal)]


@router.post("/lists", response_model=LoadOut, status_code=201)
async def upload_list(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    file: UploadFile = File(..., description="targets.simple.csv, a names CSV or an addresses CSV"),
    name: str = Form(..., min_length=1, max_length=80),
    kind: Literal["sanctions", "pep", "watch", "crypto"] = Form(...),
    threshold: float | None = Form(None, ge=0.5, le=1.0),
    fmt: Literal["opensanctions", "names", "addresses"] | None = Form(None),
) -> LoadOut:
    """Load a new version of a list (created on first load); every customer is then screened again."""
    limit = request.app.state.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"file: the list is larger than the limit of {limit:,} bytes", field="file")
    result = service.load_list(
        session, principal, name=name, kind=kind, data=data, source_name=file.filename or "upload.csv", fmt=fmt,
        threshold=threshold, lake_root=request.app.state.settings.lake_root,
    )
    return LoadOut(list_id=result.list_id, name=result.name, version=result.version, entries=result.entries,
                   rescreen=RescreenOut(**result.rescreen.__dict__))


@router.post("/check/name", response_model=list[MatchOut])
def check_name(body: NameCheck, session: DbSession, principal: CurrentPrincipal) -> list[MatchOut]:
    """Screen one name against the lists now (nothing is recorded)."""
    results = service.screen_name(session, principal, body.name, body.lists, body.threshold)
    return [MatchOut(**r.__dict__) for r in results]


@router.post("/check/address", response_model=list[MatchOut])
def check_address(body: AddressCheck, session: DbSession, principal: CurrentPrincipal) -> list[MatchOut]:
    """Exact match of one address, after normalising it for its chain."""
    return [MatchOut(**r.__dict__) for r in service.screen_address(session, principal, body.chain, body.address)]


@router.get("/hits", response_model=list[HitOut])
def get_hits(
    session: DbSession,
    principal: CurrentPrincipal,
    status: Literal["open", "true_match", "false_positive", "stale"] | None = Query(None),
    list_id: int | None = Query(None, ge=1, le=2**31 - 1),
    limit: int = Query(200, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10**6),
) -> list[HitOut]:
    """The hits queue: open hits first, highest score first; platform users see their own platform's."""
    rows = service.list_hits(session, principal, status=status, list_id=list_id, limit=limit, offset=offset)
    return [_hit_out(hit, list_name) for hit, list_name in rows]


def _hit_out(hit: object, list_name: str) -> HitOut:
    data = {k: getattr(hit, k) for k in HitOut.model_fields if k != "list_name"}
    return HitOut(list_name=list_name, **data)


@router.post("/hits/{hit_id}/decision", response_model=HitOut)
def decide(hit_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: DecisionIn, session: DbSession,
           principal: CurrentPrincipal) -> HitOut:
    """Record a decision on a hit: true match or false positive, with the reason."""
    hit = service.decide_hit(session, principal, hit_id, body.decision, body.reason)
    wl = service.get_list(session, principal, hit.list_id)
    return _hit_out(hit, wl.name)
