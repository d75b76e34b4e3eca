"""The care timeline: alarms and incidents observed on Kafka, merged with visits, assessments, reminders, bindings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


def _alarm(alarm: ObservedAlarm) -> Iterator[TimelineItem]:
    summary = f"{alarm.kind} from device {alarm.device_id}"
    detail = {"device_id": alarm.device_id, "event_id": alarm.event_id, **_json(alarm.detail)}
    yield TimelineItem(at=alarm.occurred_at, source="alarm", action=alarm.kind, summary=summary, detail=detail)


def _incident_event(event: ObservedIncidentEvent) -> Iterator[TimelineItem]:
    summary = f"incident {event.incident_kind} {event.priority}: {event.action} by {event.actor}"
    detail = {
        "incident_id": event.incident_id,
        "status": event.status,
        "priority": event.priority,
        "device_id": event.device_id,
        **_json(event.detail),
    }
    yield TimelineItem(at=event.at, source="incident", action=event.action, summary=summary, detail=detail)


def _visit(visit: Visit) -> Iterator[TimelineItem]:
    summary = f"visit ({visit.method}) by {visit.visitor}"
    detail = {"visitor": visit.visitor, "findings": visit.findings}
    yield TimelineItem(at=visit.visited_at, source="visit", action=visit.method, summary=summary, detail=detail)


def _assessment(assessment: Assessment) -> Iterator[TimelineItem]:
    summary = f"ability level {assessment.level} ({LEVEL_NAMES[assessment.level]}) by {assessment.assessor}"
    detail = {
        "assessed_on": assessment.assessed_on.isoformat(),
        "level": assessment.level,
        "sub_scores": assessment.sub_scores,
    }
    yield TimelineItem(
        at=assessment.recorded_at, source="assessment", action="assessed", summary=summary, detail=detail
    )


def _reminder(reminder: Reminder) -> Iterator[TimelineItem]:
    # A scheduled reminder has not happened yet; one that ended unsent shows how it ended.
    base = {"reminder_id": reminder.id, "text": reminder.text}
    if reminder.sent_at is not None:
        summary = f"{reminder.kind} reminder sent to device {reminder.sent_to_device}"
        detail = {**base, "command_id": reminder.command_id}
        yield TimelineItem(at=reminder.sent_at, source="reminder", action="sent", summary=summary, detail=detail)
    elif reminder.status != "scheduled":
        summary = f"{reminder.kind} reminder {reminder.status}"
        yield TimelineItem(at=reminder.due_at, source="reminder", action=reminder.status, summary=summary, detail=base)


def _binding(binding: DeviceBinding) -> Iterator[TimelineItem]:
    ends = [("bound", binding.bound_at, binding.bound_by), ("unbound", binding.unbound_at, binding.unbound_by)]
    for action, at, by in ends:
        if at is not None:
            summary = f"device {binding.device_id} {action}"
            detail = {"device_id": binding.device_id, "by": by}
            yield TimelineItem(at=at, source="device", action=action, summary=summary, detail=detail)


# Each kept row of the elder's, and the timeline items it stands for.
_SOURCES: tuple[tuple[type[Any], Callable[[Any], Iterator[TimelineItem]]], ...] = (
    (ObservedAlarm, _alarm),
    (ObservedIncidentEvent, _incident_event),
    (Visit, _visit),
    (Assessment, _assessment),
    (Reminder, _reminder),
    (DeviceBinding, _binding),
)


async def timeline(
    session: AsyncSession, *, elder_id: str, since: datetime | None = None, until: datetime | None = None
) -> list[TimelineItem]:
    """Everything that happened to the elder, oldest first."""
    items: list[TimelineItem] = []
    for model, items_of in _SOURCES:
        for row in await session.scalars(select(model).where(col(model.elder_id) == elder_id)):
            items.extend(
                item
                for item in items_of(row)
                if (since is None or item.at >= since) and (until is None or item.at <= until)
            )
    return sorted(items, key=lambda i: i.at)
