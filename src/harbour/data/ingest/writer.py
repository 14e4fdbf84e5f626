"""The atomic writer: new Parquet files are staged in a hidden folder inside the lake root, then renamed
into the layout, so readers (whose globs cover ``{root}/{table}/...`` only) never see a staged file.

One ingest at a time holds ``{root}/.writer.lock`` (an advisory ``flock``, released by the kernel even
on SIGKILL). Publishing writes a journal of the renames first; whoever takes the lock next rolls back any
staging folder left behind — deleting files it had already renamed — so a crash or kill at any point
leaves the lake as it was before the ingest. An ingest is kept only once it wrote its ``COMMITTED`` mark.

Staging folder::

    {root}/.ingest-<id>/{table}/venue=V/date=D/part-<id>-<n>.parquet   data, in the final layout
    {root}/.ingest-<id>/rows/<n>.i64                                    source row of each staged row
    {root}/.ingest-<id>/journal.json                                    renames about to be made
    {root}/.ingest-<id>/COMMITTED                                       the ingest was kept
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harbour.core.errors import Conflict
from harbour.data.layout import partition_dir, write_options
from harbour.data.schemas import TABLES

log = logging.getLogger(__name__)

STAGING_PREFIX = ".ingest-"
LOCK_NAME = ".writer.lock"
US_PER_DAY = 86_400_000_000
MAX_PENDING = 2  # chunks queued for the background writer
MAX_OPEN_PARTS = 64  # per source file; more dates than this in one file rotate into further parts


@dataclass
class StagedPart:
    path: Path
    table: str
    file_index: int
    rows_path: Path
    writer: pq.ParquetWriter | None = None
    rows_handle: object | None = None
    count: int = 0


@dataclass
class FileStage:
    """The parts written for one source file (discarded together if the file is re-read or rejected)."""

    file_index: int
    parts: list[StagedPart] = field(default_factory=list)
    open: dict[tuple[str, str | None, str | None], StagedPart] = field(default_factory=dict)


class LakeWriter:
    """Context manager: take the writer lock, stage parts, publish them all or none."""

    def __init__(self, root: Path, *, lock_timeout: float = 60.0) -> None:
        self.root = Path(root)
        self.lock_timeout = lock_timeout
        self.id = uuid.uuid4().hex[:12]
        self.staging = self.root / f"{STAGING_PREFIX}{self.id}"
        self.parts: list[StagedPart] = []
        self.published: list[Path] = []
        self._made: list[Path] = []  # partition folders publish() created, removed again by a rollback
        self._opened: list[StagedPart] = []  # every part ever opened, to close them all on the way out
        self._lock_fd: int | None = None
        self._seq = 0
        self._done = False
        # Encoding Parquet releases the GIL: one background thread writes chunk n while chunk n+1 is read
        # and checked. At most MAX_PENDING chunks wait, so memory stays bounded.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-stage")
        self._pending: deque[Future[None]] = deque()

    # --- lock and recovery ------------------------------------------------------------------------------

    def __enter__(self) -> LakeWriter:
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_fd = acquire_lock(self.root, self.lock_timeout)
        recover(self.root)
        self.staging.mkdir()
        (self.staging / "rows").mkdir()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if not self._done:
                self.rollback()
        finally:
            self._pool.shutdown(wait=True)
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing the descriptor releases the flock
                self._lock_fd = None

    # --- staging ------------------------------------------------------------------------------------------

    def new_file(self, file_index: int) -> FileStage:
        return FileStage(file_index)

    def write(self, stage: FileStage, table: str, data: pa.Table, rows: np.ndarray) -> None:
        """Append ``data`` (canonical schema, good rows only) split into its partitions, in the background."""
        if data.num_rows == 0:
            return
        while len(self._pending) >= MAX_PENDING:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, stage, table, data, rows))

    def flush(self) -> None:
        """Wait for every background write; re-raise the first failure."""
        while self._pending:
            self._pending.popleft().result()

    def _write(self, stage: FileStage, table: str, data: pa.Table, rows: np.ndarray) -> None:
        spec = TABLES[table]
        venue = data["venue"][0].as_py() if "venue" in spec.partition_by else None
        if "date" not in spec.partition_by:
            self._append(stage, table, venue, None, data, rows)
            return
        micros = data[spec.time_column or "ts"].cast(pa.int64()).to_numpy()
        days = micros // US_PER_DAY
        first, last = days.min(), days.max()
        if first == last:
            self._append(stage, table, venue, _day(first), data, rows)
            return
        if (np.diff(days) >= 0).all():  # time-ordered input (the usual case): cut slices, copy nothing
            bounds = np.flatnonzero(np.diff(days)) + 1
            for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(days)], strict=True):
                self._append(stage, table, venue, _day(days[lo]), data.slice(lo, hi - lo), rows[lo:hi])
            return
        order = np.argsort(days, kind="stable")
        sorted_days = days[order]
        bounds = np.flatnonzero(np.diff(sorted_days)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(order)], strict=True):
            idx = order[lo:hi]
            self._append(stage, table, venue, _day(sorted_days[lo]), data.take(pa.array(idx)), rows[idx])

    def _append(self, stage: FileStage, table: str, venue: str | None, date: str | None, data: pa.Table,
                rows: np.ndarray) -> None:
        key = (table, venue, date)
        part = stage.open.get(key)
        if part is None:
            if len(stage.open) >= MAX_OPEN_PARTS:
                self._close_part(stage.open.pop(next(iter(stage.open))))
            part = self._open_part(stage, table, venue, date, data.schema)
            stage.open[key] = part
        assert part.writer is not None
        if data.schema != part.writer.schema:  # e.g. a column that came as a dictionary in one chunk only
            data = data.cast(part.writer.schema)
        part.writer.write_table(data)
        rows.astype(np.int64, copy=False).tofile(part.rows_handle)  # type: ignore[arg-type]
        part.count += data.num_rows

    def _open_part(self, stage: FileStage, table: str, venue: str | None, date: str | None,
                   schema: pa.Schema) -> StagedPart:
        self._seq += 1
        folder = partition_dir(self.staging, table, venue, dt.date.fromisoformat(date) if date else None)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{self.id}-{self._seq:05d}.parquet"
        rows_path = self.staging / "rows" / f"{self._seq:05d}.i64"
        part = StagedPart(path, table, stage.file_index, rows_path)
        # Dictionary columns are written from their dictionaries; the stored Arrow schema is then left out,
        # so readers see the contract's plain strings (Parquet's own types carry the rest).
        plain = not any(pa.types.is_dictionary(f.type) for f in schema)
        stored = TABLES[table].schema if plain else schema
        part.writer = pq.ParquetWriter(path, stored, store_schema=plain, **write_options(table, stored.names))
        part.rows_handle = rows_path.open("wb")
        stage.parts.append(part)
        self._opened.append(part)
        return part

    def stage_copy(self, stage: FileStage, table: str, venue: str | None, date: str | None, source: Path,
                   rows: int) -> None:
        """Stage ``source`` as it is: its columns already are the contract's and it fits one partition."""
        self.flush()
        self._seq += 1
        folder = partition_dir(self.staging, table, venue, dt.date.fromisoformat(date) if date else None)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{self.id}-{self._seq:05d}.parquet"
        shutil.copyfile(source, path)
        rows_path = self.staging / "rows" / f"{self._seq:05d}.i64"
        np.arange(1, rows + 1, dtype=np.int64).tofile(rows_path)
        part = StagedPart(path, table, stage.file_index, rows_path, count=rows)
        stage.parts.append(part)
        self._opened.append(part)

    @staticmethod
    def _close_part(part: StagedPart) -> None:
        if part.writer is not None:
            part.writer.close()
            part.writer = None
        if part.rows_handle is not None:
            part.rows_handle.close()  # type: ignore[attr-defined]
            part.rows_handle = None

    def close_file(self, stage: FileStage) -> None:
        """The file was read to the end: keep its parts."""
        self.flush()
        for part in stage.parts:
            self._close_part(part)
        stage.open.clear()
        self.parts.extend(p for p in stage.parts if p.count)
        for p in stage.parts:
            if not p.count:
                p.path.unlink(missing_ok=True)

    def discard_file(self, stage: FileStage) -> None:
        """Forget everything staged for this file (it is read again, or rejected)."""
        self._drain()
        for part in stage.parts:
            self._close_part(part)
            part.path.unlink(missing_ok=True)
            part.rows_path.unlink(missing_ok=True)
        stage.parts.clear()
        stage.open.clear()

    def _drain(self) -> None:
        """Wait for background writes, ignoring their failures (we are throwing their output away)."""
        while self._pending:
            try:
                self._pending.popleft().result()
            except Exception:  # noqa: BLE001 - the caller is already handling an error or a rejection
                log.debug("a discarded background write failed", exc_info=True)

    def staged_glob(self, table: str) -> str | None:
        """A glob over the staged files of ``table``, or None when nothing is staged for it."""
        if not any(p.table == table for p in self.parts):
            return None
        depth = len(TABLES[table].partition_by)
        return str(self.staging / table / ("*/" * depth)) + "/*.parquet" if depth else str(
            self.staging / table / "*.parquet")

    # --- publishing ------------------------------------------------------------------------------------

    def publish(self) -> list[Path]:
        """Move every staged part into the lake layout (journal first, fsync throughout)."""
        moves = [(p.path, self.root / p.path.relative_to(self.staging)) for p in self.parts if p.count]
        for src, _ in moves:
            _fsync_file(src)
        journal = self.staging / "journal.json"
        journal.write_text(json.dumps([[str(s), str(d)] for s, d in moves]))
        _fsync_file(journal)
        _fsync_dir(self.staging)
        dirs: set[Path] = set()
        for src, dst in moves:
            if not dst.parent.exists():
                self._made.extend(_missing_folders(dst.parent, self.root))
                dst.parent.mkdir(parents=True, exist_ok=True)
                dirs.update({dst.parent.parent, dst.parent.parent.parent})
            os.rename(src, dst)
            self.published.append(dst)
            dirs.add(dst.parent)
        for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            if d.is_relative_to(self.root):
                _fsync_dir(d)
        return list(self.published)

    def finish(self) -> None:
        """Keep the ingest: mark it committed and clear the staging folder."""
        marker = self.staging / "COMMITTED"
        marker.touch()
        _fsync_file(marker)
        _fsync_dir(self.staging)
        shutil.rmtree(self.staging, ignore_errors=True)
        self._done = True

    def rollback(self) -> None:
        """Undo: delete what was published, drop the staging folder."""
        self._drain()
        for part in self._opened:
            self._close_part(part)
        for path in self.published:
            path.unlink(missing_ok=True)
        self.published.clear()
        # the partition folders this ingest made, deepest first, so a rolled-back ingest leaves the lake as it was
        for folder in sorted(self._made, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: another file may have arrived there meanwhile
        self._made.clear()
        shutil.rmtree(self.staging, ignore_errors=True)
        self._done = True


def _missing_folders(folder: Path, root: Path) -> list[Path]:
    """``folder`` and its ancestors below ``root`` that do not exist yet."""
    missing = []
    while folder != root and folder.is_relative_to(root) and not folder.exists():
        missing.append(folder)
        folder = folder.parent
    return missing


def _day(days_since_epoch: np.integer) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=int(days_since_epoch))).isoformat()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        _fsync_file(path)
    except OSError:  # some filesystems refuse fsync on a directory; the rename is still atomic
        log.debug("could not fsync directory %s", path)


