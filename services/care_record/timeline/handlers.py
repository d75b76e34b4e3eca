"""Kafka handlers feeding the care timeline; each is idempotent on the envelope's event_id (primary key)."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from eldercare.db import timed_transaction
from eldercare.kafka import PoisonRecord, RecordHandler, decode_record
from eldercare.runtime import ServiceRuntime
from services.care_record import metrics
from services.care_record.timeline import service

ALARM_CONSUMER = "care-record-alarms"
INCIDENT_CONSUMER = "care-record-incidents"


def alarm_handler(runtime: ServiceRuntime) -> RecordHandler:
    """Alarms (SOS, fall, device alarms) into the timeline of the elder wearing the device."""

    async def handle(record: ConsumerRecord) -> None:
        envelope = decode_record(record)
        if envelope.WhichOneof("body") not in ("sos", "fall", "alarm"):
            return
        async with timed_transaction(runtime.sessions, "observe_alarm") as session:
            if await service.observe_alarm(session, envelope=envelope):
                metrics.TIMELINE_EVENTS.labels("alarm").inc()

    return handle


def incident_handler(runtime: ServiceRuntime) -> RecordHandler:
    """Incident lifecycle events from dispatch into the elder's timeline."""

    async def handle(record: ConsumerRecord) -> None:
        envelope = decode_record(record)
        if envelope.WhichOneof("body") != "incident":
            raise PoisonRecord("unexpected_body", "the incidents topic carries IncidentEvent envelopes only")
        async with timed_transaction(runtime.sessions, "observe_incident") as session:
            if await service.observe_incident_event(session, envelope=envelope):
                metrics.TIMELINE_EVENTS.labels("incident").inc()

    return handle
