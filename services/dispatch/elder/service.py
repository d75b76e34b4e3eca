"""Applying elder snapshots to the read model and looking elders up by device."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import insert_ignore_conflict
from eldercare.envelope import utcnow
from eldercare.settings import ApiPrincipal
from eldercare.v1 import elders_pb2
from services.dispatch.elder.models import (
    DeviceElder,
    ElderFacts,
    ElderPhone,
    ElderSnapshotRow,
    PersonalDataRead,
    ReadModelOffset,
)
from services.dispatch.elder.phones import PhoneKind, normalize_phone


async def apply_snapshot(session: AsyncSession, *, snapshot: elders_pb2.ElderSnapshot) -> bool:
    """Keep the snapshot if it is newer than the one held; False for an older or repeated one."""
    row = await session.scalar(
        select(ElderSnapshotRow).where(col(ElderSnapshotRow.elder_id) == snapshot.elder_id).with_for_update()
    )
    if row is not None and row.version >= snapshot.version:
        return False
    raw = snapshot.SerializeToString()
    if row is None:
        session.add(
            ElderSnapshotRow(
                elder_id=snapshot.elder_id,
                version=snapshot.version,
                deleted=snapshot.deleted,
                snapshot=raw,
                received_at=utcnow(),
            )
        )
    else:
        row.version, row.deleted, row.snapshot, row.received_at = snapshot.version, snapshot.deleted, raw, utcnow()
    await _index_devices(session, snapshot)
    await _index_phones(session, snapshot)
    return True


def phone_rows(snapshot: elders_pb2.ElderSnapshot) -> list[ElderPhone]:
    """The snapshot's numbers (elder, device SIMs, contacts) as index rows; none for a tombstone."""
    if snapshot.deleted:
        return []
    rows: list[ElderPhone] = []
    seen: set[tuple[str, str, str | None]] = set()

    def add(raw: str, kind: PhoneKind, device_id: str | None = None, label: str | None = None) -> None:
        phone = normalize_phone(raw) if raw else None
        if phone is None or (phone, kind.value, device_id) in seen:
            return
        seen.add((phone, kind.value, device_id))
        rows.append(
            ElderPhone(phone=phone, elder_id=snapshot.elder_id, kind=kind.value, device_id=device_id, label=label)
        )

    for binding in snapshot.bindings:
        add(binding.sim_number, PhoneKind.SIM, device_id=binding.device_id)
    add(snapshot.phone, PhoneKind.ELDER)
    for contact in snapshot.contacts:
        relation = f" ({contact.relation})" if contact.relation else ""
        add(contact.phone, PhoneKind.CONTACT, label=f"{contact.name}{relation}"[:200])
    return rows


async def _index_phones(session: AsyncSession, snapshot: elders_pb2.ElderSnapshot) -> None:
    await session.execute(delete(ElderPhone).where(col(ElderPhone.elder_id) == snapshot.elder_id))
    session.add_all(phone_rows(snapshot))


async def phones_matching(session: AsyncSession, *, phone: str) -> list[ElderPhone]:
    """Index rows of a normalised number (several elders can share a contact, a couple a landline)."""
    rows = await session.scalars(select(ElderPhone).where(col(ElderPhone.phone) == phone).order_by(col(ElderPhone.id)))
    return list(rows)


async def _index_devices(session: AsyncSession, snapshot: elders_pb2.ElderSnapshot) -> None:
    bindings = {} if snapshot.deleted else {b.device_id: b.binding_seq for b in snapshot.bindings}
    # Devices this elder no longer wears.
    await session.execute(
        delete(DeviceElder).where(
            col(DeviceElder.elder_id) == snapshot.elder_id, col(DeviceElder.device_id).not_in(list(bindings))
        )
    )
    for device_id, seq in bindings.items():
        current = await session.scalar(
            select(DeviceElder).where(col(DeviceElder.device_id) == device_id).with_for_update()
        )
        if current is None:
            session.add(DeviceElder(device_id=device_id, elder_id=snapshot.elder_id, binding_seq=seq))
        elif current.binding_seq <= seq:
            # Snapshots of two elders can arrive in either order; the newer binding owns the device.
            current.elder_id, current.binding_seq = snapshot.elder_id, seq


async def save_offset(session: AsyncSession, *, topic: str, partition: int, next_offset: int) -> None:
    """Record how far the read model has read, in the transaction that applied the record."""
    row = await session.get(ReadModelOffset, (topic, partition))
    if row is None:
        await session.execute(
            insert_ignore_conflict(session, ReadModelOffset)
            .values(topic=topic, partition=partition, next_offset=next_offset)
            .on_conflict_do_nothing(index_elements=["topic", "partition"])
        )
    elif next_offset > row.next_offset:
        row.next_offset = next_offset


async def stored_offsets(session: AsyncSession, *, topic: str) -> dict[int, int]:
    """partition -> next offset to read, for the partitions the read model has seen."""
    rows = await session.scalars(select(ReadModelOffset).where(col(ReadModelOffset.topic) == topic))
    return {row.partition: row.next_offset for row in rows}


