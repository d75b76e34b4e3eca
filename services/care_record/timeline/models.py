"""Local copies of other services' events about elders, and the timeline schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Index, String, Text
from sqlmodel import Field, SQLModel

from eldercare.db import UTCDateTime


class ObservedAlarm(SQLModel, table=True):
    """An alarm seen on the alarms topic, attributed to the elder bound to the device at the time."""

    __tablename__ = "observed_alarms"
    __table_args__ = (Index("ix_observed_alarms_elder_time", "elder_id", "occurred_at"),)

    event_id: str = Field(sa_column=Column(String(64), primary_key=True))
    device_id: str = Field(sa_column=Column(String(64), nullable=False))
    elder_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class ObservedIncidentEvent(SQLModel, table=True):
    """One incident lifecycle event from dispatch."""

    __tablename__ = "observed_incident_events"
    __table_args__ = (Index("ix_observed_incident_events_elder_time", "elder_id", "at"),)

    event_id: str = Field(sa_column=Column(String(64), primary_key=True))
    incident_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    elder_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    device_id: str = Field(sa_column=Column(String(64), nullable=False))
    action: str = Field(sa_column=Column(String(32), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    priority: str = Field(sa_column=Column(String(8), nullable=False))
    incident_kind: str = Field(sa_column=Column(String(32), nullable=False))
    actor: str = Field(sa_column=Column(String(128), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class TimelineItem(BaseModel):
    at: datetime
    source: str  # incident, alarm, visit, assessment, reminder, device
    action: str
    summary: str
    detail: dict[str, Any]
