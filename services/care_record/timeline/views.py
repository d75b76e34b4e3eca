"""The care timeline API."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from eldercare.deps import SessionDep
from services.care_record.deps import Reader
from services.care_record.elder.service import get_elder
from services.care_record.timeline import service
from services.care_record.timeline.models import TimelineItem

router = APIRouter(prefix="/api/v1/elders/{elder_id}/timeline", tags=["timeline"])


@router.get("", response_model=list[TimelineItem])
async def timeline(
    elder_id: str, session: SessionDep, _: Reader, since: datetime | None = None, until: datetime | None = None
) -> list[TimelineItem]:
    """Incidents, alarms, visits, assessments, reminders and device bindings, oldest first."""
    await get_elder(session, elder_id=elder_id)
    return await service.timeline(session, elder_id=elder_id, since=since, until=until)
