"""``harbour aml train`` and ``harbour aml score``: the learned AML scorer from the command line.

    harbour generate --days 3 --out var/lake
    harbour aml train --lake var/lake --model var/models/aml_scorer.txt
    harbour aml score --lake var/lake --model var/models/aml_scorer.txt --out var/aml_scorer_alerts.parquet
    harbour evaluate var/aml_scorer_alerts.parquet var/lake
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from harbour.core.errors import HarbourError

console = Console()
aml_app = typer.Typer(help="The learned AML scorer (LightGBM over transfer-graph features).", no_args_is_help=True)


@aml_app.command("train")
def train_command(
    lake: Path = typer.Option(Path("./var/lake"), help="lake with transfers, accounts and labels"),
    model: Path = typer.Option(Path("./var/models/aml_scorer.txt"), help="where to write the model"),
    test_days: int = typer.Option(1, min=1, help="the last N days are held out for the report"),
    rounds: int = typer.Option(150, min=1, help="boosting rounds"),
) -> None:
    """Train on the earlier days, report minority-class precision/recall/F1 on the later ones, save."""
    from harbour.detect.aml.scorer import train_from_lake

    try:
        result = train_from_lake(lake, model, test_days=test_days, rounds=rounds)
    except HarbourError as exc:
        console.print(f"[red]error[/red]: {exc.message}")
        raise typer.Exit(code=2) from exc
    typer.echo(json.dumps(result.metrics, indent=2))
    console.print(f"[green]✓[/green] model → {model}")


@aml_app.command("score")
def score_command(
    lake: Path = typer.Option(Path("./var/lake"), help="lake with transfers and accounts"),
    model: Path = typer.Option(Path("./var/models/aml_scorer.txt"), help="a model from `harbour aml train`"),
    out: Path = typer.Option(Path("./var/aml_scorer_alerts.parquet"), help="alerts Parquet to write"),
) -> None:
    """Score every actor-day; write alerts (one typology each) for `harbour evaluate` and the case queue."""
    from harbour.detect.aml.scorer import score_lake

    try:
        alerts = score_lake(lake, model, out)
    except HarbourError as exc:
        console.print(f"[red]error[/red]: {exc.message}")
        raise typer.Exit(code=2) from exc
    console.print(f"[green]✓[/green] {alerts.num_rows} alerts → {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(aml_app, name="aml")
