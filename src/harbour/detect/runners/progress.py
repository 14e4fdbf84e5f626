"""How runners report progress (the CLI shows it with Rich; the API and tests ignore it)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, detector: str, total: int) -> None: ...

    def advance(self, detector: str, n: int = 1) -> None: ...


class _NoProgress:
    def start(self, detector: str, total: int) -> None:
        pass

    def advance(self, detector: str, n: int = 1) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()
