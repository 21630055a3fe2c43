"""Errors raised by services, shared by every app.

Services raise ``django.core.exceptions.ValidationError`` for bad input (the
API maps it to 400) and the errors below for the other refusals.
"""


class ConflictError(Exception):
    """A write was based on a stale version of a record (HTTP 409)."""

    def __init__(self, message: str, *, current_version: int):
        super().__init__(message)
        self.current_version = current_version


class PermissionDenied(Exception):  # noqa: N818 - mirrors Django's own name
    """The acting user may see the record but not make this change (HTTP 403)."""
