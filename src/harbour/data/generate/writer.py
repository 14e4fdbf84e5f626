"""Arrow tables from the engine's arrays, and deterministic Parquet files in the lake layout."""

from __future__ import annotations

import datetime as dt
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harbour.data.layout import partition_dir, table_dir, write_options
from harbour.data.row_order import order_declaration, sort_rows
from harbour.data.schemas import TABLES

PREFIX = "part-gen-"  # our files; a rerun replaces them and leaves ingested files alone
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def day_epoch_us(date: dt.date) -> int:
    return int((dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC) - EPOCH).total_seconds()) * 1_000_000


def repeat(value: str, n: int) -> pa.Array:
    return coded(np.zeros(n, np.int32), pa.array([value], pa.string()))


def coded(indices: np.ndarray, values: pa.Array) -> pa.Array:
    """A string column as indices into ``values`` (dictionary-encoded, no copy of the strings); the
    Parquet file stores plain strings, so readers see the contract's ``string`` type."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(indices, np.int32)), values)


def ts_array(us: np.ndarray) -> pa.Array:
    # a zero-copy view: pa.array(..., type=timestamp) converts value by value (~0.3 µs a row)
    return pa.array(np.asarray(us, np.int64)).view(pa.timestamp("us", tz="UTC"))


def with_partition_columns(table: pa.Table, name: str, date: dt.date | None) -> pa.Table:
    """Add ``date`` (date32) inside the file for date-partitioned tables; order columns as the contract."""
    schema = TABLES[name].schema
    cols = [table.column(f.name) for f in schema]
    fields = [pa.field(f.name, c.type, nullable=f.nullable, metadata=f.metadata) for f, c in zip(schema, cols,
                                                                                                 strict=True)]
    if "date" in TABLES[name].partition_by:
        if date is None:
            raise ValueError(f"table {name} is partitioned by date; give one")
        fields.append(pa.field("date", pa.date32(), nullable=False))
        days = np.full(table.num_rows, (date - dt.date(1970, 1, 1)).days, np.int32)
        cols.append(pa.array(days).view(pa.date32()))  # a view: typed pa.array converts value by value
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


class LakeWriter:
    """Writes one file per (table, partition, part); fixed Parquet settings, no wall-clock metadata.

    Encoding and compression run on two background threads (Arrow releases the GIL) while the next book is
    generated; at most ``MAX_PENDING`` tables wait, so memory stays bounded. Call :meth:`close` at the end.
    """

    MAX_PENDING = 3

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.cleaned: set[Path] = set()
        self.rows: dict[str, int] = {}
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lake-writer")
        self._pending: deque[Future[None]] = deque()

    def close(self) -> None:
        """Wait for every queued file; re-raises the first write error."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)

    def write(self, name: str, table: pa.Table, part: str, venue: str | None = None,
              date: dt.date | None = None) -> Path:
        folder = partition_dir(self.root, name, venue, date) if TABLES[name].partition_by else self.root / name
        if folder not in self.cleaned:
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob(f"{PREFIX}*.parquet"):
                old.unlink()
            self.cleaned.add(folder)
        table = with_partition_columns(table, name, date)
        path = folder / f"{PREFIX}{part}.parquet"
        while len(self._pending) >= self.MAX_PENDING:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(_write_file, table, name, path))
        self.rows[name] = self.rows.get(name, 0) + table.num_rows
        return path


def remove_generated(root: Path) -> int:
    """Delete every file an earlier generation wrote under ``root`` (ours only: ingested files stay), so that a
    market generated into a lake replaces the last one whole. Each writer only cleans the folders it writes, so a
    shorter market (fewer days or venues) left the longer one's other days in place, mixed with the new; the
    bench's cached 10M market regenerated with other settings was such a mixture. Returns how many went."""
    gone = 0
    for name in TABLES:
        for old in table_dir(root, name).rglob(f"{PREFIX}*.parquet"):
            old.unlink()
            gone += 1
    return gone


def _write_file(table: pa.Table, name: str, path: Path) -> None:
    # Rows in the canonical order (time, then key): readers then have nothing to move (data/row_order.py).
    table = sort_rows(table, name)
    tmp = path.with_suffix(".parquet.tmp")
    # Dictionary-typed columns must not leak into the stored Arrow schema: readers get plain strings.
    # Tables without them keep the stored schema (list field names, column docs).
    plain = not any(pa.types.is_dictionary(f.type) for f in table.schema)
    # The lake's own settings (``layout.write_options``), as ingested files have them, and the order just made
    # declared in the file (Parquet's ``sorting_columns``), which the runner trusts instead of checking the ties.
    declared = order_declaration(name, table.schema)
    pq.write_table(table, tmp, row_group_size=1 << 20, store_schema=plain,
                   sorting_columns=declared, **write_options(name, table.column_names))
    tmp.replace(path)
