"""Alembic migrations, run from Python (``harbour db upgrade``, the demo and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from harbour.core.errors import Unavailable

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(database_url: str) -> Config:
    if not MIGRATIONS_DIR.is_dir():
        raise RuntimeError(f"migrations folder not found at {MIGRATIONS_DIR}; install Harbour from its source tree")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(database_url), revision)


def require_schema(engine: Engine) -> None:
    """Raise ``Unavailable`` unless the database is at the code's migration heads: a command on a database that
    was never set up (or is behind the code) would otherwise fail deep inside with "no such table"."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        raise Unavailable(f"cannot open the operational database at {where}: {exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0]}") from exc
    scripts = ScriptDirectory.from_config(alembic_config(engine.url.render_as_string(hide_password=False)))
    wanted = set(scripts.get_heads())
    if not current:
        raise Unavailable(f"the operational database at {where} has not been set up: run `harbour db upgrade` "
                          "(or `harbour demo` for a demo database)")
    if current != wanted:
        raise Unavailable(f"the operational database at {where} is at revision {', '.join(sorted(current))}, this "
                          f"version of Harbour needs {', '.join(sorted(wanted))}: run `harbour db upgrade`")
