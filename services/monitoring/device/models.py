"""Per-device state and its API schemas."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String
from sqlmodel import Field, SQLModel

from eldercare.db import UTCDateTime
from eldercare.http import RequestModel


class DeviceStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class Device(SQLModel, table=True):
    """What monitoring knows about one wearable. Times are the platform's clock unless named `device_`."""

    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_status_due", "status", "offline_due_at"),)

    device_id: str = Field(sa_column=Column(String(64), primary_key=True))
    elder_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True, index=True))
    status: str = Field(default=DeviceStatus.ONLINE.value, sa_column=Column(String(8), nullable=False))
    first_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    device_last_event_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    lon: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    accuracy_m: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    location_source: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    location_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    battery: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    signal: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    firmware: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    last_heartbeat_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    heartbeat_interval_s: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    offline_timeout_override_s: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    offline_due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    offline_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    offline_alert_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    # Offline, alert not decided yet: it waits `offline_alert_delay_seconds` to see how much of the fleet follows.
    offline_alert_pending: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    low_battery_alerted: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    last_alarm: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    last_steps: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    activity_lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    activity_lon: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    last_activity_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    inactivity_alerted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class LocationRead(BaseModel):
    lat: float
    lon: float
    accuracy_m: float | None = None
    source: str | None = None
    at: datetime | None = None


class DeviceRead(BaseModel):
    device_id: str
    elder_id: str | None
    status: DeviceStatus
    first_seen: datetime
    last_seen: datetime
    location: LocationRead | None
    battery: int | None
    low_battery: bool
    signal: int | None
    firmware: str | None
    heartbeat_interval_s: float | None = PydanticField(description="learned from the device's heartbeats")
    offline_timeout_s: float = PydanticField(description="silence after which the device counts as offline")
    offline_timeout_override_s: float | None
    offline_since: datetime | None
    last_activity_at: datetime | None


class DeviceUpdate(RequestModel):
    """Per-device settings an operator may change."""

    model_config = ConfigDict(extra="forbid")
    offline_timeout_override_s: float | None = PydanticField(
        None, ge=1, le=7 * 86400, description="null returns to the default (3 × heartbeat interval, floor applied)"
    )
