"""Kafka handlers feeding the care timeline; each is idempotent on the envelope's event_id (primary key)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.handlers import Accept, envelope_handler, only, require
from eldercare.kafka import RecordHandler
from eldercare.runtime import ServiceRuntime
from eldercare.v1 import events_pb2 as pb
from services.care_record import metrics
from services.care_record.timeline import service

ALARM_CONSUMER = "care-record-alarms"
INCIDENT_CONSUMER = "care-record-incidents"


class _Observe(Protocol):
    def __call__(self, session: AsyncSession, *, envelope: pb.Envelope) -> Awaitable[bool]: ...


def _timeline_handler(runtime: ServiceRuntime, *, kind: str, accept: Accept, observe: _Observe) -> RecordHandler:
    # No inbox: the timeline row is keyed by the event id, so a redelivery writes nothing.
    async def apply(session: AsyncSession, envelope: pb.Envelope, _: ConsumerRecord) -> bool:
        return await observe(session, envelope=envelope)

    def committed(_: AsyncSession, __: pb.Envelope, added: bool | None) -> None:
        if added:
            metrics.TIMELINE_EVENTS.labels(kind).inc()

    return envelope_handler(
        runtime.sessions, transaction=f"observe_{kind}", inbox=None, accept=accept, apply=apply, committed=committed
    )


def alarm_handler(runtime: ServiceRuntime) -> RecordHandler:
    """Alarms (SOS, fall, device alarms) into the timeline of the elder wearing the device."""
    return _timeline_handler(runtime, kind="alarm", accept=only("sos", "fall", "alarm"), observe=service.observe_alarm)


def incident_handler(runtime: ServiceRuntime) -> RecordHandler:
    """Incident lifecycle events from dispatch into the elder's timeline."""
    return _timeline_handler(
        runtime,
        kind="incident",
        accept=require(
            ["incident"], reason="unexpected_body", detail="the incidents topic carries IncidentEvent envelopes only"
        ),
        observe=service.observe_incident_event,
    )
