"""``harbour screen …``: load lists, screen a name or an address, re-screen everyone, show hits.

    harbour screen lists load targets.simple.csv --list opensanctions --kind sanctions
    harbour screen names "Mohammed Hussain" "J. R. Smith"
    harbour screen address eth 0x7F36…
    harbour screen hits --status open

Commands act as the system operator (recorded as ``system`` in the audit log).
"""

from __future__ import annotations

from pathlib import Path

import typer

from harbour.core.auth import SYSTEM
from harbour.core.config import load_settings
from harbour.core.db import transaction
from harbour.core.errors import HarbourError

screen_app = typer.Typer(help="Name and address screening against sanctions and watch lists.", no_args_is_help=True)
lists_app = typer.Typer(help="Watch lists and their versions.", no_args_is_help=True)
screen_app.add_typer(lists_app, name="lists")


def register(app: typer.Typer) -> None:
    app.add_typer(screen_app, name="screen")


@lists_app.command("load")
def lists_load(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="targets.simple.csv, names CSV or addresses"),
    list_name: str = typer.Option(..., "--list", help="the list's name (created on first load)"),
    kind: str = typer.Option("sanctions", help="sanctions, pep, watch or crypto"),
    threshold: float = typer.Option(None, help="match threshold for this list (default 0.88)"),
    fmt: str = typer.Option(None, "--format", help="opensanctions, names or addresses (default: from the header)"),
    no_rescreen: bool = typer.Option(False, "--no-rescreen", help="do not re-screen the lake's customers"),
) -> None:
    """Load a new version of a list; every customer and counterparty in the lake is screened again."""
    from harbour.cli import console, fail, open_database
    from harbour.detect.screening.service import load_list

    settings = load_settings()
    try:
        with open_database() as factory, transaction(factory) as session:
            result = load_list(session, SYSTEM, name=list_name, kind=kind, data=file.read_bytes(),
                               source_name=file.name, fmt=fmt, threshold=threshold,
                               lake_root=None if no_rescreen else settings.lake_root)
    except HarbourError as exc:
        fail(exc)
    r = result.rescreen
    console.print(f"list [bold]{result.name}[/bold] version {result.version}: {result.entries:,} entries; "
                  f"re-screened {r.subjects:,} subjects: {r.new_hits} new hits, {r.stale} stale, {r.reopened} reopened")


@lists_app.command("show")
def lists_show() -> None:
    """Every list with its current version and threshold."""
    from harbour.cli import open_database, print_table
    from harbour.detect.screening.service import list_lists

    with open_database() as factory, transaction(factory) as session:
        rows = [[wl.id, wl.name, wl.kind, wl.current_version, wl.threshold] for wl in list_lists(session, SYSTEM)]
    print_table("Screening lists", ["id", "name", "kind", "version", "threshold"], rows)


@screen_app.command("names")
def screen_names(
    names: list[str] = typer.Argument(..., help="one or more names"),
    lists: list[str] = typer.Option(None, "--list", help="only these lists"),
    threshold: float = typer.Option(None, help="override every list's threshold"),
) -> None:
    """Screen names against the lists now (nothing is recorded)."""
    from harbour.cli import fail, open_database, print_table
    from harbour.detect.screening.service import screen_name

    rows: list[list[object]] = []
    try:
        with open_database() as factory, transaction(factory) as session:
            for name in names:
                for r in screen_name(session, SYSTEM, name, lists or None, threshold):
                    rows.append([name, r.list_name, r.entry_key, r.entry_name, r.matched_name, f"{r.score:.3f}"])
    except HarbourError as exc:
        fail(exc)
    print_table("Screening matches", ["name", "list", "entry", "listed name", "matched name", "score"], rows)


@screen_app.command("address")
def screen_address_cmd(chain: str, address: str) -> None:
    """Is this address on a list? (exact match after the chain's normalisation)"""
    from harbour.cli import console, fail, open_database
    from harbour.detect.screening.service import screen_address

    try:
        with open_database() as factory, transaction(factory) as session:
            found = screen_address(session, SYSTEM, chain, address)
    except HarbourError as exc:
        fail(exc)
    if not found:
        console.print("not listed")
        return
    for r in found:
        console.print(f"[red]listed[/red] on {r.list_name} as {r.entry_key}")


@screen_app.command("rescreen")
def rescreen() -> None:
    """Screen every customer, counterparty and address in the lake against every list again."""
    from harbour.cli import console, fail, open_database
    from harbour.detect.screening.service import rescreen_all

    try:
        with open_database() as factory, transaction(factory) as session:
            r = rescreen_all(session, SYSTEM, load_settings().lake_root)
    except HarbourError as exc:
        fail(exc)
    console.print(f"re-screened {r.subjects:,} subjects: {r.new_hits} new hits, {r.stale} stale, "
                  f"{r.reopened} reopened, {r.kept} unchanged")


@screen_app.command("hits")
def hits(status: str = typer.Option(None, help="open, true_match, false_positive or stale"),
         limit: int = typer.Option(50, min=1, max=1000)) -> None:
    """The hits queue, open first."""
    from harbour.cli import fail, open_database, print_table
    from harbour.detect.screening.service import list_hits

    try:
        with open_database() as factory, transaction(factory) as session:
            rows = [[h.id, list_name, h.subject, h.subject_name, h.entry_name, f"{h.score:.3f}", h.status]
                    for h, list_name in list_hits(session, SYSTEM, status=status, limit=limit)]
    except HarbourError as exc:
        fail(exc)
    print_table("Screening hits", ["id", "list", "subject", "name", "listed as", "score", "status"], rows)
