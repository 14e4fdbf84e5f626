"""The market detectors on a market from the project's generator (``harbour generate``), with a seed and
size that the detectors were not tuned on, scored with DESIGN.md's matching rule (``harbour evaluate``'s
function). Floors are per typology; typologies whose detectors are not yet reliable on generated data are
listed in docs/detectors/market.md with their measured figures instead."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

import harbour.detect.market  # noqa: F401
from harbour.data.schemas import MARKET_TYPOLOGIES, TYPOLOGIES
from harbour.detect.evaluate import evaluate
from harbour.detect.framework import REGISTRY, Partition

pytestmark = pytest.mark.slow

# (precision floor, recall floor) at the default difficulty, seed 23, 3 venues, 1 day.
FLOORS = {
    "wash_trade": (0.9, 0.9),
    "layering": (0.9, 0.6),
    "quote_stuffing": (0.9, 0.9),
    "spoofing": (0.9, 0.9),
    "cross_venue": (0.9, 0.6),
    "pump_and_dump": (0.9, 0.9),
    "marking_the_close": (0.9, 0.6),
    "insider_pre_listing": (0.4, 0.9),
    "front_running": (0.9, 0.6),
    "momentum_ignition": (0.7, 0.9),
}


def _read(lake: Path, table: str) -> pl.DataFrame:
    con = duckdb.connect()
    hive = table in ("trades", "orders", "announcements")
    sql = (f"SELECT * {'EXCLUDE (date)' if hive else ''} FROM read_parquet('{lake}/{table}/**/*.parquet', "
           f"hive_partitioning = {str(hive).lower()}, union_by_name = true)")
    df = pl.from_arrow(con.sql(sql).to_arrow_table())
    con.close()
    assert isinstance(df, pl.DataFrame)
    return df


def run_in_process(lake: Path) -> tuple[pa.Table, pa.Table, int]:
    """Every market detector over the lake, partitioned as its WorkSpec asks (no look-back needed: 1 day)."""
    trades, orders = _read(lake, "trades"), _read(lake, "orders")
    broadcast = {"accounts": _read(lake, "accounts").to_arrow(),
                 "announcements": _read(lake, "announcements").to_arrow()}
    trades = trades.with_columns(date=pl.col("ts").dt.date())
    orders = orders.with_columns(date=pl.col("ts").dt.date())
    out = []
    for d in REGISTRY.all():
        if d.typology not in MARKET_TYPOLOGIES:
            continue
        keys = list(d.describe(d.default_config()).partition_by)
        by_trades = trades.partition_by(keys, as_dict=True)
        by_orders = orders.partition_by(keys, as_dict=True)
        for k in sorted(by_trades):
            tables = {"trades": by_trades[k].drop("date").to_arrow()}
            if k in by_orders:
                tables["orders"] = by_orders[k].drop("date").to_arrow()
            out.append(d.kernel(Partition(dict(zip(keys, k, strict=True)), tables, broadcast=broadcast),
                                d.default_config()))
    return pa.concat_tables(out), _read(lake, "labels").to_arrow(), trades.height


@pytest.fixture(scope="module")
def generated_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harbour.data.generate.config import Difficulty, GenerateConfig
    from harbour.data.generate.run import generate_market

    out = tmp_path_factory.mktemp("market-lake")
    incidents = {t: (3 if t in MARKET_TYPOLOGIES else 0) for t in TYPOLOGIES}
    generate_market(GenerateConfig(out=out, venues=3, days=1, accounts=400, seed=23, symbols=4, incidents=incidents,
                                   difficulty=Difficulty.default, activity=0.3))
    return out


def test_per_typology_floors_on_a_generated_market(generated_lake: Path) -> None:
    alerts, labels, n_trades = run_in_process(generated_lake)
    scores = evaluate(alerts, labels, n_trades)
    report = {t: (s.precision, s.recall, s.alerts, s.incidents) for t, s in scores.items() if t in MARKET_TYPOLOGIES}
    for typology, (p_floor, r_floor) in FLOORS.items():
        s = scores[typology]
        assert s.incidents > 0, f"the generator injected no {typology}"
        assert s.recall is not None and s.recall >= r_floor, report
        assert s.precision is not None and s.precision >= p_floor, report
    # Every alert of every market detector is well-formed, whatever its typology's quality.
    for row in alerts.to_pylist():
        assert row["typology"] in MARKET_TYPOLOGIES and row["evidence_ids"] and row["accounts"]
        assert row["start"] <= row["end"] and 0 <= row["score"] <= 1
