"""The Alembic migrations produce exactly the schema the models describe, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from harbour.core.db import Base
from harbour.models import import_all_models


def test_migrations_match_models(engine):
    import_all_models()

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False, "render_as_batch": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}; add a migration (see docs/operations.md)"
