"""Domain errors of the care record: the kit's, which map to 404, 409 and 422 (eldercare/errors.py)."""

from __future__ import annotations

from eldercare.errors import Conflict, Invalid, NotFound

__all__ = ["Conflict", "ElderNotFound", "Invalid", "NotFound"]


class ElderNotFound(NotFound):
    """No elder has that id."""

    what = "elder"
