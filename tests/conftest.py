"""Session-wide real infrastructure and the running platform for integration tests."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests import infra
from tests.platform import Platform, start_platform
from tools import kafkanode


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    keep = os.environ.get("ELDERCARE_TEST_KEEP_LOGS")
    path = Path(tempfile.mkdtemp(prefix="eldercare-test-"))
    yield path
    if not keep:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def mqtt_broker(workdir: Path) -> Iterator[infra.BrokerProcess]:
    with infra.mosquitto(workdir) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_broker(workdir: Path) -> Iterator[kafkanode.KafkaNode]:
    with infra.kafka(workdir) as broker:
        yield broker


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with infra.postgres_server() as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def databases(postgres_url: str) -> AsyncIterator[infra.DatabaseFactory]:
    factory = infra.DatabaseFactory(postgres_url)
    yield factory
    await factory.drop_all()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def platform(
    workdir: Path,
    mqtt_broker: infra.BrokerProcess,
    kafka_broker: kafkanode.KafkaNode,
    databases: infra.DatabaseFactory,
) -> AsyncIterator[Platform]:
    """Gateway, dispatch, care-record and monitoring as separate processes on real brokers and PostgreSQL."""
    platform = await start_platform(
        workdir=workdir / "platform", mqtt_port=mqtt_broker.port, kafka_port=kafka_broker.port, databases=databases
    )
    try:
        yield platform
    finally:
        await platform.stop()
        await asyncio.sleep(0)
