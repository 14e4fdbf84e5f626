"""``harbour generate``: parse the options, call :func:`generate_market`, show progress and a summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harbour.data.generate.config import DEFAULT_QUOTE_RATE, Difficulty, GenerateConfig, parse_incidents
from harbour.data.generate.run import generate_market

console = Console()


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)


def generate(
    venues: int = typer.Option(3, min=1, max=10, help="number of venues"),
    days: int = typer.Option(2, min=1, max=4000, help="number of UTC days"),
    accounts: int = typer.Option(2000, min=20, help="accounts per venue"),
    seed: int = typer.Option(1, help="random seed; the same seed and options give byte-identical files"),
    out: Path = typer.Option(Path("./var/lake"), help="lake root to write into"),
    difficulty: Difficulty = typer.Option(Difficulty.default, help="how well incidents hide in normal flow"),
    incidents: list[str] = typer.Option([], help="TYPOLOGY=COUNT (repeatable; all=N sets every typology)"),
    start: str = typer.Option("2026-01-05", help="first UTC date, YYYY-MM-DD"),
    venue_names: str = typer.Option("", help="comma-separated venue codes (default HBX,KLN,VCT,...)"),
    activity: float = typer.Option(1.0, min=0.001, help="multiplies the order flow of every book"),
    symbols: int = typer.Option(8, min=3, max=12, help="how many symbols of the universe take part"),
    quote_rate: float = typer.Option(DEFAULT_QUOTE_RATE, min=0.0, help=(
        "market-maker re-quotes per market maker per honest order: sets the order-to-trade ratio "
        "(0.1 about 5 order events per trade, 0.25 about 7, 2.5 about 40)")),
    workers: int = typer.Option(0, min=0, help=(
        "processes generating venue-days side by side (0: one per CPU); the files are the same whatever "
        "the number, and memory grows by about one venue-day per worker")),
) -> None:
    """Write a synthetic market (trades, orders, transfers, accounts, announcements) and its labels."""
    try:
        counts = parse_incidents(incidents)
        first = dt.date.fromisoformat(start)
    except ValueError as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(code=2) from exc
    names = tuple(n.strip() for n in venue_names.split(",") if n.strip())
    if names and len(names) < venues:
        console.print(f"[red]error[/red]: --venue-names gives {len(names)} codes for --venues {venues}")
        raise typer.Exit(code=2)
    config = GenerateConfig(out=out, venues=venues, days=days, accounts=accounts, seed=seed, difficulty=difficulty,
                            start=first, venue_names=names, incidents=counts, activity=activity, symbols=symbols,
                            quote_rate=quote_rate)
    with Progress(TextColumn("[bold]generate[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("", total=venues * days)
        summary = generate_market(config, lambda done, total, what: bar.update(task, completed=done, description=what),
                                  workers=workers)
    console.print(f"[green]✓[/green] {summary.line()} → {out}")
    for typology, why in summary.skipped.items():
        console.print(f"[yellow]note[/yellow]: {typology}: {why}")
