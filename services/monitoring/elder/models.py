"""The local read model of care-record's elder snapshots (only what monitoring's rules need)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Column, String
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from eldercare.db import UTCDateTime


class ElderProfile(SQLModel, table=True):
    """What the rules need to know about an elder; no names, no contacts."""

    __tablename__ = "elder_profiles"

    elder_id: str = Field(sa_column=Column(String(64), primary_key=True))
    version: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    lives_alone: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    has_dementia: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class _OwnTables(SQLModel, registry=registry()):
    """Tables whose names another service also uses for its own database (care-record's
    `device_bindings`): kept in their own metadata, so one process (the bench's city seeding, a
    test run) can import both services' models without the two definitions colliding."""


class DeviceBinding(_OwnTables, table=True):
    """Which elder wears a device; the binding with the higher care-record sequence wins."""

    __tablename__ = "device_bindings"

    device_id: str = Field(sa_column=Column(String(64), primary_key=True))
    elder_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    binding_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
