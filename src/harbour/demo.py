"""``harbour demo``: a fresh database and lake full of fictitious data, then the platform.

Each feature contributes one step (a function ``step(ctx) -> str`` returning a one-line summary); the
steps run in order with a progress display, so a newcomer sees the whole product within a minute or two.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from harbour.core.config import Settings, load_settings
from harbour.core.db import make_engine, make_session_factory
from harbour.core.migrate import upgrade

log = logging.getLogger(__name__)
console = Console()

DEMO_PASSWORD = "harbour-demo"

# (title, "module:function"); a step whose module does not exist yet is skipped.
DEMO_STEPS: tuple[tuple[str, str], ...] = (
    ("Platforms, users and the licensing register", "harbour.licensing.demo:seed"),
    ("Synthetic market with labelled incidents", "harbour.data.demo:generate"),
    ("Surveillance and AML detectors", "harbour.detect.demo:run"),
    ("Screening lists", "harbour.detect.screening.demo:seed"),
    ("Alert triage and cases", "harbour.cases.demo:seed"),
)


@dataclass
class DemoContext:
    settings: Settings
    session_factory: sessionmaker[Session]
    lake_root: Path
    password: str = DEMO_PASSWORD
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (username, role, what they see)
    facts: dict[str, Any] = field(default_factory=dict)  # shared between steps


def build_demo(var_dir: Path = Path("./var/demo"), *, fresh: bool = True) -> DemoContext:
    """Create the demo database and lake under ``var_dir`` and run every step."""
    if fresh and var_dir.exists():
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        database_url=f"sqlite:///{var_dir / 'harbour.db'}",
        lake_root=var_dir / "lake",
        upload_dir=var_dir / "uploads",
        demo_mode=True,
    )
    upgrade(settings.database_url)
    ctx = DemoContext(settings, make_session_factory(make_engine(settings.database_url)), settings.lake_root)
    for title, target in DEMO_STEPS:
        step = _load_step(target)
        if step is None:
            continue
        started = time.perf_counter()
        with console.status(f"[bold]{title}[/bold] …"):
            summary = step(ctx)
        console.print(f"[green]✓[/green] {title}: {summary} [dim]({time.perf_counter() - started:.1f}s)[/dim]")
    return ctx


def _load_step(target: str) -> Any:
    module_name, func_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, func_name)


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        port: int = typer.Option(8000, help="port to serve on"),
        host: str = typer.Option("127.0.0.1", help="address to listen on"),
        var_dir: Path = typer.Option(Path("./var/demo"), help="where the demo database and lake go"),
        no_serve: bool = typer.Option(False, "--no-serve", help="build the demo data and stop"),
    ) -> None:
        """Build fictitious demo data (platforms, market, alerts, cases) and run the platform on it."""
        ctx = build_demo(var_dir)
        console.rule("Harbour demo")
        console.print(f"Open [bold]http://{host}:{port}/[/bold]  (API docs at /docs)")
        console.print(f"Every demo login uses the password [bold]{ctx.password}[/bold]:")
        for username, role, sees in ctx.logins:
            console.print(f"  [bold]{username:<12}[/bold] {role:<18} {sees}")
        if no_serve:
            return
        import uvicorn

        from harbour.web.app import create_app

        uvicorn.run(create_app(ctx.settings), host=host, port=port, log_level="warning")
