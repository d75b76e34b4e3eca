"""Binding and unbinding devices; one active elder per device, history kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.envelope import utcnow
from services.care_record import snapshot
from services.care_record.device.models import DeviceBinding
from services.care_record.elder.service import get_elder
from services.care_record.errors import Conflict, NotFound


async def active_binding(session: AsyncSession, *, device_id: str) -> DeviceBinding | None:
    """The device's current binding, if any."""
    return await session.scalar(
        select(DeviceBinding).where(col(DeviceBinding.device_id) == device_id, col(DeviceBinding.unbound_at).is_(None))
    )


async def bind_device(
    session: AsyncSession, *, elder_id: str, device_id: str, actor: str, sim_number: str | None = None
) -> DeviceBinding:
    """Bind a device to an elder; Conflict when the device is bound to anyone already."""
    elder = await get_elder(session, elder_id=elder_id, for_update=True)
    if elder.deactivated_at is not None:
        raise Conflict(f"elder {elder_id} is deactivated ({elder.deactivation_reason}); no device can be bound")
    current = await active_binding(session, device_id=device_id)
    if current is not None:
        whom = "this elder" if current.elder_id == elder_id else "another elder"
        raise Conflict(f"device {device_id} is bound to {whom} already; unbind it first")
    binding = DeviceBinding(
        device_id=device_id, elder_id=elder_id, bound_at=utcnow(), bound_by=actor, sim_number=sim_number
    )
    session.add(binding)
    try:
        await session.flush()
    except IntegrityError:
        # A concurrent bind of the same device won the unique index.
        raise Conflict(f"device {device_id} is bound to another elder already") from None
    snapshot.mark_changed(session, elder_id)
    return binding


async def set_sim_number(
    session: AsyncSession, *, elder_id: str, device_id: str, sim_number: str | None
) -> DeviceBinding:
    """Record the SIM card now in the elder's bound device; NotFound when the device is not bound to them."""
    await get_elder(session, elder_id=elder_id, for_update=True)
    binding = await active_binding(session, device_id=device_id)
    if binding is None or binding.elder_id != elder_id:
        raise NotFound(f"device {device_id} is not bound to elder {elder_id}")
    binding.sim_number = sim_number
    snapshot.mark_changed(session, elder_id)
    return binding


async def unbind_device(session: AsyncSession, *, elder_id: str, device_id: str, actor: str) -> DeviceBinding:
    """End the device's active binding to this elder; NotFound when there is none."""
    await get_elder(session, elder_id=elder_id, for_update=True)
    binding = await active_binding(session, device_id=device_id)
    if binding is None or binding.elder_id != elder_id:
        raise NotFound(f"device {device_id} is not bound to elder {elder_id}")
    binding.unbound_at, binding.unbound_by = utcnow(), actor
    snapshot.mark_changed(session, elder_id)
    return binding


async def bindings_of_elder(session: AsyncSession, *, elder_id: str, active_only: bool = False) -> list[DeviceBinding]:
    """The elder's bindings, oldest first."""
    statement = select(DeviceBinding).where(col(DeviceBinding.elder_id) == elder_id)
    if active_only:
        statement = statement.where(col(DeviceBinding.unbound_at).is_(None))
    return list(await session.scalars(statement.order_by(col(DeviceBinding.id))))


async def bindings_of_device(session: AsyncSession, *, device_id: str) -> list[DeviceBinding]:
    """The device's binding history, oldest first."""
    rows = await session.scalars(
        select(DeviceBinding).where(col(DeviceBinding.device_id) == device_id).order_by(col(DeviceBinding.id))
    )
    return list(rows)


async def elder_wearing(session: AsyncSession, *, device_id: str, at: datetime) -> str | None:
    """The elder the device was bound to at that moment, if any."""
    return await session.scalar(
        select(col(DeviceBinding.elder_id))
        .where(
            col(DeviceBinding.device_id) == device_id,
            col(DeviceBinding.bound_at) <= at,
            or_(col(DeviceBinding.unbound_at).is_(None), col(DeviceBinding.unbound_at) > at),
        )
        .order_by(col(DeviceBinding.id).desc())
        .limit(1)
    )
