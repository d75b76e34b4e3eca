"""Kafka handler: monitoring alerts → incidents."""

from __future__ import annotations

import logging
from datetime import timedelta

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.handlers import envelope_handler, require
from eldercare.kafka import RecordHandler
from eldercare.runtime import ServiceRuntime
from eldercare.v1 import events_pb2 as pb
from services.dispatch import metrics
from services.dispatch.incident import service

log = logging.getLogger(__name__)

ALERT_CONSUMER = "dispatch-alerts"


def alert_handler(runtime: ServiceRuntime, *, attach_window: timedelta) -> RecordHandler:
    """The handler for eldercare.alerts.v1: one transaction per alert, inbox row included."""

    async def apply(session: AsyncSession, envelope: pb.Envelope, _: ConsumerRecord) -> str:
        result = await service.record_alert(session, envelope=envelope, attach_window=attach_window)
        if result is None:
            return "noted" if await service.note_alert_recovery(session, envelope=envelope) else "informational"
        return "opened" if result[1] else "attached"

    def committed(_: AsyncSession, envelope: pb.Envelope, outcome: str | None) -> None:
        alert = envelope.alert
        metrics.ALERTS_RECEIVED.labels(alert.type[:32], outcome or "duplicate").inc()
        log.info("alert %s (%s): %s", alert.alert_id, alert.type, outcome or "duplicate")

    return envelope_handler(
        runtime.sessions,
        transaction="record_alert",
        inbox=ALERT_CONSUMER,
        accept=require(
            ["alert"],
            reason="unexpected_event",
            detail="the alerts topic carries Alert envelopes with a device id",
            has=lambda envelope: envelope.alert.device_id,
        ),
        apply=apply,
        committed=committed,
    )
