"""Phone calls on the line, each event the telephony system posted, and the API schemas."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from eldercare.db import BigIntPK, UTCDateTime
from eldercare.http import RequestModel

CALL_ID_PATTERN = r"^[A-Za-z0-9_.:@-]{1,64}$"
# What a telephony system may put in a caller id: digits, +, spaces, dashes, brackets, dots.
NUMBER_PATTERN = r"^\+?[0-9 ().-]{1,40}$"


class CallEventType(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class PhoneCall(SQLModel, table=True):
    """One call, as far as its events have told; matched to an elder once, on its first event."""

    __tablename__ = "phone_calls"

    call_id: str = Field(sa_column=Column(String(64), primary_key=True))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    caller: str = Field(sa_column=Column(String(40), nullable=False))
    callee: str = Field(sa_column=Column(String(40), nullable=False))
    agent: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    # How the caller was recognised (numbers.PhoneKind), and who it led to.
    match_kind: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    caller_label: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    elder_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True, index=True))
    device_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    incident_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True, index=True))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    answered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CallEventRow(SQLModel, table=True):
    """One posted event; the id orders the consoles' call stream, as entry ids order the incident stream."""

    __tablename__ = "call_events"
    __table_args__ = (UniqueConstraint("call_id", "event", name="uq_call_events_call_event"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    call_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    event: str = Field(sa_column=Column(String(16), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    agent: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))


class CallEventIn(RequestModel):
    """What the telephony system posts for each step of a call."""

    model_config = ConfigDict(extra="forbid")
    call_id: str = PydanticField(pattern=CALL_ID_PATTERN, description="the telephony system's id of the call")
    event: CallEventType
    caller: str = PydanticField(pattern=NUMBER_PATTERN, description="the calling number (caller id)")
    callee: str = PydanticField(pattern=NUMBER_PATTERN, description="the number called (the line, or an agent's)")
    agent: str | None = PydanticField(
        None, min_length=1, max_length=128, description="the agent the call rings at or was answered by"
    )
    # With its offset: a bare local time from a telephony box is ambiguous by hours.
    at: AwareDatetime | None = PydanticField(None, description="when it happened (default: when dispatch received it)")


class CallRead(BaseModel):
    """A call with who it was matched to; what the console pops."""

    model_config = ConfigDict(from_attributes=True)

    call_id: str
    state: CallEventType
    caller: str
    callee: str
    agent: str | None
    match_kind: str | None = PydanticField(description="sim, elder or contact; null for an unknown number")
    caller_label: str | None = PydanticField(description="for a contact: their name and relation")
    elder_id: str | None
    elder_name: str | None = None
    device_id: str | None
    incident_id: str | None = PydanticField(description="the elder's open incident the call is recorded on")
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    updated_at: datetime
