"""The escalation timer table: one row per incident waiting for a dispatcher."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Integer, String
from sqlmodel import Field, SQLModel

from eldercare.db import UTCDateTime


class EscalationTimer(SQLModel, table=True):
    """When an unacknowledged incident escalates next, and how often it already did."""

    __tablename__ = "escalation_timers"

    incident_id: str = Field(sa_column=Column(String(36), primary_key=True))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    level: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    last_escalated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
