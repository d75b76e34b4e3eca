"""What the console reads beyond the plain API: queue rows with the elder's name, the device panel."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.dispatch.command.models import DeviceCommandRecord
from services.dispatch.console.models import DeviceView, QueueRow
from services.dispatch.elder import service as elders
from services.dispatch.elder.models import ElderSnapshotRow
from services.dispatch.incident import service as incidents
from services.dispatch.incident.models import Incident, IncidentStatus


async def _names(session: AsyncSession, *, elder_ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(elder_ids))
    if not wanted:
        return {}
    rows = await session.scalars(
        select(ElderSnapshotRow).where(
            col(ElderSnapshotRow.elder_id).in_(wanted), col(ElderSnapshotRow.deleted).is_(False)
        )
    )
    return {row.elder_id: elders.decode_snapshot(row.snapshot).name for row in rows}


def _row(incident: Incident, names: dict[str, str]) -> QueueRow:
    return QueueRow(
        id=incident.id,
        status=incident.status,
        priority=incidents.priority_label(incident.priority),
        kind=incident.kind,
        device_id=incident.device_id,
        elder_id=incident.elder_id,
        elder_name=names.get(incident.elder_id) if incident.elder_id else None,
        area=incident.area,
        occurred_at=incident.occurred_at,
        opened_at=incident.opened_at,
        last_alarm_at=incident.last_alarm_at,
        alarm_count=incident.alarm_count,
        acknowledged_by=incident.acknowledged_by,
    )


async def queue_rows(session: AsyncSession, *, statuses: Iterable[IncidentStatus], limit: int) -> list[QueueRow]:
    """The queue as the console lists it, most urgent first (the console re-sorts as events arrive)."""
    rows, _ = await incidents.list_incidents(session, statuses=statuses, limit=limit, offset=0)
    names = await _names(session, elder_ids=[r.elder_id for r in rows if r.elder_id])
    return [_row(row, names) for row in rows]


async def queue_row(session: AsyncSession, *, incident_id: str) -> QueueRow:
    """One row, for an incident the console heard of on the stream (IncidentNotFound when unknown)."""
    incident = await incidents.get_incident(session, incident_id=incident_id)
    names = await _names(session, elder_ids=[incident.elder_id] if incident.elder_id else [])
    return _row(incident, names)


async def device_view(session: AsyncSession, *, incident_id: str) -> DeviceView:
    """Battery and last contact of the incident's device, as far as dispatch has heard from it.

    Dispatch sees the device's alarms and its command acks, not its heartbeats (those are
    monitoring's), so "last contact" is the latest of those two.
    """
    incident = await incidents.get_incident(session, incident_id=incident_id)
    acked = await session.scalar(
        select(func.max(col(DeviceCommandRecord.acked_at))).where(
            col(DeviceCommandRecord.device_id) == incident.device_id
        )
    )
    last, how = incident.last_alarm_at, "alarm"
    if acked is not None and acked > last:
        last, how = acked, "command_ack"
    sim = None
    if incident.elder_id is not None:
        snapshot = await elders.snapshot_of_elder(session, elder_id=incident.elder_id)
        for binding in snapshot.bindings if snapshot is not None else ():
            if binding.device_id == incident.device_id and binding.sim_number:
                sim = binding.sim_number
    return DeviceView(
        device_id=incident.device_id, battery=incident.battery, last_contact_at=last, last_contact=how, sim_number=sim
    )
