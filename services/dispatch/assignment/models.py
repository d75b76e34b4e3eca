"""Assignment table and the API schemas of candidates and assignments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import Boolean, Column, Index, Integer, String
from sqlmodel import Field, SQLModel

from eldercare.db import UTCDateTime
from eldercare.http import RequestModel
from services.dispatch.responder.models import Position, ResponderKind, Skill


class AssignmentState(StrEnum):
    NOTIFIED = "notified"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"  # no answer within the assignment timeout
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    DONE = "done"
    WITHDRAWN = "withdrawn"  # the dispatcher called it off


# A responder in one of these is busy: not offered for another incident.
ENGAGED_STATES = frozenset(
    {AssignmentState.NOTIFIED, AssignmentState.ACCEPTED, AssignmentState.EN_ROUTE, AssignmentState.ON_SCENE}
)


class Assignment(SQLModel, table=True):
    """One responder sent to one incident, with its own state."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_due", "state", "respond_by"),)

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    incident_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    responder_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    cascade: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    round: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    assigned_by: str = Field(sa_column=Column(String(128), nullable=False))
    notified_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    respond_by: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    responded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    en_route_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    on_scene_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    done_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))


# ---- API schemas ---------------------------------------------------------------------------


class CandidateRead(BaseModel):
    rank: int
    responder_id: str | None = PydanticField(description="null for the generic 120 ambulance option")
    kind: ResponderKind
    name: str
    phone: str
    distance_km: float | None = PydanticField(description="haversine from the elder's last known location, else home")
    on_duty: bool
    own_contact: bool = PydanticField(description="one of the elder's own contacts")
    skills: list[Skill]
    missing_skills: list[Skill]
    reasons: list[str]


class CandidatesRead(BaseModel):
    incident_id: str
    origin: Position | None = PydanticField(description="where help has to go; null when unknown")
    origin_source: str | None = PydanticField(description="last_location or home")
    needed_skills: list[Skill]
    candidates: list[CandidateRead]
    ambulance: CandidateRead | None = PydanticField(description="always offered for P1")


class AssignRequest(RequestModel):
    """Who to send: `responder_id` or several in `responder_ids`."""

    model_config = ConfigDict(extra="forbid")
    responder_id: str | None = PydanticField(None, min_length=1, max_length=36)
    responder_ids: list[str] = PydanticField(default_factory=list, max_length=20)
    cascade: bool = PydanticField(True, description="on decline or no answer, notify the next candidate")
    timeout_seconds: float | None = PydanticField(
        None, gt=0, le=3600, description="answer deadline; default DISPATCH_ASSIGNMENT_TIMEOUT_SECONDS"
    )

    @model_validator(mode="after")
    def _someone(self) -> AssignRequest:
        if self.responder_id is not None and self.responder_id not in self.responder_ids:
            self.responder_ids.insert(0, self.responder_id)
        if not self.responder_ids:
            raise ValueError("give responder_id or responder_ids")
        if len(set(self.responder_ids)) != len(self.responder_ids):
            raise ValueError("responder_ids repeats a responder")
        return self


class AssignmentAction(RequestModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = PydanticField(None, max_length=500)


class AssignmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    incident_id: str
    responder_id: str
    state: AssignmentState
    cascade: bool
    round: int
    assigned_by: str
    notified_at: datetime
    respond_by: datetime | None
    responded_at: datetime | None
    en_route_at: datetime | None
    on_scene_at: datetime | None
    done_at: datetime | None
    reason: str | None
