"""Responder table and API schemas."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import Boolean, Column, Float, String, Text
from sqlmodel import Field, SQLModel

from eldercare.db import UTCDateTime
from eldercare.http import RequestModel


class ResponderKind(StrEnum):
    FAMILY = "family"
    NEIGHBOUR_HELPER = "neighbour_helper"
    COMMUNITY_STATION = "community_station"
    MOBILE_TEAM = "mobile_team"
    DOCTOR = "doctor"
    AMBULANCE = "ambulance"


class Skill(StrEnum):
    FIRST_AID = "first_aid"
    HAS_KEY = "has_key"
    MEDICAL = "medical"


class Responder(SQLModel, table=True):
    """Someone who can be sent to an elder."""

    __tablename__ = "responders"

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    phone: str = Field(sa_column=Column(String(32), nullable=False))
    base_lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    base_lon: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    area: str | None = Field(default=None, sa_column=Column(String(64), nullable=True, index=True))
    coverage_radius_km: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    skills: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list of Skill
    schedule: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON list of shifts
    elder_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON: elders they are family of
    available: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    live_lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    live_lon: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    live_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


# ---- API schemas ---------------------------------------------------------------------------

_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Position(RequestModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = PydanticField(ge=-90, le=90)
    lon: float = PydanticField(ge=-180, le=180)


class Shift(RequestModel):
    """On duty on these weekdays (0 = Monday) from start to end, local time; end < start crosses midnight."""

    model_config = ConfigDict(extra="forbid")
    days: list[int] = PydanticField(default_factory=lambda: list(range(7)), min_length=1, max_length=7)
    start: str = PydanticField(max_length=5, description="HH:MM")
    end: str = PydanticField(max_length=5, description="HH:MM")

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(day < 0 or day > 6 for day in value):
            raise ValueError("weekdays are 0 (Monday) .. 6 (Sunday)")
        return sorted(set(value))

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.fullmatch(value):
            raise ValueError("must be HH:MM, 00:00 .. 23:59")
        return value


class ResponderCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    kind: ResponderKind
    name: str = PydanticField(min_length=1, max_length=200)
    phone: str = PydanticField(min_length=3, max_length=32, pattern=r"^[0-9+\- ]+$")
    base: Position | None = PydanticField(None, description="home or base location")
    area: str | None = PydanticField(None, max_length=64, description="coverage area code, e.g. a street or township")
    coverage_radius_km: float | None = PydanticField(None, gt=0, le=500, description="how far they will go")
    skills: list[Skill] = PydanticField(default_factory=list, max_length=16)
    schedule: list[Shift] | None = PydanticField(
        None, max_length=28, description="on-duty shifts; null means always on duty"
    )
    elder_ids: list[str] = PydanticField(
        default_factory=list, max_length=50, description="elders whose family contact this is"
    )
    available: bool = True


class ResponderUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = PydanticField(None, min_length=1, max_length=200)
    phone: str | None = PydanticField(None, min_length=3, max_length=32, pattern=r"^[0-9+\- ]+$")
    base: Position | None = None
    area: str | None = PydanticField(None, max_length=64)
    coverage_radius_km: float | None = PydanticField(None, gt=0, le=500)
    skills: list[Skill] | None = PydanticField(None, max_length=16)
    schedule: list[Shift] | None = PydanticField(None, max_length=28)
    elder_ids: list[str] | None = PydanticField(None, max_length=50)
    available: bool | None = None
    location: Position | None = PydanticField(None, description="live position (a responder app posts this)")


class ResponderRead(BaseModel):
    id: str
    kind: ResponderKind
    name: str
    phone: str
    base: Position | None
    area: str | None
    coverage_radius_km: float | None
    skills: list[Skill]
    schedule: list[Shift] | None
    elder_ids: list[str]
    available: bool
    location: Position | None = PydanticField(description="live position")
    location_at: datetime | None
    created_at: datetime
    updated_at: datetime
