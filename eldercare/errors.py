"""The domain errors every service raises, and the one place they become HTTP statuses.

A service's own errors subclass these (`IncidentNotFound(NotFound)`); the kit's error
handlers (`eldercare.http`) answer 404, 409 and 422 with the error's text as the detail,
so every service words and maps its refusals the same way.
"""

from __future__ import annotations

from typing import ClassVar


class NotFound(LookupError):
    """The addressed record does not exist (404).

    Raised with a message, or, by a subclass that names `what`, with the missing id alone.
    """

    what: ClassVar[str | None] = None
    hint: ClassVar[str] = ""  # said after the id: why a record may be missing here

    def __str__(self) -> str:
        if self.what is not None and len(self.args) == 1:
            return f"no {self.what} with id {self.args[0]}{self.hint}"
        return super().__str__()


class Conflict(Exception):
    """The change contradicts the current state, e.g. a device already bound (409)."""


class Invalid(ValueError):
    """Input that passed the schema but breaks a rule (422)."""
