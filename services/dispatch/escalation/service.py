"""Escalation of incidents nobody acknowledged in time.

Timers are rows, not asyncio tasks: every replica's ticker claims due rows with
SELECT … FOR UPDATE SKIP LOCKED and, in the same transaction, writes the
escalation entry and moves `due_at` on. A row is therefore escalated by exactly
one replica, and a restart loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import insert_ignore_conflict
from services.dispatch import metrics
from services.dispatch.escalation.models import EscalationTimer
from services.dispatch.incident import service as incidents
from services.dispatch.incident.models import Incident, IncidentStatus

ESCALATION_ACTOR = "system:escalation"
DeadlineOf = Callable[[int], float]


async def arm_timers(session: AsyncSession, *, deadline_of: DeadlineOf, limit: int = 500) -> int:
    """Give every open incident without a timer one, due its deadline after it opened."""
    rows = (
        await session.execute(
            select(col(Incident.id), col(Incident.priority), col(Incident.opened_at))
            .outerjoin(EscalationTimer, col(EscalationTimer.incident_id) == col(Incident.id))
            .where(col(Incident.status) == IncidentStatus.OPEN.value, col(EscalationTimer.incident_id).is_(None))
            .limit(limit)
        )
    ).all()
    if not rows:
        return 0
    statement = (
        insert_ignore_conflict(session, EscalationTimer)
        .values(
            [
                {
                    "incident_id": incident_id,
                    "due_at": opened_at + timedelta(seconds=deadline_of(priority)),
                    "level": 0,
                }
                for incident_id, priority, opened_at in rows
            ]
        )
        .on_conflict_do_nothing(index_elements=["incident_id"])
    )
    await session.execute(statement)
    return len(rows)


async def escalate_due(
    session: AsyncSession, *, now: datetime, deadline_of: DeadlineOf, limit: int = 50
) -> list[tuple[Incident, int]]:
    """Escalate open incidents whose timer is due; returns (incident, level) for each one escalated."""
    claimed = (
        await session.execute(
            select(EscalationTimer, Incident)
            .join(Incident, col(Incident.id) == col(EscalationTimer.incident_id))
            .where(col(EscalationTimer.due_at) <= now, col(Incident.status) == IncidentStatus.OPEN.value)
            .order_by(col(EscalationTimer.due_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    escalated: list[tuple[Incident, int]] = []
    for timer, incident in claimed:
        before = incident.priority
        incident.priority = max(1, before - 1)
        timer.level += 1
        timer.last_escalated_at = now
        deadline = deadline_of(incident.priority)
        timer.due_at = now + timedelta(seconds=deadline)
        await incidents.append_entry(
            session,
            incident,
            action="escalated",
            actor=ESCALATION_ACTOR,
            detail={
                "level": timer.level,
                "from_priority": incidents.priority_label(before),
                "to_priority": incidents.priority_label(incident.priority),
                "waited_seconds": round((now - incident.opened_at).total_seconds(), 1),
                "notify": "supervisors",
                "next_escalation_at": timer.due_at.isoformat(),
            },
        )
        metrics.ESCALATIONS.labels(incidents.priority_label(incident.priority)).inc()
        escalated.append((incident, timer.level))
    return escalated


async def disarm_closed(session: AsyncSession) -> None:
    """Drop timers of incidents that are no longer open (acknowledged, closed)."""
    still_open = select(col(Incident.id)).where(col(Incident.status) == IncidentStatus.OPEN.value)
    await session.execute(delete(EscalationTimer).where(col(EscalationTimer.incident_id).not_in(still_open)))


async def get_timer(session: AsyncSession, *, incident_id: str) -> EscalationTimer | None:
    """The incident's timer, if it has one."""
    return await session.get(EscalationTimer, incident_id)
