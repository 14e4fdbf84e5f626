"""``WorkSpec.only``: a detector names the partition key values outside which it raises nothing, and the in-process
runner neither reads nor runs the rest — alone, or sharing a read with a detector that needs every partition.
insider_pre_listing names the symbols with a listing announcement, resolved from the lake before the run, and gives
the same alerts as when it reads every symbol. (The Spark runner's parity with these is checked by
tests/integration/detect/test_runner_parity.py, whose detectors resolve the same way.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from harbour.data.generate import GenerateConfig, generate_market
from harbour.detect.framework import REGISTRY, Window, WorkSpec
from harbour.detect.market.insider_pre_listing import listed_symbols
from harbour.detect.runners import run_detectors, run_with
from harbour.detect.runners.local import LocalRunner
from harbour.detect.runners.reference import RefSelfTrade, SelfTradeConfig

D0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


class OneVenueSelfTrade(RefSelfTrade):
    """The reference self-trade detector, told that only one venue can alert."""

    name = "ref_self_trade_one_venue"

    def __init__(self, venue: str) -> None:
        self.venue = venue

    def describe(self, config: SelfTradeConfig) -> WorkSpec:
        spec = super().describe(config)
        return WorkSpec(tables=spec.tables, partition_by=spec.partition_by, lookback=spec.lookback,
                        columns=spec.columns, broadcast=spec.broadcast, only={"venue": frozenset({self.venue})})


def test_only_names_partition_keys_other_than_the_date() -> None:
    with pytest.raises(ValueError, match="not partitioned by"):
        WorkSpec(tables=("trades",), partition_by=("venue", "date"), only={"symbol": frozenset({"BTC/USD"})})
    with pytest.raises(ValueError, match="not partitioned by"):
        WorkSpec(tables=("trades",), partition_by=("venue", "date"), only={"date": frozenset({D0.date()})})
    spec = WorkSpec(tables=("trades",), partition_by=("venue", "date"), only={"venue": frozenset({"HBX"})})
    assert spec.allows({"venue": "HBX", "date": D0.date()}) and not spec.allows({"venue": "KLN", "date": D0.date()})
    assert WorkSpec(tables=("trades",)).allows({"venue": "any"})


def _of(alerts: pa.Table, detector: str) -> pa.Table:
    return alerts.filter(pc.equal(alerts.column("detector"), detector)).drop_columns(["detector"])


def test_the_runner_skips_the_partitions_a_detector_cannot_alert_on(sample_lake: Path) -> None:
    window = Window(D0 + dt.timedelta(hours=6), None)
    every = run_detectors(sample_lake, [RefSelfTrade()], window=window, workers=1)
    venues = sorted(set(every.alerts.column("venue").to_pylist()))
    assert len(venues) > 1  # alerts on several venues, so restricting to one means something
    restricted = OneVenueSelfTrade(venues[0])
    alone = run_detectors(sample_lake, [restricted], window=window, workers=1)
    wanted = every.alerts.filter(pc.equal(every.alerts.column("venue"), venues[0]))
    # the same alerts on the venue it names (ids differ with the detector's name), and fewer partitions run
    assert alone.alerts.num_rows == wanted.num_rows > 0
    assert alone.alerts.select(["venue", "symbol", "start", "end"]).equals(wanted.select(["venue", "symbol", "start",
                                                                                        "end"]))
    assert alone.detectors[0].partitions < every.detectors[0].partitions
    # sharing a read with a detector that needs every partition: each gets what it gets alone
    together = run_detectors(sample_lake, [RefSelfTrade(), restricted], window=window, workers=1)
    assert _of(together.alerts, "ref_self_trade").equals(_of(every.alerts, "ref_self_trade"))
    assert _of(together.alerts, restricted.name).equals(_of(alone.alerts, restricted.name))
    assert [d.partitions for d in together.detectors] == [every.detectors[0].partitions, alone.detectors[0].partitions]


@pytest.fixture(scope="module")
def listing_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("listing-lake")
    generate_market(GenerateConfig(out=lake, venues=2, days=3, accounts=300, seed=5, activity=0.3, symbols=4,
                                   incidents={"all": 0, "insider_pre_listing": 2}), workers=1)
    return lake


def test_insider_reads_only_the_listed_symbols_and_alerts_as_before(listing_lake: Path) -> None:
    listed = listed_symbols(listing_lake)
    assert listed  # the incidents' listings
    with LocalRunner(workers=1) as runner:
        detector = REGISTRY.get("insider_pre_listing")
        restricted = run_with(runner, listing_lake, [detector])
        # naming every traded symbol of the lake (the partitions' symbols are read from the files) restricts nothing
        symbols = tuple(sorted({s for t in (listing_lake / "trades").rglob("*.parquet")
                                for s in pq.read_table(t, columns=["symbol"]).column("symbol").unique().to_pylist()}))
        full = run_with(runner, listing_lake, [detector], configs={detector.name: detector.default_config()
                                                                   .model_copy(update={"listed_symbols": symbols})})
    assert set(listed) < set(symbols)
    assert restricted.alerts.num_rows > 0  # the insiders alert
    assert restricted.alerts.equals(full.alerts)
    assert restricted.detectors[0].partitions < full.detectors[0].partitions


def test_a_lake_without_announcements_lists_no_symbol(tmp_path: Path) -> None:
    assert listed_symbols(tmp_path) == ()
