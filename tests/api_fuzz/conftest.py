"""A platform of its own for API fuzzing, on brokers of its own.

schemathesis creates, patches and cancels whatever the schemas allow (responders,
elders, geofences…), and some of that is published on Kafka. On the shared
`platform` those records would leak into other tests' expectations, so the fuzzer
gets fresh databases and fresh brokers; only the PostgreSQL server is shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests import infra
from tests.e2e.faults.stack import start_platform_patiently
from tests.platform import Platform
from tools import kafkanode


@pytest.fixture(scope="module")
def fuzz_brokers(workdir: Path) -> Iterator[tuple[infra.BrokerProcess, kafkanode.KafkaNode]]:
    base = workdir / "api-fuzz"
    base.mkdir(parents=True, exist_ok=True)
    with infra.mosquitto(base) as mqtt, infra.kafka(base) as kafka:
        yield mqtt, kafka


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_platform(
    workdir: Path,
    fuzz_brokers: tuple[infra.BrokerProcess, kafkanode.KafkaNode],
    databases: infra.DatabaseFactory,
) -> AsyncIterator[Platform]:
    mqtt, kafka = fuzz_brokers
    platform = await start_platform_patiently(
        workdir=workdir / "api-fuzz" / "platform",
        mqtt_port=mqtt.port,
        kafka_bootstrap=kafka.bootstrap,
        databases=databases,
    )
    try:
        yield platform
    finally:
        await platform.stop()
        await asyncio.sleep(0)
