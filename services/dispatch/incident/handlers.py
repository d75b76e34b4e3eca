"""Kafka handlers of the incident domain: alarms open or join incidents, a device's cancel ends its fall."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from aiokafka import ConsumerRecord

from eldercare.db import ProcessedEvent, claim_event, claim_events, timed_transaction
from eldercare.envelope import EnvelopeDecodeError, decode_envelope, device_event_id, from_timestamp, utcnow
from eldercare.kafka import BatchHandler, PoisonRecord, RecordHandler, decode_record
from eldercare.runtime import ServiceRuntime
from eldercare.v1 import events_pb2 as pb
from services.dispatch import metrics
from services.dispatch.incident import service

log = logging.getLogger(__name__)

ALARM_CONSUMER = "dispatch-alarms"
CANCEL_CONSUMER = "dispatch-cancels"
# A wearer's "I'm OK" cancels the fall only this soon after it (device clock).
FALL_CANCEL_WINDOW = timedelta(seconds=60)


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


class FallNotAppliedYet(RuntimeError):
    """The cancel overtook its fall (separate consumer groups); retried until the fall is in."""


def cancel_handler(runtime: ServiceRuntime, *, give_up_after: timedelta) -> RecordHandler:
    """The handler for cancel alarms on eldercare.alarms.v1 (everything else there is the alarm consumer's)."""

    async def handle(record: ConsumerRecord) -> None:
        try:
            envelope = decode_envelope(record.value)
        except EnvelopeDecodeError:
            return  # the alarm consumer dead-letters it; one dead letter per record is enough
        if envelope.WhichOneof("body") != "alarm" or envelope.alarm.type != pb.DEVICE_ALARM_TYPE_CANCEL:
            return
        if not envelope.alarm.ref_event_id:
            raise PoisonRecord("cancel_without_reference", "a cancel alarm must name the fall's event_id")
        fall_event_id = device_event_id(envelope.device_id, envelope.alarm.ref_event_id)
        async with timed_transaction(runtime.sessions, "device_cancel") as session:
            if not await claim_event(session, consumer=CANCEL_CONSUMER, event_id=envelope.event_id):
                return
            if await session.get(ProcessedEvent, (ALARM_CONSUMER, fall_event_id)) is None:
                waited = utcnow() - from_timestamp(envelope.received_at)
                if waited > give_up_after:
                    raise PoisonRecord("cancel_for_unknown_alarm", "no alarm with the referenced event_id arrived")
                raise FallNotAppliedYet(f"fall {fall_event_id} not applied yet")
            _, outcome = await service.cancel_fall_from_device(
                session, envelope=envelope, fall_event_id=fall_event_id, window=FALL_CANCEL_WINDOW
            )
        metrics.DEVICE_CANCELS.labels(outcome).inc()
        log.info("device cancel of fall %s: %s", fall_event_id, outcome)

    return handle
