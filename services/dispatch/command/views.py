"""Dispatcher API for device commands on an incident."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from eldercare.deps import SessionDep, TransactionDep, committed
from eldercare.settings import Role
from services.dispatch.command import service
from services.dispatch.command.models import SETTING_TYPES, CommandCreate, CommandRead, DeviceCommandCreate
from services.dispatch.deps import Dispatcher, Reader, SettingsDep
from services.dispatch.elder import service as elders
from services.dispatch.incident import service as incidents

router = APIRouter(prefix="/api/v1", tags=["device commands"])


@router.get("/incidents/{incident_id}/commands", response_model=list[CommandRead])
async def list_commands(incident_id: str, session: SessionDep, _: Reader) -> list[CommandRead]:
    """Commands sent to the incident's device, with attempts and acks."""
    await incidents.get_incident(session, incident_id=incident_id)
    return [CommandRead.model_validate(row) for row in await service.list_commands(session, incident_id=incident_id)]


@router.post("/incidents/{incident_id}/commands", response_model=CommandRead, status_code=status.HTTP_201_CREATED)
async def send_command(
    incident_id: str, body: CommandCreate, settings: SettingsDep, session: TransactionDep, principal: Dispatcher
) -> CommandRead:
    """Send locate (a fix now), call_back, message or reminder to the elder's device."""
    incident = await incidents.get_incident(session, incident_id=incident_id, for_update=True)
    change = service.issue_command(
        session,
        incident=incident,
        type=body.type,
        actor=principal.name,
        first_retry_seconds=settings.command_retry_seconds,
        text=body.text,
        callback_number=body.callback_number,
    )
    return await committed(session, change, CommandRead.model_validate)


async def _known_device(session: SessionDep, device_id: str) -> None:
    if await elders.elder_for_device(session, device_id=device_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"device {device_id} is bound to no known elder")


@router.get("/devices/{device_id}/commands", response_model=list[CommandRead])
async def list_device_commands(device_id: str, session: SessionDep, _: Reader) -> list[CommandRead]:
    """The device's last 100 commands, newest first: incidents' and settings' alike."""
    await _known_device(session, device_id)
    rows = await service.list_device_commands(session, device_id=device_id)
    return [CommandRead.model_validate(row) for row in rows]


@router.post("/devices/{device_id}/commands", response_model=CommandRead, status_code=status.HTTP_201_CREATED)
async def send_device_command(
    device_id: str, body: DeviceCommandCreate, settings: SettingsDep, session: TransactionDep, principal: Dispatcher
) -> CommandRead:
    """Change a device's settings (sos_numbers, upload_interval) or send it a command outside any incident."""
    if body.type in SETTING_TYPES and principal.role not in (Role.SUPERVISOR, Role.ADMIN):
        # Who the SOS key dials is a care decision, not a call-handling one.
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{body.type.value} needs the supervisor or admin role")
    await _known_device(session, device_id)
    command = service.issue_device_command(
        session,
        device_id=device_id,
        type=body.type,
        actor=principal.name,
        first_retry_seconds=settings.command_retry_seconds,
        text=body.wire_text(),
        callback_number=body.callback_number,
    )
    await session.commit()
    return CommandRead.model_validate(command)
