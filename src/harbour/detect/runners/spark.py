"""The Spark runner: the same kernels on Apache Spark, through ``groupBy(keys).applyInArrow`` for one
partitioned table and ``cogroup(...).applyInArrow`` for two. Broadcast side tables travel as a Spark
broadcast variable (Arrow IPC bytes). Nothing here distributes work by itself: Spark does.

Start a session with :func:`make_spark` (local mode) or hand in your own (a cluster; see
docs/operations.md). The planning rules are those of :mod:`harbour.detect.runners.plan`, so a lake gives the
same alerts here as with the in-process runner.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harbour.data.row_order import sort_rows
from harbour.detect.framework import AlertBuilder, Partition, UnsupportedOperation, Window
from harbour.detect.runners.plan import (
    DetectorJob,
    canonical_schema,
    conform,
    finish_alerts,
    lake_files,
    owned_span,
    read_columns,
    read_dates,
    row_bounds,
    time_column,
    window_dates,
)
from harbour.detect.runners.progress import NO_PROGRESS, Progress

log = logging.getLogger(__name__)

PDATE = "__pdate"
ALL = "__all"
ALERTS_DDL = ("alert_id string, detector string, detector_version string, typology string, venue string, "
              "symbol string, accounts array<string>, start timestamp, end timestamp, score double, "
              "evidence_ids array<string>, explanation string")


def make_spark(master: str = "local[2]", driver_memory: str = "2g", app_name: str = "harbour") -> Any:
    """A Spark session configured as Harbour expects: UTC, Arrow on, UI off, this Python for workers."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(int(master[6:-1]) * 2 if master.startswith("local[")
                                                     and master[6:-1].isdigit() else 200))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkRunner:
    name = "spark"

    def __init__(self, spark: Any | None = None, master: str = "local[2]", driver_memory: str = "2g") -> None:
        self._spark = spark
        self._own = spark is None
        self.master = master
        self.driver_memory = driver_memory

    @property
    def spark(self) -> Any:
        if self._spark is None:
            self._spark = make_spark(self.master, self.driver_memory)
        return self._spark

    def __enter__(self) -> SparkRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own and self._spark is not None:
            self._spark.stop()
            self._spark = None

    def run_job(self, job: DetectorJob, lake_root: Path, window: Window, venues: Sequence[str] | None,
                progress: Progress = NO_PROGRESS) -> tuple[pa.Table, int, int]:
        with warnings.catch_warnings():
            # PySpark warns on every Arrow UDF that it "does not yet fully support pandas >= 3"; we use no pandas.
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                    category=FutureWarning)
            return self._run_job(job, lake_root, window, venues, progress)

    def _run_job(self, job: DetectorJob, lake_root: Path, window: Window, venues: Sequence[str] | None,
                 progress: Progress) -> tuple[pa.Table, int, int]:
        progress.start(job.name, 1)
        tables = job.partitioned_tables
        if len(tables) > 2:
            raise UnsupportedOperation(
                "spark runner", f"cogroup of {len(tables)} partitioned tables ({', '.join(tables)}) "
                f"for detector {job.name!r}", "Spark cogroups two; broadcast the small tables or use --runner local")
        files = {t: lake_files(lake_root, t, venues) for t in tables}
        days = sorted({f.date for fs in files.values() for f in fs if f.date is not None})
        owned = window_dates(window, days)
        need = set(read_dates(owned, job.spec.lookback))
        paths = {t: [f.path for f in fs if f.date is None or f.date in need] for t, fs in files.items()}
        bcast = self._broadcast(job, lake_root, venues)
        frames = [self._frame(job, t, paths[t], window, owned) for t in tables]
        keys = [PDATE if k == "date" else k for k in job.spec.partition_by] or [ALL]
        fn = _group_function(job, window, tables, bcast)
        if len(frames) == 1:
            out = frames[0].groupBy(*keys).applyInArrow(fn, ALERTS_DDL)
        else:
            out = frames[0].groupBy(*keys).cogroup(frames[1].groupBy(*keys)).applyInArrow(fn, ALERTS_DDL)
        alerts = out.toArrow()
        # Rows from the Parquet footers of the files read (counting in Spark would cost a second pass).
        rows = sum(pq.ParquetFile(p).metadata.num_rows for ps in paths.values() for p in ps)
        progress.advance(job.name)
        return finish_alerts(job.detector, alerts, Window()), rows, -1

    def _frame(self, job: DetectorJob, table: str, paths: list[str], window: Window, owned: list[dt.date]) -> Any:
        from pyspark.sql import functions as F  # noqa: N812

        cols = read_columns(job, table)
        if paths:
            df = self.spark.read.parquet(*paths).select(*cols)
        else:
            df = self.spark.createDataFrame([], _spark_schema(table, cols))
        tcol = time_column(table)
        lo, hi = row_bounds(window, job.spec.lookback)
        if tcol and lo is not None:
            df = df.where(F.col(tcol) >= F.lit(lo))
        if tcol and hi is not None:
            df = df.where(F.col(tcol) < F.lit(hi))
        if "date" in job.spec.partition_by:
            if tcol is None:
                raise UnsupportedOperation("spark runner", f"date partitions of {table}, which has no time column")
            lb = int(job.spec.lookback / dt.timedelta(microseconds=1))
            if lb:
                reach = F.to_date(F.timestamp_micros(F.unix_micros(F.col(tcol)) + F.lit(lb)))
                df = df.withColumn(PDATE, F.explode(F.sequence(F.to_date(F.col(tcol)), reach)))
            else:
                df = df.withColumn(PDATE, F.to_date(F.col(tcol)))
            df = df.where(F.col(PDATE).isin(owned)) if owned else df.where(F.lit(False))
        for key, values in (job.spec.only or {}).items():
            df = df.where(F.col(key).isin(sorted(values)))  # nothing to alert on elsewhere (``WorkSpec.only``)
        if not job.spec.partition_by:
            df = df.withColumn(ALL, F.lit(0))
        return df

    def _broadcast(self, job: DetectorJob, lake_root: Path, venues: Sequence[str] | None) -> Any:
        if not job.spec.broadcast:
            return None
        from harbour.detect.runners.local import read_broadcast

        payload = {}
        for t in job.spec.broadcast:
            data = read_broadcast(t, tuple(f.path for f in lake_files(lake_root, t, venues)), 2)
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, data.schema) as writer:
                writer.write_table(data)
            payload[t] = sink.getvalue().to_pybytes()
        return uuid.uuid4().hex, self.spark.sparkContext.broadcast(payload)


