"""Planning shared by every runner: which files, columns, rows and partitions a detector's WorkSpec needs.

Both runners use these functions, so they read the same rows, cut the same partitions, hand kernels the
same (canonically typed and ordered) tables and keep the same alerts. Only *where* the kernel runs differs.

Rules (documented in docs/detectors.md):

- Files are pruned from the lake layout's directory names (``venue=V/date=D``) before anything is read.
- Rows are limited to ``[window.start - lookback, window.end)`` on the table's time column.
- ``date`` as a partition key is the UTC date of the time column. With a look-back, a row also belongs to the
  partitions of the following days its look-back reaches, so partition D holds day D plus its look-back.
- A partition *owns* the part of the window that falls in it (for a date partition: that day). The kernel
  sees look-back rows as context only; alerts whose ``end`` lies outside the owned span are dropped, so a
  day's alerts are not raised twice by the next day's partition.
- Within a partition, rows are ordered by the time column, then the table's key columns.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harbour.core.errors import Invalid
from harbour.data.arrow_strings import dictionary_strings
from harbour.data.layout import table_dir
from harbour.data.row_order import sort_columns
from harbour.data.schemas import ALERTS, TABLES
from harbour.detect.framework import NO_ALERTS, Detector, Window, WorkSpec

DAY = dt.timedelta(days=1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class DetectorJob:
    """One detector with its config and the WorkSpec it described."""

    detector: Detector[Any]
    config: Any
    spec: WorkSpec
    # ``read_columns`` per table, worked out once: the runner asks for them per member and partition
    columns_known: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.detector.name

    @property
    def partitioned_tables(self) -> tuple[str, ...]:
        return tuple(t for t in self.spec.tables if t not in self.spec.broadcast)


def make_job(detector: Detector[Any], config: Any = None, lake_root: Path | None = None) -> DetectorJob:
    config = config if config is not None else detector.default_config()
    config = detector.bind_to_lake(config, lake_root)
    spec = detector.describe(config)
    for table in (*spec.tables, *spec.broadcast):
        if table not in TABLES:
            raise Invalid(f"detector {detector.name!r} reads unknown table {table!r}; known: {', '.join(TABLES)}",
                          field="tables")
    for table in spec.tables:
        if table in spec.broadcast:
            continue
        cols = set(TABLES[table].schema.names)
        for key in spec.partition_by:
            if key != "date" and key not in cols:
                raise Invalid(f"detector {detector.name!r} partitions table {table!r} by {key!r}, a column it lacks",
                              field="partition_by")
    return DetectorJob(detector, config, spec)


# --- the lake on disk ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LakeFile:
    path: str
    venue: str | None
    date: dt.date | None


def lake_files(root: Path, table: str, venues: Sequence[str] | None = None,
               dates: Iterable[dt.date] | None = None) -> list[LakeFile]:
    """Parquet files of ``table`` under ``root``, pruned by venue and date directory names."""
    spec = TABLES[table]
    base = table_dir(root, table)
    if not base.is_dir():
        return []
    wanted_dates = set(dates) if dates is not None else None
    wanted_venues = set(venues) if venues else None
    out: list[LakeFile] = []
    venue_dirs: list[tuple[str | None, Path]] = [(None, base)]
    if "venue" in spec.partition_by:
        venue_dirs = [(_value(d.name, "venue"), d) for d in sorted(base.iterdir()) if d.name.startswith("venue=")]
        venue_dirs = [(v, d) for v, d in venue_dirs if wanted_venues is None or v in wanted_venues]
    for venue, vdir in venue_dirs:
        date_dirs: list[tuple[dt.date | None, Path]] = [(None, vdir)]
        if "date" in spec.partition_by:
            date_dirs = [(dt.date.fromisoformat(_value(d.name, "date")), d)
                         for d in sorted(vdir.iterdir()) if d.name.startswith("date=")]
            date_dirs = [(day, d) for day, d in date_dirs if wanted_dates is None or day in wanted_dates]
        for day, ddir in date_dirs:
            out.extend(LakeFile(str(f), venue, day) for f in sorted(ddir.glob("*.parquet")))
    return out


def _value(dirname: str, key: str) -> str:
    return dirname[len(key) + 1:]


# --- dates, spans and columns -------------------------------------------------------------------------


def window_dates(window: Window, available: Iterable[dt.date]) -> list[dt.date]:
    """The days of the lake that fall in the window (the days that own alerts)."""
    lo = window.start.astimezone(dt.UTC).date() if window.start else None
    hi = (window.end.astimezone(dt.UTC) - dt.timedelta(microseconds=1)).date() if window.end else None
    return sorted(d for d in set(available) if (lo is None or d >= lo) and (hi is None or d <= hi))


def lookback_days(lookback: dt.timedelta) -> int:
    """How many earlier days a partition's look-back can reach into."""
    return math.ceil(lookback / DAY) if lookback > dt.timedelta(0) else 0


