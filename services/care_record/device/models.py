"""Device bindings (history kept) and their API schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, String, text
from sqlmodel import Field, SQLModel

from eldercare.db import BigIntPK, UTCDateTime
from eldercare.http import RequestModel

DEVICE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# A phone number as people and SIM cards write it: an optional +, digits, spaces and dashes.
SIM_NUMBER_PATTERN = r"^\+?[0-9][0-9 -]{2,30}$"


class DeviceBinding(SQLModel, table=True):
    """A device worn by an elder from `bound_at` until `unbound_at` (null while active).

    The id doubles as the binding sequence other services use to decide which of two
    bindings of one device is newer.
    """

    __tablename__ = "device_bindings"
    __table_args__ = (
        # One active elder per device, enforced by the database even under concurrent binds.
        Index(
            "ux_device_bindings_active",
            "device_id",
            unique=True,
            postgresql_where=text("unbound_at IS NULL"),
            sqlite_where=text("unbound_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    device_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    elder_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    bound_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    bound_by: str = Field(sa_column=Column(String(128), nullable=False))
    unbound_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    unbound_by: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    # The number of the device's own SIM card: a call from it (the elder pressed "call" on the
    # watch) is matched to the wearer by dispatch's call pop-up. Null when not known.
    sim_number: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))


class BindingCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    device_id: str = PydanticField(pattern=DEVICE_ID_PATTERN, description="IMEI or serial, as in the MQTT topic")
    sim_number: str | None = PydanticField(
        None, pattern=SIM_NUMBER_PATTERN, description="the device's own SIM number, if it has one"
    )


class BindingUpdate(RequestModel):
    """A new SIM card in a bound device (or none: null)."""

    model_config = ConfigDict(extra="forbid")
    sim_number: str | None = PydanticField(pattern=SIM_NUMBER_PATTERN)


class BindingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    device_id: str
    elder_id: str
    bound_at: datetime
    bound_by: str
    unbound_at: datetime | None
    unbound_by: str | None
    sim_number: str | None
    active: bool
