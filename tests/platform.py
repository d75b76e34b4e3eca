"""The running platform as the integration tests see it: processes, an HTTP client, a device."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from eldercare.v1 import events_pb2 as pb
from gateway.mqtt import MqttSession
from tests import infra
from tools import kafkanode
from tools.devstack import ALARM_GATEWAY, Stack, StackConfig

DISPATCHER = {"Authorization": "Bearer dev-dispatcher-token"}
SUPERVISOR = {"Authorization": "Bearer dev-supervisor-token"}
OPS = {"Authorization": "Bearer dev-ops-token"}

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll until `probe` returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def elder_envelope(snapshot: Any) -> bytes:
    """An ElderSnapshot wrapped as care-record publishes it on the elders topic."""
    from eldercare.envelope import new_event_id, to_timestamp, utcnow

    return pb.Envelope(
        event_id=new_event_id(),
        kind=pb.EVENT_KIND_ELDER,
        occurred_at=to_timestamp(utcnow()),
        received_at=to_timestamp(utcnow()),
        producer="test-care-record",
        elder=snapshot,
    ).SerializeToString()


async def publish_elder(platform: Platform, snapshot: Any) -> None:
    """Publish an ElderSnapshot on the elders topic as care-record would (tests without care-record)."""
    from eldercare.topics import ELDERS

    producer = AIOKafkaProducer(bootstrap_servers=platform.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(ELDERS, elder_envelope(snapshot), key=snapshot.elder_id.encode())
    finally:
        await producer.stop()


async def flood_sos(mqtt_url: str, device_id: str, count: int) -> asyncio.subprocess.Process:
    """A stuck button, fast: `count` broken payloads on the device's sos topic from a C publisher.

    mosquitto_pub -l makes every stdin line one QoS 1 publish; paho could not send them this fast.
    """
    host, port = mqtt_url.removeprefix("mqtt://").rsplit(":", 1)
    process = await asyncio.create_subprocess_exec(
        "mosquitto_pub",
        "-h",
        host,
        "-p",
        port,
        "-q",
        "1",
        "-i",
        f"flood-{device_id}",
        "-t",
        f"eldercare/v1/devices/{device_id}/sos",
        "-l",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    # Not JSON at all: the gateway salvages an SOS from each (topic and arrival time are enough).
    process.stdin.write(b"".join(b"stuck button %d \x01\n" % n for n in range(count)))
    await process.stdin.drain()
    process.stdin.close()
    return process


def new_device_id() -> str:
    return "T" + uuid.uuid4().hex[:15]


async def new_topic(kafka_bootstrap: str, prefix: str, partitions: int) -> str:
    """Create a topic with a fresh name (tests share one broker) and return the name."""
    topic = f"{prefix}.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    return topic


async def read_topic(kafka_bootstrap: str, topic: str, **client_options: Any) -> list[Any]:
    """Every record currently on a topic, read from the start without a consumer group.

    `client_options`: more AIOKafkaConsumer arguments (eldercare.kafka.kafka_security for SASL_SSL).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100, **client_options
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        # "Currently" is the end offsets now: read until every partition's position reaches them.
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + 60
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: could not read up to {ends} within 60 s")
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(r for rs in batch.values() for r in rs)
        return records
    finally:
        await consumer.stop()


@dataclass
class Brokers:
    """A Mosquitto and a Kafka node of a platform's own (see `own_platform`)."""

    mqtt: infra.BrokerProcess
    kafka: kafkanode.KafkaNode