def read_dates(owned: Iterable[dt.date], lookback: dt.timedelta) -> list[dt.date]:
    """Days whose files must be read to give the owned days their look-back."""
    k = lookback_days(lookback)
    return sorted({d - dt.timedelta(days=i) for d in owned for i in range(k + 1)})


def row_bounds(window: Window, lookback: dt.timedelta) -> tuple[dt.datetime | None, dt.datetime | None]:
    lo = window.start - lookback if window.start else None
    return lo, window.end


def owned_span(window: Window, key: dict[str, Any]) -> Window:
    """The part of the window a partition owns: its day (if partitioned by date) clipped to the window."""
    day = key.get("date")
    if day is None:
        return window
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    end = start + DAY
    if window.start and window.start > start:
        start = window.start
    if window.end and window.end < end:
        end = window.end
    return Window(start, end)


def time_column(table: str) -> str | None:
    return TABLES[table].time_column


def read_columns(job: DetectorJob, table: str) -> list[str]:
    """Columns to read for ``table``: the projection (or the whole contract), the partition keys, the time
    and key columns, in the contract's order so both runners hand kernels identical tables."""
    known = job.columns_known.get(table)
    if known is None:
        known = job.columns_known[table] = tuple(_read_columns(job, table))
    return list(known)


def _read_columns(job: DetectorJob, table: str) -> list[str]:
    schema = TABLES[table].schema
    wanted = set(job.spec.columns[table]) if job.spec.columns and table in job.spec.columns else set(schema.names)
    unknown = wanted - set(schema.names)
    if unknown:
        raise Invalid(f"detector {job.name!r} asks for columns {sorted(unknown)} that table {table!r} does not have",
                      field="columns")
    wanted.update(k for k in job.spec.partition_by if k != "date" and k in schema.names)
    # The time and key columns order the rows inside a partition, identically on every runner.
    wanted.update(sort_columns(table))
    return [n for n in schema.names if n in wanted]


def canonical_schema(table: str, columns: Sequence[str]) -> pa.Schema:
    return _canonical_schema(table, tuple(columns))


@lru_cache(maxsize=256)
def _canonical_schema(table: str, columns: tuple[str, ...]) -> pa.Schema:
    """Made once per projection: the runners conform every partition's tables to it (~0.05 ms a build)."""
    schema = TABLES[table].schema
    return pa.schema([schema.field(c) for c in columns])


