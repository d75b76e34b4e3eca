"""Kafka handler for device acks of downlink commands."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from eldercare.db import claim_event, timed_transaction
from eldercare.kafka import PoisonRecord, RecordHandler, decode_record
from eldercare.runtime import ServiceRuntime
from services.dispatch.command import service

ACK_CONSUMER = "dispatch-command-acks"


def ack_handler(runtime: ServiceRuntime) -> RecordHandler:
    """The handler for the command-acks topic: one transaction per ack, inbox row included."""

    async def handle(record: ConsumerRecord) -> None:
        envelope = decode_record(record)
        if envelope.WhichOneof("body") != "command_ack" or not envelope.command_ack.command_id:
            raise PoisonRecord("not_a_command_ack", f"envelope body is {envelope.WhichOneof('body')!r}")
        async with timed_transaction(runtime.sessions, "record_command_ack") as session:
            if not await claim_event(session, consumer=ACK_CONSUMER, event_id=envelope.event_id):
                return
            await service.record_ack(session, envelope=envelope)

    return handle
