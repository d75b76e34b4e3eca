"""The elders topic is really compacted, and dispatch rebuilds its read model from what compaction left.

A broker of its own with a cleaner that runs every 100 ms, and an elders topic whose
segments roll every 100 ms and may be cleaned as soon as anything in them is dirty.
Every elder gets five snapshot versions; once the cleaner has run, only the newest
of each remains on the topic, and a dispatch started on an empty database reads the
topic from the start and ends with every elder at its newest version.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from eldercare.topics import ELDERS
from eldercare.v1 import elders_pb2
from tests import infra
from tests.platform import DISPATCHER, elder_envelope, eventually, read_topic, start_platform
from tools import kafkanode

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ELDERS_COUNT = 20
VERSIONS = 5
PARTITIONS = 3
FILLER = b"filler"
# The cleaner's own pace, not the platform's: a real deployment keeps Kafka's defaults.
AGGRESSIVE_TOPIC = {
    "cleanup.policy": "compact",
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.001",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "100",
}


@pytest.fixture(scope="module")
def compacting_kafka(workdir: Path) -> Iterator[kafkanode.KafkaNode]:
    path = workdir / "compaction-kafka"
    path.mkdir(parents=True, exist_ok=True)
    with infra.kafka(path, overrides={"log.cleaner.backoff.ms": "100"}) as node:
        yield node


def snapshot_envelope(elder_id: str, device_id: str, version: int) -> bytes:
    snapshot = elders_pb2.ElderSnapshot(
        elder_id=elder_id,
        version=version,
        name=f"version {version}",
        device_ids=[device_id],
        bindings=[elders_pb2.DeviceBinding(device_id=device_id, binding_seq=1)],
    )
    return elder_envelope(snapshot)


async def test_superseded_snapshots_are_compacted_away_and_dispatch_rebuilds_from_the_rest(
    compacting_kafka: kafkanode.KafkaNode,
    mqtt_broker: infra.BrokerProcess,
    databases: infra.DatabaseFactory,
    workdir: Path,
) -> None:
    bootstrap = compacting_kafka.bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(ELDERS, PARTITIONS, 1, topic_configs=AGGRESSIVE_TOPIC)])
    finally:
        await admin.close()

    run = uuid.uuid4().hex[:6]
    elders = {f"E{run}{n:03d}": f"D{run}{n:03d}" for n in range(ELDERS_COUNT)}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for version in range(1, VERSIONS + 1):
            for elder_id, device_id in elders.items():
                await producer.send_and_wait(
                    ELDERS, snapshot_envelope(elder_id, device_id, version), key=elder_id.encode()
                )
        written = ELDERS_COUNT * VERSIONS

        async def compacted() -> Counter[bytes] | None:
            # The newest records sit in each partition's active segment, which the cleaner never
            # touches: a filler record per partition rolls that segment (segment.ms) so it is cleaned.
            for partition in range(PARTITIONS):
                await producer.send_and_wait(ELDERS, b"", key=FILLER, partition=partition)
            per_key = Counter(record.key for record in await read_topic(bootstrap, ELDERS) if record.key != FILLER)
            return per_key if per_key and max(per_key.values()) == 1 else None

        left = await eventually(compacted, timeout=90, interval=0.5)
    finally:
        await producer.stop()
    assert set(left) == {elder_id.encode() for elder_id in elders}, "compaction must keep each elder's newest"
    assert sum(left.values()) < written

    # Fillers are not snapshots: dispatch dead-letters them and goes on, as with any bad record.
    platform = await start_platform(
        workdir=workdir / f"compaction-{run}",
        mqtt_port=mqtt_broker.port,
        kafka_bootstrap=compacting_kafka.bootstrap,
        databases=databases,
        services=("dispatch",),
        # A database of its own: the session's platform has a dispatch database too, whose read model
        # stores its positions on another broker's elders topic.
        env={"DISPATCH_DATABASE_URL": databases.url(f"compaction_dispatch_{run}")},
    )
    try:

        async def rebuilt() -> list[str] | None:
            names = []
            for device_id in elders.values():
                response = await platform.http.get(
                    platform.url("dispatch", f"/api/v1/devices/{device_id}/elder"), headers=DISPATCHER
                )
                if response.status_code != 200:
                    return None
                names.append(response.json()["name"])
            return names

        try:
            names = await eventually(rebuilt, timeout=60, interval=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}{platform.stack.processes['dispatch'].log_tail(60)}") from exc
    finally:
        await platform.stop()
    assert names == [f"version {VERSIONS}"] * ELDERS_COUNT
