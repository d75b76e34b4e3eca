"""Vitals readings, thresholds, sustained-abnormal state, and the API schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String
from sqlmodel import Field, SQLModel

from eldercare.db import BigIntPK, UTCDateTime
from eldercare.http import RequestModel


class VitalsReading(SQLModel, table=True):
    __tablename__ = "vitals_readings"
    __table_args__ = (
        Index("ix_vitals_elder_at", "elder_id", "at"),
        Index("ix_vitals_device_at", "device_id", "at"),
        Index("ix_vitals_at", "at"),  # retention deletes by age
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    device_id: str = Field(sa_column=Column(String(64), nullable=False))
    elder_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # device clock
    heart_rate: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    spo2: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    systolic: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    diastolic: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    body_temp: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    steps: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class VitalsThreshold(SQLModel, table=True):
    """Per-elder overrides; a null column means the platform default."""

    __tablename__ = "vitals_thresholds"

    elder_id: str = Field(sa_column=Column(String(64), primary_key=True))
    heart_rate_low: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    heart_rate_high: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    spo2_low: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    systolic_low: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    systolic_high: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    body_temp_high: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class VitalsStreak(SQLModel, table=True):
    """Consecutive abnormal readings of one measure on one device."""

    __tablename__ = "vitals_streaks"

    device_id: str = Field(sa_column=Column(String(64), primary_key=True))
    measure: str = Field(sa_column=Column(String(16), primary_key=True))
    abnormal_readings: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    first_abnormal_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    alerted: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))


class Thresholds(BaseModel):
    """Limits outside which a reading is abnormal (frozen: the defaults are one shared instance)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heart_rate_low: float = PydanticField(40, ge=0, le=350)
    heart_rate_high: float = PydanticField(130, ge=0, le=350)
    spo2_low: float = PydanticField(90, ge=0, le=100)
    systolic_low: float = PydanticField(90, ge=0, le=400)
    systolic_high: float = PydanticField(180, ge=0, le=400)
    body_temp_high: float = PydanticField(38.5, ge=20, le=46)


class ThresholdsUpdate(RequestModel):
    """Per-elder overrides; omitted or null fields use the defaults."""

    model_config = ConfigDict(extra="forbid")

    heart_rate_low: float | None = PydanticField(None, ge=0, le=350)
    heart_rate_high: float | None = PydanticField(None, ge=0, le=350)
    spo2_low: float | None = PydanticField(None, ge=0, le=100)
    systolic_low: float | None = PydanticField(None, ge=0, le=400)
    systolic_high: float | None = PydanticField(None, ge=0, le=400)
    body_temp_high: float | None = PydanticField(None, ge=20, le=46)


class VitalsBucket(BaseModel):
    """One downsampling bucket: averages (min/max for heart rate), and the last step count."""

    start: datetime
    readings: int
    heart_rate_avg: float | None
    heart_rate_min: float | None
    heart_rate_max: float | None
    spo2_avg: float | None
    systolic_avg: float | None
    diastolic_avg: float | None
    body_temp_avg: float | None
    steps_last: int | None
