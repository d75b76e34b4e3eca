"""Dispatcher API for device commands on an incident."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from eldercare.deps import SessionDep, TransactionDep
from eldercare.http import require_roles
from eldercare.settings import ApiPrincipal, Role
from services.dispatch.command import service
from services.dispatch.command.models import CommandCreate, CommandRead
from services.dispatch.incident import service as incidents

router = APIRouter(prefix="/api/v1/incidents", tags=["device commands"])

Reader = Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.OPS))]
Dispatcher = Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN))]


@router.get("/{incident_id}/commands", response_model=list[CommandRead])
async def list_commands(incident_id: str, session: SessionDep, _: Reader) -> list[CommandRead]:
    """Commands sent to the incident's device, with attempts and acks."""
    await incidents.get_incident(session, incident_id=incident_id)
    return [CommandRead.model_validate(row) for row in await service.list_commands(session, incident_id=incident_id)]


@router.post("/{incident_id}/commands", response_model=CommandRead, status_code=status.HTTP_201_CREATED)
async def send_command(
    incident_id: str, body: CommandCreate, request: Request, session: TransactionDep, principal: Dispatcher
) -> CommandRead:
    """Send locate (a fix now), call_back, message or reminder to the elder's device."""
    incident = await incidents.get_incident(session, incident_id=incident_id, for_update=True)
    command = await service.issue_command(
        session,
        incident=incident,
        type=body.type,
        actor=principal.name,
        first_retry_seconds=request.app.state.settings.command_retry_seconds,
        text=body.text,
        callback_number=body.callback_number,
    )
    await session.commit()
    return CommandRead.model_validate(command)
