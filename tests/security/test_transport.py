"""Transport security for real, with certificates made at test time (tools.certs).

A device logs in to the production Mosquitto config (TLS listener, per-device accounts) over
TLS; the gateway, as its own process, reads it over TLS with its broker account, writes to
Kafka over SASL_SSL and serves its API over HTTPS. A plaintext client, a client trusting
another CA and a wrong password are each refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaConnectionError

from eldercare.kafka import ConsumerLoop, DeadLetterPublisher, create_producer, ensure_topics, kafka_security
from eldercare.settings import REPO_ROOT, BaseProcessSettings
from eldercare.topics import ALARMS
from eldercare.v1 import events_pb2 as pb
from tests import infra
from tests.platform import eventually, read_topic
from tools import certs, kafkanode
from tools.provision import GATEWAY_ACCOUNT, provision_device, set_password
from tools.sim.fleet import Fleet, FleetConfig
from tools.sim.protocol import MqttProtocolError, open_device

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

DEVICE = "TLS_DEVICE_1"
# The simulator's one device: its id is the prefix and a 6-digit number, its password the fleet's.
SIM_PREFIX, SIM_PASSWORD = "TLSSIM", "sim-fleet-secret"


@dataclass
class Secured:
    """The module's brokers, their authority, an impostor authority and the accounts on them."""

    workdir: Path
    ca: certs.KeyPair
    server: certs.KeyPair
    impostor_ca: Path
    mqtt_port: int
    kafka: kafkanode.KafkaNode
    device_password: str
    gateway_mqtt_password: str
    kafka_accounts: dict[str, str]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    workdir = tmp_path_factory.mktemp("transport")
    ca = certs.make_ca(workdir / "certs")
    server = certs.issue(ca, workdir / "certs", "server", hosts=("127.0.0.1", "localhost"))
    impostor = certs.make_ca(workdir / "impostor", name="impostor-ca")
    passwd = workdir / "passwd"
    device_password = provision_device(passwd, DEVICE)
    provision_device(passwd, f"{SIM_PREFIX}000000", SIM_PASSWORD)
    gateway_mqtt_password = secrets.token_urlsafe(12)
    set_password(passwd, "gateway", gateway_mqtt_password)
    keystore_password = secrets.token_urlsafe(12)
    listener = kafkanode.SaslSslListener(
        port=infra.free_port(),
        keystore=certs.keystore(server, ca, workdir / "certs" / "server.p12", keystore_password),
        keystore_password=keystore_password,
        accounts={"gateway": secrets.token_urlsafe(12), "dispatch": secrets.token_urlsafe(12)},
    )
    with (
        infra.production_mosquitto(workdir, passwd=passwd, certs=workdir / "certs") as mqtt,
        infra.kafka(workdir, sasl_ssl=listener) as kafka,
    ):
        yield Secured(
            workdir=workdir,
            ca=ca,
            server=server,
            impostor_ca=impostor.cert,
            mqtt_port=mqtt.port,
            kafka=kafka,
            device_password=device_password,
            gateway_mqtt_password=gateway_mqtt_password,
            kafka_accounts=dict(listener.accounts),
        )


def kafka_settings(
    secured: Secured,
    *,
    user: str = "dispatch",
    mechanism: str = "SCRAM-SHA-512",
    password: str | None = None,
    ca_file: Path | None = None,
) -> BaseProcessSettings:
    return BaseProcessSettings(
        kafka_bootstrap=secured.kafka.sasl_ssl_bootstrap,
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_ca_file=ca_file or secured.ca.cert,
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username=user,
        kafka_sasl_password=password or secured.kafka_accounts[user],
        kafka_topic_partitions=3,
    )


