"""The fault suite's own world: its brokers, a cuttable Kafka link, a PostgreSQL cluster it may stop.

Nothing here is shared with the rest of the test session, because these tests kill
and cut things: Mosquitto on a free port (persistent, restartable), a three-broker
Apache Kafka cluster (replication factor 3, min.insync.replicas 2, no unclean
election) whose brokers the scenarios kill, pause and restart on their data, each
behind a TCP proxy that can be cut (an outage of the link, the brokers stay up),
and a throwaway PostgreSQL cluster made with initdb, never the machine's server, which
dispatch reaches through a TCP proxy of its own (a database link that can be cut or
black-holed while the server stays up).

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

from tests import infra
from tests.e2e.faults.audit import Auditor, AuditRow, render_table
from tests.e2e.faults.cluster import PostgresCluster
from tests.platform import PATIENT_START_TIMEOUT, Platform, start_platform
from tests.proxy import ProxyGroup, ProxyThread
from tools import kafkanode


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
    kafka: list[kafkanode.KafkaNode]
    kafka_proxy: ProxyGroup
    postgres: PostgresCluster
    database_link: ProxyThread  # dispatch's way to PostgreSQL (the others connect directly)
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


# Brokers fence a silent peer after BROKER_SESSION_MS (Kafka's default is 9 s): the paused-broker
# scenario measures how long its partitions' alarms wait for that. docker-compose.yml's brokers
# carry the same settings (tests/test_deploy_files.py compares them).
CLUSTER_OVERRIDES = {
    "broker.session.timeout.ms": "4000",
    "broker.heartbeat.interval.ms": "1000",
    "replica.lag.time.max.ms": "10000",
}


@pytest.fixture(scope="module")
def fault_kafka(fault_workdir: Path) -> Iterator[tuple[list[kafkanode.KafkaNode], ProxyGroup]]:
    proxy_ports = [infra.free_port() for _ in range(3)]
    nodes = kafkanode.make_cluster(
        fault_workdir / "kafka", size=3, heap="256m", overrides=CLUSTER_OVERRIDES, advertised_ports=proxy_ports
    )
    proxies = ProxyGroup([(proxy_port, node.port) for proxy_port, node in zip(proxy_ports, nodes, strict=True)])
    kafkanode.start_cluster(nodes)
    proxies.start()
    try:
        yield nodes, proxies
    finally:
        proxies.stop()
        for node in nodes:
            node.stop()


@pytest.fixture(scope="module")
def fault_mqtt(fault_workdir: Path) -> Iterator[infra.BrokerProcess]:
    with infra.mosquitto(fault_workdir) as broker:
        yield broker


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fault_world(
    fault_config: FaultConfig,
    fault_workdir: Path,
    fault_mqtt: infra.BrokerProcess,
    fault_kafka: tuple[list[kafkanode.KafkaNode], ProxyGroup],
    fault_postgres: PostgresCluster,
) -> AsyncIterator[FaultWorld]:
    kafka, proxy = fault_kafka
    databases = infra.DatabaseFactory(fault_postgres.url)
    names = {"dispatch": "dispatch", "care_record": "care_record", "monitoring": "monitoring"}
    database_link = ProxyThread(listen_port=infra.free_port(), target_port=fault_postgres.port)
    database_link.start()
    dispatch_url = databases.url("dispatch").replace(f":{fault_postgres.port}/", f":{database_link.listen_port}/")
    try:
        platform = await start_platform(
            workdir=fault_workdir / "platform",
            mqtt_port=fault_mqtt.port,
            kafka_bootstrap=",".join(f"127.0.0.1:{p.listen_port}" for p in proxy.proxies),
            databases=databases,
            env={"KAFKA_REPLICATION_FACTOR": "3", "DISPATCH_DATABASE_URL": dispatch_url},
            timeout=PATIENT_START_TIMEOUT,
        )
    except BaseException:
        database_link.stop()
        raise
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
            database_link=database_link,
            platform=platform,
            database_urls=urls,
            workdir=fault_workdir,
        )
    finally:
        if proxy.is_cut:
            proxy.restore()
        await platform.stop()
        database_link.stop()
        await asyncio.sleep(0)
