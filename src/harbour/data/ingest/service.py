"""Ingestion: read files, validate every row, stage the good ones, check ids and references across the
whole ingest and against the lake, then publish all files or none.

Example (a notebook, no database)::

    from harbour.data.ingest.service import IngestFile, ingest
    report = ingest("./var/lake", [IngestFile("trades", Path("trades.csv"))], venue="HBX")

:func:`ingest_as` does the same for a logged-in user (tenant check, audit log); the CLI and the API call it.
A rejected ingest raises :class:`~harbour.core.errors.Invalid` whose ``details`` is the report with
every problem as (file, row, column, reason); nothing is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from harbour.core.audit import record
from harbour.core.auth import Principal, Role, require_role
from harbour.core.db import unit_of_work
from harbour.core.errors import Invalid, NotFound
from harbour.core.tenancy import get_platform
from harbour.data.ingest.formats import FORMATS, FileRejected, detect_format, present_columns, read_chunks
from harbour.data.ingest.problems import MAX_DETAILED_PROBLEMS, FileResult, IngestReport, Problem
from harbour.data.ingest.validate import check_columns, new_connection, validate_chunk
from harbour.data.ingest.writer import FileStage, LakeWriter, StagedPart, write_options
from harbour.data.lake import partition_files
from harbour.data.schemas import TABLES

log = logging.getLogger(__name__)

INGESTIBLE = ("accounts", "trades", "orders", "transfers", "announcements")  # accounts first: others refer to it
VENUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
CHUNK_ROWS = 1 << 18  # 262,144 rows: as fast as bigger chunks, and less memory in flight
DUCKDB_MEMORY = "256MB"
HASH_SORT_ROWS = 1 << 24  # duplicate pre-check in memory up to 16.8M rows (128 MB of hashes), else in DuckDB

_hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-sha256")

ProgressFn = Callable[[str, int, int], None]  # (file name, bytes done, bytes in the file)
AuditFn = Callable[[IngestReport], None]


@dataclass(frozen=True)
class IngestFile:
    table: str
    path: Path
    name: str = ""  # how problems name the file (default: the file name)
    format: str = "auto"
    sha256: str = ""  # when already known (an upload was hashed as it was stored)

    @property
    def label(self) -> str:
        return self.name or self.path.name


def ingest(lake_root: Path | str, files: list[IngestFile], venue: str, *, skip_bad: bool = False,
           now: dt.datetime | None = None, progress: ProgressFn | None = None, audit: AuditFn | None = None,
           chunk_rows: int = CHUNK_ROWS, lock_timeout: float = 60.0) -> IngestReport:
    """Validate and write ``files`` for ``venue``; all or nothing. ``audit`` runs after the files are in
    place and before the ingest is kept: if it raises, the ingest is rolled back."""
    _check_request(files, venue)
    now = now or dt.datetime.now(dt.UTC)
    ordered = sorted(files, key=lambda f: INGESTIBLE.index(f.table))
    report = IngestReport(venue=venue, skip_bad=skip_bad)
    started = time.perf_counter()
    con = new_connection()
    try:
        with LakeWriter(Path(lake_root), lock_timeout=lock_timeout) as writer:
            # The duplicate check aggregates every key of the ingest: cap DuckDB's memory and let it spill
            # into the staging folder, so memory does not grow with the size of the files.
            spill = str(writer.staging / "duckdb-spill").replace("'", "''")
            con.execute(f"SET temp_directory = '{spill}'")
            con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
            known_cache: dict[str, pa.Array] = {}
            hashes = KeyHashes(con)
            for index, item in enumerate(ordered):
                _stage_file(writer, con, item, index, venue, now, report, progress, chunk_rows, known_cache, hashes)
            _cross_checks(writer, con, Path(lake_root), venue, ordered, report, hashes)
            if report.problem_count and not skip_bad:
                raise _rejection(report, ordered)
            _count_written(writer, report)
            writer.publish()
            report.committed = True
            report.seconds = time.perf_counter() - started
            if audit is not None:
                audit(report)
            writer.finish()
    finally:
        con.close()
    log.info("ingested %s rows for %s in %.2f s (%s dropped)", report.rows_written, venue, report.seconds,
             report.rows_dropped)
    return report


def ingest_as(session: Session, principal: Principal, lake_root: Path | str, files: list[IngestFile],
              venue: str | None, *, skip_bad: bool = False, progress: ProgressFn | None = None,
              via: str = "api", chunk_rows: int = CHUNK_ROWS) -> IngestReport:
    """:func:`ingest` on behalf of ``principal``: a platform user writes only their own platform's venue
    (the default when ``venue`` is None); supervisors and admins write any venue. Each ingest is recorded
    in the audit log (who, tables, venue, rows, each file's SHA-256)."""
    venue = resolve_venue(session, principal, venue)

    def audit(report: IngestReport) -> None:
        with unit_of_work(session):
            record(session, principal, "data.ingested", "lake_venue", venue,
                   after={"venue": venue, "tables": sorted({f.table for f in files}),
                          "rows_written": report.rows_written, "rows_dropped": report.rows_dropped,
                          "skip_bad": skip_bad,
                          "files": [{"name": f.name, "table": f.table, "sha256": f.sha256, "rows": f.rows_written,
                                     "dropped": f.rows_dropped, "format": f.format} for f in report.files]},
                   reason=f"ingest via {via}")

    return ingest(lake_root, files, venue, skip_bad=skip_bad, progress=progress, audit=audit, chunk_rows=chunk_rows)


def resolve_venue(session: Session, principal: Principal, venue: str | None) -> str:
    """The venue ``principal`` may ingest into; refuses other tenants' venues like a missing record."""
    require_role(principal, Role.PLATFORM_USER, Role.SUPERVISOR, Role.ADMIN)
    if principal.role != Role.PLATFORM_USER:
        if not venue:
            raise Invalid("venue: name the venue (platform code) to ingest into", field="venue")
        return venue
    if principal.platform_id is None:
        raise NotFound("your account is not attached to a platform, so there is no venue you may write to",
                       field="venue")
    own = get_platform(session, principal.platform_id).code
    if venue and venue != own:
        raise NotFound(f"no venue {venue!r} that you may write to; your platform's venue is {own}", field="venue")
    return own


def _check_request(files: list[IngestFile], venue: str) -> None:
    if not VENUE_RE.match(venue or ""):
        raise Invalid(f"venue {venue!r} is not a platform code (letters, digits, '.', '_' or '-', up to 40)",
                      field="venue")
    if not files:
        raise Invalid("no files given; name at least one file to ingest", field="files")
    for f in files:
        if f.table not in INGESTIBLE:
            raise Invalid(f"table {f.table!r} cannot be ingested; use one of {', '.join(INGESTIBLE)}", field="table")
        if f.format not in FORMATS:
            raise Invalid(f"format {f.format!r} is unknown; use one of {', '.join(FORMATS)}", field="format")
        if not f.path.is_file():
            raise Invalid(f"{f.path} is not a file", field="files")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# --- reading and validating one file ---------------------------------------------------------------------


def _stage_file(writer: LakeWriter, con: duckdb.DuckDBPyConnection, item: IngestFile, index: int, venue: str,
                now: dt.datetime, report: IngestReport, progress: ProgressFn | None, chunk_rows: int,
                known_cache: dict[str, pa.Array], hashes: KeyHashes) -> None:
    # Hashing runs beside the reading (hashlib releases the GIL), so it costs no wall time on two cores.
    digest = _hasher.submit(file_sha256, item.path) if not item.sha256 else None
    result = FileResult(item.label, item.sha256, item.table)
    report.files.append(result)
    size = item.path.stat().st_size
    problems: list[Problem] = []
    unlisted = 0
    stage = writer.new_file(index)
    try:
        fmt = detect_format(item.path) if item.format == "auto" else item.format
        result.format = fmt
        if fmt in ("parquet", "csv"):
            present, ignored = present_columns(item.path, fmt, item.table)
            if ignored:
                report.ignored_columns[item.label] = ignored
            check_columns(item.table, present)
        copy_day = _copyable_day(item.path, item.table) if fmt == "parquet" else None
        if copy_day is not None:
            done = _check_then_copy(writer, con, stage, item, venue, now, chunk_rows, copy_day, known_cache, result,
                                    hashes)
            if done:
                if progress is not None:
                    progress(item.label, size, size)
                writer.close_file(stage)
                if digest is not None:
                    result.sha256 = digest.result()
                return
            result.rows_read = 0  # a bad row: read it again the ordinary way, which locates every problem
            hashes.forget(item.table, index)
        for chunk in read_chunks(item.path, fmt, item.table, venue, chunk_rows):
            if chunk.restart:  # the file is being read again by the exact reader
                writer.discard_file(stage)
                hashes.forget(item.table, index)
                stage, problems, unlisted, result.rows_read = writer.new_file(index), [], 0, 0
                continue
            problems.extend(chunk.problems)
            result.rows_read += chunk.data.num_rows + len(chunk.problems)
            if chunk.data.num_rows:
                known = _known_ids(writer, item.table, venue, known_cache)
                checked = validate_chunk(con, item.table, chunk.data, chunk.rows, venue, item.label, now, known)
                problems.extend(checked.problems)
                unlisted += checked.unlisted
                good = ~checked.bad
                data = checked.table.filter(good) if checked.bad.any() else checked.table
                writer.write(stage, item.table, data, chunk.rows[good])
                hashes.add(item.table, index, data)
            if progress is not None:
                progress(item.label, chunk.bytes_done, size)
        hashes.settle(item.table, index)  # while the writer encodes its last chunks
        writer.close_file(stage)
    except FileRejected as exc:
        writer.discard_file(stage)
        hashes.forget(item.table, index)
        problems.insert(0, Problem(item.label, None, exc.column, exc.reason))
    if digest is not None:
        result.sha256 = digest.result()
    report.extend(problems)
    report.problem_count += unlisted
    if progress is not None:
        progress(item.label, size, size)


def _copyable_day(path: Path, table: str) -> str | None:
    """The one UTC day a Parquet file covers when its columns are exactly the contract's (names, order,
    types) and its statistics show a single day; None otherwise. Such a file can be staged as it is."""
    spec = TABLES[table]
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError):
        return None
    schema = pf.schema_arrow
    if "date" not in spec.partition_by or schema.names != spec.schema.names:
        return None
    if any(a.type != b.type for a, b in zip(schema, spec.schema, strict=True)) or pf.metadata.num_rows == 0:
        return None
    index = schema.names.index(spec.time_column or "ts")
    days: set[dt.date] = set()
    for g in range(pf.metadata.num_row_groups):
        stats = pf.metadata.row_group(g).column(index).statistics
        if stats is None or not stats.has_min_max or not isinstance(stats.min, dt.datetime):
            return None
        days.update({stats.min.date(), stats.max.date()})
    return days.pop().isoformat() if len(days) == 1 else None


