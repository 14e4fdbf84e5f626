"""The analytics store: the Parquet lake of :mod:`harbour.data.layout`, queried in-process with DuckDB.

For a notebook user::

    from harbour.data.lake import Lake
    lake = Lake("./var/lake")
    trades = lake.table("trades", venue="HBX", start="2026-01-05", end="2026-01-06")
    df = trades.to_polars()               # or .to_arrow(), .to_pandas(), .count()
    lake.sql("SELECT venue, count(*) AS n FROM trades GROUP BY venue").to_pandas()
    lake.describe()                       # rows per table, venue and date

Every table is a DuckDB view over ``read_parquet(..., hive_partitioning, union_by_name)``. ``table()``
prunes partitions itself — it lists only the folders of the venue and dates asked for — and then filters
rows on the time column. A date range ``start``..``end`` includes both days; datetimes give ``[start, end)``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from harbour.core.errors import Invalid
from harbour.data.ingest.writer import try_recover
from harbour.data.layout import table_dir
from harbour.data.schemas import TABLES

log = logging.getLogger(__name__)

DateLike = dt.date | dt.datetime | str | None


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join(_sql_str(str(p)) for p in paths) + "]"


def _as_bound(value: DateLike, *, end: bool) -> tuple[dt.date | None, dt.datetime | None]:
    """(partition date bound, row bound) for a start/end given as a date, datetime or ISO string."""
    if value is None:
        return None, None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value) if ("T" in value or " " in value) else dt.date.fromisoformat(value)
        except ValueError as exc:
            raise Invalid(f"{'end' if end else 'start'}: {value!r} is not an ISO date or datetime",
                          field="end" if end else "start") from exc
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        moment = moment.astimezone(dt.UTC)
        return moment.date(), moment
    day_start = dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    return value, day_start + dt.timedelta(days=1) if end else day_start


@dataclass
class LakeTable:
    """A lazy selection from one table; nothing is read until you ask for rows."""

    lake: Lake
    name: str
    query: str

    @property
    def relation(self) -> duckdb.DuckDBPyRelation:
        return self.lake.connection.sql(self.query)

    def to_arrow(self) -> pa.Table:
        return _utc(self.relation.to_arrow_table())

    def to_polars(self) -> Any:
        import polars as pl

        return pl.from_arrow(self.to_arrow())

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    def count(self) -> int:
        row = self.lake.connection.sql(f"SELECT count(*) FROM ({self.query})").fetchall()
        return int(row[0][0])


class SqlResult(LakeTable):
    pass


class Lake:
    """The Parquet lake at ``root`` with one DuckDB view per canonical table."""

    def __init__(self, root: Path | str, *, threads: int | None = None) -> None:
        self.root = Path(root)
        try_recover(self.root)  # a reader never sees the leftovers of an ingest that was killed
        self._con: duckdb.DuckDBPyConnection | None = None
        self._threads = threads

    # --- connection and views ------------------------------------------------------------------------

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duckdb.connect()
            self._con.execute("SET TimeZone = 'UTC'")
            self._con.execute("SET enable_progress_bar = false")
            if self._threads:
                self._con.execute(f"SET threads = {int(self._threads)}")
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def files(self, table: str, venue: str | None = None, start: dt.date | None = None,
              end: dt.date | None = None) -> list[Path]:
        """The Parquet files of ``table``, limited to a venue and a range of partition dates."""
        self._spec(table)
        return partition_files(self.root, table, venue, start, end)

    def _spec(self, table: str) -> Any:
        if table not in TABLES:
            raise Invalid(f"no table {table!r} in the lake; tables are {', '.join(TABLES)}", field="table")
        return TABLES[table]

    def _source(self, table: str, files: list[Path]) -> str:
        """A FROM clause over ``files`` (or an empty relation with the table's columns)."""
        if not files:
            empty = TABLES[table].schema.empty_table()
            name = f"__empty_{table}"
            self.connection.register(name, empty)
            return f"(SELECT *{', NULL::DATE AS date' if 'date' in TABLES[table].partition_by else ''} FROM {name})"
        parts = TABLES[table].partition_by
        if not parts:
            return f"read_parquet({_sql_list(files)}, union_by_name = true)"
        types = ", ".join(f"'{p}': {'DATE' if p == 'date' else 'VARCHAR'}" for p in parts)
        return (f"read_parquet({_sql_list(files)}, hive_partitioning = true, union_by_name = true, "
                f"hive_types = {{{types}}})")

    def refresh(self) -> None:
        """(Re)create one view per table over the files now in the lake."""
        for table in TABLES:
            source = self._source(table, self.files(table))
            self.connection.execute(f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM {source}')

    # --- reading -------------------------------------------------------------------------------------

    def table(self, name: str, venue: str | None = None, start: DateLike = None, end: DateLike = None,
              columns: list[str] | None = None) -> LakeTable:
        """Rows of one table, limited to a venue and a time range (partitions outside are not opened)."""
        spec = self._spec(name)
        first_day, lower = _as_bound(start, end=False)
        last_day, upper = _as_bound(end, end=True)
        if isinstance(end, dt.datetime) and upper is not None and upper.time() == dt.time() and last_day:
            last_day = last_day - dt.timedelta(days=1)  # an exclusive midnight end does not need that day
        files = self.files(name, venue, first_day, last_day)
        where = []
        if venue:
            where.append(f"venue = {_sql_str(venue)}")
        if spec.time_column and lower is not None:
            where.append(f"{spec.time_column} >= {_sql_str(lower.isoformat())}::TIMESTAMPTZ")
        if spec.time_column and upper is not None:
            where.append(f"{spec.time_column} < {_sql_str(upper.isoformat())}::TIMESTAMPTZ")
        cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        query = f"SELECT {cols} FROM {self._source(name, files)}" + (f" WHERE {' AND '.join(where)}" if where else "")
        return LakeTable(self, name, query)

    def sql(self, query: str) -> SqlResult:
        """Run SQL over the views ``trades``, ``orders``, ``transfers``, ``accounts``, ``announcements``,
        ``labels`` and ``alerts``."""
        self.refresh()
        return SqlResult(self, "sql", query)

    def describe(self) -> pa.Table:
        """Rows and files per table, venue and date, read from Parquet footers (no data is scanned)."""
        records: dict[tuple[str, str | None, str | None], list[int]] = {}
        for table in TABLES:
            for path in self.files(table):
                parts = dict(p.split("=", 1) for p in path.relative_to(self.root).parts[1:-1])
                key = (table, parts.get("venue"), parts.get("date"))
                entry = records.setdefault(key, [0, 0, 0])
                entry[0] += pq.ParquetFile(path).metadata.num_rows
                entry[1] += 1
                entry[2] += path.stat().st_size
        keys = sorted(records, key=lambda k: (k[0], k[1] or "", k[2] or ""))
        return pa.table({
            "table": [k[0] for k in keys],
            "venue": [k[1] for k in keys],
            "date": [dt.date.fromisoformat(k[2]) if k[2] else None for k in keys],
            "rows": pa.array([records[k][0] for k in keys], pa.int64()),
            "files": pa.array([records[k][1] for k in keys], pa.int64()),
            "bytes": pa.array([records[k][2] for k in keys], pa.int64()),
        })

    def venues(self, table: str) -> list[str]:
        base = table_dir(self.root, table)
        return sorted(p.name[6:] for p in base.glob("venue=*")) if base.is_dir() else []


def partition_files(root: Path, table: str, venue: str | None = None, start: dt.date | None = None,
                    end: dt.date | None = None) -> list[Path]:
    """The Parquet files of ``table`` under ``root`` for a venue and a range of partition dates."""
    spec = TABLES[table]
    base = table_dir(root, table)
    if not base.is_dir():
        return []
    folders = [base]
    if "venue" in spec.partition_by:
        folders = [base / f"venue={venue}"] if venue else sorted(base.glob("venue=*"))
    if "date" in spec.partition_by:
        folders = [d for f in folders for d in sorted(f.glob("date=*")) if _date_in(d.name[5:], start, end)]
    return [p for f in folders for p in sorted(f.glob("*.parquet"))]


def _utc(table: pa.Table) -> pa.Table:
    """DuckDB names the zone ``Etc/UTC``; the contract says ``UTC``."""
    fields = [pa.field(f.name, pa.timestamp(f.type.unit, "UTC"), f.nullable)
              if pa.types.is_timestamp(f.type) and f.type.tz else f for f in table.schema]
    return table.cast(pa.schema(fields)) if fields != list(table.schema) else table


def _date_in(text: str, start: dt.date | None, end: dt.date | None) -> bool:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return False  # not a partition folder of ours
    return (start is None or day >= start) and (end is None or day <= end)
