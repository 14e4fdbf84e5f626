"""``harbour surveil``, ``harbour evaluate`` and ``harbour detectors``: parse, call one service, present."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from harbour.core.errors import HarbourError, Invalid
from harbour.detect.framework import UnsupportedOperation, Window

console = Console()
err_console = Console(stderr=True)


class _RichProgress:
    """Shows one bar per detector (tasks done out of planned)."""

    def __init__(self, progress: RichProgress) -> None:
        self.progress = progress
        self.tasks: dict[str, object] = {}

    def start(self, detector: str, total: int) -> None:
        self.tasks[detector] = self.progress.add_task(detector, total=max(total, 1))
        if total == 0:
            self.progress.advance(self.tasks[detector])  # type: ignore[arg-type]

    def advance(self, detector: str, n: int = 1) -> None:
        self.progress.advance(self.tasks[detector], n)  # type: ignore[arg-type]


def parse_when(value: str | None, name: str, *, end: bool = False) -> dt.datetime | None:
    """An ISO date or date-time, in UTC unless it says otherwise. A bare date given to ``--to`` includes
    that whole day."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            when = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            return when + dt.timedelta(days=1) if end else when
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid(f"--{name} {value!r} is not an ISO date (2026-01-05) or date-time (2026-01-05T09:30:00Z)",
                      field=name) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _fail(exc: Exception) -> None:
    message = exc.message if isinstance(exc, HarbourError) else str(exc)
    err_console.print(f"[red]error[/red]: {message}")
    raise typer.Exit(code=2)


def _want_store(store: bool | None) -> bool:
    if store is not None:
        return store
    return bool(os.environ.get("HARBOUR_DATABASE_URL") or os.environ.get("HARBOUR_SETTINGS_FILE"))


