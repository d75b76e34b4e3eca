"""Work that spans dispatch's domains, so that no domain imports back and forth with another."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.command import service as commands
from services.dispatch.command.models import CommandType
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
