"""Reminders, their delivery state, and the API schemas."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, String, Text
from sqlmodel import Field, SQLModel

from eldercare.db import UTCDateTime
from eldercare.http import RequestModel
from services.care_record.device.models import DEVICE_ID_PATTERN


class ReminderKind(StrEnum):
    MEDICATION = "medication"
    APPOINTMENT = "appointment"
    OTHER = "other"


class ReminderRepeat(StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"


class ReminderStatus(StrEnum):
    SCHEDULED = "scheduled"
    SENT = "sent"  # its command is in the outbox, committed with this status
    UNDELIVERABLE = "undeliverable"  # due, but the elder wears no bound device
    CANCELLED = "cancelled"


class Reminder(SQLModel, table=True):
    """A reminder; the scheduler flips `scheduled` to `sent` in the transaction that queues its command."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_due", "status", "due_at"),)

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    elder_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    repeat: str = Field(default=ReminderRepeat.NONE.value, sa_column=Column(String(8), nullable=False))
    device_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    command_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    sent_to_device: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(sa_column=Column(String(128), nullable=False))


class ReminderCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    kind: ReminderKind
    text: str = PydanticField(min_length=1, max_length=500, description="what the device shows or speaks")
    due_at: datetime = PydanticField(description="RFC 3339 with offset")
    repeat: ReminderRepeat = ReminderRepeat.NONE
    device_id: str | None = PydanticField(
        None, pattern=DEVICE_ID_PATTERN, description="default: the elder's bound device at the due time"
    )


class ReminderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    elder_id: str
    kind: ReminderKind
    text: str
    due_at: datetime
    repeat: ReminderRepeat
    device_id: str | None
    status: ReminderStatus
    command_id: str | None
    sent_to_device: str | None
    sent_at: datetime | None
    created_at: datetime
    created_by: str
