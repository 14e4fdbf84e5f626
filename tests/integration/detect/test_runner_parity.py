"""Acceptance 3: the Spark runner and the in-process runner give identical alerts (same ids, same rows) on
the same lake — for the reference detectors (every runner feature) and for every registered detector."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from harbour.detect.builtin import load_detectors
from harbour.detect.framework import UnsupportedOperation, Window, WorkSpec
from harbour.detect.runners import run_detectors
from harbour.detect.runners.reference import REFERENCE_DETECTORS, RefSelfTrade

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _diff(a: pa.Table, b: pa.Table) -> str:
    ids_a, ids_b = set(a.column("alert_id").to_pylist()), set(b.column("alert_id").to_pylist())
    return f"only local: {sorted(ids_a - ids_b)[:5]}, only spark: {sorted(ids_b - ids_a)[:5]}"


def test_reference_detectors_agree_on_both_runners(sample_lake: Path, spark: Any) -> None:
    window = Window(dt.datetime(2026, 1, 5, 6, tzinfo=dt.UTC), None)
    local = run_detectors(sample_lake, REFERENCE_DETECTORS, window=window, workers=1)
    remote = run_detectors(sample_lake, REFERENCE_DETECTORS, window=window, runner="spark", spark=spark)
    counts = {d.detector: d.alerts for d in local.detectors}
    assert all(counts.values()), counts  # each reference detector fires, so agreement means something
    assert local.alerts.equals(remote.alerts), _diff(local.alerts, remote.alerts)


def test_every_registered_detector_agrees_on_both_runners(generated_lake: Path, spark: Any) -> None:
    detectors = load_detectors().all()
    assert detectors, "no detectors registered"
    local = run_detectors(generated_lake, detectors, workers=1)
    remote = run_detectors(generated_lake, detectors, runner="spark", spark=spark)
    assert local.alerts.num_rows > 0
    for name in [d.name for d in detectors]:
        mine = local.alerts.filter(pa.compute.equal(local.alerts.column("detector"), name))
        theirs = remote.alerts.filter(pa.compute.equal(remote.alerts.column("detector"), name))
        assert mine.equals(theirs), f"{name}: {_diff(mine, theirs)}"


def test_spark_refuses_a_three_table_cogroup_naming_engine_and_operation(sample_lake: Path, spark: Any) -> None:
    class ThreeTables(RefSelfTrade):
        name = "three_tables"

        def describe(self, config):  # type: ignore[no-untyped-def]
            return WorkSpec(tables=("trades", "orders", "transfers"), partition_by=("venue", "date"))

    with pytest.raises(UnsupportedOperation, match="spark runner: cogroup of 3 partitioned tables"):
        run_detectors(sample_lake, [ThreeTables()], runner="spark", spark=spark)
