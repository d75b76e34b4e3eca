"""Device command table and API schemas."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, Integer, String
from sqlmodel import Field, SQLModel

from eldercare.db import UTCDateTime
from eldercare.http import RequestModel


class CommandType(StrEnum):
    MESSAGE = "message"
    LOCATE = "locate"
    REMINDER = "reminder"
    CALL_BACK = "call_back"
    # Device settings: sent to a device, not on an incident (POST /devices/{id}/commands).
    SOS_NUMBERS = "sos_numbers"  # text: up to three numbers, comma-separated, the SOS key dials
    UPLOAD_INTERVAL = "upload_interval"  # text: seconds between location reports


# Settings change the device for good; they belong to no incident's timeline.
SETTING_TYPES = frozenset({CommandType.SOS_NUMBERS, CommandType.UPLOAD_INTERVAL})
PHONE_NUMBER = r"^\+?[0-9]{3,20}$"


class CommandState(StrEnum):
    SENT = "sent"  # on its way, waiting for the device's ack (retried)
    ACKED = "acked"
    UNACKNOWLEDGED = "unacknowledged"  # retries exhausted without an ack


class DeviceCommandRecord(SQLModel, table=True):
    """A command sent to a device, with its attempts and ack."""

    __tablename__ = "device_commands"
    __table_args__ = (
        Index("ix_device_commands_due", "state", "next_attempt_at"),
        Index("ix_device_commands_device", "device_id", "created_at"),
    )

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    incident_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True, index=True))
    device_id: str = Field(sa_column=Column(String(64), nullable=False))
    type: str = Field(sa_column=Column(String(16), nullable=False))
    text: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    callback_number: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    attempts: int = Field(sa_column=Column(Integer, nullable=False))
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    acked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(sa_column=Column(String(128), nullable=False))


class _CommandBody(RequestModel):
    model_config = ConfigDict(extra="forbid")
    type: CommandType
    text: str | None = PydanticField(None, min_length=1, max_length=500, description="for message and reminder")
    callback_number: str | None = PydanticField(
        None, min_length=3, max_length=32, pattern=r"^[0-9+\- ]+$", description="for call_back: the number to dial"
    )

    def _check_message_fields(self) -> None:
        if self.type in (CommandType.MESSAGE, CommandType.REMINDER) and not self.text:
            raise ValueError(f"a {self.type.value} command needs text")
        if self.type is CommandType.CALL_BACK and not self.callback_number:
            raise ValueError("a call_back command needs callback_number")


class CommandCreate(_CommandBody):
    """What a dispatcher sends to the elder's device on an incident."""

    @model_validator(mode="after")
    def _fields_for_type(self) -> CommandCreate:
        if self.type in SETTING_TYPES:
            raise ValueError(
                f"{self.type.value} changes the device's settings: "
                "send it to POST /api/v1/devices/{device_id}/commands"
            )
        self._check_message_fields()
        return self


class DeviceCommandCreate(_CommandBody):
    """A command to a device outside any incident: its settings, or a locate or message."""

    numbers: list[Annotated[str, PydanticField(pattern=PHONE_NUMBER)]] | None = PydanticField(
        None, min_length=1, max_length=3, description="for sos_numbers: what the SOS key dials, in order"
    )
    interval_seconds: int | None = PydanticField(
        None, ge=10, le=86_400, description="for upload_interval: seconds between location reports"
    )

    @model_validator(mode="after")
    def _fields_for_type(self) -> DeviceCommandCreate:
        self._check_message_fields()
        if self.type is CommandType.SOS_NUMBERS and not self.numbers:
            raise ValueError("a sos_numbers command needs numbers (one to three)")
        if self.type is CommandType.UPLOAD_INTERVAL and self.interval_seconds is None:
            raise ValueError("an upload_interval command needs interval_seconds")
        return self

    def wire_text(self) -> str | None:
        """The command's `text` on the bus: settings travel as text, the form devices parse."""
        if self.type is CommandType.SOS_NUMBERS and self.numbers:
            return ",".join(self.numbers)
        if self.type is CommandType.UPLOAD_INTERVAL and self.interval_seconds is not None:
            return str(self.interval_seconds)
        return self.text


class CommandRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    incident_id: str | None
    device_id: str
    type: CommandType
    text: str | None
    callback_number: str | None
    state: CommandState
    attempts: int
    next_attempt_at: datetime | None
    last_sent_at: datetime
    acked_at: datetime | None
    created_at: datetime
    created_by: str
