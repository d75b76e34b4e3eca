"""Who may do what, and the commit step every write view shares.

Admins write; dispatchers and supervisors read; ops see no personal data, so every
care-record endpoint under /api/v1 refuses them (403). ID numbers are masked for
everyone but admins.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.http import require_roles
from eldercare.settings import ApiPrincipal, Role
from services.care_record import metrics
from services.care_record.elder import snapshot

Reader = Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN))]
Admin = Annotated[ApiPrincipal, Depends(require_roles(Role.ADMIN))]


async def commit(session: AsyncSession, *, entity: str) -> None:
    """Queue the snapshots of the elders this transaction changed and commit (which wakes the relay)."""
    queued = await snapshot.publish_changed(session)
    await session.commit()
    metrics.RECORD_CHANGES.labels(entity).inc()
    if queued:
        metrics.SNAPSHOTS_QUEUED.inc(queued)