def acquire_lock(root: Path, timeout: float) -> int:
    """Take the lake's writer lock, waiting up to ``timeout`` seconds."""
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError as exc:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise Conflict(f"another ingest is writing to the lake at {root}; try again when it has "
                               f"finished (waited {timeout:.0f} s)", field="lake") from exc
            time.sleep(0.1)


def recover(root: Path) -> int:
    """Roll back staging folders left by ingests that died. Call only while holding the writer lock."""
    undone = 0
    for staging in sorted(root.glob(f"{STAGING_PREFIX}*")):
        if not (staging / "COMMITTED").exists():
            undone += _undo_journal(staging)
        shutil.rmtree(staging, ignore_errors=True)
        log.warning("rolled back an interrupted ingest (%s)", staging.name)
    return undone


def _undo_journal(staging: Path) -> int:
    journal = staging / "journal.json"
    if not journal.exists():
        return 0
    try:
        moves = json.loads(journal.read_text())
    except (OSError, ValueError):
        return 0  # the journal was not complete, so no rename had started
    undone = 0
    for src, dst in moves:
        if not Path(src).exists() and Path(dst).exists():
            Path(dst).unlink()
            undone += 1
    return undone


def try_recover(root: Path) -> None:
    """For readers: roll back a dead ingest if no ingest is running now (never waits)."""
    if not root.exists() or not any(root.glob(f"{STAGING_PREFIX}*")):
        return
    try:
        fd = acquire_lock(root, 0)
    except (Conflict, OSError):
        return
    try:
        recover(root)
    finally:
        os.close(fd)
