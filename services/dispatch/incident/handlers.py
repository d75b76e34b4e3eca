"""Kafka handlers of the incident domain: alarms open or join incidents, a device's cancel ends its fall."""

from __future__ import annotations

import logging
from datetime import timedelta

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.db import ProcessedEvent
from eldercare.envelope import device_event_id, from_timestamp, utcnow
from eldercare.handlers import Batch, BatchHandlers, envelope_batch_handlers, envelope_handler
from eldercare.kafka import PoisonRecord, RecordHandler
from eldercare.runtime import ServiceRuntime
from eldercare.v1 import events_pb2 as pb
from services.dispatch import metrics
from services.dispatch.incident import service
from services.dispatch.incident.models import Incident

log = logging.getLogger(__name__)

ALARM_CONSUMER = "dispatch-alarms"
CANCEL_CONSUMER = "dispatch-cancels"
# A wearer's "I'm OK" cancels the fall only this soon after it (device clock).
FALL_CANCEL_WINDOW = timedelta(seconds=60)

Outcomes = list[tuple[pb.Envelope, tuple[Incident, bool]]]


def alarm_handlers(runtime: ServiceRuntime, *, attach_window: timedelta) -> BatchHandlers:
    """The alarms topic: one transaction per alarm, or per run of one device's alarms from one fetch
    (a burst costs one commit), inbox rows included."""

    async def apply(session: AsyncSession, alarms: list[pb.Envelope]) -> Outcomes:
        outcomes = []
        for envelope in alarms:
            outcome = await service.record_alarm(session, envelope=envelope, attach_window=attach_window)
            if outcome is not None:
                outcomes.append((envelope, outcome))
        return outcomes

    return envelope_batch_handlers(
        runtime.sessions,
        transaction="record_alarm",
        inbox=ALARM_CONSUMER,
        # Low battery, power off, tamper: monitoring's business, not an incident.
        accept=lambda envelope: service.incident_kind_for_alarm(envelope) is not None,
        apply=apply,
        committed=_alarms_committed,
    )


def _alarms_committed(_: AsyncSession, batch: Batch[Outcomes]) -> None:
    metrics.ALARMS_DUPLICATE.inc(len(batch.accepted) - len(batch.fresh))
    for envelope, (incident, opened) in batch.result:
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


def _is_cancel(envelope: pb.Envelope) -> bool:
    if envelope.WhichOneof("body") != "alarm" or envelope.alarm.type != pb.DEVICE_ALARM_TYPE_CANCEL:
        return False
    if not envelope.alarm.ref_event_id:
        raise PoisonRecord("cancel_without_reference", "a cancel alarm must name the fall's event_id")
    return True


def cancel_handler(runtime: ServiceRuntime, *, give_up_after: timedelta) -> RecordHandler:
    """The handler for cancel alarms on eldercare.alarms.v1 (everything else there is the alarm consumer's)."""

    async def apply(session: AsyncSession, envelope: pb.Envelope, _: ConsumerRecord) -> tuple[str, str]:
        fall_event_id = device_event_id(envelope.device_id, envelope.alarm.ref_event_id)
        if await session.get(ProcessedEvent, (ALARM_CONSUMER, fall_event_id)) is None:
            waited = utcnow() - from_timestamp(envelope.received_at)
            if waited > give_up_after:
                raise PoisonRecord("cancel_for_unknown_alarm", "no alarm with the referenced event_id arrived")
            raise FallNotAppliedYet(f"fall {fall_event_id} not applied yet")
        _, outcome = await service.cancel_fall_from_device(
            session, envelope=envelope, fall_event_id=fall_event_id, window=FALL_CANCEL_WINDOW
        )
        return fall_event_id, outcome

    def committed(_: AsyncSession, __: pb.Envelope, result: tuple[str, str] | None) -> None:
        if result is not None:
            fall_event_id, outcome = result
            metrics.DEVICE_CANCELS.labels(outcome).inc()
            log.info("device cancel of fall %s: %s", fall_event_id, outcome)

    return envelope_handler(
        runtime.sessions,
        transaction="device_cancel",
        inbox=CANCEL_CONSUMER,
        accept=_is_cancel,
        apply=apply,
        committed=committed,
        # The alarm consumer dead-letters it; one dead letter per record is enough.
        dead_letter_undecodable=False,
    )
