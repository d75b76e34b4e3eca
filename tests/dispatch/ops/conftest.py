"""A platform of its own for the dispatch-operations tests: short deadlines, own brokers, own database.

Own brokers because consumer groups and the MQTT share group are named per service:
sharing the session's brokers would split alarms between two dispatch databases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests import infra
from tests.platform import Platform, start_platform
from tools import kafkanode

# Deadlines short enough to watch escalations, retries and timeouts happen within a test.
OPS_ENV = {
    "DISPATCH_ACK_DEADLINE_P1_SECONDS": "2",
    "DISPATCH_ACK_DEADLINE_P2_SECONDS": "3",
    "DISPATCH_ACK_DEADLINE_P3_SECONDS": "4",
    "DISPATCH_ACK_DEADLINE_P4_SECONDS": "5",
    "DISPATCH_TIMER_INTERVAL_SECONDS": "0.2",
    "DISPATCH_COMMAND_RETRY_SECONDS": "0.5",
    "DISPATCH_COMMAND_MAX_ATTEMPTS": "3",
    "DISPATCH_STREAM_POLL_SECONDS": "0.1",
    "DISPATCH_STREAM_HEARTBEAT_SECONDS": "1",
}


@pytest.fixture(scope="package")
def ops_mqtt(workdir: Path) -> Iterator[infra.BrokerProcess]:
    path = workdir / "dispatch_ops"
    path.mkdir(exist_ok=True)
    with infra.mosquitto(path) as broker:
        yield broker


@pytest.fixture(scope="package")
def ops_kafka(workdir: Path) -> Iterator[kafkanode.KafkaNode]:
    path = workdir / "dispatch_ops"
    path.mkdir(exist_ok=True)
    with infra.kafka(path) as broker:
        yield broker


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def ops(
    workdir: Path, ops_mqtt: infra.BrokerProcess, ops_kafka: kafkanode.KafkaNode, databases: infra.DatabaseFactory
) -> AsyncIterator[Platform]:
    """Gateway and dispatch on their own brokers and database, with short operational deadlines."""
    platform = await start_platform(
        workdir=workdir / "dispatch_ops" / "platform",
        mqtt_port=ops_mqtt.port,
        kafka_port=ops_kafka.port,
        databases=databases,
        services=("gateway", "dispatch"),
        env={**OPS_ENV, "DISPATCH_DATABASE_URL": databases.url("dispatch_ops")},
    )
    try:
        yield platform
    finally:
        await platform.stop()
