"""Platforms are Harbour's tenants: every record a platform user may see hangs off one.

A platform's ``code`` is also its venue name in the analytics lake (trades.venue == platform.code), which is
how market data, alerts and cases are tied back to the licensing record.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from harbour.core.db import Base, utcnow
from harbour.core.errors import NotFound


class Platform(Base):
    __tablename__ = "platforms"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, index=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    brand: Mapped[str] = mapped_column(String(120))
    website: Mapped[str] = mapped_column(String(300), default="")
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def get_platform(session: Session, platform_id: int) -> Platform:
    platform = session.get(Platform, platform_id)
    if platform is None:
        raise NotFound(f"no platform with id {platform_id}", field="platform_id")
    return platform


def get_platform_by_code(session: Session, code: str) -> Platform:
    platform = session.scalar(select(Platform).where(Platform.code == code))
    if platform is None:
        raise NotFound(f"no platform with code {code!r}", field="platform")
    return platform
