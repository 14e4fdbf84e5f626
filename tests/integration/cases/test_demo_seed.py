"""The demo step leaves cases at every stage, on real alert rows, with an intact audit chain."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from harbour.cases.demo import seed
from harbour.cases.models import Case, InfoRequest, SuspiciousTransactionReport
from harbour.core.audit import verify_chain

from .conftest import T0, make_alert

pytestmark = pytest.mark.db


def test_seed_builds_cases_at_each_stage(world, session_factory, settings):
    alerts = []
    for i in range(10):  # five pairs of related alerts on HBX, and ten loners
        start = T0 + dt.timedelta(days=3 * i)
        alerts += [
            make_alert(f"d-{i}a", accounts=[f"p-{i}"], start=start, score=0.5 + i / 40),
            make_alert(f"d-{i}b", accounts=[f"p-{i}"], start=start, typology="spoofing", score=0.4),
        ]
        alerts.append(make_alert(f"lone-{i}", accounts=[f"l-{i}"], start=start, score=0.05, venue="OKQ"))
    world.add_alerts(*alerts)
    ctx = SimpleNamespace(
        settings=settings,
        session_factory=session_factory,
        lake_root=settings.lake_root,
        password="demo-password-1",
        logins=[],
        facts={"alerts": len(alerts)},
    )
    summary = seed(ctx)
    assert "5 cases" in summary and "5 alerts closed as false positives" in summary
    with session_factory() as s:
        statuses = sorted(c.status for c in s.scalars(select(Case)))
        assert statuses == ["closed", "closed", "investigating", "open", "pending_information"]
        assert sorted(r.status for r in s.scalars(select(InfoRequest))) == ["answered", "sent"]
        assert s.scalar(select(SuspiciousTransactionReport.status)) == "filed"
        assert verify_chain(s).ok
    assert any(login[0] == "reviewer" for login in ctx.logins)
