"""Visit API and the visit compliance report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from eldercare.deps import Page, SessionDep, TransactionDep, paging
from services.care_record.deps import Admin, Reader, VisitPolicyDep
from services.care_record.elder.service import get_elder
from services.care_record.flows import committed
from services.care_record.visit import service
from services.care_record.visit.models import VisitComplianceReport, VisitCreate, VisitRead

router = APIRouter(prefix="/api/v1", tags=["visits"])


@router.post("/elders/{elder_id}/visits", response_model=VisitRead, status_code=status.HTTP_201_CREATED)
async def record_visit(elder_id: str, body: VisitCreate, session: TransactionDep, principal: Admin) -> VisitRead:
    """Record a visit (in person, phone or video) with its findings."""
    change = service.record_visit(session, elder_id=elder_id, data=body, actor=principal.name)
    return await committed(session, change, VisitRead.model_validate, entity="visit")


@router.get("/elders/{elder_id}/visits", response_model=list[VisitRead])
async def list_visits(
    elder_id: str,
    session: SessionDep,
    _: Reader,
    page: Annotated[Page, paging(default=100, most=500)],
) -> list[VisitRead]:
    """The elder's visits, newest first."""
    await get_elder(session, elder_id=elder_id)
    rows = await service.list_visits(session, elder_id=elder_id, limit=page.limit, offset=page.offset)
    return [VisitRead.model_validate(v) for v in rows]


@router.get("/reports/visits", response_model=VisitComplianceReport)
async def visit_report(
    policy: VisitPolicyDep,
    session: SessionDep,
    _: Reader,
    period: Annotated[str, Query(description="YYYY-MM (China Standard Time month)", pattern=r"^\d{4}-\d{2}$")],
    area: Annotated[str | None, Query(description="area path from the province down")] = None,
    group_by: Annotated[str, Query(description="province, city, district, street or community")] = "district",
) -> VisitComplianceReport:
    """Visit compliance per area for a month, and the elders who missed a required visit."""
    return await service.visit_compliance(session, policy=policy, period=period, area=area, group_by=group_by)
