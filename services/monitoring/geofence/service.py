"""Fence geometry, anti-flapping enter/exit detection, and fence CRUD."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, time
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import fetch
from eldercare.envelope import utcnow
from eldercare.http import from_row
from services.monitoring.alert.service import Fix, raise_alert
from services.monitoring.elder.models import ElderProfile
from services.monitoring.elder.service import known_elder
from services.monitoring.errors import GeofenceNotFound
from services.monitoring.geofence.models import (
    FenceState,
    Geofence,
    GeofenceBase,
    GeofenceCreate,
    GeofenceDeviceState,
    GeofenceRead,
)
from services.monitoring.rows import EventRows

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _to_plane(lat: float, lon: float, lat0: float, lon0: float) -> tuple[float, float]:
    # Equirectangular projection around the point: metres, accurate at fence scale.
    x = math.radians(lon - lon0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    y = math.radians(lat - lat0) * EARTH_RADIUS_M
    return x, y


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def signed_boundary_distance(fence: Geofence, lat: float, lon: float) -> float:
    """Metres from the fence's boundary: positive outside, negative inside."""
    if fence.shape == "circle":
        assert fence.center_lat is not None and fence.center_lon is not None and fence.radius_m is not None
        return distance_m(lat, lon, fence.center_lat, fence.center_lon) - fence.radius_m
    corners = [_to_plane(c[0], c[1], lat, lon) for c in orjson.loads(fence.polygon or "[]")]
    inside = False
    nearest = math.inf
    for i, (ax, ay) in enumerate(corners):
        bx, by = corners[(i + 1) % len(corners)]
        nearest = min(nearest, _segment_distance(0.0, 0.0, ax, ay, bx, by))
        if (ay > 0) != (by > 0) and ax + (0 - ay) * (bx - ax) / (by - ay) > 0:
            inside = not inside
    return -nearest if inside else nearest


def is_active(fence: Geofence, moment: datetime, zone: ZoneInfo) -> bool:
    """Whether the fence's optional active hours (local time, may wrap midnight) include the moment."""
    if not fence.enabled:
        return False
    if fence.active_from is None or fence.active_to is None:
        return True
    now = moment.astimezone(zone).time()
    start, end = time.fromisoformat(fence.active_from), time.fromisoformat(fence.active_to)
    return start <= now < end if start <= end else now >= start or now < end


def classify(distance: float, accuracy_m: float | None, margin_m: float) -> FenceState | None:
    """Inside or outside only when the fix's uncertainty cannot straddle the boundary; else None."""
    band = max(accuracy_m or 0.0, margin_m)
    if distance > band:
        return FenceState.OUTSIDE
    if distance < -band:
        return FenceState.INSIDE
    return None


async def evaluate_fix(
    session: AsyncSession,
    *,
    device_id: str,
    elder: ElderProfile,
    fix: Fix,
    fix_at: datetime,
    now: datetime,
    source_event_id: str,
    zone: ZoneInfo,
    confirm_fixes: int,
    dwell_seconds: float,
    margin_m: float,
    rows: EventRows,
) -> int:
    """Advance the device's state against each of the elder's fences; returns how many alerts were raised.

    A change needs `confirm_fixes` consecutive confident fixes on the other side, or two
    or more of them spanning `dwell_seconds` (device clock); an ambiguous fix neither
    confirms nor breaks a pending change. Leaving the unknown state raises nothing.
    """
    raised = 0
    for fence in rows.fences.get(elder.elder_id, ()):
        if not is_active(fence, now, zone):
            continue
        side = classify(signed_boundary_distance(fence, fix.lat, fix.lon), fix.accuracy_m, margin_m)
        if side is None:
            continue
        state = rows.fence_states.get((fence.id, device_id))
        if state is None:
            state = GeofenceDeviceState(geofence_id=fence.id, device_id=device_id)
            session.add(state)
            rows.fence_states[(fence.id, device_id)] = state
        if side.value == state.state:
            state.candidate, state.candidate_fixes, state.candidate_since = None, 0, None
            continue
        if state.candidate != side.value:
            state.candidate, state.candidate_fixes, state.candidate_since = side.value, 1, fix_at
        else:
            state.candidate_fixes += 1
        dwelt = (
            dwell_seconds > 0
            and state.candidate_fixes >= 2
            and state.candidate_since is not None
            and (fix_at - state.candidate_since).total_seconds() >= dwell_seconds
        )
        if state.candidate_fixes < confirm_fixes and not dwelt:
            continue
        previous = state.state
        state.state, state.changed_at = side.value, now
        state.candidate, state.candidate_fixes, state.candidate_since = None, 0, None
        if previous == FenceState.UNKNOWN.value:
            continue
        detail = {"geofence_name": fence.name, "shape": fence.shape, "dementia": elder.has_dementia}
        exited = side is FenceState.OUTSIDE
        alert = await raise_alert(
            session,
            type="geofence_exit" if exited else "geofence_enter",
            severity=("high" if elder.has_dementia else "medium") if exited else "info",
            device_id=device_id,
            elder_id=elder.elder_id,
            now=now,
            detail=detail,
            location=fix,
            source_event_ids=[source_event_id],
            geofence_id=fence.id,
            # Coming back in resolves the exit alert it raised.
            resolves_alert_id=None if exited else state.exit_alert_id,
        )
        state.exit_alert_id = alert.id if exited else None
        raised += 1
    return raised


