"""Elder registry API: profiles, health archive, contacts."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.deps import Page, SessionDep, TransactionDep, paging
from eldercare.settings import ApiPrincipal
from services.care_record import flows
from services.care_record.deps import Admin, Reader, VisitPolicyDep
from services.care_record.elder import service
from services.care_record.elder.models import (
    AreaType,
    Category,
    ContactIn,
    ContactRead,
    Deactivation,
    Elder,
    ElderCreate,
    ElderRead,
    ElderSummary,
    ElderUpdate,
    HealthArchive,
    RecordReadOut,
)
from services.care_record.elder.visit_policy import VisitPolicy
from services.care_record.flows import commit

router = APIRouter(prefix="/api/v1/elders", tags=["elders"])


async def _saved(
    session: AsyncSession, change: Awaitable[Elder], *, entity: str, policy: VisitPolicy, principal: ApiPrincipal
) -> ElderRead:
    """Make the change to the elder, commit it (with the snapshot the other services copy), and answer
    with the record as the caller may see it."""
    elder = await change
    await commit(session, entity=entity)
    return await flows.elder_detail(session, elder, policy=policy, principal=principal)


@router.post("", response_model=ElderRead, status_code=status.HTTP_201_CREATED)
async def create_elder(
    body: ElderCreate, policy: VisitPolicyDep, session: TransactionDep, principal: Admin
) -> ElderRead:
    """Register an elder (422 on a bad ID number, 409 when it is registered already)."""
    change = service.create_elder(session, data=body)
    return await _saved(session, change, entity="elder", policy=policy, principal=principal)


@router.get("", response_model=list[ElderSummary])
async def list_elders(
    policy: VisitPolicyDep,
    response: Response,
    session: SessionDep,
    _: Reader,
    page: Annotated[Page, paging(default=50, most=500)],
    area: Annotated[str | None, Query(description="area path from the province down: 江苏省/南京市/鼓楼区")] = None,
    area_type: AreaType | None = None,
    category: Annotated[list[Category] | None, Query(description="repeat for several; all must match")] = None,
    ability_level: Annotated[int | None, Query(ge=0, le=4)] = None,
    min_ability_level: Annotated[int | None, Query(ge=0, le=4)] = None,
    overdue: Annotated[bool | None, Query(description="only elders whose required visit is overdue (or not)")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=64, description="part of the name or phone")] = None,
) -> list[ElderSummary]:
    """Elders by name, filtered; ID numbers masked. X-Total-Count gives the total."""
    rows, total = await service.list_elders(
        session,
        policy=policy,
        area=area,
        area_type=area_type.value if area_type else None,
        categories=category or (),
        ability_level=ability_level,
        min_ability_level=min_ability_level,
        overdue=overdue,
        search=q,
        limit=page.limit,
        offset=page.offset,
    )
    response.headers["X-Total-Count"] = str(total)
    return [flows.elder_summary(row, policy=policy) for row in rows]


@router.get("/{elder_id}", response_model=ElderRead)
async def get_elder(
    elder_id: str,
    policy: VisitPolicyDep,
    session: TransactionDep,
    principal: Reader,
    incident_id: Annotated[
        str | None, Query(pattern=r"^[0-9a-fA-F-]{1,36}$", description="the incident the record is read for")
    ] = None,
) -> ElderRead:
    """One elder's whole record (the ID number in full for admins only); every read is audited,
    with the incident it was for when the caller names one."""
    elder = await service.get_elder(session, elder_id=elder_id)
    detail = await flows.elder_detail(session, elder, policy=policy, principal=principal)
    service.record_read(
        session, elder_id=elder.id, actor=principal.name, role=principal.role.value, incident_id=incident_id
    )
    await session.commit()
    return detail


@router.get("/{elder_id}/reads", response_model=list[RecordReadOut])
async def list_record_reads(elder_id: str, session: SessionDep, _: Admin) -> list[RecordReadOut]:
    """Who opened this elder's whole record, newest first (admins)."""
    await service.get_elder(session, elder_id=elder_id)
    return [RecordReadOut.model_validate(r) for r in await service.list_record_reads(session, elder_id=elder_id)]


@router.patch("/{elder_id}", response_model=ElderRead)
async def update_elder(
    elder_id: str, body: ElderUpdate, policy: VisitPolicyDep, session: TransactionDep, principal: Admin
) -> ElderRead:
    """Change profile fields or the health archive."""
    change = service.update_elder(session, elder_id=elder_id, data=body)
    return await _saved(session, change, entity="elder", policy=policy, principal=principal)


@router.put("/{elder_id}/health", response_model=ElderRead)
async def set_health(
    elder_id: str, body: HealthArchive, policy: VisitPolicyDep, session: TransactionDep, principal: Admin
) -> ElderRead:
    """Replace the health archive."""
    change = service.update_elder(session, elder_id=elder_id, data=ElderUpdate(health=body))
    return await _saved(session, change, entity="health", policy=policy, principal=principal)


@router.post("/{elder_id}/deactivate", response_model=ElderRead)
async def deactivate_elder(
    elder_id: str, body: Deactivation, policy: VisitPolicyDep, session: TransactionDep, principal: Admin
) -> ElderRead:
    """The elder moved away or died: devices unbound, a tombstone to dispatch and monitoring (their
    copies drop the elder), out of visit compliance; the record stays here. 409 when done already."""
    change = flows.deactivate_elder(session, elder_id=elder_id, reason=body.reason.value, actor=principal.name)
    return await _saved(session, change, entity="elder", policy=policy, principal=principal)


@router.get("/{elder_id}/contacts", response_model=list[ContactRead])
async def list_contacts(elder_id: str, session: SessionDep, _: Reader) -> list[ContactRead]:
    """Emergency contacts in calling order."""
    await service.get_elder(session, elder_id=elder_id)
    return [ContactRead.model_validate(c) for c in await service.list_contacts(session, elder_id=elder_id)]


@router.put("/{elder_id}/contacts", response_model=list[ContactRead])
async def set_contacts(elder_id: str, body: list[ContactIn], session: TransactionDep, _: Admin) -> list[ContactRead]:
    """Replace the emergency contacts with this ordered list (first is called first)."""
    if len(body) > 20:
        raise HTTPException(422, "at most 20 contacts")
    rows = await service.set_contacts(session, elder_id=elder_id, contacts=body)
    await commit(session, entity="contacts")
    return [ContactRead.model_validate(c) for c in rows]
