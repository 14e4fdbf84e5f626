"""Two analysts acting on the same alert at the same moment: one wins, the other gets a clear Conflict."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from harbour.cases import service
from harbour.cases.models import CaseAlert
from harbour.core.auth import User, principal_for
from harbour.core.errors import Conflict

from .conftest import make_alert

pytestmark = pytest.mark.db


def test_simultaneous_case_opening_links_an_alert_once(world, session_factory, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are a PostgreSQL matter; SQLite serialises writers")
    world.add_alerts(make_alert("race-1"))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def act(name: str) -> None:
        with session_factory() as s:
            who = principal_for(s, s.get(User, world.ids[name]))
            barrier.wait()
            try:
                service.open_case(s, who, ["race-1"])
                outcomes.append("opened")
            except Conflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=act, args=(n,)) for n in ("ana", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "opened"]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(CaseAlert)) == 1
