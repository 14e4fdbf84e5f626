"""Spying on a kernel's screens: which answer each check gave, in order, while the kernel runs as it would."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pyarrow as pa
import pytest


def answers_of(monkeypatch: pytest.MonkeyPatch, module: ModuleType, check: str) -> list[bool]:
    """The answers ``module.check`` gives from now on (the list fills as the kernel calls it)."""
    seen: list[bool] = []
    real = getattr(module, check)

    def spy(*args: Any) -> bool:
        seen.append(real(*args))
        return seen[-1]

    monkeypatch.setattr(module, check, spy)
    return seen


def screened_and_full(monkeypatch: pytest.MonkeyPatch, module: ModuleType, check: str,
                      run: Callable[[], pa.Table]) -> tuple[list[bool], pa.Table, pa.Table]:
    """The screen's answers and the alerts of ``run`` with the screen, then the alerts with it forced open (the
    full path): a screen must never change an alert."""
    seen = answers_of(monkeypatch, module, check)
    screened = run()
    monkeypatch.setattr(module, check, lambda *_: True)
    return seen, screened, run()
