"""Elder registry API: profiles, health archive, contacts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.deps import SessionDep, TransactionDep
from eldercare.envelope import utcnow
from eldercare.settings import ApiPrincipal, Role
from services.care_record.assessment import service as assessments
from services.care_record.deps import Admin, Reader, VisitPolicyDep
from services.care_record.device import service as devices
from services.care_record.elder import service
from services.care_record.elder.models import (
    AreaRead,
    AreaType,
    Category,
    ContactIn,
    ContactRead,
    Elder,
    ElderCreate,
    ElderRead,
    ElderSummary,
    ElderUpdate,
    HealthArchive,
    HomeLocation,
    RecordReadOut,
    age_on,
    decode_categories,
    mask_id_number,
)
from services.care_record.flows import commit
from services.care_record.visit.policy import VisitPolicy, is_overdue, required_frequency

router = APIRouter(prefix="/api/v1/elders", tags=["elders"])


def to_summary(elder: Elder, *, policy: VisitPolicy, reveal_id: bool = False) -> ElderSummary:
    """The list shape of an elder; the ID number masked unless `reveal_id`."""
    now = utcnow()
    frequency = required_frequency(elder, policy, now.date())
    return ElderSummary(
        id=elder.id,
        name=elder.name,
        sex=elder.sex,
        age=age_on(elder.birth_date, now.date()),
        id_number=elder.id_number if reveal_id else mask_id_number(elder.id_number),
        phone=elder.phone,
        area=AreaRead(
            province=elder.province,
            city=elder.city,
            district=elder.district,
            street=elder.street,
            community=elder.community,
            area_type=elder.area_type,
            path=elder.area_path,
        ),
        living_situation=elder.living_situation,
        categories=decode_categories(elder.categories),
        ability_level=elder.ability_level,
        visit_frequency=frequency.value if frequency else None,
        last_visit_at=elder.last_visit_at,
        visit_overdue=is_overdue(elder, policy, now),
    )


async def to_detail(session: AsyncSession, elder: Elder, *, policy: VisitPolicy, principal: ApiPrincipal) -> ElderRead:
    """The whole record of one elder."""
    contacts = await service.list_contacts(session, elder_id=elder.id)
    bindings = await devices.bindings_of_elder(session, elder_id=elder.id, active_only=True)
    current = await assessments.current_assessment(session, elder_id=elder.id)
    summary = to_summary(elder, policy=policy, reveal_id=principal.role is Role.ADMIN)
    return ElderRead(
        **summary.model_dump(),
        birth_date=elder.birth_date,
        address=elder.address,
        home_location=(
            HomeLocation(lat=elder.home_lat, lon=elder.home_lon)
            if elder.home_lat is not None and elder.home_lon is not None
            else None
        ),
        language=elder.language,
        notes=elder.notes,
        health=HealthArchive(
            conditions=elder.conditions,
            medications=elder.medications,
            allergies=elder.allergies,
            blood_type=elder.blood_type,
            primary_doctor=elder.primary_doctor,
            family_doctor_contract=elder.family_doctor_contract,
            hospital_preference=elder.hospital_preference,
        ),
        contacts=[ContactRead.model_validate(c) for c in contacts],
        device_ids=[b.device_id for b in bindings],
        current_assessment=assessments.to_read(current, current=True).model_dump(mode="json") if current else None,
        snapshot_version=elder.snapshot_version,
        created_at=elder.created_at,
        updated_at=elder.updated_at,
    )


@router.post("", response_model=ElderRead, status_code=status.HTTP_201_CREATED)
async def create_elder(
    body: ElderCreate, policy: VisitPolicyDep, session: TransactionDep, principal: Admin
) -> ElderRead:
    """Register an elder (422 on a bad ID number, 409 when it is registered already)."""
    elder = await service.create_elder(session, data=body)
    await commit(session, entity="elder")
    return await to_detail(session, elder, policy=policy, principal=principal)


@router.get("", response_model=list[ElderSummary])
async def list_elders(
    policy: VisitPolicyDep,
    response: Response,
    session: SessionDep,
    _: Reader,
    area: Annotated[str | None, Query(description="area path from the province down: 江苏省/南京市/鼓楼区")] = None,
    area_type: AreaType | None = None,
    category: Annotated[list[Category] | None, Query(description="repeat for several; all must match")] = None,
    ability_level: Annotated[int | None, Query(ge=0, le=4)] = None,
    min_ability_level: Annotated[int | None, Query(ge=0, le=4)] = None,
    overdue: Annotated[bool | None, Query(description="only elders whose required visit is overdue (or not)")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=64, description="part of the name or phone")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
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
        limit=limit,
        offset=offset,
    )
    response.headers["X-Total-Count"] = str(total)
    return [to_summary(row, policy=policy) for row in rows]


@router.get("/{elder_id}", response_model=ElderRead)
async def get_elder(elder_id: str, policy: VisitPolicyDep, session: TransactionDep, principal: Reader) -> ElderRead:
    """One elder's whole record (the ID number in full for admins only); every read is audited."""
    elder = await service.get_elder(session, elder_id=elder_id)
    detail = await to_detail(session, elder, policy=policy, principal=principal)
    service.record_read(session, elder_id=elder.id, actor=principal.name, role=principal.role.value)
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
    elder = await service.update_elder(session, elder_id=elder_id, data=body)
    await commit(session, entity="elder")
    return await to_detail(session, elder, policy=policy, principal=principal)


@router.put("/{elder_id}/health", response_model=ElderRead)
async def set_health(
    elder_id: str, body: HealthArchive, policy: VisitPolicyDep, session: TransactionDep, principal: Admin
) -> ElderRead:
    """Replace the health archive."""
    elder = await service.update_elder(session, elder_id=elder_id, data=ElderUpdate(health=body))
    await commit(session, entity="health")
    return await to_detail(session, elder, policy=policy, principal=principal)


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
