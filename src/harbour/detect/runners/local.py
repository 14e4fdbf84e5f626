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
import inspect
import logging
import os
import resource
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harbour.core.errors import Invalid
from harbour.data.row_order import declares_order, in_order_across, sort_columns, sort_rows, time_values
from harbour.data.schemas import TABLES
from harbour.detect.framework import OrderedOnUse, Partition, Window, WorkSpec
from harbour.detect.runners.plan import (
    DAY,
    EPOCH,
    DetectorJob,
    canonical_schema,
    conform,
    finish_alerts,
    lake_files,
    owned_span,
    read_columns,
    read_dates,
    row_bounds,
    split_by_keys,
    time_column,
    window_dates,
)
from harbour.detect.runners.progress import NO_PROGRESS, Progress
from harbour.detect.runners.warm_workers import adopt_environment, worker_context, worker_environment

log = logging.getLogger(__name__)



class KernelFailed(RuntimeError):
    """A detector's kernel raised; the message names the detector and the partition."""


@dataclass(frozen=True)
class LocalTask:
    """What one worker reads and runs: files per table, and which partitions of them it owns."""

    job: DetectorJob
    files: dict[str, tuple[str, ...]]
    window: Window
    dates: tuple[dt.date, ...] | None  # owned partition dates, when partitioned by date
    bucket: tuple[int, int] | None  # (i, n): keep the partitions whose hash of the other keys % n == i
    broadcast_files: dict[str, tuple[str, ...]]
    threads: int = 1
    # Detectors that share this read (same partitioning); ``job`` is then their merged WorkSpec (every table,
    # widest projection) and each member gets exactly its own tables and rows.
    members: tuple[DetectorJob, ...] = ()
    # How far back each table is read; a table's own look-back when absent (see ``read_lookback``).
    lookbacks: dict[str, dt.timedelta] = field(default_factory=dict)
    # The keys whose values pick a partition's bucket: all the partition keys but venue and date when None; the
    # keys the tasks are cut by when a member's partitions are coarser than the read's (``ReadGroup``), so that
    # the finer partitions that make up one of its partitions all land in one task.
    bucket_by: tuple[str, ...] | None = None

    def read_lookback(self, table: str) -> dt.timedelta:
        return self.lookbacks.get(table, self.job.spec.lookback)

    def owns(self, key: dict[str, Any]) -> bool:
        """Whether a partition with these key values (the date aside) falls in this task's bucket."""
        if self.bucket is None:
            return True
        names = self.bucket_by if self.bucket_by is not None else [k for k in self.job.spec.partition_by
                                                                   if k not in ("venue", "date")]
        return _bucket(tuple(key[k] for k in names), self.bucket[1]) == self.bucket[0]


@dataclass(frozen=True)
class TaskResult:
    alerts: pa.Table
    rows: int
    partitions: int
    by_member: dict[str, tuple[pa.Table, int, float]] | None = None  # name -> (alerts, partitions, kernel s)
    read_seconds: float = 0.0
    rows_by_table: dict[str, int] = field(default_factory=dict)
    # CPU-seconds of this worker (time.process_time): reading the task, and each member's kernels
    read_cpu: float = 0.0
    cpu_by_member: dict[str, float] = field(default_factory=dict)
    peak_mib: float = 0.0  # the worker's peak resident memory so far (its whole life, not this task alone)


def share_key(job: DetectorJob) -> tuple[Any, ...]:
    """Detectors with the same partitioning can share one read of the lake (of the union of their tables)."""
    return (job.spec.partition_by,)


@dataclass(frozen=True)
class ReadGroup:
    """Detectors served by one read of the lake: ``job`` is their merged WorkSpec, partitioned by the finest keys
    (those of every member but the coarser ones); ``task_keys`` are the keys tasks are cut by, those every
    member partitions by, so that each partition of a coarser member is made in one task from the finer ones."""

    members: tuple[DetectorJob, ...]
    job: DetectorJob
    lookbacks: dict[str, dt.timedelta]
    task_keys: tuple[str, ...]


def read_groups(jobs: Sequence[DetectorJob]) -> list[ReadGroup]:
    """The reads a run of ``jobs`` makes: one per partitioning, except that a partitioning by some of another's
    keys, date among both, over tables that other read holds, is served by that read (``coarser``): cross_venue's
    symbol-day partitions are the venue-symbol-day partitions of one symbol and day put together, and reading the
    10M-trade bench market's trades a second time for it cost ~7 of its ~12 CPU-seconds."""
    by_keys: dict[tuple[Any, ...], list[DetectorJob]] = {}
    for job in jobs:
        by_keys.setdefault(share_key(job), []).append(job)
    groups = list(by_keys.values())
    served: dict[int, list[int]] = {}  # finer group -> the coarser groups its read serves
    taken: set[int] = set()
    for i in sorted(range(len(groups)), key=lambda g: -len(groups[g][0].spec.partition_by)):
        if i in taken:
            continue
        for j, coarse in enumerate(groups):
            if j != i and j not in taken and j not in served and coarser(coarse[0], groups[i]):
                served.setdefault(i, []).append(j)
                taken.add(j)
    out = []
    for i, members in enumerate(groups):
        if i in taken:
            continue
        everyone = members + [m for j in served.get(i, []) for m in groups[j]]
        merged, lookbacks = merge_jobs(members, everyone)
        keys = tuple(k for k in merged.spec.partition_by if all(k in m.spec.partition_by for m in everyone))
        out.append(ReadGroup(tuple(everyone), merged, lookbacks, keys))
    return out


