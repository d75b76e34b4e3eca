"""Monitoring REST API under /api/v1: devices, geofences, vitals, alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from eldercare.deps import SessionDep, TransactionDep
from services.monitoring.alert import service as alerts
from services.monitoring.alert.models import AlertRead
from services.monitoring.deps import Editor, Reader, SettingsDep, Supervisor
from services.monitoring.device import service as devices
from services.monitoring.device.models import DeviceRead, DeviceStatus, DeviceUpdate
from services.monitoring.geofence import service as geofences
from services.monitoring.geofence.models import GeofenceCreate, GeofenceRead, GeofenceUpdate
from services.monitoring.vitals import service as vitals
from services.monitoring.vitals.models import Thresholds, ThresholdsUpdate, VitalsBucket

router = APIRouter(prefix="/api/v1")


def _area(raw: str | None) -> tuple[float, float, float, float] | None:
    if raw is None:
        return None
    try:
        min_lat, min_lon, max_lat, max_lon = (float(part) for part in raw.split(","))
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, "area must be min_lat,min_lon,max_lat,max_lon"
        ) from None
    if not (-90 <= min_lat <= max_lat <= 90 and -180 <= min_lon <= max_lon <= 180):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "area corners are out of range or swapped")
    return min_lat, min_lon, max_lat, max_lon


@router.get("/devices", response_model=list[DeviceRead], tags=["devices"])
async def list_devices(
    settings: SettingsDep,
    session: SessionDep,
    _: Reader,
    response: Response,
    status_filter: Annotated[DeviceStatus | None, Query(alias="status")] = None,
    low_battery: bool = False,
    area: Annotated[str | None, Query(description="bounding box: min_lat,min_lon,max_lat,max_lon")] = None,
    elder_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DeviceRead]:
    """Devices, most recently seen first; filter by status, low battery, area, elder. X-Total-Count gives the total."""
    rows, total = await devices.list_devices(
        session,
        status=status_filter,
        low_battery_at=settings.low_battery_percent if low_battery else None,
        area=_area(area),
        elder_id=elder_id,
        limit=limit,
        offset=offset,
    )
    response.headers["X-Total-Count"] = str(total)
    return [devices.to_read(row, settings) for row in rows]


@router.get("/devices/{device_id}", response_model=DeviceRead, tags=["devices"])
async def get_device(device_id: str, settings: SettingsDep, session: SessionDep, _: Reader) -> DeviceRead:
    """One device's state: last seen, location, battery, signal, connectivity."""
    return devices.to_read(await devices.get_device(session, device_id=device_id), settings)


@router.patch("/devices/{device_id}", response_model=DeviceRead, tags=["devices"])
async def update_device(
    device_id: str, body: DeviceUpdate, settings: SettingsDep, session: TransactionDep, _: Supervisor
) -> DeviceRead:
    """Set (or clear, with null) the device's own offline timeout."""
    device = await devices.get_device(session, device_id=device_id, for_update=True)
    device.offline_timeout_override_s = body.offline_timeout_override_s
    device.offline_due_at = device.last_seen + timedelta(seconds=devices.offline_timeout(device, settings))
    await session.commit()
    return devices.to_read(device, settings)


@router.get("/geofences", response_model=list[GeofenceRead], tags=["geofences"])
async def list_geofences(
    session: SessionDep,
    _: Reader,
    elder_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[GeofenceRead]:
    """Fences, optionally of one elder."""
    rows = await geofences.list_geofences(session, elder_id=elder_id, limit=limit, offset=offset)
    return [geofences.to_read(row) for row in rows]


@router.post("/geofences", response_model=GeofenceRead, status_code=status.HTTP_201_CREATED, tags=["geofences"])
async def create_geofence(body: GeofenceCreate, session: TransactionDep, _: Editor) -> GeofenceRead:
    """A circle (centre + radius) or polygon fence for an elder, with optional active hours."""
    fence = await geofences.create_geofence(session, body=body)
    await session.commit()
    return geofences.to_read(fence)


@router.get("/geofences/{geofence_id}", response_model=GeofenceRead, tags=["geofences"])
async def get_geofence(geofence_id: str, session: SessionDep, _: Reader) -> GeofenceRead:
    """One fence."""
    return geofences.to_read(await geofences.get_geofence(session, geofence_id=geofence_id))


@router.put("/geofences/{geofence_id}", response_model=GeofenceRead, tags=["geofences"])
async def update_geofence(geofence_id: str, body: GeofenceUpdate, session: TransactionDep, _: Editor) -> GeofenceRead:
    """Replace a fence's geometry and schedule (devices' inside/outside states start over)."""
    fence = await geofences.update_geofence(session, geofence_id=geofence_id, body=body)
    await session.commit()
    return geofences.to_read(fence)


@router.delete("/geofences/{geofence_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["geofences"])
async def delete_geofence(geofence_id: str, session: TransactionDep, _: Editor) -> Response:
    """Remove a fence."""
    await geofences.delete_geofence(session, geofence_id=geofence_id)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/elders/{elder_id}/vitals", response_model=list[VitalsBucket], tags=["vitals"])
async def vitals_history(
    elder_id: str,
    session: SessionDep,
    _: Reader,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket_seconds: Annotated[int, Query(ge=1, le=86400)] = 300,
) -> list[VitalsBucket]:
    """The elder's vitals between start and end (default: the last 24 h), downsampled per bucket."""
    if (start is not None and start.tzinfo is None) or (end is not None and end.tzinfo is None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "start and end need a UTC offset (e.g. Z)")
    start, end = vitals.default_window(end, start)
    if start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "start must be before end")
    return await vitals.history(session, elder_id=elder_id, start=start, end=end, bucket_seconds=bucket_seconds)


@router.get("/elders/{elder_id}/vitals/thresholds", response_model=Thresholds, tags=["vitals"])
async def get_thresholds(elder_id: str, session: SessionDep, _: Reader) -> Thresholds:
    """The limits in force for the elder (their overrides on top of the defaults)."""
    return await vitals.thresholds_for(session, elder_id=elder_id)


@router.put("/elders/{elder_id}/vitals/thresholds", response_model=Thresholds, tags=["vitals"])
async def put_thresholds(elder_id: str, body: ThresholdsUpdate, session: TransactionDep, _: Editor) -> Thresholds:
    """Replace the elder's overrides (null fields fall back to the defaults)."""
    limits = await vitals.set_thresholds(session, elder_id=elder_id, body=body)
    await session.commit()
    return limits


@router.get("/alerts", response_model=list[AlertRead], tags=["alerts"])
async def list_alerts(
    session: SessionDep,
    _: Reader,
    device_id: str | None = None,
    elder_id: str | None = None,
    type: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AlertRead]:
    """Alerts monitoring raised, newest first."""
    rows = await alerts.list_alerts(
        session, device_id=device_id, elder_id=elder_id, type=type, limit=limit, offset=offset
    )
    return [alerts.to_read(row) for row in rows]
