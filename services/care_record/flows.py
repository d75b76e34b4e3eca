"""Work that spans care-record's domains: a write to any part of an elder's record republishes the elder."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.care_record import metrics
from services.care_record.elder import snapshot


async def commit(session: AsyncSession, *, entity: str) -> None:
    """Queue the snapshots of the elders this transaction changed and commit (which wakes the relay)."""
    queued = await snapshot.publish_changed(session)
    await session.commit()
    metrics.RECORD_CHANGES.labels(entity).inc()
    if queued:
        metrics.SNAPSHOTS_QUEUED.inc(queued)
