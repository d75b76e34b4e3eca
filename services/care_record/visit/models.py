"""Visits (探访) and the API schemas around them and the compliance report."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, String, Text
from sqlmodel import Field, SQLModel

from eldercare.db import BigIntPK, UTCDateTime
from eldercare.http import RequestModel


class VisitMethod(StrEnum):
    IN_PERSON = "in_person"
    PHONE = "phone"
    VIDEO = "video"


class Visit(SQLModel, table=True):
    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_elder_time", "elder_id", "visited_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    elder_id: str = Field(sa_column=Column(String(36), nullable=False))
    visited_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    visitor: str = Field(sa_column=Column(String(128), nullable=False))
    method: str = Field(sa_column=Column(String(16), nullable=False))
    findings: str = Field(default="", sa_column=Column(Text, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    recorded_by: str = Field(sa_column=Column(String(128), nullable=False))


class VisitCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    visited_at: datetime = PydanticField(description="RFC 3339 with offset")
    visitor: str = PydanticField(min_length=1, max_length=128)
    method: VisitMethod
    findings: str = PydanticField("", max_length=4000)


class VisitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    elder_id: str
    visited_at: datetime
    visitor: str
    method: VisitMethod
    findings: str
    recorded_at: datetime
    recorded_by: str


class OverdueElder(BaseModel):
    elder_id: str
    name: str
    area: str
    frequency: str
    last_visit_at: datetime | None
    missed_slots: list[str] = PydanticField(description="the period's slots without a visit, e.g. 2026-11-01..07")


class AreaCompliance(BaseModel):
    area: str
    required: int = PydanticField(description="elders the policy requires visits for")
    compliant: int
    rate: float | None = PydanticField(description="compliant / required; null when nobody is required")


class VisitComplianceReport(BaseModel):
    area: str | None
    period: str
    period_start: datetime
    period_end: datetime
    evaluated_until: datetime = PydanticField(description="slots ending after this are not yet due")
    group_by: str
    required: int
    compliant: int
    rate: float | None
    areas: list[AreaCompliance]
    overdue: list[OverdueElder]