# ---- Kafka: the kit's clients over SASL_SSL ---------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
async def test_the_kits_producer_and_consumer_work_over_sasl_ssl(secured: Secured, mechanism: str) -> None:
    settings = kafka_settings(secured, mechanism=mechanism)
    await ensure_topics(settings, [ALARMS])
    producer = create_producer(settings, fast_lane=True)
    await producer.start()
    received: asyncio.Queue[ConsumerRecord] = asyncio.Queue()

    async def handler(record: ConsumerRecord) -> None:
        received.put_nowait(record)

    consumer = ConsumerLoop(
        settings=settings,
        name=f"tls-{uuid.uuid4().hex[:8]}",
        topics=[ALARMS],
        handler=handler,
        dead_letters=DeadLetterPublisher(lambda: producer, "tls-test"),
    )
    marker = f"over-{mechanism}-{uuid.uuid4().hex[:6]}".encode()
    try:
        await producer.send_and_wait(ALARMS, marker, key=marker)
        await consumer.start()

        async def marker_arrived() -> bool:
            while True:
                record = await received.get()
                if record.value == marker:
                    return True

        assert await asyncio.wait_for(marker_arrived(), 60)
    finally:
        await consumer.stop()
        await producer.stop()


@pytest.mark.parametrize(
    ("case", "expected_log"),
    [
        ("wrong password", "Authentication failed"),
        ("unknown account", "Authentication failed"),
        ("another CA", "CERTIFICATE_VERIFY_FAILED"),
    ],
)
async def test_kafka_refuses_a_bad_login_or_certificate_with_a_clear_error(
    secured: Secured, case: str, expected_log: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = {
        "wrong password": kafka_settings(secured, password="not-the-password"),
        "unknown account": kafka_settings(secured, user="dispatch", password="x" * 12).model_copy(
            update={"kafka_sasl_username": "intruder"}
        ),
        "another CA": kafka_settings(secured, ca_file=secured.impostor_ca),
    }[case]
    producer = create_producer(settings)
    caplog.set_level(logging.ERROR, logger="aiokafka")
    try:
        with pytest.raises(KafkaConnectionError):
            await producer.start()
    finally:
        await producer.stop()
    # aiokafka raises "unable to bootstrap"; the reason is in the error it logs for the attempt.
    assert expected_log in caplog.text, caplog.text


# ---- MQTT over TLS, the gateway process, HTTPS -----------------------------------------------------------


@dataclass
class GatewayProcess:
    https_url: str
    log: Path


@pytest.fixture(scope="module")
def gateway(secured: Secured) -> Iterator[GatewayProcess]:
    """`python -m gateway` with every link secured: mqtts:// with its account, SASL_SSL, HTTPS."""
    port = infra.free_port()
    env = {
        **os.environ,
        "GATEWAY_PORT": str(port),
        "GATEWAY_INSTANCE_ID": f"tls-{uuid.uuid4().hex[:6]}",
        "MQTT_URL": f"mqtts://127.0.0.1:{secured.mqtt_port}",
        "MQTT_CA_FILE": str(secured.ca.cert),
        "GATEWAY_MQTT_USERNAME": GATEWAY_ACCOUNT,
        "GATEWAY_MQTT_PASSWORD": secured.gateway_mqtt_password,
        "KAFKA_BOOTSTRAP": secured.kafka.sasl_ssl_bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SSL_CA_FILE": str(secured.ca.cert),
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "gateway",
        "KAFKA_SASL_PASSWORD": secured.kafka_accounts["gateway"],
        "KAFKA_TOPIC_PARTITIONS": "3",
        "HTTP_TLS_CERT": str(secured.server.cert),
        "HTTP_TLS_KEY": str(secured.server.key),
        "ELDERCARE_VAR_DIR": str(secured.workdir / "gateway-var"),
    }
    log = secured.workdir / "gateway.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway"], cwd=REPO_ROOT, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL
        )
    try:
        yield GatewayProcess(https_url=f"https://127.0.0.1:{port}", log=log)
    finally:
        infra.stop_process(process)


def client_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


async def ready_over_https(gateway: GatewayProcess, ca_file: Path) -> None:
    """The gateway's /readyz over HTTPS verified by the CA: MQTT (over TLS) and Kafka (SASL_SSL) are up."""

    async def ready() -> bool:
        async with httpx.AsyncClient(verify=client_context(ca_file), timeout=5) as http:
            with contextlib.suppress(httpx.TransportError):
                return (await http.get(f"{gateway.https_url}/readyz")).status_code == 200
        return False

    try:
        await eventually(ready, timeout=90, interval=0.5)
    except AssertionError:
        raise AssertionError("gateway never ready: " + gateway.log.read_text()[-3000:]) from None


