"""`tests.platform.start_platform` with a start-up timeout of our choosing.

On a loaded 2-core machine a service's first start (migrations, then one consumer
group join per consumer) can take longer than the shared helper's fixed 90 s; the
fault and API-fuzz suites start a platform of their own and can afford to wait.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests import infra
from tests.platform import CORE_SERVICES, Platform
from tools.devstack import ALARM_GATEWAY, Stack, StackConfig

START_TIMEOUT = float(os.environ.get("TEST_PLATFORM_START_TIMEOUT", "300"))


async def start_platform_patiently(
    *,
    workdir: Path,
    mqtt_port: int,
    kafka_bootstrap: str,
    databases: infra.DatabaseFactory,
    timeout: float = START_TIMEOUT,
    env: dict[str, str] | None = None,
) -> Platform:
    """Start gateway, dispatch, care-record and monitoring on the given brokers, each service with a fresh database."""
    ports = {name: infra.free_port() for name in ("dispatch", "care-record", "monitoring", "gateway", ALARM_GATEWAY)}
    config = StackConfig(
        mqtt_url=f"mqtt://127.0.0.1:{mqtt_port}",
        kafka_bootstrap=kafka_bootstrap,
        ports=ports,
        env={
            "ELDERCARE_ENV": "test",
            "DISPATCH_DATABASE_URL": databases.url("dispatch"),
            "CARE_RECORD_DATABASE_URL": databases.url("care_record"),
            "MONITORING_DATABASE_URL": databases.url("monitoring"),
            "KAFKA_TOPIC_PARTITIONS": "3",
            **(env or {}),
        },
        var_dir=workdir / "var",
        log_dir=workdir / "logs",
        services=CORE_SERVICES,
    )
    stack = Stack(config)
    try:
        await stack.start_services(timeout=timeout)
    except Exception:
        await stack.stop()
        raise
    return Platform(
        stack=stack,
        mqtt_url=config.mqtt_url,
        kafka_bootstrap=config.kafka_bootstrap,
        ports=ports,
        http=httpx.AsyncClient(timeout=10.0),
    )
