"""API schemas of the console's own endpoints (sign-in, the queue rows, the device panel)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

from eldercare.http import RequestModel


class SignIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    token: str = PydanticField(min_length=1, max_length=512, description="an API token (ELDERCARE_API_TOKENS)")


class ConsoleConfig(BaseModel):
    """What the page needs before anyone signs in."""

    timezone: str = PydanticField(description="the call centre's time zone; every time is shown in it")
    tile_url: str = PydanticField(description="map tile template with {z}/{x}/{y}; empty: plain background")
    mute_seconds: float = PydanticField(description="how long a mute silences the P1 alarm")


class SessionRead(BaseModel):
    name: str
    role: str
    csrf_token: str = PydanticField(description="send it as X-CSRF-Token on every write")
    expires_at: datetime


class QueueRow(BaseModel):
    """An incident as a queue row: the incident plus the elder's name from the read model."""

    id: str
    status: str
    priority: str
    kind: str
    device_id: str
    elder_id: str | None
    elder_name: str | None
    area: str | None
    occurred_at: datetime
    opened_at: datetime
    last_alarm_at: datetime
    alarm_count: int
    acknowledged_by: str | None


class DeviceView(BaseModel):
    """The incident's device as dispatch knows it: from its alarms and its acknowledged commands."""

    device_id: str
    battery: int | None = PydanticField(description="percent, as the latest alarm reported it")
    last_contact_at: datetime = PydanticField(description="the latest alarm or command ack from the device")
    last_contact: str = PydanticField(description="alarm or command_ack")
    sim_number: str | None = PydanticField(description="the device's SIM from the care record")
