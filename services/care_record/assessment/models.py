"""Ability assessments (GB/T 42195-2022) and their API schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, Date, Integer, String, Text
from sqlmodel import Field, SQLModel

from eldercare.db import BigIntPK, UTCDateTime
from eldercare.http import RequestModel

LEVEL_NAMES = {
    0: "intact",  # 能力完好
    1: "mildly impaired",  # 轻度失能
    2: "moderately impaired",  # 中度失能
    3: "severely impaired",  # 重度失能
    4: "completely impaired",  # 完全失能
}


class Assessment(SQLModel, table=True):
    """One assessment; history is kept and the latest (by date, then entry) is current."""

    __tablename__ = "assessments"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    elder_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    assessed_on: date = Field(sa_column=Column(Date, nullable=False))
    assessor: str = Field(sa_column=Column(String(128), nullable=False))
    level: int = Field(sa_column=Column(Integer, nullable=False))
    sub_scores: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    notes: str = Field(default="", sa_column=Column(Text, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    recorded_by: str = Field(sa_column=Column(String(128), nullable=False))


class SubScores(RequestModel):
    """First-level indicators of the standard; each within its maximum."""

    model_config = ConfigDict(extra="forbid")
    self_care: int | None = PydanticField(None, ge=0, le=32, description="自理能力")
    basic_motor: int | None = PydanticField(None, ge=0, le=24, description="基础运动能力")
    mental_state: int | None = PydanticField(None, ge=0, le=18, description="精神状态")
    perception_social: int | None = PydanticField(None, ge=0, le=16, description="感知觉与社会参与")


class AssessmentCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    assessed_on: date
    assessor: str = PydanticField(min_length=1, max_length=128)
    level: int = PydanticField(ge=0, le=4, description="0 intact, 1 mild, 2 moderate, 3 severe, 4 complete")
    sub_scores: SubScores | None = None
    notes: str = PydanticField("", max_length=4000)

    @model_validator(mode="after")
    def _not_in_future(self) -> AssessmentCreate:
        if self.assessed_on > date.today():
            raise ValueError("assessed_on is in the future")
        return self


class AssessmentRead(BaseModel):
    id: int
    elder_id: str
    assessed_on: date
    assessor: str
    level: int
    level_name: str
    sub_scores: dict[str, Any]
    total_score: int | None = PydanticField(description="sum of the sub-scores when all four are given")
    notes: str
    recorded_at: datetime
    recorded_by: str
    current: bool
