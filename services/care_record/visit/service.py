"""Recording visits and judging visit compliance per area."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.envelope import utcnow
from services.care_record.elder.models import AREA_LEVELS, Elder
from services.care_record.elder.service import area_condition, get_elder, touch_last_visit
from services.care_record.elder.visit_policy import VisitPolicy, missed_slots, parse_period, required_frequency
from services.care_record.errors import Invalid
from services.care_record.visit.models import (
    AreaCompliance,
    OverdueElder,
    Visit,
    VisitComplianceReport,
    VisitCreate,
)


async def record_visit(session: AsyncSession, *, elder_id: str, data: VisitCreate, actor: str) -> Visit:
    """Add a visit to the elder's history."""
    now = utcnow()
    if data.visited_at.tzinfo is None:
        raise Invalid("visited_at needs a UTC offset")
    if data.visited_at > now:
        raise Invalid("visited_at is in the future")
    elder = await get_elder(session, elder_id=elder_id, for_update=True)
    visit = Visit(
        elder_id=elder_id,
        visited_at=data.visited_at,
        visitor=data.visitor,
        method=data.method.value,
        findings=data.findings,
        recorded_at=now,
        recorded_by=actor,
    )
    session.add(visit)
    await touch_last_visit(session, elder=elder, visited_at=data.visited_at)
    await session.flush()
    return visit


async def list_visits(session: AsyncSession, *, elder_id: str, limit: int = 100, offset: int = 0) -> list[Visit]:
    """The elder's visits, newest first."""
    rows = await session.scalars(
        select(Visit)
        .where(col(Visit.elder_id) == elder_id)
        .order_by(col(Visit.visited_at).desc(), col(Visit.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows)


def _group_key(elder: Elder, group_by: str) -> str:
    depth = AREA_LEVELS.index(group_by) + 1
    return "/".join(getattr(elder, level) for level in AREA_LEVELS[:depth] if getattr(elder, level))


async def visit_compliance(
    session: AsyncSession,
    *,
    policy: VisitPolicy,
    period: str,
    area: str | None = None,
    group_by: str = "district",
    now: datetime | None = None,
) -> VisitComplianceReport:
    """Per area: how many elders the policy requires visits for, and how many got every visit due in the period.

    An elder is compliant when each of the period's slots that has ended holds a visit
    (any method); slots still running are not yet due.
    """
    if group_by not in AREA_LEVELS:
        raise Invalid(f"group_by must be one of {', '.join(AREA_LEVELS)}")
    try:
        window = parse_period(period)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    now = now or utcnow()
    evaluated_until = min(now, window.end)
    statement = select(Elder).order_by(col(Elder.area_path), col(Elder.name), col(Elder.id))
    if area:
        statement = statement.where(area_condition(area))
    elders = list(await session.scalars(statement))
    # Policy is judged on the age at the period's end (or today, for the running period).
    judged_on = (evaluated_until if evaluated_until < window.end else window.end).date()
    required = [(e, f) for e in elders if (f := required_frequency(e, policy, judged_on)) is not None]
    visits: dict[str, list[datetime]] = defaultdict(list)
    if required:
        ids = [e.id for e, _ in required]
        for chunk_start in range(0, len(ids), 1000):
            rows = await session.execute(
                select(col(Visit.elder_id), col(Visit.visited_at)).where(
                    col(Visit.elder_id).in_(ids[chunk_start : chunk_start + 1000]),
                    col(Visit.visited_at) >= window.start,
                    col(Visit.visited_at) < window.end,
                )
            )
            for elder_id, visited_at in rows:
                visits[elder_id].append(visited_at)
    per_area: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    overdue: list[OverdueElder] = []
    for elder, frequency in required:
        missed = missed_slots(frequency, window, visits[elder.id], evaluated_until)
        counts = per_area[_group_key(elder, group_by)]
        counts[0] += 1
        if missed:
            overdue.append(
                OverdueElder(
                    elder_id=elder.id,
                    name=elder.name,
                    area=elder.area_path,
                    frequency=frequency.value,
                    last_visit_at=elder.last_visit_at,
                    missed_slots=[slot.label() for slot in missed],
                )
            )
        else:
            counts[1] += 1
    total_required = sum(c[0] for c in per_area.values())
    total_compliant = sum(c[1] for c in per_area.values())
    return VisitComplianceReport(
        area=area,
        period=window.label,
        period_start=window.start,
        period_end=window.end,
        evaluated_until=evaluated_until,
        group_by=group_by,
        required=total_required,
        compliant=total_compliant,
        rate=_rate(total_compliant, total_required),
        areas=[
            AreaCompliance(area=name, required=c[0], compliant=c[1], rate=_rate(c[1], c[0]))
            for name, c in sorted(per_area.items())
        ],
        overdue=overdue,
    )


def _rate(compliant: int, required: int) -> float | None:
    return round(compliant / required, 4) if required else None
