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

import pyarrow as pa

from harbour.data.schemas import ENUMS, TABLES


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


# --- how the lake's Parquet files are written ---------------------------------------------------------

# LZ4, not zstd: the lake is read far more often than it is written, and every surveillance run decodes it
# whole. Measured on the 10M bench market's files (30 files each, one core): an order-events file read in
# 7.7-8.2 ms against 14.6-15.3 ms as the generator wrote it before (zstd level 1, every column a dictionary), a
# trades file in 2.7 ms against 8.0; the files are 1.45x (orders) and 0.65x (trades) the bytes.
COMPRESSION = "lz4"


def id_columns(table: str) -> set[str]:
    """Columns whose values are nearly unique: a dictionary is wasted work and min/max prune nothing."""
    spec = TABLES[table]
    ids = {c for c in spec.schema.names if c.endswith("_id") or c in ("tx_hash", "headline", "name", "explanation")}
    ids.update(c for c in spec.key if c not in ("venue", "ts") and (table, c) not in ENUMS)
    return ids


def dictionary_columns(table: str) -> list[str]:
    """Text columns with few distinct values (venue, symbol, accounts, enums): read from source files as Arrow
    dictionaries, so checks touch each value once."""
    ids = id_columns(table)
    return [f.name for f in TABLES[table].schema if pa.types.is_string(f.type) and f.name not in ids]


def write_options(table: str, columns: list[str] | None = None) -> dict[str, object]:
    """Parquet options of every lake file (the generator's and ingestion's), for fast reading; ``columns``: the names
    of the data written (the contract's by default), which the per-column compression must name.

    Dictionary pages only for the text with a handful of values (venue, symbol, enums): a reader keeps them as
    Arrow dictionaries. Ids, account references and numbers are stored plain: decoding a dictionary page
    back into millions of distinct strings or numbers is slower than reading them plain (the account column
    as a dictionary added 1.5 ms to an 8 ms order-events file). The time column, in time order in every file, is
    stored as deltas (DELTA_BINARY_PACKED) without compression: the files come out smaller than with LZ4 (ten bench
    days' order events 194.7 -> 184.9 MB) and read faster (least of 7 per file, interleaved: order events -6 %,
    trades -1 %); prices and quantities uncompressed too gave order events -5 % more for +35 % bytes. No statistics
    on ids nor on account references: every row group spans nearly all accounts, so their min/max prune nothing,
    and computing them was a third of the cost of writing a trades file."""
    spec = TABLES[table]
    refs = set(spec.references)
    skip = id_columns(table) | refs
    names = list(columns) if columns is not None else [*spec.schema.names, "date"]
    options: dict[str, object] = {
        "compression": COMPRESSION, "use_dictionary": [c for c in dictionary_columns(table) if c not in refs],
        "write_statistics": [c for c in spec.schema.names if c not in skip]}
    tcol = spec.time_column
    if tcol and tcol in names and pa.types.is_timestamp(spec.schema.field(tcol).type):
        options["compression"] = {c: "none" if c == tcol else COMPRESSION for c in names}
        options["column_encoding"] = {tcol: "DELTA_BINARY_PACKED"}
    return options
