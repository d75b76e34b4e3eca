"""Kafka handlers of the incident domain."""

from __future__ import annotations

import logging
from datetime import timedelta

from aiokafka import ConsumerRecord

from eldercare.db import claim_event, timed_transaction
from eldercare.envelope import EnvelopeDecodeError, decode_envelope
from eldercare.kafka import PoisonRecord
from eldercare.runtime import ServiceRuntime
from services.dispatch import metrics
from services.dispatch.incident import service

log = logging.getLogger(__name__)

ALARM_CONSUMER = "dispatch-alarms"


def alarm_handler(runtime: ServiceRuntime, *, attach_window: timedelta):  # type: ignore[no-untyped-def]
    """The handler for the alarms topic: one transaction per alarm, inbox row included."""

    async def handle(record: ConsumerRecord) -> None:
        try:
            envelope = decode_envelope(record.value)
        except EnvelopeDecodeError as exc:
            raise PoisonRecord("undecodable_envelope", str(exc)) from exc
        if service.incident_kind_for_alarm(envelope) is None:
            return  # low battery, power off, tamper: monitoring's business, not an incident
        async with timed_transaction(runtime.sessions, "record_alarm") as session:
            if not await claim_event(session, consumer=ALARM_CONSUMER, event_id=envelope.event_id):
                metrics.ALARMS_DUPLICATE.inc()
                return
            outcome = await service.record_alarm(session, envelope=envelope, attach_window=attach_window)
        runtime.outbox.notify()
        if outcome is not None:
            incident, opened = outcome
            metrics.observe_alarm(
                envelope,
                opened=opened,
                incident_kind=incident.kind,
                priority=service.priority_label(incident.priority),
            )
            log.info(
                "%s incident %s (%s, %s) from alarm %s",
                "opened" if opened else "attached to",
                incident.id,
                incident.kind,
                service.priority_label(incident.priority),
                envelope.event_id,
            )

    return handle
