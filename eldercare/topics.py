"""Kafka topic names and how each one is created."""

from __future__ import annotations

from dataclasses import dataclass

ALARMS = "eldercare.alarms.v1"
TELEMETRY = "eldercare.telemetry.v1"
ALERTS = "eldercare.alerts.v1"
INCIDENTS = "eldercare.incidents.v1"
ELDERS = "eldercare.elders.v1"
COMMANDS = "eldercare.commands.v1"
# Device acks of downlink commands: a topic of their own so dispatch need not read the telemetry flood.
COMMAND_ACKS = "eldercare.command-acks.v1"
DEADLETTER = "eldercare.deadletter.v1"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    compacted: bool = False
    # Topics with low, bursty volume get fewer partitions; None means the configured default.
    partitions: int | None = None


ALL_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(ALARMS),
    TopicSpec(TELEMETRY),
    TopicSpec(ALERTS),
    TopicSpec(INCIDENTS),
    TopicSpec(ELDERS, compacted=True),
    TopicSpec(COMMANDS),
    TopicSpec(COMMAND_ACKS),
    TopicSpec(DEADLETTER, partitions=1),
)
