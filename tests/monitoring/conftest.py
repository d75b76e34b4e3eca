"""A platform of its own for the monitoring tests: own brokers (one is restarted), short timeouts, Prometheus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from eldercare import kafkanode
from tests import infra
from tests.platform import CORE_SERVICES, Platform, start_platform

# Seconds instead of minutes, so that time-based rules run within a test.
FAST_RULES = {
    "MONITORING_OFFLINE_FLOOR_SECONDS": "2",
    "MONITORING_HEARTBEAT_SECONDS": "0.5",
    "MONITORING_SWEEP_INTERVAL_SECONDS": "0.3",
    "MONITORING_OFFLINE_STORM_MIN_DEVICES": "15",
    "MONITORING_OFFLINE_ALERT_DELAY_SECONDS": "2",
    "MONITORING_GEOFENCE_CONFIRM_FIXES": "3",
    "MONITORING_GEOFENCE_DWELL_SECONDS": "0",
    "MONITORING_VITALS_SUSTAINED_READINGS": "3",
    "MONITORING_VITALS_SUSTAINED_SECONDS": "0",
    "MONITORING_INACTIVITY_SECONDS": "3600",
    "MONITORING_DAY_START": "00:00",
    "MONITORING_DAY_END": "00:00",
}


@pytest.fixture(scope="package")
def monitoring_mqtt(workdir: Path) -> Iterator[infra.BrokerProcess]:
    path = workdir / "monitoring-mqtt"
    path.mkdir(exist_ok=True)
    with infra.mosquitto(path) as broker:
        yield broker


@pytest.fixture(scope="package")
def monitoring_kafka(workdir: Path) -> Iterator[kafkanode.KafkaNode]:
    path = workdir / "monitoring-kafka"
    path.mkdir(exist_ok=True)
    with infra.kafka(path) as broker:
        yield broker


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def mplatform(
    workdir: Path,
    monitoring_mqtt: infra.BrokerProcess,
    monitoring_kafka: kafkanode.KafkaNode,
    databases: infra.DatabaseFactory,
) -> AsyncIterator[Platform]:
    """Every process on brokers no other test shares, with a Prometheus scraping them every second."""
    # Own database names: the shared platform's fixture may be running in the same session.
    own_databases = infra.DatabaseFactory(databases.server_url)
    platform = await start_platform(
        workdir=workdir / "monitoring-platform",
        mqtt_port=monitoring_mqtt.port,
        kafka_port=monitoring_kafka.port,
        databases=own_databases,
        services=(*CORE_SERVICES, "watch"),
        env=FAST_RULES,
    )
    try:
        url = await platform.stack.start_prometheus(port=infra.free_port(), scrape_interval="1s")
        assert url is not None, platform.stack.notes
        platform.prometheus_url = url  # type: ignore[attr-defined]
        yield platform
    finally:
        await platform.stop()
        await own_databases.drop_all()
