"""Spoofing and layering incidents execute as designed: the bait stands until after the genuine trade.

A spoofer's genuine order hits the touch; priced through its own bait deeper in the book it would meet the bait,
and the engine's self-trade prevention would cancel the bait in that very instant (before it had served), so the
data would show no bait pulled after the trade.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from harbour.data.generate.config import GenerateConfig
from harbour.data.generate.run import generate_market
from harbour.data.schemas import TYPOLOGIES


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spoof") / "lake"
    counts = {t: 0 for t in TYPOLOGIES} | {"spoofing": 6, "layering": 6}
    generate_market(GenerateConfig(out=out, venues=1, days=1, accounts=300, seed=5, incidents=counts,
                                   activity=0.2), workers=1)
    return out


def _incident_orders(lake: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.sql(f"CREATE VIEW o AS SELECT * FROM read_parquet('{lake}/orders/**/*.parquet', hive_partitioning=true)")
    con.sql(f"""CREATE VIEW ev AS
        WITH l AS (SELECT incident_id, venue, accounts[1] AS account, unnest(evidence_ids) AS id
                   FROM read_parquet('{lake}/labels/**/*.parquet') WHERE typology IN ('spoofing', 'layering'))
        SELECT l.incident_id, o.* FROM l JOIN o ON o.venue = l.venue AND o.order_id = l.id AND o.account = l.account""")
    return con


def test_no_bait_is_cancelled_by_its_owners_genuine_order(lake: Path) -> None:
    con = _incident_orders(lake)
    incidents = con.sql("SELECT count(DISTINCT incident_id) FROM ev").fetchall()[0]
    assert incidents[0] >= 8
    same_instant = con.sql("""
        SELECT count(*) FROM ev c JOIN ev n ON c.incident_id = n.incident_id AND c.ts = n.ts AND c.side <> n.side
        WHERE c.event = 'cancel' AND n.event = 'new'""").fetchall()[0]
    assert same_instant == (0,)


def test_genuine_order_is_priced_short_of_its_own_bait(lake: Path) -> None:
    con = _incident_orders(lake)
    # the genuine order follows its bait within seconds (repeats are minutes apart)
    crossing = con.sql("""
        SELECT count(*) FROM ev g JOIN ev b ON g.incident_id = b.incident_id AND g.side <> b.side
            AND b.ts BETWEEN g.ts - INTERVAL 10 SECOND AND g.ts
        WHERE g.event = 'new' AND b.event = 'new'
          AND ((g.side = 'sell' AND g.price <= b.price) OR (g.side = 'buy' AND g.price >= b.price))""").fetchall()[0]
    assert crossing == (0,)


def test_bait_rests_behind_the_best_quotes_and_is_not_filled(lake: Path) -> None:
    con = _incident_orders(lake)
    # each repetition places its bait first; the bait's side is the side of the incident's first order
    filled = con.sql("""
        WITH first AS (SELECT incident_id, arg_min(side, ts) AS bait_side FROM ev WHERE event = 'new' GROUP BY ALL),
             bait AS (SELECT ev.* FROM ev JOIN first USING (incident_id) WHERE ev.side = first.bait_side),
             sizes AS (SELECT order_id, max(quantity) FILTER (WHERE event = 'new') AS size,
                              min(quantity) FILTER (WHERE event = 'fill') AS left_open FROM bait GROUP BY ALL)
        SELECT count(*) FROM sizes WHERE size - left_open > 0.1 * size""").fetchall()[0]
    assert filled == (0,)
