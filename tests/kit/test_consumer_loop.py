"""ConsumerLoop batch mode on a real Kafka-protocol broker: a batch spans partitions, a poison record is isolated."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.conn import AIOKafkaConnection

from eldercare.kafka import (
    JOIN_GROUP_API_KEY,
    JOIN_GROUP_TIMEOUT_MS,
    ConsumerLoop,
    DeadLetterPublisher,
    PoisonRecord,
    ensure_topics,
)
from eldercare.settings import BaseProcessSettings
from eldercare.topics import DEADLETTER
from eldercare.v1 import events_pb2 as pb
from tests.platform import eventually, new_topic
from tools import kafkanode

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
PARTITIONS = 3


async def test_a_fetch_is_one_batch_across_partitions_and_a_poison_record_is_isolated(
    kafka_broker: kafkanode.KafkaNode,
) -> None:
    bootstrap = kafka_broker.bootstrap
    settings = BaseProcessSettings(kafka_bootstrap=bootstrap)
    topic = await new_topic(bootstrap, "test.batch", PARTITIONS)
    group = f"batch-{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [DEADLETTER])

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    values = [f"ok-{n}".encode() for n in range(60)]
    values[37] = b"poison"

    async def produce(numbers: range) -> None:
        for number in numbers:
            await producer.send_and_wait(topic, values[number], partition=number % PARTITIONS)

    try:
        await produce(range(30))  # clean: these are applied in whole batches

        applied: list[bytes] = []
        batches: list[set[int]] = []

        async def batch_handler(records: Sequence[ConsumerRecord]) -> None:
            if any(record.value == b"poison" for record in records):
                raise ValueError("one record in this batch cannot be applied")
            batches.append({record.partition for record in records})
            applied.extend(record.value for record in records)

        async def record_handler(record: ConsumerRecord) -> None:
            if record.value == b"poison":
                raise PoisonRecord("test_poison", "refused on purpose")
            applied.append(record.value)

        loop = ConsumerLoop(
            settings=settings,
            name=group,
            topics=[topic],
            handler=record_handler,
            batch_handler=batch_handler,
            dead_letters=DeadLetterPublisher(lambda: producer, "test"),
            max_records=500,
        )
        await loop.start()
        try:
            await eventually(lambda: asyncio.sleep(0, len(applied) >= 30), timeout=30)
            assert any(len(partitions_in_batch) > 1 for partitions_in_batch in batches), batches
            await produce(range(30, 60))  # the poison's batch falls back to one record at a time
            await eventually(lambda: asyncio.sleep(0, len(applied) >= len(values) - 1), timeout=30)
            # Committed only after applying: every partition's committed offset is its end.
            partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]

            async def all_committed() -> bool:
                return [await loop.consumer.committed(tp) for tp in partitions] == [20, 20, 20]

            await eventually(all_committed, timeout=10)
        finally:
            await loop.stop()

        assert sorted(applied) == sorted(v for v in values if v != b"poison")  # each once, poison excluded

        reader = AIOKafkaConsumer(DEADLETTER, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await reader.start()
        try:
            letters: list[pb.DeadLetter] = []

            async def poison_letter() -> pb.DeadLetter | None:
                for records in (await reader.getmany(timeout_ms=500)).values():
                    letters.extend(pb.DeadLetter.FromString(record.value) for record in records)
                return next((letter for letter in letters if letter.raw == b"poison"), None)

            poison = await eventually(poison_letter, timeout=15)
        finally:
            await reader.stop()
        assert poison.reason == "test_poison" and poison.source.startswith(f"{topic}/")
    finally:
        await producer.stop()


async def test_a_consumer_with_a_fetch_minimum_applies_a_trickle_in_few_rounds_and_misses_nothing(
    kafka_broker: kafkanode.KafkaNode,
) -> None:
    bootstrap = kafka_broker.bootstrap
    settings = BaseProcessSettings(kafka_bootstrap=bootstrap)
    topic = await new_topic(bootstrap, "test.linger", PARTITIONS)
    await ensure_topics(settings, [DEADLETTER])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    rounds: list[int] = []
    applied: list[bytes] = []

    async def batch_handler(records: Sequence[ConsumerRecord]) -> None:
        rounds.append(len(records))
        applied.extend(record.value for record in records)

    async def record_handler(record: ConsumerRecord) -> None:
        rounds.append(1)
        applied.append(record.value)

    # The broker holds each fetch until it has fetch_min_bytes (never, for this trickle) or the wait passed.
    wait_s = 0.2
    loop = ConsumerLoop(
        settings=settings,
        name=f"linger-{uuid.uuid4().hex[:8]}",
        topics=[topic],
        handler=record_handler,
        batch_handler=batch_handler,
        dead_letters=DeadLetterPublisher(lambda: producer, "test"),
        max_records=500,
        fetch_max_wait_ms=int(wait_s * 1000),
        fetch_min_bytes=1024 * 1024,
    )
    await loop.start()
    try:
        started = asyncio.get_running_loop().time()
        for number in range(100):  # a record every ~10 ms: without the minimum, a round for nearly each
            await producer.send_and_wait(topic, f"r{number}".encode(), partition=number % PARTITIONS)
            await asyncio.sleep(0.01)
        await eventually(lambda: asyncio.sleep(0, len(applied) >= 100), timeout=30)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        await loop.stop()
        await producer.stop()

    assert sorted(applied) == sorted(f"r{number}".encode() for number in range(100))
    # Every round waited for the fetch to fill or time out, so rounds are bounded by the time taken.
    assert len(rounds) <= elapsed / wait_s + 2, (len(rounds), elapsed)


def _sample(name: str, **labels: str) -> float | None:
    """The current value of a sample in the process's registry, as a scrape would read it."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels)


