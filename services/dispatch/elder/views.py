"""Dispatch's view of the elder read model (who wears this device?) and the audit of its reads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from eldercare.deps import SessionDep
from eldercare.envelope import utcnow
from services.dispatch import flows
from services.dispatch.deps import PersonalDataReader, Supervisor
from services.dispatch.elder import service
from services.dispatch.elder.models import PersonalDataReadOut

router = APIRouter(prefix="/api/v1", tags=["elders"])


@router.get("/devices/{device_id}/elder")
async def elder_for_device(
    device_id: str,
    session: SessionDep,
    principal: PersonalDataReader,
    incident_id: Annotated[
        str | None, Query(max_length=36, description="the incident it is for (default: the device's active one)")
    ] = None,
) -> dict[str, Any]:
    """The snapshot of the elder wearing the device, as dispatch knows it (404 for an unbound device).

    Audited with its reason: the incident named, else the device's active incident, if any.
    """
    snapshot = await flows.read_elder_of_device(
        session, device_id=device_id, principal=principal, incident_id=incident_id
    )
    await session.commit()
    return service.snapshot_view(snapshot, today=utcnow().date())


@router.get("/elders/{elder_id}/reads", response_model=list[PersonalDataReadOut])
async def personal_data_reads(
    elder_id: str, session: SessionDep, _: Supervisor, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[PersonalDataReadOut]:
    """Who read the elder's record through dispatch (incident views, device lookups), newest first."""
    return [
        PersonalDataReadOut.model_validate(row)
        for row in await service.list_reads(session, elder_id=elder_id, limit=limit)
    ]
