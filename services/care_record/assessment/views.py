"""Ability assessment API."""

from __future__ import annotations

from fastapi import APIRouter, status

from eldercare.deps import SessionDep, TransactionDep
from services.care_record.assessment import service
from services.care_record.assessment.models import AssessmentCreate, AssessmentRead
from services.care_record.deps import Admin, Reader
from services.care_record.elder.service import get_elder
from services.care_record.flows import commit

router = APIRouter(prefix="/api/v1/elders/{elder_id}/assessments", tags=["assessments"])


@router.post("", response_model=AssessmentRead, status_code=status.HTTP_201_CREATED)
async def record_assessment(
    elder_id: str, body: AssessmentCreate, session: TransactionDep, principal: Admin
) -> AssessmentRead:
    """Record an assessment; the latest by date becomes the elder's current ability level."""
    assessment = await service.record_assessment(session, elder_id=elder_id, data=body, actor=principal.name)
    current = await service.current_assessment(session, elder_id=elder_id)
    await commit(session, entity="assessment")
    return service.to_read(assessment, current=current is not None and current.id == assessment.id)


@router.get("", response_model=list[AssessmentRead])
async def list_assessments(elder_id: str, session: SessionDep, _: Reader) -> list[AssessmentRead]:
    """Assessment history, newest first; the first is current."""
    await get_elder(session, elder_id=elder_id)
    rows = await service.list_assessments(session, elder_id=elder_id)
    return [service.to_read(row, current=i == 0) for i, row in enumerate(rows)]
