"""Kafka handlers: monitoring alerts → incidents, device cancels → cancelled fall incidents."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiokafka import ConsumerRecord

from eldercare.db import ProcessedEvent, claim_event, timed_transaction
from eldercare.envelope import EnvelopeDecodeError, decode_envelope, device_event_id, from_timestamp, utcnow
from eldercare.kafka import PoisonRecord, decode_record
from eldercare.runtime import ServiceRuntime
from eldercare.v1 import events_pb2 as pb
from services.dispatch import metrics
from services.dispatch.incident import service
from services.dispatch.incident.handlers import ALARM_CONSUMER

log = logging.getLogger(__name__)

ALERT_CONSUMER = "dispatch-alerts"
CANCEL_CONSUMER = "dispatch-cancels"
FALL_CANCEL_WINDOW = timedelta(seconds=60)


class FallNotAppliedYet(RuntimeError):
    """The cancel overtook its fall (separate consumer groups); retried until the fall is in."""


def alert_handler(runtime: ServiceRuntime, *, attach_window: timedelta) -> Callable[[ConsumerRecord], Awaitable[None]]:
    """The handler for eldercare.alerts.v1: one transaction per alert, inbox row included."""

    async def handle(record: ConsumerRecord) -> None:
        envelope = decode_record(record)
        if envelope.WhichOneof("body") != "alert" or not envelope.alert.device_id:
            raise PoisonRecord("unexpected_event", "the alerts topic carries Alert envelopes with a device id")
        alert = envelope.alert
        async with timed_transaction(runtime.sessions, "record_alert") as session:
            if not await claim_event(session, consumer=ALERT_CONSUMER, event_id=envelope.event_id):
                outcome = "duplicate"
            elif (
                result := await service.record_alert(session, envelope=envelope, attach_window=attach_window)
            ) is None:
                outcome = "noted" if await service.note_alert_recovery(session, envelope=envelope) else "informational"
            else:
                _, opened = result
                outcome = "opened" if opened else "attached"
        metrics.ALERTS_RECEIVED.labels(alert.type[:32], outcome).inc()
        log.info("alert %s (%s): %s", alert.alert_id, alert.type, outcome)

    return handle


def cancel_handler(runtime: ServiceRuntime, *, give_up_after: timedelta) -> Callable[[ConsumerRecord], Awaitable[None]]:
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