def decode_snapshot(raw: bytes) -> elders_pb2.ElderSnapshot:
    snapshot = elders_pb2.ElderSnapshot()
    snapshot.ParseFromString(raw)
    return snapshot


async def snapshot_of_elder(session: AsyncSession, *, elder_id: str) -> elders_pb2.ElderSnapshot | None:
    """The elder's newest snapshot; None when unknown or removed."""
    row = await session.get(ElderSnapshotRow, elder_id)
    if row is None or row.deleted:
        return None
    return decode_snapshot(row.snapshot)


async def elder_for_device(session: AsyncSession, *, device_id: str) -> elders_pb2.ElderSnapshot | None:
    """The snapshot of the elder wearing the device; None for an unbound device."""
    raw = await session.scalar(_SNAPSHOT_OF_DEVICE, {"device_id": device_id})
    return None if raw is None else decode_snapshot(raw)


# One joined round trip, built once: this lookup sits on every SOS's path to an incident.
_SNAPSHOT_OF_DEVICE = (
    select(col(ElderSnapshotRow.snapshot))
    .join(DeviceElder, col(DeviceElder.elder_id) == col(ElderSnapshotRow.elder_id))
    .where(col(DeviceElder.device_id) == bindparam("device_id"), col(ElderSnapshotRow.deleted).is_(False))
)


def age_on(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def _birth_date(snapshot: elders_pb2.ElderSnapshot) -> date | None:
    try:
        return date.fromisoformat(snapshot.birth_date) if snapshot.birth_date else None
    except ValueError:
        return None


def facts_of(snapshot: elders_pb2.ElderSnapshot) -> ElderFacts:
    """What priority scoring needs from a snapshot."""
    return ElderFacts(
        ability_level=snapshot.ability_level if snapshot.HasField("ability_level") else None,
        living_situation=snapshot.living_situation,
        categories=frozenset(snapshot.categories),
        birth_date=_birth_date(snapshot),
    )


def snapshot_view(snapshot: elders_pb2.ElderSnapshot, *, today: date) -> dict[str, Any]:
    """The elder as the dispatcher's incident view shows it."""
    born = _birth_date(snapshot)
    area = snapshot.area
    return {
        "elder_id": snapshot.elder_id,
        "version": snapshot.version,
        "name": snapshot.name,
        "sex": snapshot.sex,
        # The age, not the birth date: with the last four digits care-record shows and the address,
        # a birth date would give back the whole ID number.
        "age": age_on(born, today) if born else None,
        "phone": snapshot.phone or None,
        "living_situation": snapshot.living_situation,
        "categories": list(snapshot.categories),
        "ability_level": snapshot.ability_level if snapshot.HasField("ability_level") else None,
        "language": snapshot.language or None,
        "conditions": list(snapshot.conditions),
        "medications": list(snapshot.medications),
        "allergies": list(snapshot.allergies),
        "blood_type": snapshot.blood_type or None,
        "primary_doctor": snapshot.primary_doctor or None,
        "hospital_preference": snapshot.hospital_preference or None,
        "home_address": snapshot.address,
        "home_location": (
            {"lat": snapshot.home_lat, "lon": snapshot.home_lon}
            if snapshot.HasField("home_lat") and snapshot.HasField("home_lon")
            else None
        ),
        "area": {
            "province": area.province,
            "city": area.city,
            "district": area.district,
            "street": area.street,
            "community": area.community,
            "area_type": area.area_type,
        },
        "contacts": [
            {
                "name": c.name,
                "relation": c.relation,
                "phone": c.phone,
                "has_key": c.has_key,
                "distance_km": c.distance_km if c.HasField("distance_km") else None,
            }
            for c in snapshot.contacts
        ],
        "device_ids": list(snapshot.device_ids),
        "devices": [{"device_id": b.device_id, "sim_number": b.sim_number or None} for b in snapshot.bindings],
        "notes": snapshot.notes or None,
    }


def record_read(
    session: AsyncSession, *, elder_id: str, principal: ApiPrincipal, via: str, incident_id: str | None = None
) -> None:
    """Audit one read of the elder's record (committed with the request's transaction)."""
    session.add(
        PersonalDataRead(
            elder_id=elder_id,
            actor=principal.name,
            role=principal.role.value,
            incident_id=incident_id,
            via=via,
            at=utcnow(),
        )
    )


async def list_reads(session: AsyncSession, *, elder_id: str, limit: int = 200) -> list[PersonalDataRead]:
    """Who read the elder's record through dispatch, newest first."""
    rows = await session.scalars(
        select(PersonalDataRead)
        .where(col(PersonalDataRead.elder_id) == elder_id)
        .order_by(col(PersonalDataRead.at).desc(), col(PersonalDataRead.id).desc())
        .limit(limit)
    )
    return list(rows)
