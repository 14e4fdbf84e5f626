"""The demo step surveys the demo lake, stores the alerts with one audit entry and shares counts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from harbour.core.audit import AuditEntry
from harbour.detect.alert_store import AlertRecord
from harbour.detect.demo import run

pytestmark = [pytest.mark.db, pytest.mark.slow]


class Ctx:
    def __init__(self, lake: Path, factory: Any) -> None:
        self.lake_root = lake
        self.session_factory = factory
        self.facts: dict[str, Any] = {}


def test_demo_step_stores_alerts_and_counts_them(sample_lake: Path, tmp_path: Path, session_factory: Any,
                                                 actors: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    if session_factory.kw["bind"].dialect.name != "sqlite":
        pytest.skip("runs every detector: once is enough; storing alerts on PostgreSQL is covered by the API tests")
    monkeypatch.setenv("HARBOUR_SURVEIL_WORKERS", "1")
    actors.platform("HBX")
    lake = tmp_path / "lake"
    shutil.copytree(sample_lake, lake)
    ctx = Ctx(lake, session_factory)
    summary = run(ctx)
    n = ctx.facts["alerts"]
    assert n > 0 and f"{n} alerts" in summary and sum(ctx.facts["alerts_by_typology"].values()) == n
    assert pq.read_table(lake / "alerts" / "part-demo.parquet").num_rows == n
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(AlertRecord)) == n
        hbx = s.scalar(select(func.count()).select_from(AlertRecord).where(AlertRecord.platform_id.is_not(None)))
        assert hbx == s.scalar(select(func.count()).select_from(AlertRecord).where(AlertRecord.venue == "HBX"))
        runs = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "surveillance.run")
        assert s.scalar(runs) == 1


def test_demo_step_without_a_lake_says_so(tmp_path: Path, session_factory: Any) -> None:
    ctx = Ctx(tmp_path / "missing", session_factory)
    assert "no lake" in run(ctx) and ctx.facts["alerts"] == 0
