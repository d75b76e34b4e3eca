"""Applying care-record's elder snapshots to the local read model."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import fetch
from eldercare.envelope import utcnow
from eldercare.v1 import elders_pb2
from services.monitoring.elder.models import DeviceBinding, ElderProfile
from services.monitoring.errors import ElderNotFound

DEMENTIA_CATEGORIES = frozenset({"dementia", "cognitive_impairment"})


async def known_elder(session: AsyncSession, *, elder_id: str) -> ElderProfile:
    """The elder's profile; ElderNotFound when care-record's snapshots never named the elder (or removed it).

    Writes keyed by an elder ask here first: a mistyped id would otherwise be stored, answered
    200, and apply to no one.
    """
    return await fetch(session, ElderProfile, elder_id, missing=ElderNotFound)


async def apply_snapshot(session: AsyncSession, *, snapshot: elders_pb2.ElderSnapshot) -> bool:
    """Upsert (or drop, for a tombstone) an elder and their device bindings; False when the snapshot is stale."""
    profile = await session.get(ElderProfile, snapshot.elder_id, with_for_update=True)
    if profile is not None and snapshot.version and snapshot.version < profile.version:
        return False
    if snapshot.deleted:
        await remove_elder(session, elder_id=snapshot.elder_id)
        return True
    if profile is None:
        profile = ElderProfile(elder_id=snapshot.elder_id, updated_at=utcnow())
        session.add(profile)
    profile.version = snapshot.version
    profile.lives_alone = snapshot.living_situation == "alone"
    profile.has_dementia = bool(DEMENTIA_CATEGORIES & {c.lower() for c in snapshot.categories})
    profile.updated_at = utcnow()
    wanted = {b.device_id: b.binding_seq for b in snapshot.bindings} or {d: 0 for d in snapshot.device_ids}
    await session.execute(
        delete(DeviceBinding).where(
            col(DeviceBinding.elder_id) == snapshot.elder_id, col(DeviceBinding.device_id).not_in(list(wanted))
        )
    )
    for device_id, seq in wanted.items():
        binding = await session.get(DeviceBinding, device_id, with_for_update=True)
        if binding is None:
            session.add(DeviceBinding(device_id=device_id, elder_id=snapshot.elder_id, binding_seq=seq))
        elif seq >= binding.binding_seq:
            binding.elder_id, binding.binding_seq = snapshot.elder_id, seq
    return True


async def remove_elder(session: AsyncSession, *, elder_id: str) -> None:
    """Forget an elder and their bindings (tombstone)."""
    await session.execute(delete(DeviceBinding).where(col(DeviceBinding.elder_id) == elder_id))
    await session.execute(delete(ElderProfile).where(col(ElderProfile.elder_id) == elder_id))


async def bound_elder_id(session: AsyncSession, *, device_id: str) -> str | None:
    binding = await session.get(DeviceBinding, device_id)
    return binding.elder_id if binding is not None else None
