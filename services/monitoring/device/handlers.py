"""Kafka handlers: device events (telemetry in batches, alarms one by one) and elder snapshots."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.db import timed_transaction
from eldercare.envelope import from_timestamp, utcnow
from eldercare.handlers import (
    ELDER_SNAPSHOT,
    Batch,
    BatchHandlers,
    claim_fresh,
    envelope_batch_handlers,
    envelope_handler,
    require,
)
from eldercare.kafka import RecordHandler
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


_DEVICE_EVENT = require(_DEVICE_BODIES, reason="unexpected_event", has=lambda envelope: envelope.device_id)


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


async def apply_device_events(
    session: AsyncSession, *, envelopes: Sequence[pb.Envelope], settings: MonitoringSettings
) -> None:
    """Apply claimed events in the caller's transaction: one read per table, one flush."""
    rows = await load_rows(session, envelopes=envelopes)
    for envelope in envelopes:
        await apply_device_event(session, envelope=envelope, settings=settings, rows=rows)
    await write_rows(session, rows=rows)


async def apply_device_batch(
    session: AsyncSession, *, envelopes: Sequence[pb.Envelope], consumer: str, settings: MonitoringSettings
) -> int:
    """Claim and apply a batch in the caller's transaction; returns how many events were new."""
    todo = await claim_fresh(session, inbox=consumer, envelopes=envelopes)
    await apply_device_events(session, envelopes=todo, settings=settings)
    return len(todo)


def device_handlers(runtime: ServiceRuntime, settings: MonitoringSettings, consumer: str) -> BatchHandlers:
    """A whole partition batch in one transaction (one inbox insert, one read per table, one flush); one
    record in one for alarms, and as the fallback that isolates a poison record in a batch."""

    async def apply(session: AsyncSession, envelopes: list[pb.Envelope]) -> None:
        await apply_device_events(session, envelopes=envelopes, settings=settings)

    def committed(session: AsyncSession, batch: Batch[None]) -> None:
        if len(batch.accepted) > 1:  # a batch, not one record (ConsumerLoop batches only fetches of several)
            metrics.TELEMETRY_BATCH_RECORDS.observe(len(batch.accepted))
        # Counted only now: a rolled-back batch is retried.
        alerts.count_committed(session)

    return envelope_batch_handlers(
        runtime.sessions,
        transaction="monitoring_device_events",
        inbox=consumer,
        accept=_DEVICE_EVENT,
        apply=apply,
        committed=committed,
    )


async def _forget_elder(session: AsyncSession, *, elder_id: str) -> None:
    """A removed (deactivated) elder leaves nothing personal here: profile, bindings, fences, vitals limits.

    Readings and alerts stay until their retention runs out (they are the devices' history).
    """
    await elders.remove_elder(session, elder_id=elder_id)
    await geofences.forget_elder(session, elder_id=elder_id)
    await vitals.forget_elder(session, elder_id=elder_id)


async def _apply_snapshot(session: AsyncSession, envelope: pb.Envelope) -> None:
    applied = await elders.apply_snapshot(session, snapshot=envelope.elder)
    if applied and envelope.elder.deleted:
        await _forget_elder(session, elder_id=envelope.elder.elder_id)


def elder_handler(runtime: ServiceRuntime) -> RecordHandler:
    """Keep the elders read model in step with care-record's compacted snapshots."""
    applied = envelope_handler(
        runtime.sessions,
        transaction="monitoring_elder",
        inbox=ELDER_CONSUMER,
        accept=ELDER_SNAPSHOT,
        apply=lambda session, envelope, _: _apply_snapshot(session, envelope),
    )

    async def handle(record: ConsumerRecord) -> None:
        if record.value is None:
            if record.key:  # a compaction tombstone
                async with timed_transaction(runtime.sessions, "monitoring_elder") as session:
                    await _forget_elder(session, elder_id=record.key.decode())
            return
        await applied(record)

    return handle
