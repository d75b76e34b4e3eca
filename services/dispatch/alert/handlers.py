"""Kafka handler: monitoring alerts → incidents."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiokafka import ConsumerRecord

from eldercare.db import claim_event, timed_transaction
from eldercare.kafka import PoisonRecord, decode_record
from eldercare.runtime import ServiceRuntime
from services.dispatch import metrics
from services.dispatch.incident import service

log = logging.getLogger(__name__)

ALERT_CONSUMER = "dispatch-alerts"


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