@dataclass
class Platform:
    stack: Stack
    mqtt_url: str
    kafka_bootstrap: str
    ports: dict[str, int]
    http: httpx.AsyncClient
    devices: list[MqttSession] = field(default_factory=list)
    # Where the watch adapter takes TCP connections, when it runs ("watch" in the services).
    watch_port: int | None = None
    # The brokers the platform started for itself, when it did (`own_platform`); a test may restart them.
    brokers: Brokers | None = None

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    async def device(self, device_id: str) -> MqttSession:
        """The device's MQTT session (QoS 1 publishes await the broker's PUBACK), opened on first use.

        One per device: two sessions with one client id would take the connection from each
        other, reconnect and take it back, for as long as the test session runs.
        """
        client_id = f"dev-{device_id}"
        for existing in self.devices:
            if existing.client_id == client_id:
                await existing.wait_ready(timeout=30)  # reconnecting, if a test restarted the broker
                return existing
        session = MqttSession(url=self.mqtt_url, client_id=client_id, persistent=False, manual_ack=False)
        await session.start()
        await session.wait_ready()
        self.devices.append(session)
        return session

    async def publish(self, device_id: str, kind: str, payload: dict[str, Any] | bytes) -> None:
        device = await self.device(device_id)
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        await device.publish(f"eldercare/v1/devices/{device_id}/{kind}", raw, qos=1)

    async def incidents_for(self, device_id: str, status: str = "all") -> list[dict[str, Any]]:
        response = await self.http.get(
            self.url("dispatch", "/api/v1/incidents"), params={"status": status, "limit": 500}, headers=DISPATCHER
        )
        response.raise_for_status()
        return [i for i in response.json() if i["device_id"] == device_id]

    async def incident(self, incident_id: str) -> dict[str, Any]:
        response = await self.http.get(self.url("dispatch", f"/api/v1/incidents/{incident_id}"), headers=DISPATCHER)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    async def read_topic(self, topic: str) -> list[Any]:
        """Every record currently on a topic, read from the start without a consumer group."""
        return await read_topic(self.kafka_bootstrap, topic)

    async def dead_letters(self) -> list[pb.DeadLetter]:
        from eldercare.topics import DEADLETTER

        letters = []
        for record in await self.read_topic(DEADLETTER):
            letter = pb.DeadLetter()
            letter.ParseFromString(record.value)
            letters.append(letter)
        return letters

    async def stop(self) -> None:
        for device in self.devices:
            await device.stop()
        await self.http.aclose()
        await self.stack.stop()


# What most tests run: the MQTT path and the three services. The watch adapter has tests of its own.
CORE_SERVICES = ("gateway", "dispatch", "care-record", "monitoring")

# On a loaded 2-core machine a service's first start (migrations, then one consumer group join per
# consumer) can outlast the usual 90 s; suites that start a whole platform of their own wait this long.
PATIENT_START_TIMEOUT = float(os.environ.get("TEST_PLATFORM_START_TIMEOUT", "300"))


async def start_platform(
    *,
    workdir: Path,
    mqtt_port: int,
    kafka_bootstrap: str,
    databases: infra.DatabaseFactory,
    services: tuple[str, ...] = CORE_SERVICES,
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> Platform:
    """Start the platform's processes against the given brokers, each service with a fresh database."""
    ports = {name: infra.free_port() for name in ("dispatch", "care-record", "monitoring", "gateway", ALARM_GATEWAY)}
    watch_port = None
    if "watch" in services:
        ports["watch"], watch_port = infra.free_port(), infra.free_port()
    service_env = {
        "ELDERCARE_ENV": "test",
        "DISPATCH_DATABASE_URL": databases.url("dispatch"),
        "CARE_RECORD_DATABASE_URL": databases.url("care_record"),
        "MONITORING_DATABASE_URL": databases.url("monitoring"),
        "KAFKA_TOPIC_PARTITIONS": "3",
        **({"WATCH_LISTEN": f"127.0.0.1:{watch_port}", "WATCH_INSTANCE_ID": "test-watch"} if watch_port else {}),
        **(env or {}),
    }
    config = StackConfig(
        mqtt_url=f"mqtt://127.0.0.1:{mqtt_port}",
        kafka_bootstrap=kafka_bootstrap,
        ports=ports,
        env=service_env,
        var_dir=workdir / "var",
        log_dir=workdir / "logs",
        services=services,
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
        watch_port=watch_port,
    )


@contextlib.asynccontextmanager
async def running_platform(**kwargs: Any) -> AsyncIterator[Platform]:
    """`start_platform(**kwargs)` for the length of a `with` block (a module's own fixture)."""
    platform = await start_platform(**kwargs)
    try:
        yield platform
    finally:
        await platform.stop()


@contextlib.contextmanager
def own_brokers(path: Path) -> Iterator[Brokers]:
    """A Mosquitto and a Kafka node under `path`, for a platform that must share neither.

    Consumer groups and the MQTT share group are named per service: two platforms on the same
    brokers would split each other's alarms between their dispatch databases.
    """
    path.mkdir(parents=True, exist_ok=True)
    with infra.mosquitto(path) as mqtt, infra.kafka(path) as kafka:
        yield Brokers(mqtt=mqtt, kafka=kafka)


@contextlib.asynccontextmanager
async def own_platform(path: Path, databases: infra.DatabaseFactory, **kwargs: Any) -> AsyncIterator[Platform]:
    """A platform on brokers of its own under `path` (`start_platform`'s keywords pass through)."""
    with own_brokers(path) as brokers:
        async with running_platform(
            workdir=path / "platform",
            mqtt_port=brokers.mqtt.port,
            kafka_bootstrap=brokers.kafka.bootstrap,
            databases=databases,
            **kwargs,
        ) as platform:
            platform.brokers = brokers
            yield platform
