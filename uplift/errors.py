"""Errors a user can fix. The CLI prints their one-line message and exits 2, without a traceback."""

from __future__ import annotations

__all__ = ["UserError", "SpecError", "DataError"]


class UserError(ValueError):
    """Bad input a user can fix. The message is one line: what (file, key or column), what is wrong, the fix."""


class SpecError(UserError):
    """A malformed experiment spec."""


class DataError(UserError):
    """Bad data: a missing column, wrong type, unreadable file, duplicate ids, ..."""
