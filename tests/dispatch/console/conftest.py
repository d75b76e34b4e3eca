"""A platform of the dispatch console's own (gateway, dispatch, care-record) and a headless Chromium.

Own brokers, as tests/dispatch/ops has: consumer groups and the MQTT share group are named per
service, so sharing the session's brokers would split alarms between two dispatch databases,
and the console's alarm must hear only this platform's P1s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from eldercare.settings import REPO_ROOT
from tests import infra
from tests.platform import Platform, start_platform
from tools import kafkanode

# Screenshots and traces of the browser tests: kept after the run, never committed (var/ is ignored).
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "console"

CONSOLE_ENV = {
    "DISPATCH_STREAM_POLL_SECONDS": "0.1",
    "DISPATCH_STREAM_HEARTBEAT_SECONDS": "1",
    # Escalation would change priorities under the tests' feet; these tests are about the console.
    "DISPATCH_ACK_DEADLINE_P1_SECONDS": "3600",
    "DISPATCH_ACK_DEADLINE_P2_SECONDS": "3600",
}

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="package")
def console_mqtt(workdir: Path) -> Iterator[infra.BrokerProcess]:
    path = workdir / "dispatch_console"
    path.mkdir(exist_ok=True)
    with infra.mosquitto(path) as broker:
        yield broker


@pytest.fixture(scope="package")
def console_kafka(workdir: Path) -> Iterator[kafkanode.KafkaNode]:
    path = workdir / "dispatch_console"
    path.mkdir(exist_ok=True)
    with infra.kafka(path) as broker:
        yield broker


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def console_platform(
    workdir: Path,
    console_mqtt: infra.BrokerProcess,
    console_kafka: kafkanode.KafkaNode,
    databases: infra.DatabaseFactory,
) -> AsyncIterator[Platform]:
    platform = await start_platform(
        workdir=workdir / "dispatch_console" / "platform",
        mqtt_port=console_mqtt.port,
        kafka_port=console_kafka.port,
        databases=databases,
        services=("gateway", "dispatch", "care-record"),
        env={
            **CONSOLE_ENV,
            "DISPATCH_DATABASE_URL": databases.url("dispatch_console"),
            "CARE_RECORD_DATABASE_URL": databases.url("care_record_console"),
        },
    )
    try:
        yield platform
    finally:
        await platform.stop()


@pytest.fixture(scope="package")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (system-deps)")
    return CHROMIUM


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def browser(chromium: str) -> AsyncIterator[Any]:
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
