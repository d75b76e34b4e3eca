"""Work that spans dispatch's domains, so that no domain imports back and forth with another."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.errors import Invalid, NotFound
from eldercare.settings import ApiPrincipal
from eldercare.v1 import elders_pb2
from services.dispatch.command import service as commands
from services.dispatch.command.models import CommandType
from services.dispatch.elder import service as elders
from services.dispatch.incident import service as incidents
from services.dispatch.incident.models import Incident


async def acknowledge_incident(
    session: AsyncSession, *, incident_id: str, actor: str, note: str | None, first_retry_seconds: float
) -> Incident:
    """A dispatcher takes the incident (open → acknowledged) and the elder's device says help is coming."""
    detail = {"note": note} if note else None
    incident = await incidents.transition(
        session, incident_id=incident_id, action="acknowledge", actor=actor, detail=detail
    )
    await commands.issue_command(
        session,
        incident=incident,
        type=CommandType.MESSAGE,
        actor=actor,
        first_retry_seconds=first_retry_seconds,
        text=commands.ACKNOWLEDGED_MESSAGE,
    )
    return incident


async def read_elder_of_device(
    session: AsyncSession, *, device_id: str, principal: ApiPrincipal, incident_id: str | None
) -> elders_pb2.ElderSnapshot:
    """The elder wearing the device, the read audited with its reason: the incident named, else the
    device's active one (none for a lookup outside any incident). Commit after."""
    snapshot = await elders.elder_for_device(session, device_id=device_id)
    if snapshot is None:
        raise NotFound(f"device {device_id} is bound to no known elder")
    if incident_id is not None:
        incident = await incidents.get_incident(session, incident_id=incident_id)
        if incident.device_id != device_id:
            raise Invalid(f"incident {incident_id} is not about device {device_id}")
    else:
        active = await incidents.active_incident_of_device(session, device_id=device_id)
        incident_id = active.id if active is not None else None
    elders.record_read(
        session, elder_id=snapshot.elder_id, principal=principal, via="device_elder", incident_id=incident_id
    )
    return snapshot
