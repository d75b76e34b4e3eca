"""Every dead letter gets written: a payload too large for Kafka is cut to a prefix and its hash, not retried."""

from __future__ import annotations

import hashlib
import itertools
from typing import cast

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from prometheus_client import REGISTRY

from eldercare.kafka import DeadLetterPublisher
from eldercare.topics import DEADLETTER
from eldercare.v1 import events_pb2 as pb

_names = itertools.count()


class FakeProducer:
    """Takes records up to `max_bytes` (larger ones are refused for their size); the first `outages` sends fail."""

    def __init__(self, *, max_bytes: int = 1024 * 1024, outages: int = 0) -> None:
        self.max_bytes = max_bytes
        self.outages = outages
        self.attempts = 0
        self.written: list[tuple[pb.DeadLetter, bytes | None]] = []

    async def send_and_wait(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: object = None
    ) -> None:
        assert topic == DEADLETTER
        self.attempts += 1
        if self.outages:
            self.outages -= 1
            raise KafkaConnectionError("broker unreachable")
        if len(value) > self.max_bytes:
            raise MessageSizeTooLargeError(f"{len(value)} bytes")
        letter = pb.DeadLetter()
        letter.ParseFromString(value)
        self.written.append((letter, key))


def publisher(producer: FakeProducer) -> tuple[DeadLetterPublisher, str]:
    name = f"test-{next(_names)}"
    return DeadLetterPublisher(lambda: cast(AIOKafkaProducer, producer), name), name


def counted(metric: str, producer: str) -> float:
    return REGISTRY.get_sample_value(metric, {"producer": producer, "reason": "payload_too_large"}) or 0.0


async def test_a_payload_over_the_bound_is_written_as_its_first_bytes_its_hash_and_its_size() -> None:
    producer = FakeProducer()
    dead_letters, name = publisher(producer)
    raw = bytes(range(256)) * (10 * 1024 * 1024 // 256)  # 10 MiB: Kafka's default limit is 1 MiB

    await dead_letters.publish(reason="payload_too_large", detail="too big", source="mqtt/x", raw=raw, key=b"k")

    [(letter, key)] = producer.written
    assert letter.raw == raw[: DeadLetterPublisher.MAX_RAW_BYTES] and key == b"k"
    assert letter.raw_sha256 == hashlib.sha256(raw).hexdigest() and letter.raw_size == len(raw)
    assert letter.ByteSize() < DeadLetterPublisher.MAX_RAW_BYTES + 4096
    assert counted("eldercare_deadletters_cut_total", name) == 1
    assert counted("eldercare_deadletters_total", name) == 1


async def test_a_payload_within_the_bound_is_kept_whole_and_not_counted_as_cut() -> None:
    producer = FakeProducer()
    dead_letters, name = publisher(producer)

    await dead_letters.publish(reason="payload_too_large", detail="d", source="s", raw=b"poison")

    [(letter, _)] = producer.written
    assert letter.raw == b"poison" and letter.raw_sha256 == "" and letter.raw_size == 0
    assert counted("eldercare_deadletters_cut_total", name) == 0
    assert counted("eldercare_deadletters_total", name) == 1


async def test_a_letter_the_broker_refuses_for_its_size_goes_once_more_cut_further() -> None:
    producer = FakeProducer(max_bytes=16 * 1024)  # a broker whose limit is below the first cut
    dead_letters, name = publisher(producer)
    raw = b"x" * (40 * 1024)

    await dead_letters.publish(reason="payload_too_large", detail="d" * 5000, source="s", raw=raw, key=b"k")

    assert producer.attempts == 2
    [(letter, key)] = producer.written
    assert letter.raw == raw[: DeadLetterPublisher.FALLBACK_RAW_BYTES] and key is None
    assert letter.raw_sha256 == hashlib.sha256(raw).hexdigest() and letter.raw_size == len(raw)
    assert counted("eldercare_deadletters_cut_total", name) == 1


async def test_a_letter_refused_even_when_cut_is_dropped_after_two_attempts_not_retried_forever() -> None:
    producer = FakeProducer(max_bytes=10)
    dead_letters, name = publisher(producer)

    await dead_letters.publish(reason="payload_too_large", detail="d", source="s", raw=b"x" * 100_000)

    assert producer.attempts == 2 and producer.written == []
    assert counted("eldercare_deadletters_total", name) == 0


async def test_a_broker_outage_is_still_retried_until_the_letter_is_written() -> None:
    producer = FakeProducer(outages=2)
    dead_letters, _ = publisher(producer)

    await dead_letters.publish(reason="invalid_json", detail="d", source="s", raw=b"{")

    assert producer.attempts == 3 and len(producer.written) == 1