def _spark_schema(table: str, cols: list[str]) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(canonical_schema(table, cols))


_BROADCAST_CACHE: dict[str, dict[str, pa.Table]] = {}


def _side_tables(bcast: Any) -> dict[str, pa.Table]:
    """The broadcast side tables, decoded once per Python worker and run (``bcast`` is (token, Broadcast))."""
    if bcast is None:
        return {}
    token, variable = bcast
    cached = _BROADCAST_CACHE.get(token)
    if cached is None:
        cached = {t: pa.ipc.open_stream(pa.py_buffer(raw)).read_all() for t, raw in variable.value.items()}
        _BROADCAST_CACHE.clear()  # one run's side tables at a time per Python worker
        _BROADCAST_CACHE[token] = cached
    return cached


def _group_function(job: DetectorJob, window: Window, tables: tuple[str, ...], bcast: Any) -> Any:
    """The function Spark calls per group (per cogroup): rebuild the Partition and run the kernel."""
    key_names = list(job.spec.partition_by)

    def prepare(table: str, data: pa.Table) -> pa.Table:
        cols = read_columns(job, table)
        return sort_rows(conform(data, table, cols), table)

    def run(key: tuple[Any, ...], parts: list[pa.Table]) -> pa.Table:
        values = [k.as_py() for k in key] if key_names else []
        key_dict = dict(zip(key_names, values, strict=True))
        span = owned_span(window, key_dict)
        if not job.spec.allows(key_dict):  # the detector raises nothing there (``WorkSpec.only``)
            return finish_alerts(job.detector, AlertBuilder(job.detector).to_table(), span)
        part = Partition(key_dict, {t: prepare(t, d) for t, d in zip(tables, parts, strict=True)}, span,
                         _side_tables(bcast))
        return finish_alerts(job.detector, job.detector.kernel(part, job.config), span)

    if len(tables) == 1:
        def one(key, data):  # no type hints: Spark reads them to choose the iterator form
            return run(key, [data])
        return one

    def two(key, left, right):
        return run(key, [left, right])
    return two

