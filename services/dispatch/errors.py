"""Dispatch's domain errors: the kit's, which map to 404, 409 and 422 (eldercare/errors.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eldercare.errors import Conflict, Invalid, NotFound

__all__ = [
    "AssignmentConflict",
    "AssignmentNotFound",
    "BadPeriod",
    "CallConflict",
    "Conflict",
    "IllegalTransition",
    "IncidentNotFound",
    "Invalid",
    "NotFound",
    "ResponderNotFound",
]


class IncidentNotFound(NotFound):
    """No incident has that id."""

    what = "incident"


@dataclass
class IllegalTransition(Conflict):
    """The incident's state does not allow the action."""

    action: str
    status: str
    allowed_from: Iterable[str]

    def __str__(self) -> str:
        allowed = ", ".join(sorted(self.allowed_from))
        return f"cannot {self.action} an incident that is {self.status} (allowed from: {allowed})"


class AssignmentNotFound(NotFound):
    """No assignment has that id."""

    what = "assignment"


class AssignmentConflict(Conflict):
    """The assignment cannot be made or moved as asked (a 409)."""


class ResponderNotFound(NotFound):
    """No responder has that id."""

    what = "responder"


class CallConflict(Conflict):
    """An event that cannot follow what the call has already done (answered after it ended)."""


class BadPeriod(Invalid):
    """The period is not like 24h or 7d."""
