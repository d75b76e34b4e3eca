"""Work that spans care-record's domains: an elder's whole record read and written as one.

A write to any part of an elder's record republishes the elder's snapshot; the detail view
puts the elder, contacts, devices and current assessment together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.envelope import utcnow
from eldercare.errors import Conflict
from eldercare.settings import ApiPrincipal, Role
from services.care_record import metrics, snapshot
from services.care_record.assessment import service as assessments
from services.care_record.device import service as devices
from services.care_record.elder import service as elders
from services.care_record.elder.models import (
    AreaRead,
    ContactRead,
    Elder,
    ElderRead,
    ElderSummary,
    HealthArchive,
    HomeLocation,
    age_on,
    area_fields,
    decode_categories,
    mask_id_number,
    mask_phone,
)
from services.care_record.elder.visit_policy import VisitPolicy, is_overdue, required_frequency


async def commit(session: AsyncSession, *, entity: str) -> None:
    """Queue the snapshots of the elders this transaction changed and commit (which wakes the relay)."""
    queued = await snapshot.publish_changed(session)
    await session.commit()
    metrics.RECORD_CHANGES.labels(entity).inc()
    if queued:
        metrics.SNAPSHOTS_QUEUED.inc(queued)


Row = TypeVar("Row")
Out = TypeVar("Out")


async def committed(session: AsyncSession, change: Awaitable[Row], read: Callable[[Row], Out], *, entity: str) -> Out:
    """The kit's `committed` for care-record: the change, then `commit` (snapshots and counts), then `read`."""
    row = await change
    await commit(session, entity=entity)
    return read(row)


def elder_summary(
    elder: Elder, *, policy: VisitPolicy, reveal_id: bool = False, full_phone: bool = False
) -> ElderSummary:
    """The list shape of an elder; the ID number masked unless `reveal_id`, the phone unless `full_phone`."""
    now = utcnow()
    frequency = required_frequency(elder, policy, now.date())
    return ElderSummary(
        id=elder.id,
        name=elder.name,
        sex=elder.sex,
        age=age_on(elder.birth_date, now.date()),
        id_number=elder.id_number if reveal_id else mask_id_number(elder.id_number),
        phone=elder.phone if full_phone else mask_phone(elder.phone),
        area=AreaRead(**area_fields(elder), path=elder.area_path),
        living_situation=elder.living_situation,
        categories=decode_categories(elder.categories),
        ability_level=elder.ability_level,
        visit_frequency=frequency.value if frequency else None,
        last_visit_at=elder.last_visit_at,
        visit_overdue=is_overdue(elder, policy, now),
    )


async def elder_detail(
    session: AsyncSession, elder: Elder, *, policy: VisitPolicy, principal: ApiPrincipal
) -> ElderRead:
    """The whole record of one elder."""
    contacts = await elders.list_contacts(session, elder_id=elder.id)
    bindings = await devices.bindings_of_elder(session, elder_id=elder.id, active_only=True)
    current = await assessments.current_assessment(session, elder_id=elder.id)
    admin = principal.role is Role.ADMIN
    # The one elder on screen: the phone in full (the dispatcher calls it), the ID and birth date
    # for admins only (with the address they would give back the whole ID number).
    summary = elder_summary(elder, policy=policy, reveal_id=admin, full_phone=True)
    return ElderRead(
        **summary.model_dump(),
        birth_date=elder.birth_date if admin else None,
        address=elder.address,
        home_location=(
            HomeLocation(lat=elder.home_lat, lon=elder.home_lon)
            if elder.home_lat is not None and elder.home_lon is not None
            else None
        ),
        language=elder.language,
        notes=elder.notes,
        # The archive's fields are the elder's columns of the same names.
        health=HealthArchive.model_validate(elder, from_attributes=True),
        contacts=[ContactRead.model_validate(c) for c in contacts],
        device_ids=[b.device_id for b in bindings],
        current_assessment=assessments.to_read(current, current=True).model_dump(mode="json") if current else None,
        snapshot_version=elder.snapshot_version,
        created_at=elder.created_at,
        updated_at=elder.updated_at,
        deactivated_at=elder.deactivated_at,
        deactivation_reason=elder.deactivation_reason,
    )


async def deactivate_elder(session: AsyncSession, *, elder_id: str, reason: str, actor: str) -> Elder:
    """Moved away or deceased: the devices are unbound (free for someone else), the snapshot becomes a
    tombstone, and the elder leaves visit compliance. The record itself stays. Conflict when done already."""
    elder = await elders.get_elder(session, elder_id=elder_id, for_update=True)
    if elder.deactivated_at is not None:
        raise Conflict(f"elder {elder_id} was deactivated already ({elder.deactivation_reason})")
    for binding in await devices.bindings_of_elder(session, elder_id=elder_id, active_only=True):
        await devices.unbind_device(session, elder_id=elder_id, device_id=binding.device_id, actor=actor)
    elder.deactivated_at = elder.updated_at = utcnow()
    elder.deactivation_reason = reason
    snapshot.mark_changed(session, elder_id)
    return elder
