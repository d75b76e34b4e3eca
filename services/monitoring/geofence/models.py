"""Geofences, each device's state against them, and the API schemas."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import Boolean, Column, Float, Integer, String, Text
from sqlmodel import Field, SQLModel

from eldercare.db import UTCDateTime
from eldercare.http import RequestModel

_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


class FenceState(StrEnum):
    UNKNOWN = "unknown"
    INSIDE = "inside"
    OUTSIDE = "outside"


class Geofence(SQLModel, table=True):
    __tablename__ = "geofences"

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    elder_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    shape: str = Field(sa_column=Column(String(8), nullable=False))
    center_lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    center_lon: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    radius_m: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    polygon: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON [[lat, lon], ...]
    active_from: str | None = Field(default=None, sa_column=Column(String(5), nullable=True))
    active_to: str | None = Field(default=None, sa_column=Column(String(5), nullable=True))
    enabled: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class GeofenceDeviceState(SQLModel, table=True):
    """Where a device is relative to one fence, and the pending change being confirmed."""

    __tablename__ = "geofence_device_states"

    geofence_id: str = Field(sa_column=Column(String(36), primary_key=True))
    device_id: str = Field(sa_column=Column(String(64), primary_key=True))
    state: str = Field(default=FenceState.UNKNOWN.value, sa_column=Column(String(8), nullable=False))
    candidate: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    candidate_fixes: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    candidate_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    exit_alert_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


Latitude = Annotated[float, PydanticField(ge=-90, le=90)]
Longitude = Annotated[float, PydanticField(ge=-180, le=180)]
ClockTime = Annotated[str, PydanticField(pattern=_HHMM.pattern, description="HH:MM, local time (MONITORING_TIMEZONE)")]


class GeofenceBase(RequestModel):
    model_config = ConfigDict(extra="forbid")

    name: str = PydanticField(min_length=1, max_length=100)
    shape: Literal["circle", "polygon"]
    center_lat: Latitude | None = None
    center_lon: Longitude | None = None
    radius_m: float | None = PydanticField(None, ge=10, le=100_000)
    polygon: list[tuple[Latitude, Longitude]] | None = PydanticField(
        None, min_length=3, max_length=200, description="[[lat, lon], ...], at least three corners"
    )
    active_from: ClockTime | None = None
    active_to: ClockTime | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _shape_has_its_fields(self) -> GeofenceBase:
        if self.shape == "circle" and (self.center_lat is None or self.center_lon is None or self.radius_m is None):
            raise ValueError("a circle needs center_lat, center_lon and radius_m")
        if self.shape == "polygon" and not self.polygon:
            raise ValueError("a polygon needs polygon: [[lat, lon], ...]")
        if (self.active_from is None) != (self.active_to is None):
            raise ValueError("active_from and active_to go together")
        return self


class GeofenceCreate(GeofenceBase):
    elder_id: str = PydanticField(min_length=1, max_length=64)


class GeofenceUpdate(GeofenceBase):
    """A full replacement of the fence's geometry and schedule."""


class GeofenceRead(GeofenceBase):
    model_config = ConfigDict(extra="ignore")

    id: str
    elder_id: str
    created_at: datetime
    updated_at: datetime
