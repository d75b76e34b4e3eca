"""Kafka handlers: device events (telemetry in batches, alarms one by one) and elder snapshots."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.db import claim_event, claim_events, timed_transaction
from eldercare.envelope import from_timestamp, kind_name, utcnow
from eldercare.kafka import PoisonRecord, decode_record
from eldercare.runtime import ServiceRuntime
from eldercare.v1 import events_pb2 as pb
from services.monitoring import metrics
from services.monitoring.alert import service as alerts
from services.monitoring.config import MonitoringSettings
from services.monitoring.device import service
from services.monitoring.elder import service as elders
from services.monitoring.geofence import service as geofences
from services.monitoring.rows import EventRows, load_rows, write_rows
from services.monitoring.vitals import service as vitals

log = logging.getLogger(__name__)

TELEMETRY_CONSUMER = "monitoring-telemetry"
ALARM_CONSUMER = "monitoring-alarms"
ELDER_CONSUMER = "monitoring-elders"
_DEVICE_BODIES = frozenset({"sos", "fall", "location_report", "vitals", "heartbeat", "alarm"})


def _decode_device_event(record: ConsumerRecord) -> pb.Envelope:
    envelope = decode_record(record)
    if envelope.WhichOneof("body") not in _DEVICE_BODIES or not envelope.device_id:
        raise PoisonRecord("unexpected_event", f"{kind_name(envelope.kind)} is not a device event")
    return envelope


async def apply_device_event(
    session: AsyncSession, *, envelope: pb.Envelope, settings: MonitoringSettings, rows: EventRows
) -> None:
    """Every rule a device event can trigger, in the caller's transaction, on rows `load_rows` read."""
    now = utcnow()
    elder = rows.elders.get(envelope.device_id)
    elder_id = elder.elder_id if elder is not None else None
    device = await service.touch(session, envelope=envelope, elder_id=elder_id, now=now, settings=settings, rows=rows)
    await service.apply_battery(session, device=device, envelope=envelope, now=now, settings=settings)
    service.note_activity(device, envelope=envelope, now=now, movement_m=settings.movement_m)
    body = envelope.WhichOneof("body")
    occurred = from_timestamp(envelope.occurred_at)
    if body == "alarm":
        await service.apply_device_alarm(session, device=device, envelope=envelope, now=now)
    elif body == "vitals":
        await vitals.record_vitals(
            session,
            envelope=envelope,
            elder_id=elder_id,
            at=occurred,
            now=now,
            sustained_readings=settings.vitals_sustained_readings,
            sustained_seconds=settings.vitals_sustained_seconds,
            rows=rows,
        )
    fix = service.fix_of(envelope)
    if fix is not None and elder is not None:
        await geofences.evaluate_fix(
            session,
            device_id=envelope.device_id,
            elder=elder,
            fix=fix,
            fix_at=occurred,
            now=now,
            source_event_id=envelope.event_id,
            zone=settings.zone,
            confirm_fixes=settings.geofence_confirm_fixes,
            dwell_seconds=settings.geofence_dwell_seconds,
            margin_m=settings.geofence_margin_m,
            rows=rows,
        )
    metrics.EVENTS_APPLIED.labels(body or "unknown").inc()


async def apply_device_batch(
    session: AsyncSession, *, envelopes: Sequence[pb.Envelope], consumer: str, settings: MonitoringSettings
) -> int:
    """Claim and apply a batch in the caller's transaction; returns how many events were new."""
    fresh = await claim_events(session, consumer=consumer, event_ids=[e.event_id for e in envelopes])
    # The same event twice in one batch (a producer retry) is applied once.
    todo = []
    for envelope in envelopes:
        if envelope.event_id in fresh:
            fresh.discard(envelope.event_id)
            todo.append(envelope)
    rows = await load_rows(session, envelopes=todo)
    for envelope in todo:
        await apply_device_event(session, envelope=envelope, settings=settings, rows=rows)
    await write_rows(session, rows=rows)
    return len(todo)


def device_batch_handler(
    runtime: ServiceRuntime, settings: MonitoringSettings, consumer: str
) -> Callable[[Sequence[ConsumerRecord]], Awaitable[None]]:
    """One transaction for a whole partition batch: one inbox insert, one read per table, one flush."""

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        envelopes = [_decode_device_event(record) for record in records]
        async with timed_transaction(runtime.sessions, "monitoring_device_batch") as session:
            await apply_device_batch(session, envelopes=envelopes, consumer=consumer, settings=settings)
        metrics.TELEMETRY_BATCH_RECORDS.observe(len(envelopes))
        alerts.count_committed(session)

    return handle


def device_record_handler(
    runtime: ServiceRuntime, settings: MonitoringSettings, consumer: str
) -> Callable[[ConsumerRecord], Awaitable[None]]:
    """One record, one transaction (alarms; and the fallback that isolates a poison record in a batch)."""

    async def handle(record: ConsumerRecord) -> None:
        envelope = _decode_device_event(record)
        async with timed_transaction(runtime.sessions, "monitoring_device_event") as session:
            if not await claim_event(session, consumer=consumer, event_id=envelope.event_id):
                return
            rows = await load_rows(session, envelopes=[envelope])
            await apply_device_event(session, envelope=envelope, settings=settings, rows=rows)
            await write_rows(session, rows=rows)
        alerts.count_committed(session)

    return handle


async def _forget_elder(session: AsyncSession, *, elder_id: str) -> None:
    """A removed (deactivated) elder leaves nothing personal here: profile, bindings, fences, vitals limits.

    Readings and alerts stay until their retention runs out (they are the devices' history).
    """
    await elders.remove_elder(session, elder_id=elder_id)
    await geofences.forget_elder(session, elder_id=elder_id)
    await vitals.forget_elder(session, elder_id=elder_id)


def elder_handler(runtime: ServiceRuntime) -> Callable[[ConsumerRecord], Awaitable[None]]:
    """Keep the elders read model in step with care-record's compacted snapshots."""

    async def handle(record: ConsumerRecord) -> None:
        if record.value is None:
            if record.key:  # a compaction tombstone
                async with timed_transaction(runtime.sessions, "monitoring_elder") as session:
                    await _forget_elder(session, elder_id=record.key.decode())
            return
        envelope = decode_record(record)
        if envelope.WhichOneof("body") != "elder" or not envelope.elder.elder_id:
            raise PoisonRecord("unexpected_event", f"{kind_name(envelope.kind)} on the elders topic")
        async with timed_transaction(runtime.sessions, "monitoring_elder") as session:
            if await claim_event(session, consumer=ELDER_CONSUMER, event_id=envelope.event_id):
                applied = await elders.apply_snapshot(session, snapshot=envelope.elder)
                if applied and envelope.elder.deleted:
                    await _forget_elder(session, elder_id=envelope.elder.elder_id)

    return handle
