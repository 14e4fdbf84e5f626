"""Categorised errors. One handler (core.http) turns them into JSON or HTML.

Messages say what was wrong and how to fix it; ``field`` names the field, column or step at fault and
``details`` carries structured problems (e.g. a list of (file, row, column, reason)).
"""

from __future__ import annotations

from typing import Any


class HarbourError(Exception):
    status_code = 400
    category = "error"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.category, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.details is not None:
            body["details"] = self.details
        return body


class Invalid(HarbourError):
    status_code = 422
    category = "invalid"


class NotFound(HarbourError):
    status_code = 404
    category = "not_found"


class Forbidden(HarbourError):
    status_code = 403
    category = "forbidden"


class Unauthenticated(HarbourError):
    status_code = 401
    category = "unauthenticated"


class Conflict(HarbourError):
    status_code = 409
    category = "conflict"


class TooLarge(HarbourError):
    status_code = 413
    category = "too_large"


class Unavailable(HarbourError):
    """Something the request needs is not ready (e.g. the database has not been migrated)."""

    status_code = 503
    category = "unavailable"