async def test_the_lag_gauges_keep_rising_while_a_handler_retries(kafka_broker: kafkanode.KafkaNode) -> None:
    """A handler stuck retrying (its database is down) must not freeze the lag, in records or in seconds."""
    bootstrap = kafka_broker.bootstrap
    settings = BaseProcessSettings(kafka_bootstrap=bootstrap)
    topic = await new_topic(bootstrap, "test.lag", 1)
    await ensure_topics(settings, [DEADLETTER])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    attempts = 0
    healthy = asyncio.Event()

    async def failing_until_healthy(record: ConsumerRecord) -> None:
        nonlocal attempts
        if not healthy.is_set():
            attempts += 1
            raise ConnectionError("database unreachable")

    name = f"lag-{uuid.uuid4().hex[:8]}"
    loop = ConsumerLoop(
        settings=settings,
        name=name,
        topics=[topic],
        handler=failing_until_healthy,
        dead_letters=DeadLetterPublisher(lambda: producer, "test"),
        lag_interval_s=0.2,
    )

    def lag() -> float | None:
        return _sample("eldercare_kafka_consumer_lag_records", consumer=name, topic=topic, partition="0")

    def lag_seconds() -> float:
        return _sample("eldercare_kafka_consumer_lag_seconds", consumer=name, topic=topic) or 0.0

    def retrying() -> float | None:
        return _sample("eldercare_kafka_handlers_retrying", consumer=name)

    await loop.start()
    try:
        assert retrying() == 0 and lag_seconds() == 0
        for number in range(5):
            await producer.send_and_wait(topic, f"r{number}".encode())
        await eventually(lambda: asyncio.sleep(0, attempts >= 1), timeout=30)
        await eventually(lambda: asyncio.sleep(0, lag() == 5), timeout=15)
        assert retrying() == 1  # one record stuck, however many attempts
        for number in range(5, 12):
            await producer.send_and_wait(topic, f"r{number}".encode())
        # Still stuck on the first record, yet the gauge follows the log end.
        await eventually(lambda: asyncio.sleep(0, lag() == 12), timeout=15)
        # The age of the oldest unapplied record rises with the clock, with no fetch or apply behind it.
        first = lag_seconds()
        assert first > 0
        await eventually(lambda: asyncio.sleep(0, lag_seconds() >= first + 1), timeout=15)
        assert attempts >= 2 and retrying() == 1

        healthy.set()
        await eventually(lambda: asyncio.sleep(0, retrying() == 0 and lag_seconds() == 0), timeout=30)
        await eventually(lambda: asyncio.sleep(0, lag() == 0), timeout=30)
    finally:
        await loop.stop()
        await producer.stop()


