"""Spying on a kernel's screens: which answer each check gave, in order, while the kernel runs as it would."""

from __future__ import annotations

from types import ModuleType
from typing import Any

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
