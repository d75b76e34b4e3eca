"""Responder registry rules, shared by the views and the assignment domain."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import fetch
from eldercare.envelope import utcnow
from services.dispatch.errors import ResponderNotFound
from services.dispatch.responder.models import (
    Position,
    Responder,
    ResponderCreate,
    ResponderKind,
    ResponderRead,
    ResponderUpdate,
    Shift,
    Skill,
)


def _dump(value: object) -> str:
    return orjson.dumps(value).decode()


async def create_responder(session: AsyncSession, *, data: ResponderCreate) -> Responder:
    """Register a responder."""
    now = utcnow()
    responder = Responder(
        id=str(uuid.uuid4()),
        kind=data.kind.value,
        name=data.name,
        phone=data.phone,
        base_lat=data.base.lat if data.base else None,
        base_lon=data.base.lon if data.base else None,
        area=data.area,
        coverage_radius_km=data.coverage_radius_km,
        skills=_dump([s.value for s in data.skills]),
        schedule=_dump([s.model_dump() for s in data.schedule]) if data.schedule is not None else None,
        elder_ids=_dump(data.elder_ids),
        available=data.available,
        created_at=now,
        updated_at=now,
    )
    session.add(responder)
    return responder


async def update_responder(session: AsyncSession, *, responder_id: str, data: ResponderUpdate) -> Responder:
    """Change a responder's details, availability or live position (only the fields given)."""
    responder = await fetch(session, Responder, responder_id, missing=ResponderNotFound, for_update=True)
    given = data.model_fields_set
    now = utcnow()
    for name in ("name", "phone", "area", "coverage_radius_km", "available"):
        if name in given and (getattr(data, name) is not None or name in ("area", "coverage_radius_km")):
            setattr(responder, name, getattr(data, name))
    if "base" in given:
        responder.base_lat = data.base.lat if data.base else None
        responder.base_lon = data.base.lon if data.base else None
    if "skills" in given and data.skills is not None:
        responder.skills = _dump([s.value for s in data.skills])
    if "schedule" in given:
        responder.schedule = _dump([s.model_dump() for s in data.schedule]) if data.schedule is not None else None
    if "elder_ids" in given and data.elder_ids is not None:
        responder.elder_ids = _dump(data.elder_ids)
    if "location" in given and data.location is not None:
        responder.live_lat, responder.live_lon, responder.live_at = data.location.lat, data.location.lon, now
    responder.updated_at = now
    return responder


async def list_responders(
    session: AsyncSession,
    *,
    kind: ResponderKind | None = None,
    area: str | None = None,
    available: bool | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[Responder]:
    """Responders, filtered, in name order."""
    statement = select(Responder)
    if kind is not None:
        statement = statement.where(col(Responder.kind) == kind.value)
    if area is not None:
        statement = statement.where(col(Responder.area) == area)
    if available is not None:
        statement = statement.where(col(Responder.available) == available)
    rows = await session.scalars(statement.order_by(col(Responder.name), col(Responder.id)).limit(limit).offset(offset))
    return list(rows)


def skills_of(responder: Responder) -> set[Skill]:
    return {Skill(value) for value in orjson.loads(responder.skills)}


def elders_of(responder: Responder) -> list[str]:
    return list(orjson.loads(responder.elder_ids))


def schedule_of(responder: Responder) -> list[Shift] | None:
    if responder.schedule is None:
        return None
    return [Shift.model_validate(item) for item in orjson.loads(responder.schedule)]


def position_of(responder: Responder) -> tuple[float, float] | None:
    """Where the responder is: the live position when known, else home or base."""
    if responder.live_lat is not None and responder.live_lon is not None:
        return responder.live_lat, responder.live_lon
    if responder.base_lat is not None and responder.base_lon is not None:
        return responder.base_lat, responder.base_lon
    return None


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def on_duty(schedule: list[Shift] | None, moment: datetime, zone: ZoneInfo) -> bool:
    """True when `moment` falls in one of the shifts (no schedule: always on duty)."""
    if schedule is None:
        return True
    local = moment.astimezone(zone)
    now, weekday = local.time(), local.weekday()
    for shift in schedule:
        start, end = _clock(shift.start), _clock(shift.end)
        if start <= end:
            if weekday in shift.days and start <= now < end:
                return True
        else:  # crosses midnight: the evening part belongs to the start day, the morning to the next
            if (weekday in shift.days and now >= start) or ((weekday - 1) % 7 in shift.days and now < end):
                return True
    return False


def to_read(responder: Responder) -> ResponderRead:
    """The API shape of a responder row."""
    base = position(responder.base_lat, responder.base_lon)
    return ResponderRead(
        id=responder.id,
        kind=ResponderKind(responder.kind),
        name=responder.name,
        phone=responder.phone,
        base=base,
        area=responder.area,
        coverage_radius_km=responder.coverage_radius_km,
        skills=sorted(skills_of(responder)),
        schedule=schedule_of(responder),
        elder_ids=elders_of(responder),
        available=responder.available,
        location=position(responder.live_lat, responder.live_lon),
        location_at=responder.live_at,
        created_at=responder.created_at,
        updated_at=responder.updated_at,
    )


def position(lat: float | None, lon: float | None) -> Position | None:
    return Position(lat=lat, lon=lon) if lat is not None and lon is not None else None
