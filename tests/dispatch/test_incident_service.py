"""Incident rules applied in-process against real PostgreSQL, and the SQLite fallback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eldercare import db
from eldercare.envelope import device_event_id, to_timestamp, utcnow
from eldercare.v1 import events_pb2 as pb
from services.dispatch.incident import service
from services.dispatch.incident.models import IncidentStatus, Outcome

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
WINDOW = timedelta(minutes=10)


def alarm(device: str, event: str, body: str = "sos", alarm_type: int = 0) -> pb.Envelope:
    envelope = pb.Envelope(
        event_id=device_event_id(device, event),
        device_id=device,
        device_event_id=event,
        kind=pb.EVENT_KIND_ALARM if body == "alarm" else pb.EventKind.Value(f"EVENT_KIND_{body.upper()}"),
        occurred_at=to_timestamp(utcnow()),
        received_at=to_timestamp(utcnow()),
        producer="test",
    )
    if body == "alarm":
        envelope.alarm.type = alarm_type  # type: ignore[assignment]
    else:
        getattr(envelope, body).SetInParent()
    return envelope


async def apply(sessions: async_sessionmaker[AsyncSession], envelope: pb.Envelope) -> tuple[object, bool] | None:
    async with sessions() as session, session.begin():
        if not await db.claim_event(session, consumer="test", event_id=envelope.event_id):
            return None
        return await service.record_alarm(session, envelope=envelope, attach_window=WINDOW)


async def test_inbox_makes_a_redelivered_alarm_a_no_op(sessions: async_sessionmaker[AsyncSession]) -> None:
    first = await apply(sessions, alarm("d1", "e1"))
    assert first is not None and first[1] is True
    assert await apply(sessions, alarm("d1", "e1")) is None
    async with sessions() as session:
        rows, total = await service.list_incidents(session, statuses=set(IncidentStatus), limit=10, offset=0)
        assert total == 1 and rows[0].alarm_count == 1
        outbox = await session.scalar(select(func.count()).select_from(db.OutboxMessage))
        assert outbox == 1  # one 'opened' lifecycle event waits for the relay


async def test_batch_inbox_claims_each_event_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        assert await db.claim_event(session, consumer="batch", event_id="seen-before")
    async with sessions() as session, session.begin():
        fresh = await db.claim_events(session, consumer="batch", event_ids=["a", "seen-before", "b", "a", "c"])
    assert fresh == {"a", "b", "c"}  # the repeat inside the batch and the earlier one are not fresh
    async with sessions() as session, session.begin():
        assert await db.claim_events(session, consumer="batch", event_ids=["a", "b", "d"]) == {"d"}
        assert await db.claim_events(session, consumer="other", event_ids=["a"]) == {"a"}
        assert await db.claim_events(session, consumer="batch", event_ids=[]) == set()


async def test_attach_window_and_closed_incidents(sessions: async_sessionmaker[AsyncSession]) -> None:
    opened = await apply(sessions, alarm("d2", "e1"))
    attached = await apply(sessions, alarm("d2", "e2", body="fall"))
    assert opened is not None and attached is not None
    assert attached[1] is False and attached[0].id == opened[0].id  # type: ignore[attr-defined]
    async with sessions() as session, session.begin():
        incident_id = opened[0].id  # type: ignore[attr-defined]
        await service.transition(session, incident_id=incident_id, action="acknowledge", actor="a")
        await service.transition(session, incident_id=incident_id, action="resolve", actor="a", outcome=Outcome.HANDLED)
    reopened = await apply(sessions, alarm("d2", "e3"))
    assert reopened is not None and reopened[1] is True  # a closed incident never swallows a new alarm


async def test_only_sos_fall_and_device_removed_open_incidents(sessions: async_sessionmaker[AsyncSession]) -> None:
    assert await apply(sessions, alarm("d3", "low", body="alarm", alarm_type=pb.DEVICE_ALARM_TYPE_LOW_BATTERY)) is None
    removed = await apply(sessions, alarm("d3", "rm", body="alarm", alarm_type=pb.DEVICE_ALARM_TYPE_DEVICE_REMOVED))
    assert removed is not None and removed[0].priority == 3  # type: ignore[attr-defined]


async def test_illegal_transitions_are_refused_and_leave_no_trace(sessions: async_sessionmaker[AsyncSession]) -> None:
    opened = await apply(sessions, alarm("d4", "e1"))
    assert opened is not None
    incident_id = opened[0].id  # type: ignore[attr-defined]
    with pytest.raises(service.IllegalTransition, match="cannot resolve an incident that is open"):
        async with sessions() as session, session.begin():
            await service.transition(session, incident_id=incident_id, action="resolve", actor="a")
    with pytest.raises(service.IncidentNotFound):
        async with sessions() as session, session.begin():
            await service.transition(session, incident_id="missing", action="acknowledge", actor="a")
    async with sessions() as session:
        assert [e.action for e in await service.get_timeline(session, incident_id=incident_id)] == ["opened"]


async def test_an_alarm_standing_for_coalesced_repeats_counts_every_press(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    device = f"rep-{utcnow().timestamp()}"
    first = await apply(sessions, alarm(device, "e1"))
    assert first is not None and first[1] is True
    summary = alarm(device, "e900")
    summary.repeats = 898  # the gateway counted 899 presses into this one event
    attached = await apply(sessions, summary)
    assert attached is not None and attached[1] is False
    async with sessions() as session:
        [incident] = [
            i
            for i in (await service.list_incidents(session, statuses=set(IncidentStatus), limit=100, offset=0))[0]
            if i.device_id == device
        ]
        assert incident.alarm_count == 900
        entries = await service.get_timeline(session, incident_id=incident.id)
        [entry] = [e for e in entries if e.action == "alarm_attached"]
        assert '"repeats":898' in entry.detail


def alert(device: str, alert_id: str, *, priority: str, lat: float) -> pb.Envelope:
    from eldercare.v1 import alerts_pb2

    return pb.Envelope(
        event_id=f"alert-{alert_id}",
        device_id=device,
        kind=pb.EVENT_KIND_ALERT,
        occurred_at=to_timestamp(utcnow()),
        producer="monitoring",
        alert=alerts_pb2.Alert(
            alert_id=alert_id,
            type="geofence_exit",
            severity=alerts_pb2.ALERT_SEVERITY_HIGH,
            suggested_priority=priority,
            device_id=device,
            location=alerts_pb2.AlertLocation(lat=lat, lon=118.78, source="gps"),
            raised_at=to_timestamp(utcnow()),
        ),
    )


async def test_a_repeated_alert_attaches_raises_the_priority_and_moves_the_location(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        first = await service.record_alert(
            session, envelope=alert("d-alert", "a1", priority="P3", lat=32.0), attach_window=WINDOW
        )
    async with sessions() as session, session.begin():
        second = await service.record_alert(
            session, envelope=alert("d-alert", "a2", priority="P2", lat=32.1), attach_window=WINDOW
        )
    assert first is not None and first[1] is True
    assert second is not None and second[1] is False
    async with sessions() as session:
        incident = await service.get_incident(session, incident_id=first[0].id)  # type: ignore[attr-defined]
        assert (incident.priority, incident.alarm_count, incident.lat) == (2, 2, 32.1)
        actions = [entry.action for entry in await service.get_timeline(session, incident_id=incident.id)]
    assert actions == ["opened", "alert_attached"]


async def test_an_event_id_reused_after_the_dedup_window_raises_a_new_incident(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first = await apply(sessions, alarm("d-reuse", "e1"))
    assert first is not None
    async with sessions() as session, session.begin():
        incident = await service.get_incident(session, incident_id=first[0].id, for_update=True)  # type: ignore[attr-defined]
        incident.status = IncidentStatus.RESOLVED.value
    # Within the window the same id is the same press (a resend): nothing new.
    assert await apply(sessions, alarm("d-reuse", "e1")) is None
    async with sessions() as session, session.begin():
        assert await db.prune_inbox(session, before=utcnow() - timedelta(days=7)) == 0
        # Eight days on, the window has passed for that row.
        await session.execute(
            update(db.ProcessedEvent)
            .where(db.ProcessedEvent.event_id == device_event_id("d-reuse", "e1"))  # type: ignore[arg-type]
            .values(processed_at=utcnow() - timedelta(days=8))
        )
    async with sessions() as session, session.begin():
        assert await db.prune_inbox(session, before=utcnow() - timedelta(days=7)) == 1
    again = await apply(sessions, alarm("d-reuse", "e1"))
    assert again is not None and again[1] is True and again[0].id != first[0].id  # type: ignore[attr-defined]
