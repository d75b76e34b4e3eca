"""docker-compose.yml's Kafka security on a real broker (there is no Docker engine here).

The brokers' SASL_SSL settings from the compose file, with the keystore files resolved as the
apache/kafka image's start script resolves them, start a node of the pinned release; the compose
services' Kafka settings log in to it and produce and read, and the brokers' health probe logs in
with the account it derives from the broker's own JAAS line.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from eldercare.kafka import create_producer, ensure_topics, kafka_security
from eldercare.settings import BaseProcessSettings
from eldercare.topics import ALARMS
from tests.platform import eventually, read_topic
from tests.test_deploy_files import _as_properties, _local_certs, local_environment, resolved_compose
from tools import kafkanode

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SECRETS = "/etc/kafka/secrets"


def broker_environment() -> dict[str, str]:
    return {name: str(value) for name, value in resolved_compose()["services"]["kafka-1"]["environment"].items()}


def security_properties(environment: dict[str, str], secrets: Path) -> dict[str, str]:
    """The compose brokers' security properties, the files where tools.certs put them."""
    props = _as_properties(environment)
    wanted = {
        key: value.replace(SECRETS, str(secrets))
        for key, value in props.items()
        if key.startswith(("ssl.", "sasl.", "listener.name.", "listener.security.", "inter.broker."))
    }
    # The image's start script: *_FILENAME and *_CREDENTIALS name files in /etc/kafka/secrets.
    for variable in ("ssl.keystore.filename", "ssl.keystore.credentials", "ssl.key.credentials"):
        wanted.pop(variable)
    wanted["ssl.keystore.location"] = str(secrets / environment["KAFKA_SSL_KEYSTORE_FILENAME"])
    wanted["ssl.keystore.password"] = (secrets / environment["KAFKA_SSL_KEYSTORE_CREDENTIALS"]).read_text()
    wanted["ssl.key.password"] = (secrets / environment["KAFKA_SSL_KEY_CREDENTIALS"]).read_text()
    return wanted


@pytest.fixture(scope="module")
def compose_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafkanode.KafkaNode]:
    workdir = tmp_path_factory.mktemp("compose-kafka")
    [node] = kafkanode.make_cluster(Path(tempfile.mkdtemp(prefix="kafka-", dir=workdir)), size=1, heap="384m")
    overrides = security_properties(broker_environment(), _local_certs() / "kafka")
    # The compose listeners on this node's ports: SASL_SSL for clients and replication, the quorum plaintext.
    overrides["listeners"] = f"SASL_SSL://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
    overrides["advertised.listeners"] = f"SASL_SSL://127.0.0.1:{node.port}"
    node.overrides = overrides
    node.start()
    try:
        yield node
    finally:
        node.stop()


def service_settings(node: kafkanode.KafkaNode, service: str = "dispatch") -> BaseProcessSettings:
    environment = local_environment(resolved_compose()["services"][service]["environment"])
    kafka = {name: value for name, value in environment.items() if name.startswith("KAFKA_")}
    return BaseProcessSettings(**{**kafka, "KAFKA_BOOTSTRAP": node.bootstrap, "KAFKA_REPLICATION_FACTOR": "1"})


async def test_the_compose_services_log_in_to_the_compose_brokers_settings(compose_broker: kafkanode.KafkaNode) -> None:
    settings = service_settings(compose_broker)
    assert settings.kafka_security_protocol == "SASL_SSL"
    await ensure_topics(settings, [ALARMS])
    producer = create_producer(settings, fast_lane=True)
    await producer.start()
    marker = f"compose-{uuid.uuid4().hex[:8]}".encode()
    try:
        await producer.send_and_wait(ALARMS, marker, key=marker)
    finally:
        await producer.stop()

    async def read_back() -> bool:
        records = await read_topic(compose_broker.bootstrap, ALARMS, **kafka_security(settings))
        return any(record.value == marker for record in records)

    assert await eventually(read_back, timeout=30, interval=0.5)


def health_probe_properties(tmp_path: Path) -> dict[str, str]:
    """The client properties the brokers' health check writes, from the broker's own environment."""
    environment = broker_environment()
    [script] = [
        part for part in resolved_compose()["services"]["kafka-1"]["healthcheck"]["test"] if "health.properties" in part
    ]
    target = tmp_path / "health.properties"
    # `docker-compose config` prints `$` as `$$`; the container's shell sees one. Stop before the probe.
    script = script.replace("$$", "$").replace("/tmp/health.properties", str(target)).split(" && /opt/kafka/")[0]
    subprocess.run(["sh", "-c", script], env=environment, check=True)
    return dict(line.split("=", 1) for line in target.read_text().splitlines() if line)


async def test_the_brokers_health_probe_logs_in_with_the_broker_account(
    compose_broker: kafkanode.KafkaNode, tmp_path: Path
) -> None:
    probe = health_probe_properties(tmp_path)
    assert probe["security.protocol"] == "SASL_SSL" and probe["sasl.mechanism"] == "PLAIN"
    found = re.fullmatch(
        r'.*PlainLoginModule required username="([^"]+)" password="([^"]*)";', probe["sasl.jaas.config"]
    )
    assert found, probe["sasl.jaas.config"]
    username, password = found.groups()
    truststore = probe["ssl.truststore.location"].replace(SECRETS, str(_local_certs() / "kafka"))
    settings = BaseProcessSettings(
        kafka_bootstrap=compose_broker.bootstrap,
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_ca_file=truststore,
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username=username,
        kafka_sasl_password=password,
    )
    admin: Any = AIOKafkaAdminClient(bootstrap_servers=compose_broker.bootstrap, **kafka_security(settings))
    await admin.start()
    try:
        assert await admin.describe_cluster()
    finally:
        await admin.close()
