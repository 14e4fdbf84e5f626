"""Every module that defines ORM models, imported together so ``Base.metadata`` is complete
(for Alembic autogenerate, its env.py, and the test that compares models with migrations)."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "harbour.core.tenancy",
    "harbour.core.auth",
    "harbour.core.audit",
    "harbour.detect.alert_store",
    "harbour.licensing.models",
    "harbour.detect.screening.models",
    "harbour.cases.models",
)


def import_all_models() -> None:
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a feature that has no models yet
            if not (exc.name and name.startswith(exc.name)):
                raise
