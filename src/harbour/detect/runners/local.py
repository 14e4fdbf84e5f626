"""The in-process runner: DuckDB reads the Parquet lake, a pool of worker processes (one per core) runs the
kernels, alerts come back as Arrow tables.

Work is cut into *tasks* that each worker reads for itself straight from Parquet (no table crosses a
process boundary; only alerts do): one task per venue and/or day when the detector partitions by them
(pruned from the directory names), further split into hash buckets of the remaining keys (symbol,
account) when that alone would leave a core idle. Inside a task, DuckDB reads only the projected columns
and the rows of the window plus look-back, sorted by partition key, and the sorted result is cut into
zero-copy partition slices for the kernel.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from harbour.data.schemas import TABLES
from harbour.detect.framework import Partition, Window, WorkSpec
from harbour.detect.runners.plan import (
    DetectorJob,
    canonical_schema,
    conform,
    finish_alerts,
    lake_files,
    lookback_days,
    owned_span,
    read_columns,
    read_dates,
    row_bounds,
    sort_columns,
    split_by_keys,
    time_column,
    window_dates,
)
from harbour.detect.runners.progress import NO_PROGRESS, Progress

log = logging.getLogger(__name__)

PDATE = "__pdate"  # the partition date column added while reading


class KernelFailed(RuntimeError):
    """A detector's kernel raised; the message names the detector and the partition."""


@dataclass(frozen=True)
class LocalTask:
    """What one worker reads and runs: files per table, and which partitions of them it owns."""

    job: DetectorJob
    files: dict[str, tuple[str, ...]]
    window: Window
    dates: tuple[dt.date, ...] | None  # owned partition dates, when partitioned by date
    bucket: tuple[int, int] | None  # (i, n): keep rows whose hash of the other keys % n == i
    broadcast_files: dict[str, tuple[str, ...]]
    threads: int = 1
    # Detectors that share this read (same tables, partitioning and side tables); ``job`` is then their
    # merged WorkSpec (widest projection, longest look-back) and each member gets exactly its own rows.
    members: tuple[DetectorJob, ...] = ()


@dataclass(frozen=True)
class TaskResult:
    alerts: pa.Table
    rows: int
    partitions: int
    by_member: dict[str, tuple[pa.Table, int, float]] | None = None  # name -> (alerts, partitions, kernel s)
    read_seconds: float = 0.0


def share_key(job: DetectorJob) -> tuple[Any, ...]:
    """Detectors with the same key can share one read of the lake."""
    return (job.partitioned_tables, job.spec.partition_by, job.spec.broadcast)


def merge_jobs(jobs: Sequence[DetectorJob]) -> DetectorJob:
    """One read that serves every job: the union of their projections and the longest look-back."""
    first = jobs[0]
    columns: dict[str, tuple[str, ...]] | None = {}
    for table in first.partitioned_tables:
        if any(j.spec.columns is None or table not in j.spec.columns for j in jobs):
            columns = None
            break
        assert columns is not None
        columns[table] = tuple(sorted({c for j in jobs for c in read_columns(j, table)}))
    spec = WorkSpec(tables=first.spec.tables, partition_by=first.spec.partition_by,
                    lookback=max(j.spec.lookback for j in jobs), columns=columns, broadcast=first.spec.broadcast)
    return DetectorJob(first.detector, first.config, spec)