def coarser(job: DetectorJob, finer: Sequence[DetectorJob]) -> bool:
    """Whether ``finer``'s read can serve ``job``: its keys a strict part of theirs, both by date (tasks stay a day
    or less), its partitioned tables among theirs."""
    mine, theirs = set(job.spec.partition_by), set(finer[0].spec.partition_by)
    tables = {t for j in finer for t in j.partitioned_tables}
    return ("date" in mine and "date" in theirs and mine < theirs
            and set(job.partitioned_tables) <= tables)


def merge_jobs(jobs: Sequence[DetectorJob],
               readers: Sequence[DetectorJob] | None = None) -> tuple[DetectorJob, dict[str, dt.timedelta]]:
    """One read that serves every job: the union of their tables and projections, and per table the longest
    look-back of the jobs that read it (so a long look-back on trades does not drag in a day of orders).
    ``readers`` (all of ``jobs`` and any coarser jobs the read also serves) widen the projections, look-backs and
    side tables; the partitioning is ``jobs``'."""
    first = jobs[0]
    jobs = list(readers) if readers is not None else list(jobs)
    tables = tuple(dict.fromkeys(t for j in jobs for t in j.partitioned_tables))
    broadcast = tuple(dict.fromkeys(t for j in jobs for t in j.spec.broadcast))
    columns: dict[str, tuple[str, ...]] = {}
    lookbacks: dict[str, dt.timedelta] = {}
    for table in tables:
        readers = [j for j in jobs if table in j.partitioned_tables]
        lookbacks[table] = max(j.spec.lookback for j in readers)
        if all(j.spec.columns is not None and table in j.spec.columns for j in readers):
            columns[table] = tuple(sorted({c for j in readers for c in read_columns(j, table)}))
    spec = WorkSpec(tables=tables, partition_by=first.spec.partition_by,
                    lookback=max(j.spec.lookback for j in jobs), columns=columns or None, broadcast=broadcast,
                    only=_merged_only(jobs))
    return DetectorJob(first.detector, first.config, spec), lookbacks


def _merged_only(jobs: Sequence[DetectorJob]) -> dict[str, frozenset[Any]] | None:
    """The partitions a shared read must hold: those any job may alert on (a key restricted by every job, to the
    union of their values; no restriction when one job has none)."""
    if any(j.spec.only is None for j in jobs):
        return None
    shared = set.intersection(*(set(j.spec.only or {}) for j in jobs))
    return {k: frozenset().union(*((j.spec.only or {})[k] for j in jobs)) for k in shared} or None


