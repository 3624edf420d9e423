"""The one error type a report can fail with; the REST shim and GraphQL translate it."""

from __future__ import annotations


class ReportError(ValueError):
    """A report that cannot be stored, with the field at fault (None for the whole body)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