def surveil_command(
    out: Path = typer.Option(..., "--out", help="where to write the alerts Parquet file"),
    lake: Path = typer.Option(None, "--lake", help="root of the Parquet lake (default: HARBOUR_LAKE_ROOT)"),
    start: str = typer.Option(None, "--from", help="window start, ISO date or date-time (UTC)"),
    end: str = typer.Option(None, "--to", help="window end; a bare date includes that day"),
    venue: list[str] = typer.Option(None, "--venue", help="venue code(s) to survey (default: all)"),
    detector: list[str] = typer.Option(None, "--detector", help="detector name(s) (default: all registered)"),
    runner: str = typer.Option("local", "--runner", help="local (DuckDB, one worker per core) or spark"),
    workers: int = typer.Option(None, "--workers", help="local runner: worker processes (default: cores)"),
    spark_master: str = typer.Option("local[2]", "--spark-master", help="spark runner: master URL"),
    driver_memory: str = typer.Option("2g", "--driver-memory", help="spark runner: driver memory"),
    store: bool = typer.Option(None, "--store/--no-store",
                               help="save alerts to the operational database (default: when one is configured)"),
) -> None:
    """Run every registered detector (or those named) over the lake; write alerts to Parquet."""
    from harbour.core.config import load_settings
    from harbour.detect import service
    from harbour.detect.runners import open_runner, run_with

    settings = load_settings()
    lake = lake or settings.lake_root
    try:
        window = Window(parse_when(start, "from"), parse_when(end, "to", end=True))
        root = service.check_lake(lake)
        chosen = service.resolve_detectors(detector)
        columns = (TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with RichProgress(*columns, console=console, transient=False) as bars, \
                open_runner(runner, workers=workers, spark_master=spark_master, driver_memory=driver_memory) as r:
            result = run_with(r, root, chosen, window=window, venues=venue or None, progress=_RichProgress(bars))
        service.write_alerts_parquet(result.alerts, out)
        stored = _store(result, venue) if _want_store(store) else None
    except (HarbourError, UnsupportedOperation) as exc:
        _fail(exc)
        return
    _print_summary(result)
    console.print(f"wrote {result.alerts.num_rows} alerts to [bold]{out}[/bold]")
    if stored is not None:
        console.print(f"stored in the database: {stored.inserted} new, {stored.updated} updated "
                      f"(run {stored.run_id})")


def _store(result, venues):  # type: ignore[no-untyped-def]
    from harbour.cli import open_database
    from harbour.core.auth import SYSTEM
    from harbour.core.db import transaction
    from harbour.detect.service import store_alerts

    with open_database() as factory, transaction(factory) as session:
        return store_alerts(session, SYSTEM, result, venues=venues)


def _print_summary(result) -> None:  # type: ignore[no-untyped-def]
    table = Table(title=f"Surveillance run ({result.runner} runner, {result.seconds:.2f} s)", show_edge=False)
    # one row a detector (its typology is in `harbour detectors`): the table fits an 80-column terminal whole
    rows = [(d.detector, str(d.alerts), f"{d.seconds:.2f}", f"{d.rows:,}", f"{d.rows_per_second:,.0f}")
            for d in result.detectors]
    total = ("all", str(result.alerts.num_rows), f"{result.seconds:.2f}", "", "")
    for i, (col, justify) in enumerate((("detector", "left"), ("alerts", "right"), ("seconds", "right"),
                                        ("rows read", "right"), ("rows/s", "right"))):
        table.add_column(col, justify=justify, **_whole([r[i] for r in (*rows, total)]))  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    table.add_row(*(f"[bold]{v}[/bold]" if v else "" for v in total))
    console.print(table)


def evaluate_command(
    alerts: Path = typer.Argument(..., help="alerts Parquet (file or folder)"),
    labels: Path = typer.Argument(..., help="labels Parquet (file, folder, or a lake root)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object per typology instead of a table"),
    lake: Path = typer.Option(None, "--lake", help="lake whose trades give alerts per million trades "
                                                  "(default: the lake the labels belong to)"),
) -> None:
    """Precision, recall and F1 per typology against ground-truth labels (DESIGN.md's matching rule)."""
    from harbour.detect import evaluate as ev

    try:
        alert_table = ev.read_parquet_table(alerts, "alerts")
        label_table = ev.read_parquet_table(labels, "labels")
        source = lake or ev.find_lake(labels)
        trades = ev.count_trades(source) if source else None
        scores = ev.evaluate(alert_table, label_table, trades)
    except HarbourError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(ev.scores_json(scores), sort_keys=True))
        return
    # no outer edge: the table fits an 80-column terminal with every name and header whole
    table = Table(title="Evaluation against labels" + (f" ({trades:,} trades)" if trades else ""), show_edge=False)
    for col in ("typology", "alerts", "incidents", "precision", "recall", "F1", "alerts / M trades"):
        # typologies whole; one-word headers whole too, the per-million header may wrap
        whole = list(scores) if col == "typology" else [col] if " " not in col else []
        table.add_column(col, justify="left" if col == "typology" else "right", **_whole(whole))
    for s in scores.values():
        table.add_row(s.typology, str(s.alerts), str(s.incidents), _pct(s.precision), _pct(s.recall), _pct(s.f1),
                      "—" if s.alerts_per_million_trades is None else f"{s.alerts_per_million_trades:,.1f}")
    console.print(table)


def _whole(values: list[str]) -> dict[str, Any]:
    """Column options that keep every value whole on a narrow terminal (Rich would cut "front_running" to
    "front_runn…" and 1,493,211 to "1,49…"); headers wrap instead."""
    return {"no_wrap": True, "min_width": max(map(len, values))} if values else {}


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def detectors_command(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """List the registered detectors: typology, version, tables, partitioning and config defaults."""
    from harbour.detect.service import detector_catalogue

    entries = detector_catalogue()
    if as_json:
        typer.echo(json.dumps(entries, sort_keys=True, default=str))
        return
    table = Table(title=f"{len(entries)} registered detectors", show_edge=False)
    rows = [(e["name"], e["typology"], e["version"], ", ".join(e["tables"]), "+".join(e["partition_by"]) or "window",
             _short_span(e["lookback_seconds"]), str(len(e["parameters"]))) for e in entries]
    # the name (what --detector takes) and short values stay whole; the rest folds onto more lines, never cut
    for i, col in enumerate(("name", "typology", "version", "tables", "partition", "look-back", "params")):
        whole = col in ("name", "version", "look-back", "params")
        table.add_column(col, **(_whole([r[i] for r in rows]) if whole else {"overflow": "fold"}))
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _short_span(seconds: float) -> str:
    """A look-back in few characters: 3d, 10h, 2h 30m; a dash for none."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return " ".join(parts) or "—"


def register(app: typer.Typer) -> None:
    app.command("surveil")(surveil_command)
    app.command("evaluate")(evaluate_command)
    app.command("detectors")(detectors_command)
