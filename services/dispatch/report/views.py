"""Reports API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from eldercare.deps import SessionDep
from eldercare.envelope import utcnow
from services.dispatch.deps import Reader
from services.dispatch.report import service
from services.dispatch.report.models import SlaReport

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.get("/sla", response_model=SlaReport)
async def sla(
    session: SessionDep,
    _: Reader,
    period: Annotated[str, Query(description="window ending now (or at `until`): 24h, 7d, 30d …")] = "7d",
    until: Annotated[datetime | None, Query(description="end of the window (RFC 3339); default now")] = None,
) -> SlaReport:
    """Answer-within-60 s rate, time to ack and to on-scene, false-alarm rate; by area and priority."""
    length = service.parse_period(period)  # BadPeriod is Invalid: a 422 with its reason
    if until is not None and until.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "until needs a UTC offset (e.g. Z)")
    end = until or utcnow()
    return await service.sla_report(session, start=end - length, end=end)
