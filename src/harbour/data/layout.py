"""Where each table lives in the Parquet lake. Ingestion, the generator and the runners all use this,
so a generated market and an ingested one look the same on disk.

Layout (Hive-style partitions, readable by DuckDB ``hive_partitioning`` and by Spark)::

    {root}/trades/venue=HBX/date=2026-01-05/part-<uuid>.parquet
    {root}/orders/venue=HBX/date=2026-01-05/part-<uuid>.parquet
    {root}/transfers/venue=HBX/date=2026-01-05/part-<uuid>.parquet
    {root}/announcements/venue=HBX/date=2026-01-05/part-<uuid>.parquet
    {root}/accounts/venue=HBX/part-<uuid>.parquet
    {root}/labels/part-<uuid>.parquet
    {root}/alerts/part-<uuid>.parquet

Partition columns (``venue``, ``date``) are also kept inside the files, so a file read on its own is
complete. ``date`` is the UTC date of the table's time column.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from harbour.data.schemas import TABLES


def table_dir(root: Path, table: str) -> Path:
    return Path(root) / table


def partition_dir(root: Path, table: str, venue: str | None = None, date: dt.date | None = None) -> Path:
    """The folder of one partition; which keys apply depends on the table's ``partition_by``."""
    spec = TABLES[table]
    path = table_dir(root, table)
    if "venue" in spec.partition_by:
        if venue is None:
            raise ValueError(f"table {table} is partitioned by venue; give one")
        path = path / f"venue={venue}"
    if "date" in spec.partition_by:
        if date is None:
            raise ValueError(f"table {table} is partitioned by date; give one")
        path = path / f"date={date.isoformat()}"
    return path


def glob_pattern(root: Path, table: str) -> str:
    """A glob matching every Parquet file of ``table`` (for DuckDB's read_parquet or Spark)."""
    depth = len(TABLES[table].partition_by)
    return str(table_dir(root, table) / ("*/" * depth) / "*.parquet").replace("//", "/")
