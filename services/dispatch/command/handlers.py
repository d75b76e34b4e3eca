"""Kafka handler for device acks of downlink commands."""

from __future__ import annotations

from eldercare.handlers import envelope_handler, require
from eldercare.kafka import RecordHandler
from eldercare.runtime import ServiceRuntime
from services.dispatch.command import service

ACK_CONSUMER = "dispatch-command-acks"


def ack_handler(runtime: ServiceRuntime) -> RecordHandler:
    """The handler for the command-acks topic: one transaction per ack, inbox row included."""
    return envelope_handler(
        runtime.sessions,
        transaction="record_command_ack",
        inbox=ACK_CONSUMER,
        accept=require(
            ["command_ack"], reason="not_a_command_ack", has=lambda envelope: envelope.command_ack.command_id
        ),
        apply=lambda session, envelope, _: service.record_ack(session, envelope=envelope),
    )
