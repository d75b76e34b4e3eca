"""Incident rules, shared by the HTTP views and the Kafka handlers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import fetch, queue_event
from eldercare.envelope import from_timestamp, kind_name, platform_event, utcnow
from eldercare.topics import INCIDENTS
from eldercare.v1 import alerts_pb2
from eldercare.v1 import events_pb2 as pb
from services.dispatch import metrics
from services.dispatch.elder import service as elders
from services.dispatch.errors import IllegalTransition, IncidentNotFound
from services.dispatch.incident import priority as scoring
from services.dispatch.incident.models import (
    ACTIVE_STATUSES,
    Incident,
    IncidentEntry,
    IncidentStatus,
    Outcome,
)

SYSTEM_ACTOR = "system"


# Which states each action may start from, and where it leads.
TRANSITIONS: dict[str, tuple[frozenset[IncidentStatus], IncidentStatus]] = {
    "acknowledge": (frozenset({IncidentStatus.OPEN}), IncidentStatus.ACKNOWLEDGED),
    "dispatch": (frozenset({IncidentStatus.ACKNOWLEDGED}), IncidentStatus.DISPATCHED),
    "on_scene": (frozenset({IncidentStatus.DISPATCHED}), IncidentStatus.ON_SCENE),
    "resolve": (
        frozenset({IncidentStatus.ACKNOWLEDGED, IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE}),
        IncidentStatus.RESOLVED,
    ),
    "cancel": (frozenset(ACTIVE_STATUSES), IncidentStatus.CANCELLED),
}


def priority_label(priority: int) -> str:
    return f"P{priority}"


def incident_kind_for_alarm(envelope: pb.Envelope) -> str | None:
    """The incident kind an alarm opens, or None when the alarm opens no incident."""
    body = envelope.WhichOneof("body")
    if body in ("sos", "fall"):
        return body
    if body == "alarm" and envelope.alarm.type == pb.DEVICE_ALARM_TYPE_DEVICE_REMOVED:
        return "device_removed"
    return None


async def _append_entry(
    session: AsyncSession,
    incident: Incident,
    *,
    action: str,
    actor: str,
    at: datetime,
    from_status: str | None,
    detail: dict[str, Any] | None = None,
) -> IncidentEntry:
    """Write a timeline entry and queue its lifecycle event on the outbox, in the caller's transaction."""
    detail_json = orjson.dumps(detail or {}).decode()
    entry = IncidentEntry(
        incident_id=incident.id,
        at=at,
        action=action,
        actor=actor,
        from_status=from_status,
        to_status=incident.status,
        detail=detail_json,
    )
    session.add(entry)
    event = platform_event(
        producer="dispatch",
        occurred_at=at,
        device_id=incident.device_id,
        incident=pb.IncidentEvent(
            incident_id=incident.id,
            action=action,
            status=incident.status,
            previous_status=from_status or "",
            priority=priority_label(incident.priority),
            incident_kind=incident.kind,
            actor=actor,
            device_id=incident.device_id,
            elder_id=incident.elder_id or "",
            detail_json=detail_json,
        ),
    )
    queue_event(session, topic=INCIDENTS, key=incident.id, envelope=event)
    return entry


async def append_entry(
    session: AsyncSession, incident: Incident, *, action: str, actor: str, detail: dict[str, Any] | None = None
) -> IncidentEntry:
    """Audit an action that leaves the incident's state as it is (assignments, escalations, commands)."""
    now = utcnow()
    incident.updated_at = now
    return await _append_entry(
        session, incident, action=action, actor=actor, at=now, from_status=incident.status, detail=detail
    )


def _alarm_detail(envelope: pb.Envelope) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "event_id": envelope.event_id,
        "device_event_id": envelope.device_event_id,
        "kind": kind_name(envelope.kind),
        "occurred_at": from_timestamp(envelope.occurred_at).isoformat(),
    }
    if envelope.HasField("battery"):
        detail["battery"] = envelope.battery
    if envelope.HasField("location"):
        detail["location"] = {"lat": envelope.location.lat, "lon": envelope.location.lon}
    if envelope.WhichOneof("body") == "fall":
        if envelope.fall.HasField("confidence"):
            detail["confidence"] = envelope.fall.confidence
        if envelope.fall.HasField("impact_g"):
            detail["impact_g"] = envelope.fall.impact_g
    if envelope.WhichOneof("body") == "alarm":
        detail["alarm_type"] = pb.DeviceAlarmType.Name(envelope.alarm.type).removeprefix("DEVICE_ALARM_TYPE_").lower()
    if envelope.repeats:
        # The gateway coalesced this many further presses into this event (a stuck button, a flood).
        detail["repeats"] = envelope.repeats
    return detail


