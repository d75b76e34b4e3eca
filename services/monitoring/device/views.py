"""Monitoring API under /api/v1: devices, their state and their own offline timeout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from eldercare.deps import Page, SessionDep, TransactionDep, paging
from services.monitoring.deps import Reader, SettingsDep, Supervisor
from services.monitoring.device import service as devices
from services.monitoring.device.models import DeviceRead, DeviceStatus, DeviceUpdate

router = APIRouter(prefix="/api/v1", tags=["devices"])


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


@router.get("/devices", response_model=list[DeviceRead])
async def list_devices(
    settings: SettingsDep,
    session: SessionDep,
    _: Reader,
    page: Annotated[Page, paging()],
    response: Response,
    status_filter: Annotated[DeviceStatus | None, Query(alias="status")] = None,
    low_battery: bool = False,
    area: Annotated[str | None, Query(description="bounding box: min_lat,min_lon,max_lat,max_lon")] = None,
    elder_id: str | None = None,
) -> list[DeviceRead]:
    """Devices, most recently seen first; filter by status, low battery, area, elder. X-Total-Count gives the total."""
    rows, total = await devices.list_devices(
        session,
        status=status_filter,
        low_battery_at=settings.low_battery_percent if low_battery else None,
        area=_area(area),
        elder_id=elder_id,
        limit=page.limit,
        offset=page.offset,
    )
    response.headers["X-Total-Count"] = str(total)
    return [devices.to_read(row, settings) for row in rows]


@router.get("/devices/{device_id}", response_model=DeviceRead)
async def get_device(device_id: str, settings: SettingsDep, session: SessionDep, _: Reader) -> DeviceRead:
    """One device's state: last seen, location, battery, signal, connectivity."""
    return devices.to_read(await devices.get_device(session, device_id=device_id), settings)


@router.patch("/devices/{device_id}", response_model=DeviceRead)
async def update_device(
    device_id: str, body: DeviceUpdate, settings: SettingsDep, session: TransactionDep, _: Supervisor
) -> DeviceRead:
    """Set (or clear, with null) the device's own offline timeout."""
    device = await devices.set_offline_timeout(
        session, device_id=device_id, override_s=body.offline_timeout_override_s, settings=settings
    )
    await session.commit()
    return devices.to_read(device, settings)
