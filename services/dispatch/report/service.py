"""The SLA report, computed from incidents and their timeline."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.dispatch.errors import BadPeriod
from services.dispatch.incident.models import Incident, IncidentEntry, IncidentStatus, Outcome
from services.dispatch.incident.service import priority_label
from services.dispatch.report.models import SlaFigures, SlaReport, Spread

ANSWER_TARGET = timedelta(seconds=60)
_PERIOD = re.compile(r"^(\d{1,4})([hd])$")


def parse_period(period: str) -> timedelta:
    """`24h`, `7d`, `30d` … → a duration."""
    match = _PERIOD.fullmatch(period)
    if not match or int(match.group(1)) == 0:
        raise BadPeriod(f"period must look like 24h or 7d, got {period[:20]!r}")
    amount = int(match.group(1))
    return timedelta(hours=amount) if match.group(2) == "h" else timedelta(days=amount)


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return round(ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower), 3)


def spread(values: list[float]) -> Spread:
    return Spread(count=len(values), median=percentile(values, 0.5), p90=percentile(values, 0.9))


@dataclass
class _Row:
    incident: Incident
    on_scene_at: datetime | None


def _cancelled_unanswered(incident: Incident) -> bool:
    # Cancelled before anyone answered (e.g. the elder cancelled a fall): nobody could have answered it.
    return incident.status == IncidentStatus.CANCELLED.value and incident.acknowledged_at is None


def figures(rows: list[_Row]) -> SlaFigures:
    """The SLA figures of a group of incidents."""
    answerable = [
        r
        for r in rows
        if not (r.incident.status == IncidentStatus.CANCELLED.value and r.incident.acknowledged_at is None)
    ]
    acks = [
        (r.incident.acknowledged_at - r.incident.opened_at).total_seconds()
        for r in rows
        if r.incident.acknowledged_at is not None
    ]
    within = sum(
        1
        for r in answerable
        if r.incident.acknowledged_at is not None and r.incident.acknowledged_at - r.incident.opened_at <= ANSWER_TARGET
    )
    on_scene = [(r.on_scene_at - r.incident.opened_at).total_seconds() for r in rows if r.on_scene_at is not None]
    resolved = [r for r in rows if r.incident.status == IncidentStatus.RESOLVED.value]
    false_alarms = sum(1 for r in resolved if r.incident.outcome == Outcome.FALSE_ALARM.value)
    return SlaFigures(
        incidents=len(rows),
        answerable=len(answerable),
        answered_within_60s=within,
        answered_within_60s_rate=round(within / len(answerable), 4) if answerable else None,
        time_to_ack_seconds=spread(acks),
        time_to_on_scene_seconds=spread(on_scene),
        resolved=len(resolved),
        false_alarms=false_alarms,
        false_alarm_rate=round(false_alarms / len(resolved), 4) if resolved else None,
    )


async def sla_report(session: AsyncSession, *, start: datetime, end: datetime) -> SlaReport:
    """SLA figures for incidents opened in [start, end), overall, by area and by priority."""
    incidents = list(
        await session.scalars(select(Incident).where(col(Incident.opened_at) >= start, col(Incident.opened_at) < end))
    )
    ids = [i.id for i in incidents]
    first_on_scene: dict[str, datetime] = {}
    for chunk in (ids[i : i + 1000] for i in range(0, len(ids), 1000)):
        result = await session.execute(
            select(col(IncidentEntry.incident_id), func.min(col(IncidentEntry.at)))
            .where(
                col(IncidentEntry.incident_id).in_(chunk),
                col(IncidentEntry.to_status) == IncidentStatus.ON_SCENE.value,
                col(IncidentEntry.from_status) != IncidentStatus.ON_SCENE.value,
            )
            .group_by(col(IncidentEntry.incident_id))
        )
        for incident_id, at in result.all():
            # SQLite's MIN() hands back text; the column type does not apply to aggregates there.
            first_on_scene[incident_id] = at if isinstance(at, datetime) else datetime.fromisoformat(at)
    rows = [_Row(i, first_on_scene.get(i.id)) for i in incidents]
    by_area: dict[str, list[_Row]] = defaultdict(list)
    by_priority: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_area[row.incident.area or "unknown"].append(row)
        by_priority[priority_label(row.incident.priority)].append(row)
    return SlaReport(
        period_start=start,
        period_end=end,
        overall=figures(rows),
        by_area={area: figures(group) for area, group in sorted(by_area.items())},
        by_priority={priority: figures(group) for priority, group in sorted(by_priority.items())},
    )