def _apply_location(incident: Incident, envelope: pb.Envelope) -> None:
    if envelope.HasField("location"):
        location = envelope.location
        incident.lat, incident.lon = location.lat, location.lon
        incident.accuracy_m = location.accuracy_m if location.HasField("accuracy_m") else None
        source = pb.LocationSource.Name(location.source).removeprefix("LOCATION_SOURCE_").lower()
        incident.location_source = None if source == "unspecified" else source
    if envelope.HasField("battery"):
        incident.battery = envelope.battery


# Built once, not per alarm: on the SOS path, building this select cost more Python than running it.
_RECENT_ACTIVE_INCIDENT = (
    select(Incident)
    .where(
        col(Incident.device_id) == bindparam("device_id"),
        col(Incident.status).in_([s.value for s in ACTIVE_STATUSES]),
        col(Incident.last_alarm_at) >= bindparam("since"),
    )
    .order_by(col(Incident.opened_at).desc())
    .limit(1)
    .with_for_update()
)


async def record_alarm(
    session: AsyncSession, *, envelope: pb.Envelope, attach_window: timedelta
) -> tuple[Incident, bool] | None:
    """Open an incident for an alarm, or attach it to the device's active one; None if it opens none.

    Returns (incident, opened). Idempotency is the caller's inbox row, in the same transaction.
    """
    kind = incident_kind_for_alarm(envelope)
    if kind is None:
        return None
    now = utcnow()
    detail = _alarm_detail(envelope)
    elder = await elders.elder_for_device(session, device_id=envelope.device_id)
    decision = scoring.score(kind, elders.facts_of(elder) if elder else None, today=now.date())
    detail["priority_reasons"] = decision.reasons
    recent = await session.scalar(
        _RECENT_ACTIVE_INCIDENT, {"device_id": envelope.device_id, "since": now - attach_window}
    )
    if recent is not None:
        _apply_location(recent, envelope)
    return await _open_or_attach(
        session,
        recent=recent,
        new=lambda: _located(
            Incident(
                id=str(uuid.uuid4()),
                status=IncidentStatus.OPEN.value,
                priority=decision.priority,
                priority_reasons=orjson.dumps(decision.reasons).decode(),
                kind=kind,
                device_id=envelope.device_id,
                elder_id=elder.elder_id if elder else None,
                area=(elder.area.street[:64] or None) if elder else None,
                source_event_id=envelope.event_id,
                occurred_at=from_timestamp(envelope.occurred_at),
                opened_at=now,
                updated_at=now,
                last_alarm_at=now,
                alarm_count=1 + envelope.repeats,
            ),
            envelope,
        ),
        presses=1 + envelope.repeats,
        priority=decision.priority,
        reasons=decision.reasons,
        actor=SYSTEM_ACTOR,
        attached_as="alarm_attached",
        detail=detail,
        now=now,
    )


def _located(incident: Incident, envelope: pb.Envelope) -> Incident:
    _apply_location(incident, envelope)
    return incident


async def _open_or_attach(
    session: AsyncSession,
    *,
    recent: Incident | None,
    new: Callable[[], Incident],
    presses: int,
    priority: int,
    reasons: list[str] | None,
    actor: str,
    attached_as: str,
    detail: dict[str, Any],
    now: datetime,
) -> tuple[Incident, bool]:
    """Attach to the device's recent active incident (its count, last alarm and a more urgent
    priority follow), or open `new()`; either way one timeline entry. Returns (incident, opened)."""
    if recent is not None:
        recent.alarm_count += presses
        recent.last_alarm_at = recent.updated_at = now
        if priority < recent.priority:
            recent.priority = priority
            if reasons is not None:
                recent.priority_reasons = orjson.dumps(reasons).decode()
        await _append_entry(
            session, recent, action=attached_as, actor=actor, at=now, from_status=recent.status, detail=detail
        )
        return recent, False
    incident = new()
    session.add(incident)
    await _append_entry(session, incident, action="opened", actor=actor, at=now, from_status=None, detail=detail)
    return incident, True


