"""SLA report schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from pydantic import Field as PydanticField


class Spread(BaseModel):
    count: int
    median: float | None
    p90: float | None = PydanticField(description="90th percentile, linear interpolation between ranks")


class SlaFigures(BaseModel):
    incidents: int = PydanticField(description="opened in the period")
    answerable: int = PydanticField(description="incidents less those cancelled before anyone acknowledged them")
    answered_within_60s: int
    answered_within_60s_rate: float | None = PydanticField(description="answered_within_60s / answerable")
    time_to_ack_seconds: Spread
    time_to_on_scene_seconds: Spread = PydanticField(description="from opening to the first on_scene")
    resolved: int
    false_alarms: int
    false_alarm_rate: float | None = PydanticField(description="false_alarm outcomes / resolved")


class SlaReport(BaseModel):
    period_start: datetime
    period_end: datetime
    overall: SlaFigures
    by_area: dict[str, SlaFigures] = PydanticField(description="'unknown' when the elder's area is not known")
    by_priority: dict[str, SlaFigures] = PydanticField(description="by the incident's current priority")