def _apply(fence: Geofence, body: GeofenceBase) -> None:
    fence.name, fence.shape, fence.enabled = body.name, body.shape, body.enabled
    circle = body.shape == "circle"
    fence.center_lat = body.center_lat if circle else None
    fence.center_lon = body.center_lon if circle else None
    fence.radius_m = body.radius_m if circle else None
    fence.polygon = None if circle else orjson.dumps([list(corner) for corner in body.polygon or []]).decode()
    fence.active_from, fence.active_to = body.active_from, body.active_to


async def create_geofence(session: AsyncSession, *, body: GeofenceCreate) -> Geofence:
    """A new fence for an elder; ElderNotFound for an unknown elder."""
    await known_elder(session, elder_id=body.elder_id)
    now = utcnow()
    fence = Geofence(id=str(uuid.uuid4()), elder_id=body.elder_id, name="", shape="", created_at=now, updated_at=now)
    _apply(fence, body)
    session.add(fence)
    return fence


async def update_geofence(session: AsyncSession, *, geofence_id: str, body: GeofenceBase) -> Geofence:
    """Replace a fence's geometry and schedule; devices' states against it start over."""
    fence = await fetch(session, Geofence, geofence_id, missing=GeofenceNotFound, for_update=True)
    _apply(fence, body)
    fence.updated_at = utcnow()
    await session.execute(delete(GeofenceDeviceState).where(col(GeofenceDeviceState.geofence_id) == geofence_id))
    return fence


async def delete_geofence(session: AsyncSession, *, geofence_id: str) -> None:
    """Remove a fence and the devices' states against it."""
    await fetch(session, Geofence, geofence_id, missing=GeofenceNotFound)
    await session.execute(delete(GeofenceDeviceState).where(col(GeofenceDeviceState.geofence_id) == geofence_id))
    await session.execute(delete(Geofence).where(col(Geofence.id) == geofence_id))


async def forget_elder(session: AsyncSession, *, elder_id: str) -> None:
    """A removed elder's fences go (they draw the home and the places the elder goes), with their states."""
    fences = select(col(Geofence.id)).where(col(Geofence.elder_id) == elder_id)
    await session.execute(delete(GeofenceDeviceState).where(col(GeofenceDeviceState.geofence_id).in_(fences)))
    await session.execute(delete(Geofence).where(col(Geofence.elder_id) == elder_id))


async def list_geofences(session: AsyncSession, *, elder_id: str | None, limit: int, offset: int) -> list[Geofence]:
    """Fences, optionally of one elder."""
    statement = select(Geofence)
    if elder_id:
        statement = statement.where(col(Geofence.elder_id) == elder_id)
    rows = await session.scalars(
        statement.order_by(col(Geofence.created_at), col(Geofence.id)).limit(limit).offset(offset)
    )
    return list(rows)


def to_read(fence: Geofence) -> GeofenceRead:
    polygon = [tuple(c) for c in orjson.loads(fence.polygon)] if fence.polygon else None
    return from_row(GeofenceRead, fence, polygon=polygon)
