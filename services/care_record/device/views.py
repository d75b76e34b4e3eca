"""Device binding API."""

from __future__ import annotations

from fastapi import APIRouter, Path, status

from eldercare.deps import SessionDep, TransactionDep
from eldercare.http import from_row
from services.care_record.deps import Admin, Reader
from services.care_record.device import service
from services.care_record.device.models import (
    DEVICE_ID_PATTERN,
    BindingCreate,
    BindingRead,
    BindingUpdate,
    DeviceBinding,
)
from services.care_record.elder.service import get_elder
from services.care_record.flows import committed

router = APIRouter(prefix="/api/v1", tags=["devices"])


def to_read(binding: DeviceBinding) -> BindingRead:
    return from_row(BindingRead, binding, id=binding.id or 0, active=binding.unbound_at is None)


@router.post("/elders/{elder_id}/devices", response_model=BindingRead, status_code=status.HTTP_201_CREATED)
async def bind_device(elder_id: str, body: BindingCreate, session: TransactionDep, principal: Admin) -> BindingRead:
    """Bind a device to the elder (409 when the device is bound already)."""
    change = service.bind_device(
        session, elder_id=elder_id, device_id=body.device_id, actor=principal.name, sim_number=body.sim_number
    )
    return await committed(session, change, to_read, entity="binding")


@router.patch("/elders/{elder_id}/devices/{device_id}", response_model=BindingRead)
async def update_binding(
    elder_id: str, device_id: str, body: BindingUpdate, session: TransactionDep, _: Admin
) -> BindingRead:
    """Change the SIM number of the elder's bound device (404 when it is not bound to them)."""
    change = service.set_sim_number(session, elder_id=elder_id, device_id=device_id, sim_number=body.sim_number)
    return await committed(session, change, to_read, entity="binding")


@router.delete("/elders/{elder_id}/devices/{device_id}", response_model=BindingRead)
async def unbind_device(elder_id: str, device_id: str, session: TransactionDep, principal: Admin) -> BindingRead:
    """End the device's binding to the elder; the history keeps it."""
    change = service.unbind_device(session, elder_id=elder_id, device_id=device_id, actor=principal.name)
    return await committed(session, change, to_read, entity="binding")


@router.get("/elders/{elder_id}/devices", response_model=list[BindingRead])
async def elder_devices(elder_id: str, session: SessionDep, _: Reader) -> list[BindingRead]:
    """The elder's bindings, past and present."""
    await get_elder(session, elder_id=elder_id)
    return [to_read(b) for b in await service.bindings_of_elder(session, elder_id=elder_id)]


@router.get("/devices/{device_id}", response_model=list[BindingRead])
async def device_history(
    session: SessionDep, _: Reader, device_id: str = Path(pattern=DEVICE_ID_PATTERN)
) -> list[BindingRead]:
    """Who wore this device, oldest first (empty for a device never bound)."""
    return [to_read(b) for b in await service.bindings_of_device(session, device_id=device_id)]