async def test_by_key_one_keys_stuck_run_does_not_hold_back_other_keys_and_each_key_keeps_its_order(
    kafka_broker: kafkanode.KafkaNode,
) -> None:
    bootstrap = kafka_broker.bootstrap
    settings = BaseProcessSettings(kafka_bootstrap=bootstrap)
    topic = await new_topic(bootstrap, "test.bykey", 1)  # one partition: every key shares it
    await ensure_topics(settings, [DEADLETTER])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    release = asyncio.Event()
    applied: list[tuple[bytes, bytes]] = []
    runs: list[list[bytes]] = []

    async def record_handler(record: ConsumerRecord) -> None:
        if record.key == b"slow":
            await release.wait()  # this device's handler is stuck (a lock, a slow query)
        applied.append((record.key, record.value))

    async def key_batch_handler(records: Sequence[ConsumerRecord]) -> None:
        runs.append([record.value for record in records])
        if records[0].key == b"slow":
            await release.wait()
        applied.extend((record.key, record.value) for record in records)

    loop = ConsumerLoop(
        settings=settings,
        name=f"bykey-{uuid.uuid4().hex[:8]}",
        topics=[topic],
        handler=record_handler,
        dead_letters=DeadLetterPublisher(lambda: producer, "test"),
        key_concurrency=4,
        key_batch_handler=key_batch_handler,
    )
    try:
        # The slow key first, then other keys behind it on the same partition.
        batch = [(b"slow", f"s{n}".encode()) for n in range(5)]
        batch += [(f"k{n % 3}".encode(), f"v{n}".encode()) for n in range(9)]
        for key, value in batch:
            await producer.send(topic, value, key=key)
        await producer.flush()
        await loop.start()
        others = [pair for pair in batch if pair[0] != b"slow"]
        await eventually(lambda: asyncio.sleep(0, len(applied) >= len(others)), timeout=30)
        assert sorted(applied) == sorted(others), "the other keys waited for the stuck one"
        for key in (b"k0", b"k1", b"k2"):
            assert [v for k, v in applied if k == key] == [v for k, v in batch if k == key]  # in order
        partition = TopicPartition(topic, 0)
        assert await loop.consumer.committed(partition) is None  # not before the stuck key is done
        release.set()
        await eventually(lambda: asyncio.sleep(0, len(applied) == len(batch)), timeout=30)
        assert [v for k, v in applied if k == b"slow"] == [f"s{n}".encode() for n in range(5)]
        assert [b"s0", b"s1", b"s2", b"s3", b"s4"] in runs  # one call for the key's whole run

        async def committed() -> bool:
            return await loop.consumer.committed(partition) == len(batch)

        await eventually(committed, timeout=10)
    finally:
        release.set()
        await loop.stop()
        await producer.stop()


