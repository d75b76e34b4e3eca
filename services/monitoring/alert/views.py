"""Monitoring API under /api/v1: the alerts monitoring raised."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from eldercare.deps import Page, SessionDep, paging
from services.monitoring.alert import service as alerts
from services.monitoring.alert.models import AlertRead
from services.monitoring.deps import Reader

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get("/alerts", response_model=list[AlertRead])
async def list_alerts(
    session: SessionDep,
    _: Reader,
    page: Annotated[Page, paging()],
    device_id: str | None = None,
    elder_id: str | None = None,
    type: str | None = None,
) -> list[AlertRead]:
    """Alerts monitoring raised, newest first."""
    rows = await alerts.list_alerts(
        session, device_id=device_id, elder_id=elder_id, type=type, limit=page.limit, offset=page.offset
    )
    return [alerts.to_read(row) for row in rows]
