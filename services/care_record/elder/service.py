"""Elder registry rules, shared by the HTTP views, the seed command and the Kafka handlers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import fetch
from eldercare.envelope import utcnow
from services.care_record import snapshot
from services.care_record.elder.models import (
    AreaIn,
    Category,
    Contact,
    ContactIn,
    Elder,
    ElderCreate,
    ElderUpdate,
    HealthArchive,
    RecordRead,
    encode_categories,
)
from services.care_record.elder.visit_policy import VisitPolicy, is_overdue
from services.care_record.errors import Conflict, ElderNotFound


def _apply_area(elder: Elder, area: AreaIn) -> None:
    elder.province, elder.city, elder.district = area.province, area.city, area.district
    elder.street, elder.community, elder.area_type = area.street, area.community, area.area_type.value
    elder.area_path = area.path()


def _apply_health(elder: Elder, health: HealthArchive) -> None:
    elder.conditions, elder.medications, elder.allergies = health.conditions, health.medications, health.allergies
    elder.blood_type, elder.primary_doctor = health.blood_type, health.primary_doctor
    elder.family_doctor_contract, elder.hospital_preference = health.family_doctor_contract, health.hospital_preference


def new_elder(data: ElderCreate, *, elder_id: str, now: datetime) -> Elder:
    """The row an elder's registration writes (also what bench/seed_city.py copies in bulk)."""
    elder = Elder(
        id=elder_id,
        name=data.name,
        sex=data.sex.value,
        birth_date=data.birth_date,
        id_number=data.id_number,
        phone=data.phone,
        address=data.address,
        home_lat=data.home_location.lat if data.home_location else None,
        home_lon=data.home_location.lon if data.home_location else None,
        province="",
        city="",
        district="",
        street="",
        area_type="",
        area_path="",
        living_situation=data.living_situation.value,
        categories=encode_categories([c.value for c in data.categories]),
        language=data.language,
        notes=data.notes,
        created_at=now,
        updated_at=now,
    )
    _apply_area(elder, data.area)
    _apply_health(elder, data.health)
    return elder


def contact_rows(elder_id: str, contacts: Sequence[ContactIn]) -> list[Contact]:
    """The elder's contacts as rows, `position` their calling order."""
    return [Contact(elder_id=elder_id, position=i, **c.model_dump()) for i, c in enumerate(contacts)]


async def create_elder(session: AsyncSession, *, data: ElderCreate, elder_id: str | None = None) -> Elder:
    """Register an elder; Conflict when the ID number is registered already."""
    existing = await session.scalar(select(col(Elder.id)).where(col(Elder.id_number) == data.id_number))
    if existing is not None:
        raise Conflict(f"an elder with this ID number is registered already ({existing})")
    elder = new_elder(data, elder_id=elder_id or str(uuid.uuid4()), now=utcnow())
    session.add(elder)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("an elder with this ID number is registered already") from None
    snapshot.mark_changed(session, elder.id)
    return elder


async def get_elder(session: AsyncSession, *, elder_id: str, for_update: bool = False) -> Elder:
    """One elder; NotFound when the id is unknown."""
    return await fetch(session, Elder, elder_id, missing=ElderNotFound, for_update=for_update)


async def update_elder(session: AsyncSession, *, elder_id: str, data: ElderUpdate) -> Elder:
    """Change the given fields of an elder's profile or health archive."""
    elder = await get_elder(session, elder_id=elder_id, for_update=True)
    given = data.model_fields_set
    for name in ("name", "phone", "address", "language", "notes"):
        if name in given and (name == "phone" or getattr(data, name) is not None):
            setattr(elder, name, getattr(data, name))
    if data.sex is not None:
        elder.sex = data.sex.value
    if "home_location" in given:
        elder.home_lat = data.home_location.lat if data.home_location else None
        elder.home_lon = data.home_location.lon if data.home_location else None
    if data.area is not None:
        _apply_area(elder, data.area)
    if data.living_situation is not None:
        elder.living_situation = data.living_situation.value
    if data.categories is not None:
        elder.categories = encode_categories([c.value for c in data.categories])
    if data.health is not None:
        _apply_health(elder, data.health)
    elder.updated_at = utcnow()
    snapshot.mark_changed(session, elder.id)
    return elder


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def area_condition(area: str) -> ColumnElement[bool]:
    """Elders in the area `a/b/c` (a path of area names from the province down) or below it."""
    path = "/".join(part.strip() for part in area.strip("/").split("/"))
    return or_(col(Elder.area_path) == path, col(Elder.area_path).like(_like_escape(path) + "/%", escape="\\"))


