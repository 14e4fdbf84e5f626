"""``harbour licensing``: the public lists and the pipeline board from the command line.

    harbour licensing register licensed
    harbour licensing register alert-list --csv > alert-list.csv
    harbour licensing board
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from harbour.core.auth import SYSTEM
from harbour.core.errors import HarbourError
from harbour.licensing import board
from harbour.licensing import register as public_register

console = Console()
licensing_app = typer.Typer(help="The licensing register, public lists and pipeline board.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Hook used by ``harbour.cli`` (FEATURE_CLIS)."""
    app.add_typer(licensing_app, name="licensing")


@licensing_app.command("register")
def show_list(
    name: str = typer.Argument("licensed", help=f"one of {', '.join(public_register.LISTS)}"),
    as_csv: bool = typer.Option(False, "--csv", help="print CSV instead of a table"),
) -> None:
    """Print a public list (no login needed for these on the web either)."""
    from harbour.cli import fail, open_database

    try:
        with open_database() as factory, factory() as session:
            rows = public_register.public_list(session, name)
    except HarbourError as exc:
        fail(exc)
    if as_csv:
        typer.echo(public_register.to_csv(name, rows), nl=False)
        return
    table = Table(title=public_register.LISTS[name].title)
    columns = ("name", "website", "added_on", "reason") if name == "alert-list" else (
        "platform", "legal_name", "status", "since", "licence_number")
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*[str(row.get(c) or "—") for c in columns])
    console.print(table)


@licensing_app.command("board")
def show_board() -> None:
    """Print the pipeline board: counts by step, time in step, overdue items, target progress."""
    from harbour.cli import open_database

    with open_database() as factory, factory() as session:
        b = board.build_board(session, SYSTEM)
    table = Table(title="Licensing pipeline")
    for column in ("step", "now", "median days", "mean days"):
        table.add_column(column)
    for s in b.steps:
        table.add_row(s.label, str(s.count), str(s.median_days or "—"), str(s.mean_days or "—"))
    console.print(table)
    console.print(f"deemed applicants decided: {b.deemed_decided}/{b.deemed_total} "
                  f"({b.deemed_progress:.0f}%, target {b.target_date}); overdue items: {len(b.overdue)}")
