"""Domain errors of the care record, mapped to HTTP statuses by the app."""

from __future__ import annotations


class NotFound(LookupError):
    """The addressed record does not exist (404)."""


class Conflict(Exception):
    """The change contradicts the current state, e.g. a device already bound (409)."""


class Invalid(ValueError):
    """Input that passed the schema but breaks a rule (422)."""
