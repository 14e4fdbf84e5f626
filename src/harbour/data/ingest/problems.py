"""Problems found in ingested files, as (file, row, column, reason), and the report of one ingest.

Rows are numbered as a person counts them in the file:

* CSV (canonical and Tardis): the line number, with the header on line 1, so the first data row is row 2
  (equal to the line number unless a quoted field spans several lines);
* Parquet: the 1-based position of the row in the file;
* JSON lines (CCXT): the line number, 1-based (blank lines are counted and skipped).

``row`` is ``None`` for a problem with the whole file (a missing column, an unreadable file).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Keep at most this many problems in detail; the counts stay exact beyond it.
MAX_DETAILED_PROBLEMS = 100_000


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None
    column: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = self.file + (f", row {self.row}" if self.row is not None else "")
        return f"{where}, column {self.column or '-'}: {self.reason}"


@dataclass
class FileResult:
    name: str
    sha256: str
    table: str
    rows_read: int = 0
    rows_written: int = 0
    rows_dropped: int = 0
    format: str = ""


@dataclass
class IngestReport:
    """What an ingest did: per file, rows read/written/dropped, and every problem found."""

    venue: str
    skip_bad: bool
    files: list[FileResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    committed: bool = False
    seconds: float = 0.0

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_DETAILED_PROBLEMS:
            self.problems.append(problem)

    def extend(self, problems: list[Problem]) -> None:
        for p in problems:
            self.add(p)

    @property
    def truncated(self) -> bool:
        return self.problem_count > len(self.problems)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_written(self) -> int:
        return sum(f.rows_written for f in self.files)

    @property
    def rows_dropped(self) -> int:
        return sum(f.rows_dropped for f in self.files)

    def sorted_problems(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (p.file, p.row if p.row is not None else -1, p.column or ""))

    def summary(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "committed": self.committed,
            "skip_bad": self.skip_bad,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_dropped": self.rows_dropped,
            "problem_count": self.problem_count,
            "seconds": round(self.seconds, 3),
            "files": [asdict(f) for f in self.files],
            "ignored_columns": self.ignored_columns,
        }

    def to_dict(self, max_problems: int = 1000) -> dict[str, Any]:
        body = self.summary()
        shown = self.sorted_problems()[:max_problems]
        body["problems"] = [p.to_dict() for p in shown]
        body["problems_truncated"] = self.problem_count > len(shown)
        return body
