"""Dispatch's read-only view of the elder read model (who wears this device?)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from eldercare.deps import SessionDep
from eldercare.envelope import utcnow
from services.dispatch.deps import PersonalDataReader
from services.dispatch.elder import service

router = APIRouter(prefix="/api/v1/devices", tags=["elders"])


@router.get("/{device_id}/elder")
async def elder_for_device(device_id: str, session: SessionDep, _: PersonalDataReader) -> dict[str, Any]:
    """The snapshot of the elder wearing the device, as dispatch knows it (404 for an unbound device)."""
    snapshot = await service.elder_for_device(session, device_id=device_id)
    if snapshot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id} is bound to no known elder")
    return service.snapshot_view(snapshot, today=utcnow().date())
