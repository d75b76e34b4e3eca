"""Monitoring API under /api/v1: an elder's vitals history and thresholds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from eldercare.deps import SessionDep, TransactionDep
from services.monitoring.deps import Editor, Reader
from services.monitoring.vitals import service as vitals
from services.monitoring.vitals.models import Thresholds, ThresholdsUpdate, VitalsBucket

router = APIRouter(prefix="/api/v1", tags=["vitals"])


@router.get("/elders/{elder_id}/vitals", response_model=list[VitalsBucket])
async def vitals_history(
    elder_id: str,
    session: SessionDep,
    _: Reader,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket_seconds: Annotated[int, Query(ge=1, le=86400)] = 300,
) -> list[VitalsBucket]:
    """The elder's vitals between start and end (default: the last 24 h), downsampled per bucket."""
    if (start is not None and start.tzinfo is None) or (end is not None and end.tzinfo is None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "start and end need a UTC offset (e.g. Z)")
    start, end = vitals.default_window(end, start)
    if start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "start must be before end")
    return await vitals.history(session, elder_id=elder_id, start=start, end=end, bucket_seconds=bucket_seconds)


@router.get("/elders/{elder_id}/vitals/thresholds", response_model=Thresholds)
async def get_thresholds(elder_id: str, session: SessionDep, _: Reader) -> Thresholds:
    """The limits in force for the elder (their overrides on top of the defaults)."""
    return await vitals.thresholds_for(session, elder_id=elder_id)


@router.put("/elders/{elder_id}/vitals/thresholds", response_model=Thresholds)
async def put_thresholds(elder_id: str, body: ThresholdsUpdate, session: TransactionDep, _: Editor) -> Thresholds:
    """Replace the elder's overrides (null fields fall back to the defaults)."""
    limits = await vitals.set_thresholds(session, elder_id=elder_id, body=body)
    await session.commit()
    return limits