def conform(data: pa.Table, table: str, columns: Sequence[str]) -> pa.Table:
    """``data`` with exactly ``columns`` in the contract's types (engines disagree on nullability, tz). Columns
    already of their type are kept as they are (a cast to the same type still cost a call per column)."""
    target = canonical_schema(table, columns)
    data = data.select(list(columns))
    try:
        return pa.Table.from_arrays([col if col.type == kind else _as_type(col, kind)
                                     for col, kind in zip(data.columns, target.types, strict=True)], schema=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise Invalid(f"table {table!r}: a column does not fit the data contract: {exc}", field=table) from exc


def _as_type(col: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    """``col.cast(kind)``; a dictionary of strings (the lake's columns of few values, read so) written out to
    strings chunk by chunk in a compiled pass (``dictionary_strings``: a third of the cast's time)."""
    if kind == pa.string() and pa.types.is_dictionary(col.type):
        return pa.chunked_array([dictionary_strings(c) for c in col.chunks], type=kind)
    if kind == pa.string() and pa.types.is_large_string(col.type):
        return pa.chunked_array([piece.cast(kind) for c in col.chunks for piece in _fitting(c)], type=kind)
    return col.cast(kind)


# The most bytes a string array's 32-bit offsets address (a constant, so that a test can lower it)
NARROW_LIMIT = 2**31 - 1


def _fitting(chunk: pa.Array) -> list[pa.Array]:
    """A large-string chunk (the runner reads text so, ``local._open_file``) cut into slices whose bytes each fit
    32-bit offsets, so that narrowing it to strings never fails on a file with more than 2 GiB of text in a column
    (Arrow's string reader would have handed such a column on in several chunks too)."""
    offsets = np.frombuffer(chunk.buffers()[1], np.int64)[chunk.offset:chunk.offset + len(chunk) + 1]
    if len(chunk) == 0 or int(offsets[-1] - offsets[0]) <= NARROW_LIMIT:
        return [chunk]
    pieces, start = [], 0
    while start < len(chunk):
        # the last row whose end lies within the limit of the piece's first byte (at least one row a piece)
        stop = max(start + 1, int(np.searchsorted(offsets, offsets[start] + NARROW_LIMIT, side="right")) - 1)
        pieces.append(chunk.slice(start, stop - start))
        start = stop
    return pieces


# --- partitions and alerts ----------------------------------------------------------------------------


def split_by_keys(data: pa.Table, key_columns: Sequence[str]) -> list[tuple[tuple[Any, ...], pa.Table]]:
    """Cut a table (rows in any order) into one table per distinct key, ordered by key; each keeps its rows'
    relative order. A table holding one key only (a lake file per venue, symbol and day) is not copied."""
    n = data.num_rows
    if n == 0:
        return []
    if not key_columns:
        return [((), data)]
    codes = np.zeros(n, np.int64)
    values: list[list[Any]] = []
    for col in key_columns:
        encoded = pc.dictionary_encode(data.column(col))
        chunks = encoded.chunks
        dictionary = chunks[0].dictionary.to_pylist() if chunks else []
        # a null key is a key of its own, coded after the dictionary's values
        idx = np.concatenate([c.indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False) for c in chunks])
        codes = codes * (len(dictionary) + 1) + idx
        values.append([*dictionary, None])
    first = int(codes[0])
    if (codes == first).all():
        return [(_decode(first, values), data)]
    order = np.argsort(codes, kind="stable")
    codes = codes[order]
    starts = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1, [n]])
    parts = [(_decode(int(codes[a]), values), data.take(pa.array(order[a:b])))
             for a, b in zip(starts[:-1], starts[1:], strict=True)]
    return sorted(parts, key=lambda kv: tuple("" if v is None else v for v in kv[0]))


def _decode(code: int, values: list[list[Any]]) -> tuple[Any, ...]:
    out = []
    for vals in reversed(values):
        code, i = divmod(code, len(vals))
        out.append(vals[i])
    return tuple(reversed(out))


def finish_alerts(detector: Detector[Any], alerts: pa.Table, span: Window) -> pa.Table:
    """Check a kernel's output against the contract and keep the alerts whose end lies in the owned span."""
    if alerts is NO_ALERTS:
        return alerts  # most partitions' answer; checking its columns cost ~0.14 ms a call (a list built per name)
    if not isinstance(alerts, pa.Table):
        raise Invalid(f"detector {detector.name!r}: kernel returned {type(alerts).__name__}, not a pyarrow.Table")
    present = set(alerts.column_names)
    missing = [n for n in ALERTS.names if n not in present]
    if missing:
        raise Invalid(f"detector {detector.name!r}: kernel output lacks alert columns {missing}", field="alerts")
    if alerts.num_rows == 0:
        return NO_ALERTS
    if not alerts.schema.equals(ALERTS):
        alerts = pa.Table.from_arrays([alerts.column(n).cast(ALERTS.field(n).type) for n in ALERTS.names],
                                      schema=ALERTS)
    mask = None
    if span.start is not None:
        mask = pc.greater_equal(alerts.column("end"), pa.scalar(span.start, ALERTS.field("end").type))
    if span.end is not None:
        upper = pc.less(alerts.column("end"), pa.scalar(span.end, ALERTS.field("end").type))
        mask = upper if mask is None else pc.and_(mask, upper)
    return alerts if mask is None else alerts.filter(mask)


def combine_alerts(parts: Sequence[pa.Table]) -> pa.Table:
    """All alerts of a run, one row per alert_id, ordered by detector, start and id."""
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return ALERTS.empty_table()
    table = pa.concat_tables(parts)
    table = table.sort_by([("detector", "ascending"), ("start", "ascending"), ("alert_id", "ascending")])
    ids = table.column("alert_id")
    if pc.count_distinct(ids).as_py() == table.num_rows:
        return table
    keep, seen = [], set()
    for i, a in enumerate(ids.to_pylist()):
        if a not in seen:
            seen.add(a)
            keep.append(i)
    return table.take(pa.array(keep))
