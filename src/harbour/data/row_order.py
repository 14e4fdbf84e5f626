"""The canonical order of a table's rows: by time, then by the table's key.

Detectors see every partition in this order on every runner (so both give the same alerts), and the
generator writes its files in it, so a reader's check finds nothing to move: putting rows in order costs a
copy of every column, a third of the whole read on the generated market before the files were written so.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numba import njit

from harbour.data.arrow_strings import load_u64, one_chunk, string_buffers
from harbour.data.schemas import TABLES


def sort_columns(table: str) -> list[str]:
    spec = TABLES[table]
    cols = [spec.time_column] if spec.time_column else []
    return cols + [k for k in spec.key if k not in cols]


def order_declaration(table: str, schema: pa.Schema) -> tuple[pq.SortingColumn, ...] | None:
    """The Parquet ``sorting_columns`` a writer of rows in the canonical order declares (ascending, nulls last, as
    ``sort_rows`` orders them), for a file of ``schema``'s columns; None when the file lacks one of them. Only a
    writer that has just put its rows in that order may declare it (the generator: ``sort_rows`` then write):
    readers trust it (``declares_order``) and skip the order check of the ties."""
    cols = sort_columns(table)
    if not cols or any(c not in schema.names for c in cols):
        return None
    return tuple(pq.SortingColumn.from_ordering(schema, [(c, "ascending") for c in cols], null_placement="at_end"))


def declares_order(meta: pq.FileMetaData, table: str) -> bool:
    """Whether every row group of a Parquet file declares its rows in ``table``'s canonical order (Parquet's
    ``sorting_columns``: the canonical columns first, ascending, nulls last). The declaration is the writer's, in
    the row groups' metadata: a rewrite of the rows by Arrow or DuckDB does not carry it over (tested), so a file
    that has it was written in order by a writer that promised so. Row groups are each in order; the caller
    checks that they follow one another (``in_order_across``)."""
    cols = sort_columns(table)
    if not cols or meta.num_row_groups == 0:
        return False
    where = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    if any(c not in where for c in cols):
        return False
    wanted = [(where[c], False, False) for c in cols]
    for g in range(meta.num_row_groups):
        declared = [(s.column_index, s.descending, s.nulls_first) for s in meta.row_group(g).sorting_columns]
        if declared[:len(wanted)] != wanted:
            return False
    return True


def in_order_across(meta: pq.FileMetaData, t: np.ndarray) -> bool:
    """Whether a file's row groups, each in canonical order, follow one another: the time rises strictly from each
    group's last row to the next's first (``t``: the file's time column as integers). A tie across a boundary is
    not settled here (the caller's sort then checks the keys)."""
    ends = np.cumsum([meta.row_group(g).num_rows for g in range(meta.num_row_groups)])[:-1]
    ends = ends[(ends > 0) & (ends < len(t))]
    return bool((t[ends - 1] < t[ends]).all())


def sort_rows(data: pa.Table, table: str, constant: Collection[str] = ()) -> pa.Table:
    """``data`` ordered by ``sort_columns(table)`` (time, then the table's key): the canonical row order of a
    partition, the same on every runner.

    Lake files are already in time order, so this sorts the time column alone with numpy (near-linear on
    sorted runs) and settles only the rows that share a timestamp by the key columns (checked in place first:
    usually they are in order); the table is copied only when the order changes. It gives exactly
    ``data.sort_by(sort_columns(table))``. ``constant`` names columns the caller knows hold one value in every row
    (a partition's keys: its venue): they cannot order two rows, so the check skips them (the venue of the ~20%
    of the bench's order events tied on time with the row before: ten bench days' sorts 0.22-0.24 CPU-s with it
    compared, 0.18 without), and a copy in the new order keeps them as they are (``_moved``).
    """
    cols = sort_columns(table)
    n = data.num_rows
    if n < 2 or not cols:
        return data
    first = data.column(cols[0])
    if not pa.types.is_timestamp(first.type) or first.null_count:
        return data.take(pc.sort_indices(_plain(data.select(cols)), sort_keys=[(c, "ascending") for c in cols]))
    t = time_values(first)
    order: np.ndarray | None = None
    if (t[1:] < t[:-1]).any():
        order = np.argsort(t, kind="stable")
        t = t[order]
    tie = t[1:] == t[:-1]
    if len(cols) > 1 and tie.any():
        # Runs of one time already in key order: the lake's files, and pieces of them put together in key order
        # (one symbol's venues, say) once a stable sort by time has interleaved them.
        moved = data if order is None else _moved(data, order, cols[0], t, constant)
        if runs_in_key_order(moved, [c for c in cols[1:] if c not in constant], np.flatnonzero(tie)):
            return moved
    if len(cols) > 1 and tie.any():
        tied = np.zeros(n, dtype=bool)
        tied[1:] |= tie
        tied[:-1] |= tie
        pos = np.flatnonzero(tied)
        rows = pos if order is None else order[pos]
        # Runs of equal time stay in place when these rows are sorted by (time, key): only within-run order moves.
        sub = pc.sort_indices(_plain(data.select(cols).take(pa.array(rows))),
                              sort_keys=[(c, "ascending") for c in cols])
        if order is None:
            order = np.arange(n)
        order[pos] = rows[sub.to_numpy()]
    if order is None or (order == np.arange(n)).all():
        return data
    return _moved(data, order, cols[0], t, constant)


def time_values(col: pa.ChunkedArray) -> np.ndarray:
    """A time column's integer counts in its own unit (read-only int64s; no nulls, which the callers have ruled out),
    without a copy where it is one chunk: a cast to int64 copied every row, three times a partition in the runner
    (the read's time window, its order check, a look-back cut) and ~27 us a call in the pressure screen."""
    if col.num_chunks == 1 and col.null_count == 0 and pa.types.is_timestamp(col.type):
        return np.asarray(col.chunk(0).view(pa.int64()).to_numpy(), np.int64)
    return np.asarray(pc.cast(col, pa.int64()).to_numpy(), np.int64)


def _moved(data: pa.Table, order: np.ndarray, time_col: str, t: np.ndarray, constant: Collection[str]) -> pa.Table:
    """``data.take(order)``, given the time column's name and its values (a timestamp without nulls) in that order as
    integers (``t``: the key sort moves rows only within runs of one time, so the times sorted are the final order's),
    and the ``constant`` columns, which hold one value in every row. Neither is taken: the times are ``t``'s buffer, a
    constant column is any order of itself. A coarser member's partitions (``local._coarser_partitions``: one
    symbol's venues put together) take every column after the sort by time, two thirds of the merge; leaving out the
    symbol and the time (2 of cross_venue's 11 columns) took its ten bench days' merges from 0.151-0.170 to
    0.144-0.157 CPU-s (least of 7 per task, interleaved, six rounds)."""
    kind = data.schema.field(time_col).type
    keep = {name for name in constant if name in data.column_names} - {time_col}
    moving = [name for name in data.column_names if name not in keep and name != time_col]
    moved = data.select(moving).take(pa.array(order)) if moving else data.select([])
    times = np.ascontiguousarray(t, np.int64)
    columns = [pa.chunked_array([pa.Array.from_buffers(kind, len(times), [None, pa.py_buffer(times)])])
               if name == time_col else data.column(name) if name in keep else moved.column(name)
               for name in data.column_names]
    return pa.Table.from_arrays(columns, schema=data.schema)


def runs_in_key_order(data: pa.Table, keys: list[str], pairs: np.ndarray) -> bool:
    """Whether each row ``i`` in ``pairs`` is at most row ``i + 1`` by ``keys`` (what a sort of the tied rows
    would find, without copying them): compared column by column in a compiled pass, a pair settled by the
    first column where it differs. False when unsure (a null, a NaN, a type not compared here): the caller
    then sorts. (Comparing a chunked column chunk by chunk, the pairs across chunks apart, instead of combining
    it measured slower: ten bench days' sorts 0.20-0.26 CPU-s against 0.18 combined.)"""
    state = np.zeros(len(pairs), np.int8)  # 0 equal so far, 1 in order, -1 out of order
    for name in keys:
        col = data.column(name)
        if col.null_count:
            return False
        arr = one_chunk(col)
        kind = arr.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            offsets, raw, _ = string_buffers(arr)
            _compare_strings(offsets, raw, pairs, state)
        elif pa.types.is_floating(kind) or pa.types.is_integer(kind):
            values = arr.to_numpy(zero_copy_only=False)
            if pa.types.is_floating(kind) and np.isnan(values).any():
                return False
            _compare_numbers(values, pairs, state)
        else:
            return False
        if (state < 0).any():
            return False
    return True


@njit(cache=True, nogil=True)
def _compare_strings(offsets: np.ndarray, raw: np.ndarray, pairs: np.ndarray, state: np.ndarray) -> None:
    """For pairs still equal: byte order of row i against row i + 1 (Arrow orders strings so)."""
    for k in range(pairs.shape[0]):
        if state[k] == 0:
            state[k] = _string_order(offsets, raw, pairs[k])


@njit(cache=True, nogil=True)
def _string_order(offsets: np.ndarray, raw: np.ndarray, i: int) -> int:
    """1 when string i sorts before string i + 1, -1 after, 0 equal: equal words skipped 8 bytes at a time (~38%
    of the bench's tied order events share their 12-15-digit order id; byte by byte the pass took 23-31 ns a pair,
    so ~16), then byte by byte from the first word that differs."""
    a, b = offsets[i], offsets[i + 1]
    n, m = b - a, offsets[i + 2] - b
    short = min(n, m)
    k = 0
    while k + 8 <= short and load_u64(raw, a + k) == load_u64(raw, b + k):  # type: ignore[call-arg]
        k += 8
    while k < short:
        if raw[a + k] != raw[b + k]:
            return 1 if raw[a + k] < raw[b + k] else -1
        k += 1
    return 1 if n < m else (-1 if n > m else 0)


@njit(cache=True, nogil=True)
def _compare_numbers(values: np.ndarray, pairs: np.ndarray, state: np.ndarray) -> None:
    for k in range(pairs.shape[0]):
        if state[k] == 0:
            i = pairs[k]
            if values[i] < values[i + 1]:
                state[k] = 1
            elif values[i] > values[i + 1]:
                state[k] = -1


def _plain(keys: pa.Table) -> pa.Table:
    """Dictionary-encoded key columns (the generator writes strings so) as their values: Arrow sorts only
    plain columns, and the order is that of the values."""
    if not any(pa.types.is_dictionary(f.type) for f in keys.schema):
        return keys
    return pa.table({name: (col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col)
                     for name, col in zip(keys.column_names, keys.columns, strict=True)})