def _check_then_copy(writer: LakeWriter, con: duckdb.DuckDBPyConnection, stage: FileStage, item: IngestFile,
                     venue: str, now: dt.datetime, chunk_rows: int, day: str, known_cache: dict[str, pa.Array],
                     result: FileResult, hashes: KeyHashes) -> bool:
    """Check every row; when all pass and all fall on ``day``, stage the file by copying it (no re-encoding).
    False means a row failed: the caller reads the file again the ordinary way."""
    for chunk in read_chunks(item.path, "parquet", item.table, venue, chunk_rows):
        result.rows_read += chunk.data.num_rows
        known = _known_ids(writer, item.table, venue, known_cache)
        checked = validate_chunk(con, item.table, chunk.data, chunk.rows, venue, item.label, now, known)
        if checked.bad.any():
            return False
        micros = checked.table[TABLES[item.table].time_column or "ts"].cast(pa.int64()).to_numpy()
        if (micros // 86_400_000_000 != (dt.date.fromisoformat(day) - dt.date(1970, 1, 1)).days).any():
            return False  # statistics said one day, the rows say otherwise
        hashes.add(item.table, stage.file_index, checked.table)  # every row is staged: the copy is the file
    hashes.settle(item.table, stage.file_index)
    writer.stage_copy(stage, item.table, venue, day, item.path, result.rows_read)
    return True


def _known_ids(writer: LakeWriter, table: str, venue: str, cache: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """Ids that references of ``table`` may point to: the lake's and those staged earlier in this ingest
    (accounts files are always read first). Loaded once per ingest."""
    wanted: dict[str, pa.Array] = {}
    for target in TABLES[table].references.values():
        ref_table, ref_column = target.split(".")
        if ref_table not in cache:
            paths = partition_files(writer.root, ref_table, venue) + [p.path for p in writer.parts
                                                                       if p.table == ref_table]
            # ParquetFile, not read_table: the dataset layer's first use costs ~0.4 s, more than the read
            ids = [pq.ParquetFile(p).read(columns=[ref_column])[ref_column] for p in paths]
            cache[ref_table] = pc.unique(pa.chunked_array(ids, pa.string())) if ids else pa.array([], pa.string())
        wanted[ref_table] = cache[ref_table]
    return wanted


def _count_written(writer: LakeWriter, report: IngestReport) -> None:
    written = [0] * len(report.files)
    for part in writer.parts:
        written[part.file_index] += part.count
    for result, n in zip(report.files, written, strict=True):
        result.rows_written = n
        result.rows_dropped = result.rows_read - n


def _rejection(report: IngestReport, files: list[IngestFile]) -> Invalid:
    first = report.sorted_problems()[0] if report.problems else None
    tables = sorted({f.table for f in files})
    message = (f"{'/'.join(tables)} ingest for {report.venue} rejected: {report.problem_count} problem(s) in "
               f"{len({p.file for p in report.problems})} file(s); nothing was written. First: {first}. "
               "Fix these rows, or ingest with skip-bad to keep the good rows.")
    return Invalid(message, field=first.column if first else None, details=report.to_dict())


# --- checks across rows: unique ids, references ---------------------------------------------------------


class _RowMap:
    """Maps (staged file, position) back to (source file, source row)."""

    def __init__(self, writer: LakeWriter, files: list[IngestFile]) -> None:
        self.parts = {str(p.path): p for p in writer.parts}
        self.files = files
        self._rows: dict[str, np.ndarray] = {}

    def source(self, staged: str, position: int) -> tuple[int, int]:
        part = self.parts[staged]
        if staged not in self._rows:
            self._rows[staged] = np.fromfile(part.rows_path, dtype=np.int64)
        return part.file_index, int(self._rows[staged][position])


def _staged(glob: str, columns: list[str]) -> str:
    cols = ", ".join(f'"{c}"' for c in columns)
    return (f"(SELECT {cols}, filename AS __f, file_row_number AS __r FROM read_parquet('{glob}', "
            "filename = true, file_row_number = true, hive_partitioning = false))")


def _lake(files: list[Path], columns: list[str]) -> str:
    paths = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in files) + "]"
    cols = ", ".join(f'"{c}"' for c in columns)
    return f"(SELECT {cols} FROM read_parquet({paths}, hive_partitioning = false, union_by_name = true))"


def _fetch(con: duckdb.DuckDBPyConnection, query: str) -> tuple[list[tuple], int]:
    """Up to MAX_DETAILED_PROBLEMS rows of ``query`` and how many it has in all."""
    rows = con.sql(f"{query} LIMIT {MAX_DETAILED_PROBLEMS + 1}").fetchall()
    if len(rows) <= MAX_DETAILED_PROBLEMS:
        return rows, len(rows)
    total = con.sql(f"SELECT count(*) FROM ({query})").fetchall()[0][0]
    return rows[:MAX_DETAILED_PROBLEMS], int(total)


def _cross_checks(writer: LakeWriter, con: duckdb.DuckDBPyConnection, root: Path, venue: str,
                  files: list[IngestFile], report: IngestReport, hashes: KeyHashes) -> None:
    rowmap = _RowMap(writer, files)
    drops: dict[str, set[int]] = {}
    for table in dict.fromkeys(f.table for f in files):
        glob = writer.staged_glob(table)
        if glob is None:
            continue
        keys = [k for k in TABLES[table].key if k != "venue"]
        if keys:
            staged_rows = sum(p.count for p in writer.parts if p.table == table)
            repeat = hashes.repeat(table, staged_rows)
            if repeat is None:  # the hashes were not kept: read them back from the staged files
                repeat = _may_repeat(con, glob, keys, staged_rows)
            if repeat:
                _duplicates_in_ingest(con, glob, keys, files, rowmap, report, drops)
            _duplicates_in_lake(con, glob, keys, root, table, venue, files, rowmap, report, drops)
    if drops and report.skip_bad:
        _drop_rows(writer, drops)


def _flag(files: list[IngestFile], rowmap: _RowMap, report: IngestReport, drops: dict[str, set[int]],
          staged: str, position: int, column: str, reason: str) -> None:
    file_index, row = rowmap.source(staged, position)
    report.add(Problem(files[file_index].label, row, column, reason))
    drops.setdefault(staged, set()).add(position)


class KeyHashes:
    """64-bit hashes of the key of every row staged so far, per table, taken as the rows are staged (while
    the other core encodes Parquet), so the duplicate pre-check need not read the staged files back.

    Kept for up to HASH_SORT_ROWS rows in all (8 bytes a row); a table whose rows would pass that gives up
    its hashes, and its pre-check reads the staged files with DuckDB instead, within DuckDB's memory cap."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._arrays: dict[str, list[tuple[int, np.ndarray]]] = {}  # table -> [(file index, hashes)]
        self._given_up: set[str] = set()
        self._rows = 0

    def add(self, table: str, file_index: int, data: pa.Table) -> None:
        """Hash the key of ``data``: exactly the rows just staged for ``file_index``."""
        keys = [k for k in TABLES[table].key if k != "venue"]
        if not keys or table in self._given_up or not data.num_rows:
            return
        if self._rows + data.num_rows > HASH_SORT_ROWS:
            self._given_up.add(table)
            self._rows -= sum(len(h) for _, h in self._arrays.pop(table, []))
            return
        source = data.select(keys)  # noqa: F841 - read by DuckDB through its name
        cols = ", ".join(f'"{k}"' for k in keys)
        # The same DuckDB hash as the fallback over staged files: equal keys give equal hashes whatever the
        # Arrow type they came in (a dictionary hashes by value, -0.0 like 0.0).
        h = self.con.sql(f"SELECT hash({cols}) AS h FROM source").fetchnumpy()["h"]
        h.sort()  # here, in the reading core's slack while the writer encodes, so the end only merges runs
        self._arrays.setdefault(table, []).append((file_index, h))
        self._rows += len(h)

    def settle(self, table: str, file_index: int) -> None:
        """Merge the file's sorted runs into one. Called when the file has been read, while the writer still
        encodes its last chunks (NumPy sorts without the GIL), so the check at the end has less to do."""
        kept = self._arrays.get(table, [])
        runs = [h for i, h in kept if i == file_index]
        if len(runs) > 1:
            merged = np.concatenate(runs)
            merged.sort(kind="stable")  # timsort: finds the sorted runs and merges them
            self._arrays[table] = [(i, h) for i, h in kept if i != file_index] + [(file_index, merged)]

    def forget(self, table: str, file_index: int) -> None:
        """The file's staged rows were discarded (it is read again, or rejected)."""
        kept = self._arrays.get(table, [])
        self._rows -= sum(len(h) for i, h in kept if i == file_index)
        self._arrays[table] = [(i, h) for i, h in kept if i != file_index]

    def repeat(self, table: str, staged_rows: int) -> bool | None:
        """Whether two staged rows of ``table`` share a hash; None when the hashes were not all kept."""
        if table in self._given_up:
            return None
        runs = [h for _, h in self._arrays.get(table, [])]
        if sum(len(h) for h in runs) != staged_rows:  # a guard: the pre-check must see every staged row
            return None
        if len(runs) > 1:
            # Each run is sorted: the stable sort (timsort) finds the runs and merges them, 3x cheaper than sorting.
            merged = np.concatenate(runs)
            merged.sort(kind="stable")
            runs = [merged]
        return bool(runs) and _adjacent_equal(runs[0])


def _adjacent_equal(sorted_hashes: np.ndarray) -> bool:
    return bool((sorted_hashes[1:] == sorted_hashes[:-1]).any())


def _may_repeat(con: duckdb.DuckDBPyConnection, glob: str, keys: list[str], rows: int) -> bool:
    """Whether two staged rows may share a key: False is certain, True sends us to the exact (slower) check.

    Equal keys have equal 64-bit hashes, so the usual case, no duplicates, is settled on the hashes alone:
    up to HASH_SORT_ROWS they are sorted in memory (8 bytes a row; three times cheaper than grouping),
    beyond that DuckDB groups them within its memory limit, spilling to disk. (Used when the hashes taken
    while staging were not kept; see :class:`KeyHashes`.)"""
    cols = ", ".join(f'"{k}"' for k in keys)
    hashed = f"SELECT hash({cols}) AS __h FROM {_staged(glob, keys)}"
    if rows <= HASH_SORT_ROWS:
        h = con.sql(hashed).fetchnumpy()["__h"]
        h.sort()
        return _adjacent_equal(h)
    return bool(con.sql(f"{hashed} GROUP BY __h HAVING count(*) > 1 LIMIT 1").fetchall())


def _duplicates_in_ingest(con: duckdb.DuckDBPyConnection, glob: str, keys: list[str], files: list[IngestFile],
                          rowmap: _RowMap, report: IngestReport, drops: dict[str, set[int]]) -> None:
    on = " AND ".join(f's."{k}" = d."{k}"' for k in keys)
    cols = ", ".join(f'"{k}"' for k in keys)
    repeated = f"SELECT {cols} FROM {_staged(glob, keys)} GROUP BY ALL HAVING count(*) > 1"
    if not con.sql(f"{repeated} LIMIT 1").fetchall():  # a hash collision, not a duplicate
        return
    query = f"SELECT s.*, s.__f, s.__r FROM {_staged(glob, keys)} s SEMI JOIN ({repeated}) d ON {on}"
    rows, total = _fetch(con, query)
    groups: dict[tuple, list[tuple[int, int, str, int]]] = {}
    for r in rows:
        file_index, source_row = rowmap.source(r[-2], r[-1])
        groups.setdefault(tuple(r[: len(keys)]), []).append((file_index, source_row, r[-2], r[-1]))
    for key, members in groups.items():
        members.sort()
        first = members[0]
        where = f"{files[first[0]].label} row {first[1]}"
        for _, _, staged, position in members[1:]:
            _flag(files, rowmap, report, drops, staged, position, keys[0],
                  f"{_key_text(keys, key)} appears more than once in this ingest (first at {where})")
    report.problem_count += max(total - len(rows), 0)


def _key_text(keys: list[str], values: tuple) -> str:
    return ", ".join(f"{k} {v.isoformat() if hasattr(v, 'isoformat') else repr(v)}" for k, v in zip(keys, values,
                                                                                                    strict=True))


def _duplicates_in_lake(con: duckdb.DuckDBPyConnection, glob: str, keys: list[str], root: Path, table: str,
                        venue: str, files: list[IngestFile], rowmap: _RowMap, report: IngestReport,
                        drops: dict[str, set[int]]) -> None:
    start = end = None
    if "ts" in keys:  # the key holds the time, so only the same days can clash
        span = con.sql(f"SELECT min(ts)::DATE, max(ts)::DATE FROM {_staged(glob, ['ts'])}").fetchall()[0]
        start, end = span
    existing = partition_files(root, table, venue, start, end)
    if not existing:
        return
    on = " AND ".join(f's."{k}" = l."{k}"' for k in keys)
    query = f"SELECT s.* FROM {_staged(glob, keys)} s SEMI JOIN {_lake(existing, keys)} l ON {on}"
    rows, total = _fetch(con, query)
    for r in rows:
        _flag(files, rowmap, report, drops, r[-2], r[-1], keys[0],
              f"{_key_text(keys, tuple(r[: len(keys)]))} is already in the lake for venue {venue}")
    report.problem_count += max(total - len(rows), 0)


def _drop_rows(writer: LakeWriter, drops: dict[str, set[int]]) -> None:
    """Rewrite staged files without the rows that failed a cross-row check (``skip_bad`` only)."""
    parts: dict[str, StagedPart] = {str(p.path): p for p in writer.parts}
    for staged, positions in drops.items():
        part = parts[staged]
        keep = np.ones(part.count, dtype=bool)
        keep[np.fromiter(positions, dtype=np.int64)] = False
        data = pq.read_table(part.path).filter(keep)
        rows = np.fromfile(part.rows_path, dtype=np.int64)[keep]
        pq.write_table(data, part.path, **write_options(part.table, data.column_names))
        rows.tofile(part.rows_path)
        part.count = int(keep.sum())