async def list_incidents(
    session: AsyncSession,
    *,
    statuses: Iterable[IncidentStatus],
    limit: int,
    offset: int,
    areas: Iterable[str] = (),
    priorities: Iterable[int] = (),
    dispatcher: str | None = None,
) -> tuple[list[Incident], int]:
    """The work queue: most urgent first, then oldest; with the total count for paging."""
    wanted = [s.value for s in statuses]
    conditions: list[Any] = [col(Incident.status).in_(wanted)]
    if areas:
        conditions.append(col(Incident.area).in_(list(areas)))
    if priorities:
        conditions.append(col(Incident.priority).in_(list(priorities)))
    if dispatcher is not None:
        conditions.append(col(Incident.acknowledged_by) == dispatcher)
    total = await session.scalar(select(func.count()).select_from(Incident).where(*conditions))
    rows = await session.scalars(
        select(Incident)
        .where(*conditions)
        .order_by(Incident.priority, Incident.opened_at, Incident.id)  # type: ignore[arg-type]
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


async def get_incident(session: AsyncSession, *, incident_id: str, for_update: bool = False) -> Incident:
    """One incident; IncidentNotFound when the id is unknown."""
    return await fetch(session, Incident, incident_id, missing=IncidentNotFound, for_update=for_update)


async def active_incident_of_device(session: AsyncSession, *, device_id: str) -> Incident | None:
    """The device's newest incident still being worked; None when it has none."""
    return await session.scalar(
        select(Incident)
        .where(
            col(Incident.device_id) == device_id,
            col(Incident.status).in_([s.value for s in ACTIVE_STATUSES]),
        )
        .order_by(col(Incident.opened_at).desc())
        .limit(1)
    )


# Detail keys of timeline entries that carry an elder's personal data: who called (numbers, a
# contact's name and relation) and free text a dispatcher or the platform wrote about the case.
PERSONAL_DETAIL_KEYS = frozenset({"caller", "callee", "caller_label", "text", "note"})


def personal_detail(detail: dict[str, Any]) -> bool:
    """True when an entry's detail carries personal data (a read of it is audited, ops do not see it)."""
    return any(detail.get(key) for key in PERSONAL_DETAIL_KEYS)


def without_personal_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail as ops see it: the personal fields say only that they were withheld."""
    return {key: ("(withheld)" if key in PERSONAL_DETAIL_KEYS and value else value) for key, value in detail.items()}


async def get_timeline(session: AsyncSession, *, incident_id: str) -> list[IncidentEntry]:
    """The incident's entries in the order they happened."""
    rows = await session.scalars(
        select(IncidentEntry).where(IncidentEntry.incident_id == incident_id).order_by(IncidentEntry.id)  # type: ignore[arg-type]
    )
    return list(rows)


async def transition(
    session: AsyncSession,
    *,
    incident_id: str,
    action: str,
    actor: str,
    detail: dict[str, Any] | None = None,
    outcome: Outcome | None = None,
) -> Incident:
    """Move an incident through its lifecycle; IllegalTransition when its state does not allow it."""
    allowed_from, target = TRANSITIONS[action]
    incident = await get_incident(session, incident_id=incident_id, for_update=True)
    current = IncidentStatus(incident.status)
    if current not in allowed_from:
        raise IllegalTransition(action, current.value, [s.value for s in allowed_from])
    now = utcnow()
    incident.status = target.value
    incident.updated_at = now
    if target is IncidentStatus.ACKNOWLEDGED:
        incident.acknowledged_at, incident.acknowledged_by = now, actor
    if target in (IncidentStatus.RESOLVED, IncidentStatus.CANCELLED):
        incident.closed_at, incident.closed_by = now, actor
        incident.outcome = (outcome or Outcome.OTHER).value if target is IncidentStatus.RESOLVED else None
    entry_detail = dict(detail or {})
    if outcome is not None:
        entry_detail["outcome"] = outcome.value
    await _append_entry(
        session, incident, action=action, actor=actor, at=now, from_status=current.value, detail=entry_detail
    )
    metrics.observe_transition(incident, target.value, now)
    return incident


async def add_note(session: AsyncSession, *, incident_id: str, actor: str, text: str) -> Incident:
    """Append a dispatcher's note to the timeline (allowed in every state, closed ones included)."""
    incident = await get_incident(session, incident_id=incident_id, for_update=True)
    now = utcnow()
    incident.updated_at = now
    await _append_entry(
        session, incident, action="note", actor=actor, at=now, from_status=incident.status, detail={"text": text}
    )
    return incident


# ---- monitoring alerts and device cancels (monitoring issue) -------------------------------

FALL_CANCEL_REASON = "device cancel: false alarm"


def _alert_priority(alert: alerts_pb2.Alert) -> int | None:
    label = alert.suggested_priority
    if len(label) == 2 and label[0] == "P" and label[1] in "1234":
        return int(label[1])
    return None


async def record_alert(
    session: AsyncSession, *, envelope: pb.Envelope, attach_window: timedelta
) -> tuple[Incident, bool] | None:
    """Open an incident for a monitoring alert with its suggested priority, or attach it to the
    device's active incident of the same kind; None for informational alerts. Returns (incident, opened).
    """
    alert = envelope.alert
    priority = _alert_priority(alert)
    if priority is None:
        return None
    now = utcnow()
    kind = alert.type[:32]
    detail: dict[str, Any] = {
        "alert_id": alert.alert_id,
        "alert_type": alert.type,
        "severity": alerts_pb2.AlertSeverity.Name(alert.severity).removeprefix("ALERT_SEVERITY_").lower(),
        "raised_at": from_timestamp(alert.raised_at).isoformat(),
        "monitoring": orjson.loads(alert.detail_json or "{}"),
    }
    if alert.geofence_id:
        detail["geofence_id"] = alert.geofence_id
    recent = await session.scalar(
        select(Incident)
        .where(
            col(Incident.device_id) == alert.device_id,
            col(Incident.kind) == kind,
            col(Incident.status).in_([s.value for s in ACTIVE_STATUSES]),
            col(Incident.last_alarm_at) >= now - attach_window,
        )
        .order_by(col(Incident.opened_at).desc())
        .limit(1)
        .with_for_update()
    )

    def located(incident: Incident) -> Incident:
        if alert.HasField("location"):
            incident.lat, incident.lon = alert.location.lat, alert.location.lon
            incident.accuracy_m = alert.location.accuracy_m if alert.location.HasField("accuracy_m") else None
            incident.location_source = alert.location.source or None
        return incident

    return await _open_or_attach(
        session,
        recent=located(recent) if recent is not None else None,
        new=lambda: located(
            Incident(
                id=str(uuid.uuid4()),
                status=IncidentStatus.OPEN.value,
                priority=priority,
                kind=kind,
                device_id=alert.device_id,
                elder_id=alert.elder_id or None,
                source_event_id=envelope.event_id,
                occurred_at=from_timestamp(alert.raised_at),
                opened_at=now,
                updated_at=now,
                last_alarm_at=now,
                alarm_count=1,
            )
        ),
        presses=1,
        priority=priority,
        reasons=None,
        actor="monitoring",
        attached_as="alert_attached",
        detail=detail,
        now=now,
    )


async def note_alert_recovery(session: AsyncSession, *, envelope: pb.Envelope) -> Incident | None:
    """Put a recovery (device back online, back inside the fence) on the timeline of the incident its alert opened."""
    alert = envelope.alert
    if not alert.resolves_alert_id:
        return None
    incident = await session.scalar(
        select(Incident).where(col(Incident.source_event_id) == alert.resolves_alert_id).with_for_update()
    )
    if incident is None or IncidentStatus(incident.status) not in ACTIVE_STATUSES:
        return None
    now = utcnow()
    incident.updated_at = now
    await _append_entry(
        session,
        incident,
        action="alert_recovered",
        actor="monitoring",
        at=now,
        from_status=incident.status,
        detail={"alert_id": alert.alert_id, "alert_type": alert.type, "resolves_alert_id": alert.resolves_alert_id},
    )
    return incident


async def cancel_fall_from_device(
    session: AsyncSession, *, envelope: pb.Envelope, fall_event_id: str, window: timedelta
) -> tuple[Incident | None, str]:
    """Apply a device's "I'm OK" to the incident its fall opened; returns (incident, outcome).

    Within `window` of the fall (device clock) and while nobody has been sent, the incident
    is cancelled with FALL_CANCEL_REASON (kept, never deleted); otherwise the cancel is
    noted on the timeline and the incident stays for a dispatcher to close.
    """
    incident = await session.scalar(
        select(Incident).where(col(Incident.source_event_id) == fall_event_id).with_for_update()
    )
    if incident is None:
        return None, "no_incident"
    cancelled_at = from_timestamp(envelope.occurred_at)
    since_fall = (cancelled_at - incident.occurred_at).total_seconds()
    detail: dict[str, Any] = {
        "cancel_event_id": envelope.event_id,
        "device_event_id": envelope.device_event_id,
        "fall_event_id": fall_event_id,
        "seconds_after_fall": round(since_fall, 1),
    }
    status_now = IncidentStatus(incident.status)
    if status_now not in ACTIVE_STATUSES:
        outcome = "already_closed"
    elif incident.kind != "fall" or incident.alarm_count > 1:
        outcome = "other_alarms_attached"
    elif not 0 <= since_fall <= window.total_seconds():
        outcome = "too_late"
    elif status_now not in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED):
        outcome = "responder_sent"
    else:
        await transition(
            session,
            incident_id=incident.id,
            action="cancel",
            actor="device",
            detail={"reason": FALL_CANCEL_REASON, **detail},
        )
        return incident, "cancelled"
    now = utcnow()
    incident.updated_at = now
    await _append_entry(
        session,
        incident,
        action="device_cancel_ignored",
        actor="device",
        at=now,
        from_status=incident.status,
        detail={"why": outcome, **detail},
    )
    return incident, outcome
