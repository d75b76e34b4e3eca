"""Read-model tables fed from the compacted elders topic."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, LargeBinary, String
from sqlmodel import Field, SQLModel

from eldercare.db import BigIntPK, UTCDateTime


class ElderSnapshotRow(SQLModel, table=True):
    """The newest snapshot seen for an elder (protobuf bytes), by version."""

    __tablename__ = "elder_snapshots"

    elder_id: str = Field(sa_column=Column(String(64), primary_key=True))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    deleted: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    snapshot: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DeviceElder(SQLModel, table=True):
    """Device → elder, from the snapshots' active bindings; the higher binding sequence wins."""

    __tablename__ = "device_elder_index"

    device_id: str = Field(sa_column=Column(String(64), primary_key=True))
    elder_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    binding_seq: int = Field(sa_column=Column(BigInteger, nullable=False))


class ReadModelOffset(SQLModel, table=True):
    """Next offset to read per partition, written with the effect: an empty read model rebuilds from offset 0."""

    __tablename__ = "elder_read_model_offsets"

    topic: str = Field(sa_column=Column(String(255), primary_key=True))
    partition: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    next_offset: int = Field(sa_column=Column(BigInteger, nullable=False))


class ElderPhone(SQLModel, table=True):
    """Phone number -> elder, from the snapshots: the elder's own phone, their devices' SIMs, their contacts.

    Numbers are stored normalised (elder/phones.py), so a caller id finds them however either
    side wrote them. Rebuilt for an elder with every snapshot of that elder.
    """

    __tablename__ = "elder_phone_index"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    phone: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    elder_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(8), nullable=False))
    device_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # For a contact: who they are ("张伟 (儿子)"), so the console can say who is calling.
    label: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))


class PersonalDataRead(SQLModel, table=True):
    """Who read an elder's record through dispatch, when, and for which incident (the audit)."""

    __tablename__ = "personal_data_reads"
    __table_args__ = (Index("ix_personal_data_reads_elder_at", "elder_id", "at"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    elder_id: str = Field(sa_column=Column(String(64), nullable=False))
    actor: str = Field(sa_column=Column(String(128), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    # What the read was for: the incident on screen, or a device lookup outside any incident.
    incident_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))
    via: str = Field(sa_column=Column(String(32), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class PersonalDataReadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    elder_id: str
    actor: str
    role: str
    incident_id: str | None
    via: str
    at: datetime


@dataclass(frozen=True)
class ElderFacts:
    """What incident priority looks at, taken from the elder snapshot."""

    ability_level: int | None = None
    living_situation: str = ""
    categories: frozenset[str] = field(default_factory=frozenset)
    birth_date: date | None = None
