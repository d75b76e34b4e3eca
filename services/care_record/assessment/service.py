"""Recording ability assessments; the latest one becomes the elder's current level."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.envelope import utcnow
from eldercare.http import from_row
from services.care_record import snapshot
from services.care_record.assessment.models import LEVEL_NAMES, Assessment, AssessmentCreate, AssessmentRead
from services.care_record.elder.service import get_elder

_SUB_SCORES = ("self_care", "basic_motor", "mental_state", "perception_social")


async def record_assessment(session: AsyncSession, *, elder_id: str, data: AssessmentCreate, actor: str) -> Assessment:
    """Add an assessment to the history and refresh the elder's current level."""
    elder = await get_elder(session, elder_id=elder_id, for_update=True)
    assessment = Assessment(
        elder_id=elder_id,
        assessed_on=data.assessed_on,
        assessor=data.assessor,
        level=data.level,
        sub_scores=data.sub_scores.model_dump(exclude_none=True) if data.sub_scores else {},
        notes=data.notes,
        recorded_at=utcnow(),
        recorded_by=actor,
    )
    session.add(assessment)
    await session.flush()
    current = await current_assessment(session, elder_id=elder_id)
    elder.ability_level = current.level if current else None
    elder.updated_at = utcnow()
    snapshot.mark_changed(session, elder_id)
    return assessment


async def list_assessments(session: AsyncSession, *, elder_id: str) -> list[Assessment]:
    """The elder's assessments, newest first (the first one is current)."""
    rows = await session.scalars(
        select(Assessment)
        .where(col(Assessment.elder_id) == elder_id)
        .order_by(col(Assessment.assessed_on).desc(), col(Assessment.id).desc())
    )
    return list(rows)


async def current_assessment(session: AsyncSession, *, elder_id: str) -> Assessment | None:
    """The latest assessment by date (then by when it was recorded)."""
    return await session.scalar(
        select(Assessment)
        .where(col(Assessment.elder_id) == elder_id)
        .order_by(col(Assessment.assessed_on).desc(), col(Assessment.id).desc())
        .limit(1)
    )


def to_read(assessment: Assessment, *, current: bool) -> AssessmentRead:
    """The API shape of an assessment."""
    scores = assessment.sub_scores or {}
    total = sum(scores[k] for k in _SUB_SCORES) if all(k in scores for k in _SUB_SCORES) else None
    return from_row(
        AssessmentRead,
        assessment,
        id=assessment.id or 0,
        level_name=LEVEL_NAMES[assessment.level],
        sub_scores=scores,
        total_score=total,
        current=current,
    )
