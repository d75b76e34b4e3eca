"""The care timeline: alarms and incidents observed on Kafka, merged with visits, assessments, reminders, bindings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import insert_ignore_conflict
from eldercare.envelope import from_timestamp, kind_name
from eldercare.v1 import events_pb2 as pb
from services.care_record.assessment.models import LEVEL_NAMES, Assessment
from services.care_record.device.models import DeviceBinding
from services.care_record.device.service import elder_wearing
from services.care_record.reminder.models import Reminder
from services.care_record.timeline.models import ObservedAlarm, ObservedIncidentEvent, TimelineItem
from services.care_record.visit.models import Visit


async def observe_alarm(session: AsyncSession, *, envelope: pb.Envelope) -> bool:
    """Keep an alarm for the timeline of the elder wearing the device when it arrived; False if seen before."""
    occurred_at = from_timestamp(envelope.occurred_at)
    # Attribute by the platform's receive time: device clocks drift, bindings are recorded in platform time.
    attributed_at = from_timestamp(envelope.received_at) if envelope.HasField("received_at") else occurred_at
    body = envelope.WhichOneof("body")
    detail: dict[str, Any] = {}
    if body == "alarm":
        detail["alarm_type"] = pb.DeviceAlarmType.Name(envelope.alarm.type).removeprefix("DEVICE_ALARM_TYPE_").lower()
    if envelope.HasField("location"):
        detail["location"] = {"lat": envelope.location.lat, "lon": envelope.location.lon}
    statement = (
        insert_ignore_conflict(session, ObservedAlarm)
        .values(
            event_id=envelope.event_id,
            device_id=envelope.device_id,
            elder_id=await elder_wearing(session, device_id=envelope.device_id, at=attributed_at),
            kind=kind_name(envelope.kind),
            occurred_at=occurred_at,
            detail=orjson.dumps(detail).decode(),
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    return bool((await session.execute(statement)).rowcount)  # type: ignore[attr-defined]


async def observe_incident_event(session: AsyncSession, *, envelope: pb.Envelope) -> bool:
    """Keep an incident lifecycle event; the elder is dispatch's, else whoever wore the device."""
    event = envelope.incident
    at = from_timestamp(envelope.occurred_at)
    elder_id = event.elder_id or await elder_wearing(session, device_id=event.device_id, at=at)
    statement = (
        insert_ignore_conflict(session, ObservedIncidentEvent)
        .values(
            event_id=envelope.event_id,
            incident_id=event.incident_id,
            elder_id=elder_id,
            device_id=event.device_id,
            action=event.action[:32],
            status=event.status[:16],
            priority=event.priority[:8],
            incident_kind=event.incident_kind[:32],
            actor=event.actor[:128],
            at=at,
            detail=event.detail_json or "{}",
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    return bool((await session.execute(statement)).rowcount)  # type: ignore[attr-defined]


def _json(raw: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


async def timeline(
    session: AsyncSession, *, elder_id: str, since: datetime | None = None, until: datetime | None = None
) -> list[TimelineItem]:
    """Everything that happened to the elder, oldest first."""
    items: list[TimelineItem] = []

    def within(at: datetime) -> bool:
        return (since is None or at >= since) and (until is None or at <= until)

    for alarm in await session.scalars(select(ObservedAlarm).where(col(ObservedAlarm.elder_id) == elder_id)):
        items.append(
            TimelineItem(
                at=alarm.occurred_at,
                source="alarm",
                action=alarm.kind,
                summary=f"{alarm.kind} from device {alarm.device_id}",
                detail={"device_id": alarm.device_id, "event_id": alarm.event_id, **_json(alarm.detail)},
            )
        )
    for event in await session.scalars(
        select(ObservedIncidentEvent).where(col(ObservedIncidentEvent.elder_id) == elder_id)
    ):
        items.append(
            TimelineItem(
                at=event.at,
                source="incident",
                action=event.action,
                summary=f"incident {event.incident_kind} {event.priority}: {event.action} by {event.actor}",
                detail={
                    "incident_id": event.incident_id,
                    "status": event.status,
                    "priority": event.priority,
                    "device_id": event.device_id,
                    **_json(event.detail),
                },
            )
        )
    for visit in await session.scalars(select(Visit).where(col(Visit.elder_id) == elder_id)):
        items.append(
            TimelineItem(
                at=visit.visited_at,
                source="visit",
                action=visit.method,
                summary=f"visit ({visit.method}) by {visit.visitor}",
                detail={"visitor": visit.visitor, "findings": visit.findings},
            )
        )
    for assessment in await session.scalars(select(Assessment).where(col(Assessment.elder_id) == elder_id)):
        items.append(
            TimelineItem(
                at=assessment.recorded_at,
                source="assessment",
                action="assessed",
                summary=f"ability level {assessment.level} ({LEVEL_NAMES[assessment.level]}) by {assessment.assessor}",
                detail={
                    "assessed_on": assessment.assessed_on.isoformat(),
                    "level": assessment.level,
                    "sub_scores": assessment.sub_scores,
                },
            )
        )
    for reminder in await session.scalars(select(Reminder).where(col(Reminder.elder_id) == elder_id)):
        if reminder.sent_at is not None:
            items.append(
                TimelineItem(
                    at=reminder.sent_at,
                    source="reminder",
                    action="sent",
                    summary=f"{reminder.kind} reminder sent to device {reminder.sent_to_device}",
                    detail={"reminder_id": reminder.id, "text": reminder.text, "command_id": reminder.command_id},
                )
            )
        elif reminder.status != "scheduled":
            items.append(
                TimelineItem(
                    at=reminder.due_at,
                    source="reminder",
                    action=reminder.status,
                    summary=f"{reminder.kind} reminder {reminder.status}",
                    detail={"reminder_id": reminder.id, "text": reminder.text},
                )
            )
    for binding in await session.scalars(select(DeviceBinding).where(col(DeviceBinding.elder_id) == elder_id)):
        items.append(
            TimelineItem(
                at=binding.bound_at,
                source="device",
                action="bound",
                summary=f"device {binding.device_id} bound",
                detail={"device_id": binding.device_id, "by": binding.bound_by},
            )
        )
        if binding.unbound_at is not None:
            items.append(
                TimelineItem(
                    at=binding.unbound_at,
                    source="device",
                    action="unbound",
                    summary=f"device {binding.device_id} unbound",
                    detail={"device_id": binding.device_id, "by": binding.unbound_by},
                )
            )
    return sorted((i for i in items if within(i.at)), key=lambda i: i.at)
