"""The ``harbour`` command. Commands parse their input, call one service function, present the result.

Features add their own commands through ``register(app)`` in their ``cli`` module (see FEATURE_CLIS).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from harbour.core.audit import record, verify_chain
from harbour.core.auth import SYSTEM, Role, create_user
from harbour.core.config import load_settings
from harbour.core.db import make_engine, make_session_factory, transaction
from harbour.core.errors import HarbourError
from harbour.core.migrate import require_schema, upgrade
from harbour.core.tenancy import get_platform_by_code

app = typer.Typer(help="Harbour: supervision of virtual-asset trading platforms.", no_args_is_help=True)
db_app = typer.Typer(help="The operational database.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")

console = Console()
err_console = Console(stderr=True)

# Modules with ``register(app: typer.Typer)``; each adds its feature's commands.
FEATURE_CLIS = (
    "harbour.demo",
    "harbour.licensing.cli",
    "harbour.data.cli",
    "harbour.data.generate.cli",
    "harbour.detect.cli",
    "harbour.detect.aml.cli",
    "harbour.detect.screening.cli",
    "harbour.cases.cli",
)


@contextmanager
def open_database() -> Iterator[sessionmaker[Session]]:
    """A session factory on the configured database; the engine is closed afterwards."""
    engine = make_engine(load_settings().database_url)
    try:
        try:
            require_schema(engine)
        except HarbourError as exc:
            fail(exc)
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def fail(exc: HarbourError) -> NoReturn:
    err_console.print(f"[red]error[/red]: {exc.message}")
    raise typer.Exit(code=2)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="log debug detail")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def serve(
    host: str = typer.Option(None, help="address to listen on (default from settings: 127.0.0.1)"),
    port: int = typer.Option(None, help="port (default from settings: 8000)"),
) -> None:
    """Run the web platform (pages and API)."""
    import uvicorn

    from harbour.web.app import create_app

    settings = load_settings()
    try:
        web_app = create_app(settings)
        require_schema(web_app.state.engine)
    except HarbourError as exc:
        fail(exc)
    uvicorn.run(web_app, host=host or settings.host, port=port or settings.port, log_level="info")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads", help="target revision (default: all heads)")) -> None:
    """Apply the Alembic migrations to the configured database."""
    settings = load_settings()
    upgrade(settings.database_url, revision)
    console.print(f"database at [bold]{_redact(settings.database_url)}[/bold] is at {revision}")


@users_app.command("add")
def users_add(
    username: str,
    role: Role = typer.Option(..., help="the user's role"),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    platform: str = typer.Option(None, help="platform code (required for platform_user)"),
    name: str = typer.Option(None, help="display name"),
) -> None:
    """Create a user account."""
    try:
        with open_database() as factory, transaction(factory) as session:
            platform_id = get_platform_by_code(session, platform).id if platform else None
            user = create_user(session, username=username, password=password, role=role,
                               display_name=name, platform_id=platform_id)
            record(session, SYSTEM, "user.created", "user", user.id,
                   after={"username": username, "role": str(role), "platform_id": platform_id},
                   reason="created with `harbour users add`")
    except HarbourError as exc:
        fail(exc)
    console.print(f"created user [bold]{username}[/bold] ({role})")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's hash chain; name the first entry edited, deleted or reordered."""
    with open_database() as factory, transaction(factory) as session:
        report = verify_chain(session)
    if report.ok:
        console.print(f"[green]audit log intact[/green]: {report.entries} entries, hash chain verified")
        return
    where = f"entry seq {report.first_bad_seq}" + (f" (row id {report.first_bad_id})" if report.first_bad_id else "")
    err_console.print(f"[red]audit log broken at {where}[/red]: {report.problem}")
    raise typer.Exit(code=1)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def print_table(title: str, columns: list[str], rows: list[list[object]]) -> None:
    """Shared Rich table for feature commands."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*[str(v) for v in row])
    console.print(table)


def _register_features() -> None:
    for module_name in FEATURE_CLIS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):  # feature not built yet
                continue
            raise
        module.register(app)


_register_features()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