def plan_tasks(job: DetectorJob, lake_root: Path, window: Window, venues: Sequence[str] | None,
               workers: int, threads: int = 1, lookbacks: dict[str, dt.timedelta] | None = None,
               task_keys: Sequence[str] | None = None, alongside: int = 0) -> list[LocalTask]:
    """Cut one detector's work into tasks aligned with the lake's venue/date directories: by ``task_keys``, some
    of its partition keys (all of them by default; a ``ReadGroup``'s keys common to every member). ``alongside``:
    how many tasks of other reads the pool runs with these, which balance the load as well as buckets would."""
    keys = tuple(task_keys) if task_keys is not None else job.spec.partition_by
    tables = job.partitioned_tables
    lookbacks = lookbacks or {t: job.spec.lookback for t in tables}
    all_files = {t: lake_files(lake_root, t, venues) for t in tables}
    by_venue = "venue" in keys
    by_date = "date" in keys
    days = sorted({f.date for fs in all_files.values() for f in fs if f.date is not None})
    owned_days = window_dates(window, days)
    venue_list = sorted({f.venue for fs in all_files.values() for f in fs if f.venue is not None})
    groups: list[tuple[str | None, tuple[dt.date, ...] | None]] = []
    venues_cut = venue_list if by_venue else [None]
    per = days_per_task(len(owned_days) * len(venues_cut), workers, lookbacks.values()) if by_date else 0
    for venue in venues_cut:
        if by_date:
            groups.extend((venue, tuple(owned_days[i:i + per])) for i in range(0, len(owned_days), per))
        else:
            groups.append((venue, tuple(owned_days)))
    other_keys = [k for k in keys if k not in ("venue", "date")]
    # Buckets keep every worker busy when a read has fewer venue-day groups than twice the workers, but each bucket's
    # task opens every file of its groups to learn its key (insider_pre_listing's venue-long tasks: 3,032 file opens
    # for the bench market's 1,516 trades files). With enough tasks of other reads beside them, the pool balances
    # without the split.
    few = len(groups) + alongside < 2 * workers
    n_buckets = max(1, -(-2 * workers // max(1, len(groups)))) if other_keys and workers > 1 and few else 1
    bcast = {t: tuple(f.path for f in lake_files(lake_root, t, venues)) for t in job.spec.broadcast}
    tasks = []
    for venue, owned in groups:
        files = {}
        for t in tables:
            need_days = set(read_dates(owned or (), lookbacks[t]))
            files[t] = tuple(f.path for f in all_files[t]
                             if (venue is None or f.venue == venue) and (f.date is None or f.date in need_days))
        if not any(files.values()):
            continue
        for i in range(n_buckets):
            tasks.append(LocalTask(job, files, window, owned if by_date else None,
                                   (i, n_buckets) if n_buckets > 1 else None, bcast, threads, (), lookbacks,
                                   tuple(other_keys)))
    return tasks


# Most consecutive days one task owns: each day's partitions hold a day of rows and its look-back, and a task holds
# all of its days' partitions at once.
MAX_DAYS_PER_TASK = 4


def days_per_task(day_groups: int, workers: int, lookbacks: Iterable[dt.timedelta]) -> int:
    """How many consecutive days a task owns. One, unless a table is read with a look-back: then a day's file is
    read for its own day and again for the next day's look-back, unless one task owns both (the bench market's
    trades, read with 10 hours of look-back, were read nearly twice). Up to ``MAX_DAYS_PER_TASK``, while every
    worker still gets four tasks or more to balance the load."""
    if not any(lb > dt.timedelta(0) for lb in lookbacks):
        return 1
    return max(1, min(MAX_DAYS_PER_TASK, day_groups // (4 * max(1, workers))))


# --- inside a worker ---------------------------------------------------------------------------------


def _connect(threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": threads})
    con.execute("SET TimeZone='UTC'")
    return con


def read_partitions(task: LocalTask, table: str) -> dict[tuple[Any, ...], pa.Table]:
    """The task's partitions of ``table``: key -> rows in the canonical order (time, then key).

    Each Parquet file is read with Arrow (only the projected columns), limited to the rows a partition may
    see, and cut by the keys other than the date; a file that holds one key (the generator's and most
    ingesters' layout: one file per venue, symbol and day) is handed on without a copy. The pieces of a key
    are then put in time order by :func:`sort_rows`, which costs little on files already in time order.
    A date partition D holds the rows with time in [D - look-back, D + 1 day), as plan.py defines.
    """
    job = task.job
    keys = job.spec.partition_by
    other = [k for k in keys if k != "date"]
    cols = read_columns(job, table)
    tcol = time_column(table)
    lookback = task.read_lookback(table)
    lo, hi = row_bounds(task.window, lookback)
    spans: list[tuple[dt.date | None, int | None, int | None]]
    if "date" in keys:
        if not tcol:
            raise ValueError(f"table {table} has no time column to partition by date")
        spans = []
        for owned in task.dates or ():
            start = dt.datetime.combine(owned, dt.time(), tzinfo=dt.UTC)
            spans.append((owned, _us(_latest(start - lookback, lo)), _us(_earliest(start + DAY, hi))))
    else:
        spans = [(None, _us(lo), _us(hi))]
    pieces: dict[tuple[Any, ...], list[pa.Table]] = {}
    unsure: set[tuple[Any, ...]] = set()  # partitions with a piece whose file does not declare the canonical order
    for path in task.files.get(table, ()):
        found = _read_piece(task, table, path, cols, other)
        if found is None:
            continue
        meta, single, data = found
        t = _times(job, table, path, data, tcol)
        ordered = t is not None and bool((t[1:] >= t[:-1]).all())
        # rows in the canonical order by the writer's word (``declares_order``), their times checked all the same
        trusted = (t is not None and ordered and declares_order(meta, table) and in_order_across(meta, t))
        for day, start_us, end_us in spans:
            rows = _within(data, t, start_us, end_us, ordered)
            split = ([(single, rows)] if rows.num_rows else []) if single is not None else split_by_keys(rows, other)
            for values, part in split:
                named = dict(zip(other, values, strict=True))
                if not task.owns(named) or not job.spec.allows(named):
                    continue
                key = _key(keys, other, values, day)
                pieces.setdefault(key, []).append(part)
                if not trusted:
                    unsure.add(key)
    # A partition's keys hold one value in all its rows: the order check need not compare them.
    return {key: _in_order(parts, table, other, key not in unsure and _follow(parts, tcol))
            for key, parts in pieces.items()}


def _times(job: DetectorJob, table: str, path: str, data: pa.Table, tcol: str | None) -> np.ndarray | None:
    """A file's time column as integers (None without one, or rows). The contract gives every row a time (ingestion
    refuses a row without one); a file placed in the lake by other means that lacks some is refused here, by name,
    rather than its rows given to a window or a day by a number that is not a time."""
    if not tcol or not data.num_rows:
        return None
    column = data.column(tcol)
    if column.null_count:
        raise Invalid(f"detector {job.name!r}: {table} file {path} has {column.null_count} row(s) without a {tcol}; "
                      f"the data contract requires one on every row", field=tcol)
    return time_values(column)


def _follow(parts: list[pa.Table], tcol: str | None) -> bool:
    """Whether each piece's times all come before the next's (one file's day after the day before's look-back
    tail): the pieces put together are then in order as they stand. A tie across pieces is left to the sort."""
    if len(parts) == 1:
        return True
    if tcol is None:
        return False
    bounds = [(int(t[0]), int(t[-1])) for t in (time_values(p.column(tcol)) for p in parts)]
    return all(last < first for (_, last), (first, _) in zip(bounds, bounds[1:], strict=False))


def _in_order(parts: list[pa.Table], table: str, constant: Sequence[str], trusted: bool) -> pa.Table:
    """A partition's pieces as one table in the canonical order: put together as they are when ``trusted`` (each
    piece in order by its file's declaration, one after another in time), else through ``sort_rows``' check, whose
    comparison of tied rows by key (trade and order ids where times are equal) the trust saves: the bench market's
    venue-symbol-day read over 10 days, least of 15 interleaved, 1.226 -> 1.144 CPU-s."""
    data = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    return data if trusted else sort_rows(data, table, constant=constant)


@contextmanager
def _reading(job: DetectorJob, table: str, path: str) -> Iterator[None]:
    """A lake file that cannot be opened or read fails the run with the detector, table and file named."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        raise RuntimeError(f"detector {job.name!r}: reading {table} from {path} failed: {exc}") from exc


def _read_piece(task: LocalTask, table: str, path: str, cols: list[str], other: Sequence[str]
                ) -> tuple[pq.FileMetaData, tuple[Any, ...] | None, pa.Table] | None:
    """A lake file's metadata, its one value of each key in ``other`` (None when it holds several) and its rows in
    the contract's types; None when the file holds one key that the task does not own or no detector of the read
    can alert on, so its rows are not decoded."""
    job = task.job
    with _reading(job, table, path):
        source = pa.OSFile(path)
    try:
        file = _open_file(job, table, path, source)
        single = _single_key(file.metadata, other)
        known = dict(zip(other, single, strict=True)) if single is not None else {}
        # a file of one key of another task's bucket, or on which no detector of the read can alert
        # (``WorkSpec.only``): its rows would all be dropped
        if known and not (task.owns(known) and job.spec.allows(known)):
            return None
        return file.metadata, single, _read_file(job, table, path, file, source, cols, task.threads, known)
    finally:
        source.close()


def _open_file(job: DetectorJob, table: str, path: str, source: pa.NativeFile) -> pq.ParquetFile:
    """A lake file opened (its metadata read), to read its columns of many values from. Text is read as large
    strings (64-bit offsets), then narrowed by ``conform``: Arrow's Parquet decoder writes them faster than strings
    with 32-bit offsets (Arrow 26, an order-events file's order id 15.0 -> 9.2 ns a row; the runner's whole read of
    order events 49.6 -> 41.4 ns a row and of trades 125 -> 108, narrowing included, least of 7 over 10 bench days).
    Without Arrow's pre-buffering: it hands a file's column chunks to Arrow's I/O threads to fetch as coalesced
    reads, which pays off on object stores, while a worker reading a local file (the page cache, mostly) paid for
    the threads' hand-offs: the market group's read over 10 bench days, least of 11 interleaved, 1.253 -> 1.056
    CPU-s (medians 1.427 -> 1.363)."""
    with _reading(job, table, path):
        return pq.ParquetFile(source, pre_buffer=False, **_LARGE_TEXT)


# ``binary_type`` came with pyarrow 19: older versions read text with 32-bit offsets, as before
_LARGE_TEXT: dict[str, Any] = ({"binary_type": pa.large_binary()}
                               if "binary_type" in inspect.signature(pq.ParquetFile).parameters else {})


def _read_file(job: DetectorJob, table: str, path: str, file: pq.ParquetFile, source: pa.NativeFile,
               cols: list[str], threads: int, known: dict[str, Any] | None = None) -> pa.Table:
    """The file's rows in the contract's types. A column whose one value the file's statistics give (``known``:
    the venue and symbol of a file per venue, symbol and day) is not decoded but written out (``_repeated``):
    expanding a dictionary column to strings cost ~10 ns a row, a fifth of reading an order event. Columns of few
    values (``FEW_VALUES``) are read from Parquet's dictionary pages as Arrow dictionaries through a second handle
    on the same file and metadata (a large-string read decodes every value: event, side and order type 11.7 ->
    33.4 ns a row)."""
    rows = file.metadata.num_rows
    constant = {c: v for c, v in (known or {}).items()
                if c in cols and isinstance(v, str) and rows * len(v.encode()) < 2**31}  # 32-bit offsets
    wanted = [c for c in cols if c not in constant]
    coded = [c for c in wanted if c in FEW_VALUES]
    with _reading(job, table, path):
        data = file.read(columns=[c for c in wanted if c not in FEW_VALUES], use_threads=threads > 1)
        if coded:
            few = pq.ParquetFile(source, metadata=file.metadata, read_dictionary=coded, pre_buffer=False)
            for name, col in zip(coded, few.read(columns=coded, use_threads=threads > 1).columns, strict=True):
                data = data.append_column(name, col)
    for name, value in constant.items():
        data = data.append_column(name, _repeated(value, data.num_rows))
    return conform(data, table, cols)


def _repeated(value: str, n: int) -> pa.Array:
    """A string column of ``n`` rows, each ``value``: a zero-copy slice of a longer such column kept per value (its
    offsets a range, its bytes the value repeated), grown when a file needs more rows. Writing them out per file
    (an ``arange`` and the bytes) was ~2 % of the read: the few values (venues, symbols) recur in every file."""
    raw = value.encode()
    if n * len(raw) >= 2**31:  # past 32-bit offsets: the caller decodes such a file instead
        raise ValueError(f"{n} rows of {value!r} do not fit a string column")
    column = _REPEATS.pop(value, None)
    if column is None or len(column) < n:
        size = max(n, 2 * len(column) if column is not None else 1 << 17)
        size = min(size, max(n, (2**31 - 1) // max(len(raw), 1)))
        offsets = np.arange(0, (size + 1) * len(raw), len(raw), dtype=np.int32) if raw else np.zeros(size + 1, np.int32)
        column = pa.StringArray.from_buffers(size, pa.py_buffer(offsets), pa.py_buffer(raw * size))
    _REPEATS[value] = column  # the most recent last
    while len(_REPEATS) > _MAX_REPEATS:
        _REPEATS.pop(next(iter(_REPEATS)))
    return column.slice(0, n)


# the columns kept, least recently used first: a lake of many symbols keeps those of the files read lately
_REPEATS: dict[str, pa.StringArray] = {}
_MAX_REPEATS = 32


# String columns with a handful of distinct values: decoded from Parquet's dictionary pages as Arrow
# dictionaries, then expanded to plain strings by ``conform``, which costs less than decoding every value
# as a string (measured ~20% less CPU to read the orders table).
FEW_VALUES = frozenset({"venue", "symbol", "event", "side", "order_type", "aggressor", "kind", "asset"})


def _single_key(meta: pq.FileMetaData, keys: Sequence[str]) -> tuple[Any, ...] | None:
    """The one value of each key column when every row group's statistics say min == max with no nulls
    (hashing millions of equal strings to learn that is the costliest part of cutting partitions).
    Long strings are not trusted: a writer may truncate their statistics."""
    if not keys or meta.num_row_groups == 0:
        return None
    where = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    values = []
    for key in keys:
        if key not in where:
            return None
        seen = set()
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(where[key]).statistics
            if (stats is None or not stats.has_min_max or stats.null_count != 0 or stats.min != stats.max
                    or not isinstance(stats.min, str) or len(stats.min) >= 64):
                return None
            seen.add(stats.min)
        if len(seen) != 1:
            return None
        values.append(seen.pop())
    return tuple(values)


def _within(data: pa.Table, t: np.ndarray | None, start_us: int | None, end_us: int | None,
            ordered: bool = False) -> pa.Table:
    """Rows with time in [start, end); the table itself when all of them are. ``ordered``: ``t`` ascends (a lake
    file's rows, in time order), so the rows are a slice, found by bisection and taken without a copy (a mask
    over every row and a filter's copy of the look-back tail it kept took 0.17-0.26 of ten bench days' ~4 read
    CPU-s, the slice 0.03-0.06). The slice keeps the file's buffers alive while its partition lives: for a task's
    first day, the whole day before for its look-back tail."""
    if t is None or (start_us is None and end_us is None):
        return data
    if ordered:
        a = int(np.searchsorted(t, start_us, "left")) if start_us is not None else 0
        b = int(np.searchsorted(t, end_us, "left")) if end_us is not None else len(t)
        return data if a == 0 and b == len(t) else data.slice(a, max(0, b - a))
    keep = np.ones(len(t), dtype=bool)
    if start_us is not None:
        keep &= t >= start_us
    if end_us is not None:
        keep &= t < end_us
    if keep.all():
        return data
    return data.filter(pa.array(keep)) if keep.any() else data.slice(0, 0)


def _us(t: dt.datetime | None) -> int | None:
    return None if t is None else (t - EPOCH) // dt.timedelta(microseconds=1)


def _latest(a: dt.datetime, b: dt.datetime | None) -> dt.datetime:
    return a if b is None or a >= b else b


def _earliest(a: dt.datetime, b: dt.datetime | None) -> dt.datetime:
    return a if b is None or a <= b else b


def _key(keys: Sequence[str], other: Sequence[str], values: tuple[Any, ...], day: dt.date | None) -> tuple[Any, ...]:
    by_name = dict(zip(other, values, strict=True))
    return tuple(day if k == "date" else by_name[k] for k in keys)


def _bucket(values: tuple[Any, ...], n: int) -> int:
    """A stable hash of a partition key (Python's hash of a str changes between processes)."""
    return zlib.crc32(repr(values).encode()) % n


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
    started_cpu = time.process_time()
    sliced, broadcast = read_task(task)
    per_table = {table: sum(p.num_rows for p in parts.values()) for table, parts in sliced.items()}
    rows = sum(per_table.values())
    read_seconds = time.perf_counter() - started
    read_cpu = time.process_time() - started_cpu
    members = task.members or (job,)
    outputs: dict[str, list[pa.Table]] = {m.name: [] for m in members}
    ran = dict.fromkeys(outputs, 0)
    took = dict.fromkeys(outputs, 0.0)
    cpu = dict.fromkeys(outputs, 0.0)

    def record(member: DetectorJob, alerts: pa.Table | None, seconds: float, cpu_seconds: float) -> None:
        took[member.name] += seconds
        cpu[member.name] += cpu_seconds
        if alerts is not None:
            ran[member.name] += 1
            outputs[member.name].append(alerts)

    n_keys = run_members(task, sliced, broadcast, record)
    done = {m: (_gathered(o), ran[m], took[m]) for m, o in outputs.items()}
    if not task.members:
        alerts, n, _ = done[job.name]
        return TaskResult(alerts, rows, n, read_seconds=read_seconds, rows_by_table=per_table, read_cpu=read_cpu,
                          cpu_by_member=cpu, peak_mib=_peak_mib())
    return TaskResult(_empty(), rows, n_keys, done, read_seconds, per_table, read_cpu, cpu, _peak_mib())


def _gathered(alerts: list[pa.Table]) -> pa.Table:
    """A member's alerts over the task's partitions as one table of one chunk. Most partitions raise none, and a
    concatenation of every partition's (empty) table kept a chunk per partition and column, which the parent then
    unpickled chunk by chunk: 2 CPU-s over the bench market (13 MB of results), on a third core it does not have."""
    kept = [a for a in alerts if a.num_rows] or alerts[:1]
    return pa.concat_tables(kept).combine_chunks() if kept else _empty()


def _peak_mib() -> float:
    """This process's peak resident memory: a worker forked from the warm server is not a child of the parent,
    whose ``RUSAGE_CHILDREN`` then cannot tell it (the bench's "largest worker")."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


Sliced = dict[str, dict[tuple[Any, ...], pa.Table]]  # table -> partition key -> rows


def read_task(task: LocalTask) -> tuple[Sliced, dict[str, pa.Table]]:
    """The task's partitions of each table it reads, and its side tables."""
    job = task.job
    sliced = {table: read_partitions(task, table) for table in job.partitioned_tables}
    broadcast = {t: read_broadcast(t, task.broadcast_files[t], task.threads) for t in job.spec.broadcast}
    return sliced, broadcast


def run_members(task: LocalTask, sliced: Sliced, broadcast: dict[str, pa.Table],
                record: Any) -> int:
    """Every member's kernel on each of its partitions of the task; ``record(member, alerts or None, seconds,
    CPU-seconds)`` after each. Returns how many partitions the read held.

    Partition by partition, every member partitioned as the read is in turn: the members' tables (and anything
    their kernels share through Partition.shared) are built once per partition and dropped before the next. Then
    each coarser member (``ReadGroup``) on its partitions, made of the read's."""
    job = task.job
    members = task.members or (job,)
    all_keys = sorted({k for per in sliced.values() for k in per}, key=_sortable)
    if not job.spec.partition_by and not all_keys:
        all_keys = [()]  # one whole-window partition even when empty, like a run over an empty lake
    fine = [m for m in members if m.spec.partition_by == job.spec.partition_by]
    for key in all_keys:
        shared: dict[Any, Any] = {}
        views: dict[tuple[Any, ...], pa.Table] = {}
        for member in fine:
            t0, c0 = time.perf_counter(), time.process_time()
            alerts = _run_kernel(member, task, key, sliced, broadcast, shared, views)
            record(member, alerts, time.perf_counter() - t0, time.process_time() - c0)
    for member in members:
        if member.spec.partition_by == job.spec.partition_by:
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        merged = _coarser_partitions(task, member, sliced)
        record(member, None, time.perf_counter() - t0, time.process_time() - c0)
        for key in sorted({k for per in merged.values() for k in per}, key=_sortable):
            t0, c0 = time.perf_counter(), time.process_time()
            alerts = _run_kernel(member, task, key, merged, broadcast, {}, {}, in_pieces=True)
            record(member, alerts, time.perf_counter() - t0, time.process_time() - c0)
    return len(all_keys)


def _coarser_partitions(task: LocalTask, member: DetectorJob, sliced: Sliced) -> Sliced:
    """A coarser member's partitions, each the read's partitions of its key put together, one after another (rows
    before its own look-back left out first): the rows its own read would give it, before their canonical sort,
    which ``_run_kernel`` leaves to the first kernel that asks for the table (``OrderedOnUse``)."""
    fine_keys = task.job.spec.partition_by
    picks = [fine_keys.index(k) for k in member.spec.partition_by]
    out: Sliced = {}
    for table in member.partitioned_tables:
        tcol = time_column(table)
        trim = tcol is not None and member.spec.lookback < task.read_lookback(table)
        pieces: dict[tuple[Any, ...], list[pa.Table]] = {}
        for key in sorted(sliced.get(table, {}), key=_sortable):
            part = sliced[table][key]
            span = owned_span(task.window, dict(zip(fine_keys, key, strict=True)))
            if trim and span.start is not None:
                assert tcol is not None
                part = _since(part, tcol, span.start - member.spec.lookback)
            if part.num_rows:
                pieces.setdefault(tuple(key[i] for i in picks), []).append(part)
        out[table] = {key: pa.concat_tables(parts) if len(parts) > 1 else parts[0] for key, parts in pieces.items()}
    return out


def _since(part: pa.Table, tcol: str, start: dt.datetime) -> pa.Table:
    """The rows of a partition (canonical order: by time, nulls last) from ``start`` on: a zero-copy slice, where
    a filter copied every column of the rows kept."""
    times = part.column(tcol)
    if times.null_count:
        lo = pa.scalar(start, times.type)
        return part.filter(pc.greater_equal(times, lo))
    t = time_values(times)
    first = int(np.searchsorted(t, _unit_count(start, times.type), side="left"))
    return part.slice(first) if first else part


def _unit_count(t: dt.datetime, kind: pa.DataType) -> int:
    """``t`` as a count of ``kind``'s time unit since the epoch (the integer a timestamp column stores)."""
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[kind.unit]
    # rounded up: a whole count at or after ``t`` is the first a row at or after ``t`` can hold
    return -(-((t - EPOCH) // dt.timedelta(microseconds=1)) * per_second // 1_000_000)


def _run_kernel(job: DetectorJob, task: LocalTask, key: tuple[Any, ...],
                sliced: dict[str, dict[tuple[Any, ...], pa.Table]], broadcast: dict[str, pa.Table],
                shared: dict[Any, Any], views: dict[tuple[Any, ...], pa.Table], in_pieces: bool = False
                ) -> pa.Table | None:
    """One detector's kernel on one partition, given exactly the rows a read of its own would give it
    (None when it has no rows there). Members asking for the same projection and look-back get the same
    table objects (``views``), so a kernel's cache in ``shared`` can recognise them. ``in_pieces``: ``sliced``
    holds a coarser member's pieces put together (``_coarser_partitions``), handed to the kernel as
    ``Partition.pieces`` and put in canonical order only when it asks ``Partition.tables`` for them: nine in ten
    of cross_venue's symbol-days are settled by a screen that reads the pieces, and the sort's take of every column
    was ~45 % of its CPU-seconds on the bench market."""
    key_dict = dict(zip(job.spec.partition_by, key, strict=True))
    if not job.spec.allows(key_dict):
        return None  # read for another detector of the read; this one raises nothing there
    span = owned_span(task.window, key_dict)
    tables = {}
    for table in job.partitioned_tables:
        cols = read_columns(job, table)
        tcol = time_column(table)
        trim = tcol is not None and span.start is not None and job.spec.lookback < task.read_lookback(table)
        view_key = (table, tuple(cols), job.spec.lookback if trim else None)
        if view_key not in views:
            part = sliced[table].get(key)
            if part is not None and trim:
                # the shared read reached further back than this detector asked for
                assert tcol is not None and span.start is not None
                part = _since(part, tcol, span.start - job.spec.lookback)
            views[view_key] = (conform(part, table, cols) if part is not None
                               else canonical_schema(table, cols).empty_table())
        tables[table] = views[view_key]
    if job.spec.partition_by and all(t.num_rows == 0 for t in tables.values()):
        return None  # a key that only exists in another detector's tables or longer look-back
    side = {t: broadcast[t] for t in job.spec.broadcast}
    pieces: dict[str, pa.Table] = {}
    if in_pieces:
        # the member's keys hold one value in all its partition's rows (the symbol): the sort need not move them
        same = [k for k in job.spec.partition_by if k != "date"]
        pieces, tables = tables, OrderedOnUse({t: partial(sort_rows, p, t, constant=same) for t, p in tables.items()})
    try:
        alerts = job.detector.kernel(Partition(key_dict, tables, span, side, shared, pieces), job.config)
    except Exception as exc:
        # Name the detector and the partition: the traceback alone comes from a worker process.
        raise KernelFailed(f"detector {job.name!r} failed on partition {key_dict}: "
                           f"{type(exc).__name__}: {exc}") from exc
    return finish_alerts(job.detector, alerts, span)


def _start_worker(threads: int, next_slot: Any | None, parent: dict[str, Any] | None = None) -> None:
    """A worker process's set-up: the parent's environment and import path (a worker forked from the warm server
    would otherwise have the server's: ``warm_workers``), its share of the cores for the kernels' own thread pools,
    Arrow's memory pool (``use_steady_allocator``), and, when the pool has a core (or several) per worker, those
    cores only (``pin_to_cores``)."""
    adopt_environment(parent)
    _limit_threads(threads)
    use_steady_allocator()
    if next_slot is not None:
        with next_slot.get_lock():
            slot = next_slot.value
            next_slot.value += 1
        pin_to_cores(slot, threads)


def _limit_threads(threads: int) -> None:
    """A worker's share of the cores for the kernels' own thread pools. The pool already runs one worker per
    core; a Polars pool of every core inside each worker only adds hand-offs between threads (measured: the
    market kernels took 27% more CPU-seconds with 2 Polars threads than with 1 on a 2-core machine). Set before
    Polars is first imported (a task's detector brings it in); a value the user set is kept."""
    os.environ.setdefault("POLARS_MAX_THREADS", str(threads))


def use_steady_allocator() -> None:
    """Arrow's buffers from jemalloc (or the system allocator where the build has none) rather than
    pyarrow's default mimalloc, unless the operator chose a pool (``ARROW_DEFAULT_MEMORY_POOL``). On hosts with
    transparent huge pages always on, mimalloc's fresh pages made reading a partition's Parquet files cost
    1.5-3x the CPU-seconds from one run to the next (system time: pages zeroed in the kernel); measured, the
    venue-symbol-day reads of the 1M bench market: mimalloc 3.3-4.4 CPU-s, jemalloc 3.0-3.1, three runs each.
    glibc's malloc (numpy's arrays) is left at its defaults: keeping freed memory by ``mallopt`` (mmap threshold
    32 MiB, trim 512 MiB) measured no better over ten bench days (kernels 5.5-5.8 against 5.6-6.4 CPU-s), since
    glibc already raises its mmap threshold as a worker frees its first large arrays."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:
        pa.set_memory_pool(pa.system_memory_pool())


def pinning_enabled(workers: int, threads: int) -> bool:
    """Whether workers are pinned: one core set per worker fits in the cores this process may use, and the
    operator did not turn it off (``HARBOUR_PIN_WORKERS=0``, e.g. beside other busy services on the cores)."""
    if os.environ.get("HARBOUR_PIN_WORKERS", "1") == "0" or not hasattr(os, "sched_setaffinity"):
        return False
    return workers > 1 and workers * threads <= len(os.sched_getaffinity(0))


def pin_to_cores(slot: int, threads: int) -> None:
    """Keep this process (the calling thread and every thread it starts later: Polars', Arrow's) on the
    ``slot``-th group of ``threads`` cores. Each Polars operation is handed from the Python thread to a
    Polars pool thread and back; on a virtual machine waking a thread on another core costs far more than a
    switch on the same core (measured on the 2-core host: a 3-row join 368-510 us unpinned, 176 us pinned; the
    market suite, serial over the 1M bench market, 32.5 -> 22-26 CPU-seconds)."""
    cores = sorted(os.sched_getaffinity(0))
    start = (slot * threads) % len(cores)
    os.sched_setaffinity(0, set(cores[start:start + threads]) or {cores[0]})


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
        self.worker_peak_mib = 0.0  # the largest peak resident memory a worker reported (``TaskResult.peak_mib``)

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
            # Not fork: the parent may hold DuckDB/Arrow threads, and fork copies their locks. Forked from a clean
            # server that has loaded the detectors (``warm_workers``), else spawned.
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            context = worker_context()
            next_slot = context.Value("i", 0) if pinning_enabled(self.workers, threads) else None
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_start_worker,
                                             initargs=(threads, next_slot, worker_environment()))
        return self._pool

    def run_job(self, job: DetectorJob, lake_root: Path, window: Window, venues: Sequence[str] | None,
                progress: Progress = NO_PROGRESS) -> tuple[pa.Table, int, int]:
        """Alerts of one detector, rows read, partitions run."""
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        tasks = plan_tasks(job, lake_root, window, venues, self.workers, threads)
        progress.start(job.name, len(tasks))
        results: list[TaskResult] = []
        for _, result in self._map_groups([(0, t) for t in tasks]):
            results.append(result)
            progress.advance(job.name)
        alerts = [r.alerts for r in results]
        table = pa.concat_tables(alerts) if alerts else _empty()
        return table, sum(r.rows for r in results), sum(r.partitions for r in results)

    def run_jobs(self, jobs: Sequence[DetectorJob], lake_root: Path, window: Window,
                 venues: Sequence[str] | None,
                 progress: Progress = NO_PROGRESS) -> dict[str, tuple[pa.Table, int, int, float, float]]:
        """Several detectors, reading the lake once per group that shares partitioning (``read_groups``).
        Returns name -> (alerts, rows read, partitions, seconds: own kernel time + a share of the read,
        CPU-seconds: own kernels' + an equal share of the group's read)."""
        groups = read_groups(jobs)
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        tasks: list[tuple[int, LocalTask]] = []
        plans = [plan_tasks(group.job, lake_root, window, venues, self.workers, threads, group.lookbacks,
                            group.task_keys) for group in groups]
        for g, group in enumerate(groups):
            others = sum(len(p) for h, p in enumerate(plans) if h != g)
            planned = plans[g]
            if others and any(t.bucket is not None for t in planned):
                planned = plan_tasks(group.job, lake_root, window, venues, self.workers, threads, group.lookbacks,
                                     group.task_keys, alongside=others)
            mine = [replace(t, members=group.members) for t in planned]
            tasks.extend((g, t) for t in mine)
            for m in group.members:
                progress.start(m.name, len(mine))
        # Every group's tasks go to the pool at once, fewest tasks per group first: a group that is one big
        # task (a whole-window transfer graph) then runs beside the many venue-day tasks, not after them.
        sizes = {g: sum(1 for h, _ in tasks if h == g) for g in range(len(groups))}
        tasks.sort(key=lambda gt: sizes[gt[0]])
        results: dict[int, list[TaskResult]] = {g: [] for g in range(len(groups))}
        for g, result in self._map_groups(tasks):
            results[g].append(result)
            for name in result.by_member or {}:
                progress.advance(name)
        out: dict[str, tuple[pa.Table, int, int, float, float]] = {}
        for g, group in enumerate(groups):
            members = group.members
            done = results[g]
            read = sum(r.read_seconds for r in done) / len(members) / self.workers
            read_cpu = sum(r.read_cpu for r in done) / len(members)
            for m in members:
                parts = [r.by_member[m.name] for r in done if r.by_member]
                alerts = pa.concat_tables([p[0] for p in parts]) if parts else _empty()
                kernel = sum(p[2] for p in parts) / self.workers
                rows = sum(r.rows_by_table.get(t, 0) for r in done for t in m.partitioned_tables)
                cpu = sum(r.cpu_by_member.get(m.name, 0.0) for r in done) + read_cpu
                out[m.name] = (alerts, rows, sum(p[1] for p in parts), kernel + read, cpu)
        return out

    def _map_groups(self, tasks: list[tuple[int, LocalTask]]) -> Iterator[tuple[int, TaskResult]]:
        if self.workers == 1 or len(tasks) <= 1:
            for g, task in tasks:
                yield g, run_task(task)
            return
        pool = self._executor()
        pending: dict[Future[TaskResult], int] = {pool.submit(run_task, t): g for g, t in tasks}
        while pending:
            done, _ = wait(set(pending), return_when=FIRST_COMPLETED)
            for fut in done:
                result = fut.result()
                self.worker_peak_mib = max(self.worker_peak_mib, result.peak_mib)
                yield pending.pop(fut), result
