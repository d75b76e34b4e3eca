"""Elder snapshots on the compacted elders topic, written through the outbox.

Mutating service functions call `mark_changed`; whoever commits calls
`publish_changed` first, so each transaction publishes one snapshot per elder it
touched, with the elder's version bumped under the row lock taken by the change.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import queue_event
from eldercare.envelope import platform_event, to_timestamp, utcnow
from eldercare.topics import ELDERS
from eldercare.v1 import elders_pb2
from services.care_record.device.models import DeviceBinding
from services.care_record.elder.models import Contact, Elder, area_fields, decode_categories

_DIRTY = "care_record_changed_elders"


def mark_changed(session: AsyncSession, elder_id: str) -> None:
    """Note that this transaction changed what the elder's snapshot shows."""
    session.info.setdefault(_DIRTY, set()).add(elder_id)


async def publish_changed(session: AsyncSession) -> int:
    """Queue one new snapshot per changed elder on the outbox; returns how many."""
    changed: set[str] = session.info.pop(_DIRTY, set())
    for elder_id in sorted(changed):
        elder = await session.scalar(select(Elder).where(col(Elder.id) == elder_id).with_for_update())
        if elder is None:
            continue
        elder.snapshot_version += 1
        snapshot = tombstone(elder) if elder.deactivated_at is not None else await build_snapshot(session, elder)
        envelope = platform_event(producer="care_record", occurred_at=snapshot.updated_at, elder=snapshot)
        queue_event(session, topic=ELDERS, key=elder_id, envelope=envelope)
    return len(changed)


def tombstone(elder: Elder) -> elders_pb2.ElderSnapshot:
    """A deactivated elder's last snapshot: the id and `deleted` only. Read models drop the elder,
    and compaction keeps only this on the topic, so the personal data leaves Kafka too."""
    return elders_pb2.ElderSnapshot(
        elder_id=elder.id, deleted=True, version=elder.snapshot_version, updated_at=to_timestamp(utcnow())
    )


async def build_snapshot(session: AsyncSession, elder: Elder) -> elders_pb2.ElderSnapshot:
    """The elder's current snapshot (no ID number: no other service needs it)."""
    contacts = (
        await session.scalars(select(Contact).where(col(Contact.elder_id) == elder.id).order_by(col(Contact.position)))
    ).all()
    bindings = (
        await session.scalars(
            select(DeviceBinding)
            .where(col(DeviceBinding.elder_id) == elder.id, col(DeviceBinding.unbound_at).is_(None))
            .order_by(col(DeviceBinding.id))
        )
    ).all()
    return snapshot_of(elder, contacts=contacts, bindings=bindings)


def snapshot_of(
    elder: Elder, *, contacts: Sequence[Contact], bindings: Sequence[DeviceBinding]
) -> elders_pb2.ElderSnapshot:
    """The snapshot of an elder with these contacts (in calling order) and active bindings."""
    snapshot = elders_pb2.ElderSnapshot(
        elder_id=elder.id,
        version=elder.snapshot_version,
        updated_at=to_timestamp(utcnow()),
        name=elder.name,
        sex=elder.sex,
        birth_date=elder.birth_date.isoformat(),
        phone=elder.phone or "",
        address=elder.address,
        area=elders_pb2.AdministrativeArea(**area_fields(elder)),
        living_situation=elder.living_situation,
        categories=decode_categories(elder.categories),
        language=elder.language,
        conditions=list(elder.conditions),
        medications=list(elder.medications),
        allergies=list(elder.allergies),
        blood_type=elder.blood_type,
        primary_doctor=elder.primary_doctor,
        hospital_preference=elder.hospital_preference,
        notes=elder.notes,
        device_ids=[b.device_id for b in bindings],
        bindings=[
            elders_pb2.DeviceBinding(
                device_id=b.device_id,
                binding_seq=b.id or 0,
                bound_at=to_timestamp(b.bound_at),
                sim_number=b.sim_number or "",
            )
            for b in bindings
        ],
        contacts=[
            elders_pb2.ElderContact(
                name=c.name,
                relation=c.relation,
                phone=c.phone,
                has_key=c.has_key,
                distance_km=c.distance_km,
                lat=c.lat,
                lon=c.lon,
            )
            for c in contacts
        ],
    )
    if elder.home_lat is not None and elder.home_lon is not None:
        snapshot.home_lat, snapshot.home_lon = elder.home_lat, elder.home_lon
    if elder.ability_level is not None:
        snapshot.ability_level = elder.ability_level
    return snapshot
