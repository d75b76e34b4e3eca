"""Monitoring's domain errors: the kit's, which map to 404, 409 and 422 (eldercare/errors.py)."""

from __future__ import annotations

from eldercare.errors import Conflict, Invalid, NotFound

__all__ = ["Conflict", "DeviceNotFound", "ElderNotFound", "GeofenceNotFound", "Invalid", "NotFound"]


class GeofenceNotFound(NotFound):
    """No geofence has that id."""

    what = "geofence"


class ElderNotFound(NotFound):
    """The read model holds no elder with that id."""

    what = "elder"
    # Also the answer for an elder registered a moment ago whose snapshot has not arrived yet.
    hint = " (monitoring knows the elders care-record has registered)"


class DeviceNotFound(NotFound):
    """No device with that id has been seen."""

    what = "device"
