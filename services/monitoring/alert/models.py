"""Alerts monitoring raised, kept for the API and for recoveries to reference."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Index, String, Text
from sqlmodel import Field, SQLModel

from eldercare.db import UTCDateTime


class AlertRecord(SQLModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_device_raised", "device_id", "raised_at"),
        Index("ix_alerts_raised", "raised_at"),  # retention deletes by age
    )

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    type: str = Field(sa_column=Column(String(32), nullable=False))
    severity: str = Field(sa_column=Column(String(8), nullable=False))
    device_id: str = Field(sa_column=Column(String(64), nullable=False))
    elder_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    geofence_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    resolves_alert_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    raised_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class AlertRead(BaseModel):
    id: str
    type: str
    severity: str
    suggested_priority: str | None
    device_id: str
    elder_id: str | None
    geofence_id: str | None
    resolves_alert_id: str | None
    raised_at: datetime
    detail: dict[str, Any]
