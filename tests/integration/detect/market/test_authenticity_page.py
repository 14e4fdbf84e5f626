"""The venue authenticity page: a supervisor sees every venue with its three charts, a platform user only
its own venue, and nobody else gets in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harbour.core.auth import Role
from harbour.data.layout import partition_dir
from harbour.data.schemas import TRADES

pytestmark = pytest.mark.db
DAY = dt.date(2026, 1, 5)


def _write_trades(root: Path, venue: str, seed: int, n: int = 400) -> None:
    rng = np.random.default_rng(seed)
    t0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    q = (rng.pareto(1.5, n) + 1) * 0.01
    rows = [dict(venue=venue, symbol="BTC/USD", trade_id=f"{venue}{i}", ts=t0 + dt.timedelta(seconds=60 * i),
                 price=float(60_000 + rng.normal(0, 50)), quantity=float(q[i]), buyer="a", seller="b",
                 aggressor="buy", buy_order_id=None, sell_order_id=None) for i in range(n)]
    folder = partition_dir(root, "trades", venue, DAY)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=TRADES), folder / "part-0.parquet")


@pytest.fixture
def lake(settings) -> Path:
    _write_trades(settings.lake_root, "HBX", 1)
    _write_trades(settings.lake_root, "KLN", 2)
    return settings.lake_root


def test_supervisor_sees_every_venue_with_its_charts(client, actors, lake) -> None:
    actors.user("sup", Role.SUPERVISOR)
    actors.login("sup")
    r = client.get("/surveillance/authenticity")
    assert r.status_code == 200, r.text
    assert 'id="venue-HBX"' in r.text and 'id="venue-KLN"' in r.text
    assert r.text.count('class="benford"') == 2 and r.text.count('class="fit"') == 2
    assert 'class="round"' in r.text and "Benford" in r.text


def test_platform_user_sees_only_its_own_venue(client, actors, lake) -> None:
    pid = actors.platform("HBX")
    actors.platform("KLN")
    actors.user("hbx", Role.PLATFORM_USER, platform_id=pid)
    actors.login("hbx")
    r = client.get("/surveillance/authenticity")
    assert r.status_code == 200
    assert 'id="venue-HBX"' in r.text and "venue-KLN" not in r.text
    other = client.get("/surveillance/authenticity?venue=KLN")
    assert other.status_code == 403 and "venue-KLN" not in other.text


def test_other_roles_and_anonymous_are_refused(client, actors, lake) -> None:
    assert client.get("/surveillance/authenticity", follow_redirects=False).status_code in (302, 303, 401)
    actors.user("lic", Role.LICENSING_OFFICER)
    actors.login("lic")
    assert client.get("/surveillance/authenticity").status_code == 403


def test_empty_lake_says_so(client, actors) -> None:
    actors.user("sup2", Role.SUPERVISOR)
    actors.login("sup2")
    r = client.get("/surveillance/authenticity")
    assert r.status_code == 200 and "No trades to screen" in r.text