async def list_elders(
    session: AsyncSession,
    *,
    policy: VisitPolicy,
    area: str | None = None,
    area_type: str | None = None,
    categories: Sequence[Category] = (),
    ability_level: int | None = None,
    min_ability_level: int | None = None,
    overdue: bool | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Elder], int]:
    """Elders matching every filter, by name; with the total for paging."""
    conditions: list[ColumnElement[bool]] = []
    if area:
        conditions.append(area_condition(area))
    if area_type:
        conditions.append(col(Elder.area_type) == area_type)
    for category in categories:
        conditions.append(col(Elder.categories).like(f"%,{category.value},%"))
    if ability_level is not None:
        conditions.append(col(Elder.ability_level) == ability_level)
    if min_ability_level is not None:
        conditions.append(col(Elder.ability_level) >= min_ability_level)
    if search:
        pattern = f"%{_like_escape(search.strip())}%"
        conditions.append(or_(col(Elder.name).like(pattern, escape="\\"), col(Elder.phone).like(pattern, escape="\\")))
    where = and_(True, *conditions)
    ordered = select(Elder).where(where).order_by(col(Elder.name), col(Elder.id))
    if overdue is None:
        total = await session.scalar(select(func.count()).select_from(Elder).where(where))
        rows = await session.scalars(ordered.limit(limit).offset(offset))
        return list(rows), int(total or 0)
    # Whether visits are due depends on age and the configured policy, so it is decided here.
    now = utcnow()
    matching = [e for e in await session.scalars(ordered) if is_overdue(e, policy, now) is overdue]
    return matching[offset : offset + limit], len(matching)


async def set_contacts(session: AsyncSession, *, elder_id: str, contacts: Sequence[ContactIn]) -> list[Contact]:
    """Replace the elder's emergency contacts with this ordered list."""
    elder = await get_elder(session, elder_id=elder_id, for_update=True)
    await session.execute(delete(Contact).where(col(Contact.elder_id) == elder_id))
    rows = contact_rows(elder_id, contacts)
    session.add_all(rows)
    elder.updated_at = utcnow()
    snapshot.mark_changed(session, elder_id)
    await session.flush()
    return rows


async def list_contacts(session: AsyncSession, *, elder_id: str) -> list[Contact]:
    """The elder's contacts in calling order."""
    rows = await session.scalars(
        select(Contact).where(col(Contact.elder_id) == elder_id).order_by(col(Contact.position))
    )
    return list(rows)


async def touch_last_visit(session: AsyncSession, *, elder: Elder, visited_at: datetime) -> None:
    """Keep the denormalised last-visit time (the newest visit wins, whatever order they are recorded in)."""
    if elder.last_visit_at is None or visited_at > elder.last_visit_at:
        elder.last_visit_at = visited_at


def record_read(session: AsyncSession, *, elder_id: str, actor: str, role: str, incident_id: str | None = None) -> None:
    """Audit that `actor` opened the elder's whole record, for `incident_id` if given (committed by the caller)."""
    session.add(RecordRead(elder_id=elder_id, actor=actor, role=role, at=utcnow(), incident_id=incident_id))


async def list_record_reads(session: AsyncSession, *, elder_id: str, limit: int = 200) -> list[RecordRead]:
    """Who opened the record, newest first."""
    rows = await session.scalars(
        select(RecordRead).where(col(RecordRead.elder_id) == elder_id).order_by(col(RecordRead.id).desc()).limit(limit)
    )
    return list(rows)
