"""BatchSender on a real Kafka-protocol broker: every record lands once, on send()'s partition, in order."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from eldercare.kafka import BatchSender, MemoisedKeyPartitioner
from tests.platform import new_topic, read_topic
from tools import kafkanode

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
PARTITIONS = 4


async def test_batched_records_land_once_on_the_partition_send_picks_in_order(
    kafka_broker: kafkanode.KafkaNode,
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = await new_topic(bootstrap, "test.batches", PARTITIONS)
    # A small batch size, so that the sender must also start a new batch when one fills up.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=2048, linger_ms=5)
    await producer.start()
    try:
        sender: BatchSender[int] = BatchSender(producer)
        keys = [f"dev-{n % 37:03d}".encode() for n in range(600)]
        records = [(key, f"{n}:{'x' * 40}".encode(), n) for n, key in enumerate(keys)]
        deliveries = []
        for start in range(0, len(records), 200):  # three chunks, as the gateway's bulk lane sends them
            deliveries.extend(await sender.send(topic, records[start : start + 200]))
        await asyncio.gather(*(delivery for delivery, _ in deliveries))
        tags = sorted(tag for _, batch_tags in deliveries for tag in batch_tags)
        assert tags == list(range(600)), "every record's tag is carried by exactly one delivery"
        assert len(deliveries) > 3 * PARTITIONS, "2 KiB batches filled up and more were started"
    finally:
        await producer.stop()

    seen = [(record.partition, record.key or b"", record.value or b"") for record in await read_topic(bootstrap, topic)]
    assert len(seen) == 600
    expected_partition = MemoisedKeyPartitioner()
    all_partitions = list(range(PARTITIONS))
    for partition, key, _ in seen:
        assert partition == expected_partition(key, all_partitions, all_partitions)
    per_key: dict[bytes, list[int]] = {}
    for _, key, value in seen:
        per_key.setdefault(key, []).append(int(value.split(b":")[0]))
    for key, numbers in per_key.items():
        assert numbers == sorted(numbers), f"{key!r} out of order"
    assert sorted(n for numbers in per_key.values() for n in numbers) == list(range(600))


async def test_a_producer_that_cannot_take_the_batch_hands_back_a_failed_delivery(
    kafka_broker: kafkanode.KafkaNode,
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = await new_topic(bootstrap, "test.batches", PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sender: BatchSender[str] = BatchSender(producer)
    await producer.partitions_for(topic)  # metadata known: the refusal comes from the closed producer
    await producer.stop()

    deliveries = await sender.send(topic, [(b"a", b"1", "first"), (b"b", b"2", "second")])

    assert sorted(tag for _, tags in deliveries for tag in tags) == ["first", "second"]
    for delivery, _ in deliveries:
        assert delivery.done()
        assert isinstance(delivery.exception(), KafkaError)
