"""Incident tables and the API schemas around them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from eldercare.db import BigIntPK, UTCDateTime
from eldercare.http import RequestModel


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = frozenset(
    {IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED, IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE}
)


class Outcome(StrEnum):
    HANDLED = "handled"
    FALSE_ALARM = "false_alarm"
    HOSPITAL = "hospital"
    OTHER = "other"


class Incident(SQLModel, table=True):
    """An emergency being handled: opened by an alarm, worked by dispatchers."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_queue", "status", "priority", "opened_at"),
        Index("ix_incidents_device_status", "device_id", "status"),
    )

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    priority: int = Field(sa_column=Column(Integer, nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    device_id: str = Field(sa_column=Column(String(64), nullable=False))
    elder_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True, index=True))
    source_event_id: str = Field(sa_column=Column(String(64), nullable=False))
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_alarm_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    alarm_count: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    location_source: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    battery: int | None = None
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    acknowledged_by: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    closed_by: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    outcome: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    # Where the elder lives (a street or township code), for the queue filter and the SLA report.
    area: str | None = Field(default=None, sa_column=Column(String(64), nullable=True, index=True))
    # JSON list of why the priority is what it is (priority.py), shown to the dispatcher.
    priority_reasons: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class IncidentEntry(SQLModel, table=True):
    """One immutable timeline/audit entry of an incident."""

    __tablename__ = "incident_entries"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    incident_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    action: str = Field(sa_column=Column(String(32), nullable=False))
    actor: str = Field(sa_column=Column(String(128), nullable=False))
    from_status: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    to_status: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))


# ---- API schemas ---------------------------------------------------------------------------


class LocationRead(BaseModel):
    lat: float
    lon: float
    accuracy_m: float | None = None
    source: str | None = None


class TimelineEntryRead(BaseModel):
    at: datetime
    action: str
    actor: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any]


class IncidentRead(BaseModel):
    """An incident as the dispatcher's queue shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    status: IncidentStatus
    priority: str = PydanticField(description="P1 (most urgent) .. P4")
    kind: str
    device_id: str
    elder_id: str | None
    occurred_at: datetime = PydanticField(description="device clock of the first alarm")
    opened_at: datetime
    updated_at: datetime
    alarm_count: int
    location: LocationRead | None
    battery: int | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    outcome: Outcome | None
    priority_reasons: list[str] = PydanticField(
        default_factory=list, description="why this priority: the alarm's base and each raising factor"
    )


class IncidentDetail(IncidentRead):
    """One incident with its timeline and the elder's snapshot."""

    timeline: list[TimelineEntryRead]
    last_location: LocationRead | None
    elder: dict[str, Any] | None = PydanticField(
        None, description="the elder's snapshot from the care record; null for an unbound device"
    )


class NoteCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    text: str = PydanticField(min_length=1, max_length=4000)


class ResolveRequest(RequestModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    note: str | None = PydanticField(None, max_length=4000)


class CancelRequest(RequestModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = PydanticField(min_length=1, max_length=1000)


class AcknowledgeRequest(RequestModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = PydanticField(None, max_length=4000)