def plan_tasks(job: DetectorJob, lake_root: Path, window: Window, venues: Sequence[str] | None,
               workers: int, threads: int = 1) -> list[LocalTask]:
    """Cut one detector's work into tasks aligned with the lake's venue/date directories."""
    keys = job.spec.partition_by
    tables = job.partitioned_tables
    all_files = {t: lake_files(lake_root, t, venues) for t in tables}
    by_venue = "venue" in keys
    by_date = "date" in keys
    days = sorted({f.date for fs in all_files.values() for f in fs if f.date is not None})
    owned_days = window_dates(window, days)
    venue_list = sorted({f.venue for fs in all_files.values() for f in fs if f.venue is not None})
    groups: list[tuple[str | None, tuple[dt.date, ...] | None]] = []
    for venue in (venue_list if by_venue else [None]):
        if by_date:
            groups.extend((venue, (d,)) for d in owned_days)
        else:
            groups.append((venue, tuple(owned_days)))
    other_keys = [k for k in keys if k not in ("venue", "date")]
    n_buckets = max(1, -(-2 * workers // max(1, len(groups)))) if other_keys and workers > 1 else 1
    bcast = {t: tuple(f.path for f in lake_files(lake_root, t, venues)) for t in job.spec.broadcast}
    tasks = []
    for venue, owned in groups:
        files = {}
        for t in tables:
            need_days = set(read_dates(owned or (), job.spec.lookback))
            files[t] = tuple(f.path for f in all_files[t]
                             if (venue is None or f.venue == venue) and (f.date is None or f.date in need_days))
        if not any(files.values()):
            continue
        for i in range(n_buckets):
            tasks.append(LocalTask(job, files, window, owned if by_date else None,
                                   (i, n_buckets) if n_buckets > 1 else None, bcast, threads))
    return tasks


# --- inside a worker ---------------------------------------------------------------------------------


def _connect(threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": threads})
    con.execute("SET TimeZone='UTC'")
    return con


def read_partitioned(con: duckdb.DuckDBPyConnection, task: LocalTask, table: str) -> tuple[pa.Table, list[str]]:
    """The task's rows of ``table``, with the partition date added and sorted by partition key."""
    job = task.job
    cols = read_columns(job, table)
    files = list(task.files.get(table, ()))
    keys = job.spec.partition_by
    key_cols = [PDATE if k == "date" else k for k in keys]
    if not files:
        empty = canonical_schema(table, cols).empty_table()
        if "date" in keys:
            empty = empty.append_column(PDATE, pa.array([], pa.date32()))
        return empty, key_cols
    tcol = time_column(table)
    lo, hi = row_bounds(task.window, job.spec.lookback)
    params: dict[str, Any] = {"files": files}
    where = []
    if tcol and lo is not None:
        where.append(f'"{tcol}" >= $lo')
        params["lo"] = lo
    if tcol and hi is not None:
        where.append(f'"{tcol}" < $hi')
        params["hi"] = hi
    select = ", ".join(f'"{c}"' for c in cols)
    source = "read_parquet($files)"
    if "date" in keys:
        if not tcol:
            raise ValueError(f"table {table} has no time column to partition by date")
        k = lookback_days(job.spec.lookback)
        if k:
            source += f" CROSS JOIN range(0, {k + 1}) AS __r(__o)"
            select += f', CAST("{tcol}" AS DATE) + CAST(__o AS INTEGER) AS {PDATE}'
            where.append(f'CAST("{tcol}" AS DATE) + CAST(__o AS INTEGER) <= '
                         f'CAST("{tcol}" + to_microseconds($lb) AS DATE)')
            params["lb"] = int(job.spec.lookback / dt.timedelta(microseconds=1))
        else:
            select += f', CAST("{tcol}" AS DATE) AS {PDATE}'
        if task.dates is not None:
            where.append(f"{PDATE} IN (SELECT unnest($dates))")
            params["dates"] = list(task.dates)
    if task.bucket is not None:
        others = [f'"{k}"' for k in keys if k not in ("venue", "date")]
        where.append(f"hash({', '.join(others)}) % {task.bucket[1]} = {task.bucket[0]}")
    order = [*key_cols, *sort_columns(table)]
    sql = f"SELECT {select} FROM {source}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY " + ", ".join(f'"{c}"' if not c.startswith("__") else c for c in order)
    try:
        return con.sql(sql, params=params).to_arrow_table(), key_cols
    except duckdb.Error as exc:
        raise RuntimeError(f"detector {job.name!r}: reading {table} failed: {exc}") from exc


@lru_cache(maxsize=8)
def read_broadcast(table: str, files: tuple[str, ...], threads: int) -> pa.Table:
    """A side table read once per worker process (it is the same for every task of a run)."""
    cols = list(TABLES[table].schema.names)
    if not files:
        return canonical_schema(table, cols).empty_table()
    con = _connect(threads)
    try:
        select = ", ".join(f'"{c}"' for c in cols)
        order = ", ".join(f'"{c}"' for c in sort_columns(table))
        data = con.sql(f"SELECT {select} FROM read_parquet($files) ORDER BY {order}",
                       params={"files": list(files)}).to_arrow_table()
    finally:
        con.close()
    return conform(data, table, cols)


def run_task(task: LocalTask) -> TaskResult:
    """Read the task's tables, cut them into partitions, run the kernel (of each member) on each."""
    job = task.job
    started = time.perf_counter()
    con = _connect(task.threads)
    try:
        sliced: dict[str, dict[tuple[Any, ...], pa.Table]] = {}
        rows = 0
        key_cols: list[str] = []
        for table in job.partitioned_tables:
            data, key_cols = read_partitioned(con, task, table)
            rows += data.num_rows
            sliced[table] = dict(split_by_keys(data, key_cols))
    finally:
        con.close()
    broadcast = {t: read_broadcast(t, task.broadcast_files[t], task.threads) for t in job.spec.broadcast}
    all_keys = sorted({k for per in sliced.values() for k in per}, key=_sortable)
    if not job.spec.partition_by and not all_keys:
        all_keys = [()]  # one whole-window partition even when empty, like a run over an empty lake
    read_seconds = time.perf_counter() - started
    if not task.members:
        alerts, n, _ = _run_member(job, job.spec.lookback, task.window, sliced, all_keys, broadcast)
        return TaskResult(alerts, rows, n, read_seconds=read_seconds)
    by_member = {}
    for member in task.members:
        t0 = time.perf_counter()
        alerts, n, _ = _run_member(member, job.spec.lookback, task.window, sliced, all_keys, broadcast)
        by_member[member.name] = (alerts, n, time.perf_counter() - t0)
    return TaskResult(_empty(), rows, len(all_keys), by_member, read_seconds)


def _run_member(job: DetectorJob, read_lookback: dt.timedelta, window: Window,
                sliced: dict[str, dict[tuple[Any, ...], pa.Table]], all_keys: list[tuple[Any, ...]],
                broadcast: dict[str, pa.Table]) -> tuple[pa.Table, int, float]:
    """Run one detector's kernel on every partition, giving it exactly the rows a read of its own would."""
    trim = job.spec.lookback < read_lookback
    outputs, ran = [], 0
    for key in all_keys:
        key_dict = dict(zip(job.spec.partition_by, key, strict=True))
        span = owned_span(window, key_dict)
        tables = {}
        for table in job.partitioned_tables:
            cols = read_columns(job, table)
            part = sliced[table].get(key)
            if part is not None and trim and span.start is not None and time_column(table):
                # the shared read reached further back than this detector asked for
                lo = pa.scalar(span.start - job.spec.lookback, part.schema.field(time_column(table)).type)
                part = part.filter(pc.greater_equal(part.column(time_column(table)), lo))
            tables[table] = (conform(part, table, cols) if part is not None
                             else canonical_schema(table, cols).empty_table())
        if job.spec.partition_by and all(t.num_rows == 0 for t in tables.values()):
            continue  # a key that only exists in the longer look-back of another detector
        ran += 1
        try:
            alerts = job.detector.kernel(Partition(key_dict, tables, span, broadcast), job.config)
        except Exception as exc:
            # Name the detector and the partition: the traceback alone comes from a worker process.
            raise KernelFailed(f"detector {job.name!r} failed on partition {key_dict}: "
                               f"{type(exc).__name__}: {exc}") from exc
        outputs.append(finish_alerts(job.detector, alerts, span))
    alerts = pa.concat_tables(outputs) if outputs else _empty()
    return alerts, ran, 0.0


def _empty() -> pa.Table:
    from harbour.data.schemas import ALERTS

    return ALERTS.empty_table()


def _sortable(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple("" if v is None else v for v in key)


# --- the runner --------------------------------------------------------------------------------------


class LocalRunner:
    """Runs detectors in this process (``workers=1``) or on a pool of worker processes."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the parent may hold DuckDB/Arrow threads, and fork copies their locks.
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"))
        return self._pool

    def run_job(self, job: DetectorJob, lake_root: Path, window: Window, venues: Sequence[str] | None,
                progress: Progress = NO_PROGRESS) -> tuple[pa.Table, int, int]:
        """Alerts of one detector, rows read, partitions run."""
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        tasks = plan_tasks(job, lake_root, window, venues, self.workers, threads)
        progress.start(job.name, len(tasks))
        results: list[TaskResult] = []
        if self.workers == 1 or len(tasks) <= 1:
            for task in tasks:
                results.append(run_task(task))
                progress.advance(job.name)
        else:
            pool = self._executor()
            pending: set[Future[TaskResult]] = {pool.submit(run_task, t) for t in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    results.append(fut.result())
                    progress.advance(job.name)
        alerts = [r.alerts for r in results]
        table = pa.concat_tables(alerts) if alerts else _empty()
        return table, sum(r.rows for r in results), sum(r.partitions for r in results)

    def run_jobs(self, jobs: Sequence[DetectorJob], lake_root: Path, window: Window,
                 venues: Sequence[str] | None,
                 progress: Progress = NO_PROGRESS) -> dict[str, tuple[pa.Table, int, int, float]]:
        """Several detectors, reading the lake once per group that shares tables and partitioning.
        Returns name -> (alerts, rows read, partitions, seconds: own kernel time + a share of the read)."""
        groups: dict[tuple[Any, ...], list[DetectorJob]] = {}
        for job in jobs:
            groups.setdefault(share_key(job), []).append(job)
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        out: dict[str, tuple[pa.Table, int, int, float]] = {}
        for members in groups.values():
            merged = merge_jobs(members)
            tasks = [replace(t, members=tuple(members))
                     for t in plan_tasks(merged, lake_root, window, venues, self.workers, threads)]
            for m in members:
                progress.start(m.name, len(tasks))
            results: list[TaskResult] = []
            for result in self._map(tasks):
                results.append(result)
                for m in members:
                    progress.advance(m.name)
            read = sum(r.read_seconds for r in results) / len(members) / self.workers
            rows = sum(r.rows for r in results)
            for m in members:
                parts = [r.by_member[m.name] for r in results if r.by_member]
                alerts = pa.concat_tables([p[0] for p in parts]) if parts else _empty()
                kernel = sum(p[2] for p in parts) / self.workers
                out[m.name] = (alerts, rows, sum(p[1] for p in parts), kernel + read)
        return out

    def _map(self, tasks: list[LocalTask]) -> Iterator[TaskResult]:
        if self.workers == 1 or len(tasks) <= 1:
            for task in tasks:
                yield run_task(task)
            return
        pending: set[Future[TaskResult]] = {self._executor().submit(run_task, t) for t in tasks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
