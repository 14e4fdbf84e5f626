"""The authenticity report as a service: who may see which venue, and reading trade sizes from the lake.

A supervisor or admin sees every venue; a platform user sees only its own platform's venue (the venue code
equals ``Platform.code``); other roles are refused. Only three columns are read (venue, price, quantity).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from sqlalchemy.orm import Session

from harbour.core.auth import Principal, Role
from harbour.core.errors import Forbidden, Invalid, Unauthenticated
from harbour.core.tenancy import Platform
from harbour.data.layout import glob_pattern
from harbour.detect.market.authenticity import VenueAuthenticity, venue_report

VIEW_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.PLATFORM_USER})


def allowed_venues(session: Session, principal: Principal) -> list[str] | None:
    """Venue codes the principal may see; None means all."""
    if principal.role == Role.PUBLIC:
        raise Unauthenticated("log in to see the authenticity report")
    if principal.role not in VIEW_ROLES:
        raise Forbidden("the authenticity report is for supervisors, admins and platform users")
    if principal.role == Role.PLATFORM_USER:
        platform = session.get(Platform, principal.platform_id) if principal.platform_id is not None else None
        return [platform.code] if platform is not None else []
    return None


def authenticity_report(session: Session, principal: Principal, lake_root: Path,
                        venue: str | None = None) -> list[VenueAuthenticity]:
    """Per-venue screens over every trade in the lake that the principal may see (optionally one venue)."""
    allowed = allowed_venues(session, principal)
    if venue is not None and allowed is not None and venue not in allowed:
        raise Forbidden(f"venue {venue!r} is not yours to see", field="venue")
    venues = [venue] if venue else allowed
    files = list(Path(lake_root, "trades").glob("venue=*/date=*/*.parquet"))
    if not files or venues == []:
        return []
    where = ""
    params: dict[str, str] = {}
    if venues is not None:
        where = f"WHERE venue IN ({', '.join(f'$v{i}' for i in range(len(venues)))})"
        params = {f"v{i}": v for i, v in enumerate(venues)}
    try:
        con = duckdb.connect()
        table = con.sql(f"SELECT venue, price, quantity FROM read_parquet($glob, hive_partitioning = true) {where}",
                        params={"glob": glob_pattern(lake_root, "trades"), **params}).to_arrow_table()
        con.close()
    except duckdb.Error as exc:
        raise Invalid(f"could not read trades under {lake_root}: {exc}", field="lake") from exc
    return venue_report(table)
