"""Monitoring API under /api/v1: geofences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status

from eldercare.db import fetch
from eldercare.deps import Page, SessionDep, TransactionDep, committed, paging
from services.monitoring.deps import Editor, Reader
from services.monitoring.errors import GeofenceNotFound
from services.monitoring.geofence import service as geofences
from services.monitoring.geofence.models import Geofence, GeofenceCreate, GeofenceRead, GeofenceUpdate

router = APIRouter(prefix="/api/v1", tags=["geofences"])


@router.get("/geofences", response_model=list[GeofenceRead])
async def list_geofences(
    session: SessionDep,
    _: Reader,
    page: Annotated[Page, paging()],
    elder_id: str | None = None,
) -> list[GeofenceRead]:
    """Fences, optionally of one elder."""
    rows = await geofences.list_geofences(session, elder_id=elder_id, limit=page.limit, offset=page.offset)
    return [geofences.to_read(row) for row in rows]


@router.post("/geofences", response_model=GeofenceRead, status_code=status.HTTP_201_CREATED)
async def create_geofence(body: GeofenceCreate, session: TransactionDep, _: Editor) -> GeofenceRead:
    """A circle (centre + radius) or polygon fence for an elder, with optional active hours."""
    return await committed(session, geofences.create_geofence(session, body=body), geofences.to_read)


@router.get("/geofences/{geofence_id}", response_model=GeofenceRead)
async def get_geofence(geofence_id: str, session: SessionDep, _: Reader) -> GeofenceRead:
    """One fence."""
    return geofences.to_read(await fetch(session, Geofence, geofence_id, missing=GeofenceNotFound))


@router.put("/geofences/{geofence_id}", response_model=GeofenceRead)
async def update_geofence(geofence_id: str, body: GeofenceUpdate, session: TransactionDep, _: Editor) -> GeofenceRead:
    """Replace a fence's geometry and schedule (devices' inside/outside states start over)."""
    change = geofences.update_geofence(session, geofence_id=geofence_id, body=body)
    return await committed(session, change, geofences.to_read)


@router.delete("/geofences/{geofence_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_geofence(geofence_id: str, session: TransactionDep, _: Editor) -> Response:
    """Remove a fence."""
    return await committed(
        session, geofences.delete_geofence(session, geofence_id=geofence_id), lambda _: Response(status_code=204)
    )
