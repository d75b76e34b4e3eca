"""The fault suite's own world: its brokers, a cuttable Kafka link, a PostgreSQL cluster it may stop.

Nothing here is shared with the rest of the test session, because these tests kill
and cut things: Mosquitto on a free port (persistent, restartable), Tansu behind a
TCP proxy (clients and Tansu's advertised listener both name the proxy, so cutting
it is an outage that loses nothing), and a throwaway PostgreSQL cluster made with
initdb, never the machine's shared server.

Stream size and outage length come from the environment, so `make test` can run a
lean pass and `make test-faults` the full one:
FAULT_OUTAGE_SECONDS (default 30), FAULT_ALARMS (40), FAULT_TELEMETRY (400),
FAULT_REPORT (a path: the audit table is written there as Markdown).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from eldercare.devstack import tansu_binary
from tests import infra
from tests.faults.audit import Auditor, AuditRow, render_table
from tests.faults.cluster import PostgresCluster
from tests.faults.proxy import ProxyThread
from tests.faults.stack import start_platform_patiently
from tests.platform import Platform


@dataclass
class FaultConfig:
    outage_seconds: float = float(os.environ.get("FAULT_OUTAGE_SECONDS", "30"))
    alarms: int = int(os.environ.get("FAULT_ALARMS", "40"))
    telemetry: int = int(os.environ.get("FAULT_TELEMETRY", "400"))
    report_path: str | None = os.environ.get("FAULT_REPORT")
    rows: list[AuditRow] = field(default_factory=list)


@dataclass
class FaultWorld:
    """Everything a scenario may break, and the platform running on it."""

    config: FaultConfig
    mqtt: infra.BrokerProcess
    kafka: infra.BrokerProcess
    kafka_proxy: ProxyThread
    postgres: PostgresCluster
    platform: Platform
    database_urls: dict[str, str]
    workdir: Path

    @property
    def auditor(self) -> Auditor:
        return Auditor(self.platform, self.database_urls)


@pytest.fixture(scope="module")
def fault_config() -> Iterator[FaultConfig]:
    config = FaultConfig()
    yield config
    if config.rows:
        table = render_table(config.rows)
        print("\n\nFault suite audit (events per scenario)\n" + table)
        if config.report_path:
            Path(config.report_path).write_text(table + "\n")


@pytest.fixture(scope="module")
def fault_workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="eldercare-faults-"))
    yield path
    if not os.environ.get("ELDERCARE_TEST_KEEP_LOGS"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def fault_postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
def fault_kafka(fault_workdir: Path) -> Iterator[tuple[infra.BrokerProcess, ProxyThread]]:
    broker_port, proxy_port = infra.free_port(), infra.free_port()
    proxy = ProxyThread(listen_port=proxy_port, target_port=broker_port)
    broker = infra.BrokerProcess(
        "tansu",
        [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{broker_port}",
            # Clients must come back through the proxy after the metadata round trip too.
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{proxy_port}",
        ],
        broker_port,
        fault_workdir / "tansu.log",
    )
    broker.start()
    proxy.start()
    try:
        yield broker, proxy
    finally:
        proxy.stop()
        broker.stop()


@pytest.fixture(scope="module")
def fault_mqtt(fault_workdir: Path) -> Iterator[infra.BrokerProcess]:
    with infra.mosquitto(fault_workdir) as broker:
        yield broker


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fault_world(
    fault_config: FaultConfig,
    fault_workdir: Path,
    fault_mqtt: infra.BrokerProcess,
    fault_kafka: tuple[infra.BrokerProcess, ProxyThread],
    fault_postgres: PostgresCluster,
) -> AsyncIterator[FaultWorld]:
    kafka, proxy = fault_kafka
    databases = infra.DatabaseFactory(fault_postgres.url)
    names = {"dispatch": "dispatch", "care_record": "care_record", "monitoring": "monitoring"}
    platform = await start_platform_patiently(
        workdir=fault_workdir / "platform", mqtt_port=fault_mqtt.port, kafka_port=proxy.listen_port, databases=databases
    )
    urls = {
        service: f"{fault_postgres.url}/eldercare_test_{databases.run_id}_{name}" for service, name in names.items()
    }
    try:
        yield FaultWorld(
            config=fault_config,
            mqtt=fault_mqtt,
            kafka=kafka,
            kafka_proxy=proxy,
            postgres=fault_postgres,
            platform=platform,
            database_urls=urls,
            workdir=fault_workdir,
        )
    finally:
        if proxy.proxy.is_cut:
            proxy.restore()
        await platform.stop()
        await asyncio.sleep(0)