class RecordingLoop:
    """A one-partition topic, a producer, and a ConsumerLoop that records what it applied."""

    def __init__(self, bootstrap: str, settings: BaseProcessSettings, name: str) -> None:
        self.bootstrap, self.settings, self.name = bootstrap, settings, name
        self.applied: list[bytes] = []

    async def __aenter__(self) -> RecordingLoop:
        self.topic = await new_topic(self.bootstrap, f"test.{self.name}", 1)
        await ensure_topics(self.settings, [DEADLETTER])
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await self.producer.start()

        async def handler(record: ConsumerRecord) -> None:
            self.applied.append(record.value)

        self.loop = ConsumerLoop(
            settings=self.settings,
            name=f"{self.name}-{uuid.uuid4().hex[:8]}",
            topics=[self.topic],
            handler=handler,
            dead_letters=DeadLetterPublisher(lambda: self.producer, "test"),
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.loop.stop()
        await self.producer.stop()


async def test_records_keep_being_applied_while_the_group_coordinator_does_not_answer_commits(
    kafka_broker: kafkanode.KafkaNode,
) -> None:
    """A frozen coordinator (fault scenario 9) must not hold back applying: commits go on aside."""
    bootstrap = kafka_broker.bootstrap
    async with RecordingLoop(bootstrap, BaseProcessSettings(kafka_bootstrap=bootstrap), "frozen-commit") as world:
        loop, applied = world.loop, world.applied
        await loop.start()
        partition = TopicPartition(world.topic, 0)
        real_commit = loop.consumer.commit
        answered = asyncio.Event()

        async def commit_that_waits(offsets: dict[TopicPartition, int]) -> None:
            await answered.wait()  # the coordinator is frozen until the test lets it answer
            await real_commit(offsets)

        loop.consumer.commit = commit_that_waits  # type: ignore[method-assign]
        for number in range(5):  # one fetch each: every one of them asks for a commit
            await world.producer.send_and_wait(world.topic, f"r{number}".encode(), partition=0)
            await eventually(lambda n=number: asyncio.sleep(0, len(applied) > n), timeout=10)
        assert applied == [f"r{n}".encode() for n in range(5)]
        assert await loop.consumer.committed(partition) is None  # none of it committed yet

        answered.set()

        async def committed_to_the_end() -> bool:
            return await loop.consumer.committed(partition) == 5

        await eventually(committed_to_the_end, timeout=15)


async def test_join_group_gets_the_longer_timeout_and_every_other_request_the_short_one(
    kafka_broker: kafkanode.KafkaNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = kafka_broker.bootstrap
    settings = BaseProcessSettings(kafka_bootstrap=bootstrap, kafka_request_timeout_ms=4000)
    # Every request any connection sends, with the timeout it will be given (read as it is sent).
    sent: list[tuple[int, float]] = []
    send = AIOKafkaConnection.send

    def watched_send(self: AIOKafkaConnection, request: Any, expect_response: bool = True) -> Any:
        sent.append((request.API_KEY, self._request_timeout))
        return send(self, request, expect_response=expect_response)

    monkeypatch.setattr(AIOKafkaConnection, "send", watched_send)
    async with RecordingLoop(bootstrap, settings, "timeouts") as world:
        sent.clear()
        await world.loop.start()
        await world.producer.send_and_wait(world.topic, b"one", partition=0)
        await eventually(lambda: asyncio.sleep(0, world.applied == [b"one"]), timeout=15)
        await eventually(lambda: asyncio.sleep(0, {OFFSET_COMMIT, HEARTBEAT} <= {key for key, _ in sent}), timeout=15)
        producer_timeout = world.producer.client._request_timeout_ms / 1000
    by_api: dict[int, set[float]] = {}
    for key, timeout in sent:
        by_api.setdefault(key, set()).add(timeout)
    assert by_api.pop(JOIN_GROUP_API_KEY) == {JOIN_GROUP_TIMEOUT_MS / 1000}
    for key in (FETCH, HEARTBEAT, OFFSET_COMMIT, SYNC_GROUP):
        assert by_api[key] == {4.0}, (key, by_api)
    # The producer's requests are in here too: it was made with aiokafka's default timeout.
    assert all(timeouts <= {4.0, producer_timeout} for timeouts in by_api.values()), by_api


FETCH, OFFSET_COMMIT, HEARTBEAT, SYNC_GROUP = 1, 8, 12, 14