async def test_an_sos_over_tls_reaches_kafka_through_the_gateway_over_tls_and_sasl_ssl(
    secured: Secured, gateway: GatewayProcess
) -> None:
    await ready_over_https(gateway, secured.ca.cert)
    device = await open_device(
        "127.0.0.1",
        secured.mqtt_port,
        f"dev-{DEVICE}",
        clean_session=True,
        tls=client_context(secured.ca.cert),
        username=DEVICE,
        password=secured.device_password,
        timeout=10,
    )
    event_id = f"tls-{uuid.uuid4().hex[:8]}"
    try:
        payload = orjson.dumps({"event_id": event_id, "ts": "2026-11-22T08:15:00Z"})
        await asyncio.wait_for(device.publish(f"eldercare/v1/devices/{DEVICE}/sos", payload, 0.0), 10)
    finally:
        device.close()
    # Read back over SASL_SSL too, with another account.
    options = kafka_security(kafka_settings(secured))

    async def on_kafka() -> list[Any]:
        records = await read_topic(secured.kafka.sasl_ssl_bootstrap, ALARMS, **options)
        return [r for r in records if _device_event(r.value) == (DEVICE, event_id)]

    assert len(await eventually(on_kafka, timeout=30, interval=0.5)) == 1


def _device_event(value: bytes) -> tuple[str, str] | None:
    envelope = pb.Envelope()
    try:
        envelope.ParseFromString(value)
    except Exception:  # the SASL test's raw markers share the topic
        return None
    return envelope.device_id, envelope.device_event_id


async def test_the_gateway_api_answers_over_https_only_to_a_client_trusting_its_ca(
    secured: Secured, gateway: GatewayProcess
) -> None:
    await ready_over_https(gateway, secured.ca.cert)
    async with httpx.AsyncClient(verify=client_context(secured.ca.cert), timeout=5) as http:
        response = await http.get(f"{gateway.https_url}/healthz")
        assert response.status_code == 200 and response.url.scheme == "https"
    async with httpx.AsyncClient(verify=client_context(secured.impostor_ca), timeout=5) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(f"{gateway.https_url}/healthz")
    plain_url = gateway.https_url.replace("https://", "http://")
    async with httpx.AsyncClient(timeout=5) as http:
        # uvicorn's TLS listener answers no plaintext HTTP request.
        with pytest.raises(httpx.TransportError):
            await http.get(f"{plain_url}/healthz")


async def test_a_device_in_plaintext_with_another_ca_or_a_wrong_password_is_refused(secured: Secured) -> None:
    async def connect(tls: ssl.SSLContext | None, password: str) -> None:
        device = await open_device(
            "127.0.0.1",
            secured.mqtt_port,
            f"dev-{DEVICE}-refused",
            clean_session=True,
            tls=tls,
            username=DEVICE,
            password=password,
            timeout=5,
        )
        device.close()

    # Plaintext MQTT on the TLS listener: the broker drops the connection before any CONNACK.
    with pytest.raises((ConnectionError, TimeoutError)):
        await connect(None, secured.device_password)
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(client_context(secured.impostor_ca), secured.device_password)
    with pytest.raises(MqttProtocolError, match="CONNACK refused"):
        await connect(client_context(secured.ca.cert), "not-the-password")
    # The same device with its own password and the right CA gets in: the refusals above were for their reason.
    await connect(client_context(secured.ca.cert), secured.device_password)


async def test_the_simulator_fleet_logs_in_over_tls_with_its_device_password(secured: Secured) -> None:
    config = FleetConfig(
        mqtt_url=f"mqtts://127.0.0.1:{secured.mqtt_port}",
        ca_file=str(secured.ca.cert),
        device_password=SIM_PASSWORD,
        devices=1,
        id_prefix=SIM_PREFIX,
    )
    fleet = Fleet(config)
    try:
        # A refused device would be retried forever: the timeout is the failure.
        await asyncio.wait_for(fleet.connect_all(), 20)
        assert fleet.connected == 1
    finally:
        await fleet.close()
    with pytest.raises(ssl.SSLCertVerificationError):
        await Fleet(replace(config, ca_file=str(secured.impostor_ca)))._open(fleet.devices[0])
