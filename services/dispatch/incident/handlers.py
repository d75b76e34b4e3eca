"""Kafka handlers of the incident domain."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from aiokafka import ConsumerRecord

from eldercare.db import claim_events, timed_transaction
from eldercare.kafka import BatchHandler, RecordHandler, decode_record
from eldercare.runtime import ServiceRuntime
from eldercare.v1 import events_pb2 as pb
from services.dispatch import metrics
from services.dispatch.incident import service

log = logging.getLogger(__name__)

ALARM_CONSUMER = "dispatch-alarms"


def alarm_handler(runtime: ServiceRuntime, *, attach_window: timedelta) -> RecordHandler:
    """The handler for the alarms topic: one transaction per alarm, inbox row included."""

    async def handle(record: ConsumerRecord) -> None:
        await _apply_alarms(runtime, [decode_record(record)], attach_window=attach_window)

    return handle


def device_alarms_handler(runtime: ServiceRuntime, *, attach_window: timedelta) -> BatchHandler:
    """Several alarms of one device from one fetch, in one transaction (a burst costs one commit).

    Any failure (a poison record among them) sends the run back to `alarm_handler`, one by one.
    """

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        await _apply_alarms(runtime, [decode_record(record) for record in records], attach_window=attach_window)

    return handle


async def _apply_alarms(runtime: ServiceRuntime, envelopes: list[pb.Envelope], *, attach_window: timedelta) -> None:
    # Low battery, power off, tamper: monitoring's business, not an incident.
    alarms = [envelope for envelope in envelopes if service.incident_kind_for_alarm(envelope) is not None]
    if not alarms:
        return
    outcomes = []
    async with timed_transaction(runtime.sessions, "record_alarm") as session:
        fresh = await claim_events(session, consumer=ALARM_CONSUMER, event_ids=[e.event_id for e in alarms])
        for envelope in alarms:
            if envelope.event_id not in fresh:
                metrics.ALARMS_DUPLICATE.inc()
                continue
            fresh.discard(envelope.event_id)  # a resend within the same run is a duplicate too
            outcome = await service.record_alarm(session, envelope=envelope, attach_window=attach_window)
            if outcome is not None:
                outcomes.append((envelope, outcome))
    for envelope, (incident, opened) in outcomes:
        metrics.observe_alarm(
            envelope,
            opened=opened,
            incident_kind=incident.kind,
            priority=service.priority_label(incident.priority),
        )
        log.info(
            "%s incident %s (%s, %s) from alarm %s%s",
            "opened" if opened else "attached to",
            incident.id,
            incident.kind,
            service.priority_label(incident.priority),
            envelope.event_id,
            f" standing for {envelope.repeats + 1} presses" if envelope.repeats else "",
        )
