"""``harbour ingest`` and ``harbour lake``: load platform data into the analytics lake and look at it.

Examples::

    harbour ingest accounts accounts.csv --venue HBX
    harbour ingest trades day1.parquet day2.parquet --venue HBX --accounts new_accounts.csv
    harbour ingest trades binance.csv --venue BNF --format tardis --skip-bad
    harbour lake info
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlalchemy.orm import Session

from harbour.core.auth import SYSTEM
from harbour.core.config import load_settings
from harbour.core.db import make_engine, make_session_factory
from harbour.core.errors import HarbourError
from harbour.core.migrate import require_schema
from harbour.data.ingest.problems import IngestReport, Problem
from harbour.data.ingest.service import CHUNK_ROWS, INGESTIBLE, IngestFile, ProgressFn, ingest_as
from harbour.data.lake import Lake

console = Console()
err_console = Console(stderr=True)
lake_app = typer.Typer(help="The analytics lake (Parquet + DuckDB).", no_args_is_help=True)
PROGRESS_MIN_BYTES = 8 << 20  # smaller files finish before a bar would help


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
    app.add_typer(lake_app, name="lake")


def ingest_command(
    table: str = typer.Argument(..., help=f"table to load: {', '.join(INGESTIBLE)}"),
    files: list[Path] = typer.Argument(..., help="one or more files; all are loaded or none", exists=True,
                                       dir_okay=False, readable=True),
    venue: str = typer.Option(..., "--venue", help="the platform code the data belongs to"),
    lake: Path = typer.Option(None, "--lake", help="lake root (default: settings lake_root, ./var/lake)"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="keep the good rows and report the dropped ones"),
    fmt: str = typer.Option("auto", "--format", help="auto, parquet, csv, tardis or ccxt"),
    accounts: list[Path] = typer.Option([], "--accounts", help="accounts file(s) to load in the same run",
                                        exists=True, dir_okay=False),
    show: int = typer.Option(20, "--show", help="how many problems to list"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    chunk_rows: int = typer.Option(CHUNK_ROWS, "--chunk-rows", hidden=True, help="rows per read chunk"),
) -> None:
    """Validate files and add them to the lake, all or nothing; bad rows are listed as (file, row, column, reason)."""
    settings = load_settings()
    items = [IngestFile("accounts", p, format="auto") for p in accounts]
    items += [IngestFile(table, p, format=fmt) for p in files]
    size = sum(p.stat().st_size for p in files + accounts)
    try:
        with _session() as session, _progress(size) as progress:
            report = ingest_as(session, SYSTEM, lake or settings.lake_root, items, venue, skip_bad=skip_bad,
                               progress=progress, via=f"harbour ingest (OS user {getpass.getuser()})",
                               chunk_rows=chunk_rows)
    except HarbourError as exc:
        details = exc.details if isinstance(exc.details, dict) else None
        if as_json:
            console.print_json(json.dumps(exc.to_dict()))
        elif details and details.get("problems"):
            _print_problems(details["problems"], details["problem_count"], show)
        err_console.print(f"[red]error[/red]: {exc.message}")
        raise typer.Exit(code=2) from exc
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
        return
    _print_report(report, show)


@contextmanager
def _session() -> Iterator[Session]:
    engine = make_engine(load_settings().database_url)
    try:
        require_schema(engine)  # before any file is read: a missing schema is not the files' fault
    except HarbourError:
        engine.dispose()
        raise
    session = make_session_factory(engine)()
    try:
        yield session
    finally:
        session.close()
        engine.dispose()


@contextmanager
def _progress(total_bytes: int) -> Iterator[ProgressFn | None]:
    if total_bytes < PROGRESS_MIN_BYTES:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done)

        yield update


def _print_report(report: IngestReport, show: int) -> None:
    table = Table(title=f"Ingested into venue {report.venue} in {report.seconds:.2f} s")
    for col in ("file", "table", "format", "rows read", "written", "dropped", "sha256"):
        table.add_column(col, justify="right" if col in ("rows read", "written", "dropped") else "left",
                         overflow="fold", min_width=12 if col == "file" else None)
    for f in report.files:
        table.add_row(f.name, f.table, f.format, f"{f.rows_read:,}", f"{f.rows_written:,}", f"{f.rows_dropped:,}",
                      f.sha256[:12])
    console.print(table)
    if report.problem_count:
        _print_problems([p.to_dict() for p in report.sorted_problems()], report.problem_count, show,
                        title="Dropped rows (--skip-bad)")
    for name, cols in report.ignored_columns.items():
        console.print(f"[yellow]note[/yellow]: {name}: ignored column(s) not in the contract: {', '.join(cols)}")
    rate = report.rows_read / report.seconds if report.seconds else 0
    console.print(f"[green]{report.rows_written:,} rows written[/green], {report.rows_dropped:,} dropped "
                  f"({rate:,.0f} rows/s)")


def _print_problems(problems: list[dict], count: int, show: int, title: str = "Problems") -> None:
    table = Table(title=f"{title}: {count:,} (showing {min(show, len(problems))})")
    for col in ("file", "row", "column", "reason"):
        table.add_column(col, overflow="fold")
    for p in problems[:show]:
        problem = Problem(**p)
        table.add_row(problem.file, "-" if problem.row is None else str(problem.row), problem.column or "-",
                      problem.reason)
    err_console.print(table)


@lake_app.command("info")
def lake_info(lake: Path = typer.Option(None, "--lake", help="lake root (default: settings lake_root)")) -> None:
    """Rows and files per table, venue and date."""
    root = lake or load_settings().lake_root
    with Lake(root) as store:
        summary = store.describe().to_pylist()
    table = Table(title=f"Lake at {root}")
    for col in ("table", "venue", "date", "rows", "files", "bytes"):
        table.add_column(col, justify="right" if col in ("rows", "files", "bytes") else "left")
    for r in summary:
        table.add_row(r["table"], r["venue"] or "-", str(r["date"] or "-"), f"{r['rows']:,}", str(r["files"]),
                      f"{r['bytes']:,}")
    console.print(table if summary else f"the lake at {root} is empty")


@lake_app.command("sql")
def lake_sql(query: str = typer.Argument(..., help="SQL over the views trades, orders, transfers, ..."),
             lake: Path = typer.Option(None, "--lake", help="lake root (default: settings lake_root)"),
             limit: int = typer.Option(50, help="rows to print")) -> None:
    """Run a query over the lake and print the first rows."""
    root = lake or load_settings().lake_root
    try:
        with Lake(root) as store:
            result = store.sql(query).to_arrow()
    except Exception as exc:  # DuckDB's errors name the problem in the query; show them plainly
        err_console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(code=2) from exc
    table = Table(title=f"{result.num_rows:,} row(s)")
    for name in result.column_names:
        table.add_column(name)
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*[str(v) for v in row.values()])
    console.print(table)
