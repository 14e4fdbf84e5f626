"""Data routes: ``POST /api/ingest/{table}`` (upload files into the lake) and ``GET /api/lake/summary``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile

from harbour.core.errors import Invalid, TooLarge
from harbour.core.http import DbSession, LoggedIn
from harbour.core.tenancy import get_platform
from harbour.core.uploads import store_upload
from harbour.data.ingest.service import INGESTIBLE, IngestFile, ingest_as, resolve_venue
from harbour.data.lake import Lake

router = APIRouter(tags=["data"])

INGEST_KINDS = (".parquet", ".csv", ".jsonl", ".json")
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the files


@router.post("/api/ingest/{table}", status_code=201)
def upload_and_ingest(
    table: str,
    request: Request,
    session: DbSession,
    principal: LoggedIn,
    files: Annotated[list[UploadFile], File(description="Parquet, CSV (canonical or Tardis) or CCXT JSON lines")],
    venue: Annotated[str | None, Form(description="platform code; a platform user may omit it")] = None,
    skip_bad: Annotated[bool, Form(description="keep good rows, report dropped ones")] = False,
    format: Annotated[str, Form(description="auto, parquet, csv, tardis or ccxt")] = "auto",
) -> dict[str, Any]:
    """Validate the uploaded files and add them to the lake, all or nothing. A rejection is a 422 whose
    ``details.problems`` lists (file, row, column, reason)."""
    settings = request.app.state.settings
    if table not in INGESTIBLE:
        raise Invalid(f"table {table!r} cannot be ingested; use one of {', '.join(INGESTIBLE)}", field="table")
    resolve_venue(session, principal, venue)  # refuse before storing anything
    length = request.headers.get("content-length", "")
    declared = int(length) if length.isdigit() else 0  # a cheap early refusal; store_upload enforces it
    limit = settings.max_upload_bytes * len(files) + MULTIPART_SLACK
    if declared > limit:
        raise TooLarge(f"files: the upload is larger than the limit of {settings.max_upload_bytes:,} bytes per file",
                       field="files")
    items = []
    for upload in files:
        stored = store_upload(upload.file, upload.filename or "", settings.upload_dir / "ingest",
                              max_bytes=settings.max_upload_bytes, allowed=INGEST_KINDS, field="files")
        items.append(IngestFile(table, stored.stored_path, name=stored.original_name, format=format,
                                sha256=stored.sha256))
    report = ingest_as(session, principal, settings.lake_root, items, venue, skip_bad=skip_bad, via="api upload")
    return report.to_dict()


@router.get("/api/lake/summary")
def lake_summary(request: Request, session: DbSession, principal: LoggedIn) -> list[dict[str, Any]]:
    """Rows per table, venue and date, for the venues the caller may see (a platform user: their own)."""
    visible = principal.visible_platform_ids()
    venues = None if visible is None else {get_platform(session, pid).code for pid in visible}
    with Lake(request.app.state.settings.lake_root) as lake:
        rows = lake.describe().to_pylist()
    return [dict(r, date=r["date"].isoformat() if r["date"] else None) for r in rows
            if venues is None or r["venue"] in venues]
