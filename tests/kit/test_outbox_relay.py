"""Stopping the outbox relay on real PostgreSQL: a round in flight finishes instead of being re-sent after a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eldercare import db
from tests.platform import eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class GatedProducer:
    """Records every send; acks are held until the test opens the gate (Kafka itself is not under test here)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.send_started = asyncio.Event()
        self.gate = asyncio.Event()

    async def send(self, topic: str, value: bytes, *, key: bytes | None) -> asyncio.Future[Any]:
        self.sent.append(value)
        self.send_started.set()
        return asyncio.ensure_future(self._ack())

    async def _ack(self) -> None:
        await self.gate.wait()


async def queue(sessions: async_sessionmaker[AsyncSession], *values: bytes) -> None:
    async with sessions() as session, session.begin():
        for value in values:
            db.add_to_outbox(session, topic="t", key=b"k", value=value)


async def pending(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(db.OutboxMessage)) or 0)


async def test_stop_lets_the_round_in_flight_commit_so_a_restart_sends_nothing_twice(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    producer = GatedProducer()
    relay = db.OutboxRelay(sessions=sessions, producer=lambda: producer, name=f"t{uuid.uuid4().hex[:6]}")
    await queue(sessions, b"reminder-command")
    await relay.start()
    await asyncio.wait_for(producer.send_started.wait(), timeout=10)

    stopping = asyncio.create_task(relay.stop())
    await asyncio.sleep(0.05)  # stop() is now waiting on the round that has sent but not yet been acked
    assert not stopping.done()
    producer.gate.set()
    await asyncio.wait_for(stopping, timeout=10)

    assert await pending(sessions) == 0  # the DELETE committed: a restarted relay has nothing to re-send
    restarted = GatedProducer()
    restarted.gate.set()
    again = db.OutboxRelay(sessions=sessions, producer=lambda: restarted, name="again")
    await again.start()
    await again.stop()
    assert producer.sent == [b"reminder-command"] and restarted.sent == []


async def test_stop_relays_rows_committed_just_before_it(sessions: async_sessionmaker[AsyncSession]) -> None:
    producer = GatedProducer()
    producer.gate.set()
    relay = db.OutboxRelay(sessions=sessions, producer=lambda: producer, name=f"t{uuid.uuid4().hex[:6]}")
    await relay.start()
    await asyncio.sleep(0.1)  # the relay has found nothing and is waiting for a wake-up
    await queue(sessions, b"last-incident-update")  # committed, but nobody called notify()
    await relay.stop()
    assert producer.sent == [b"last-incident-update"] and await pending(sessions) == 0


async def test_a_relay_that_cannot_drain_is_cancelled_after_the_timeout_and_keeps_its_rows(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    producer = GatedProducer()  # the gate never opens: Kafka is down
    relay = db.OutboxRelay(
        sessions=sessions, producer=lambda: producer, name=f"t{uuid.uuid4().hex[:6]}", drain_timeout_s=0.3
    )
    await queue(sessions, b"held")
    await relay.start()
    await asyncio.wait_for(producer.send_started.wait(), timeout=10)
    await asyncio.wait_for(relay.stop(), timeout=5)
    assert await pending(sessions) == 1  # still there for the next start: at least once, never lost


async def test_rows_go_out_once_in_commit_order_and_only_the_lock_holder_takes_them(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    sessions = pg_sessions
    name = "high2"  # crc32("outbox:high2") is above 2**31: the key must travel as a BIGINT
    assert db._lock_key(f"outbox:{name}") >= 2**31
    producer = GatedProducer()
    producer.gate.set()
    relay = db.OutboxRelay(sessions=sessions, producer=lambda: producer, name=name)
    await queue(sessions, *(f"event-{n:03d}".encode() for n in range(12)))

    async with sessions() as holder, holder.begin():  # another replica is relaying right now
        await holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": db._lock_key(f"outbox:{name}")})
        assert await relay.relay_once(limit=5) == 0
        assert producer.sent == [] and await pending(sessions) == 12

    assert [await relay.relay_once(limit=5) for _ in range(4)] == [5, 5, 2, 0]
    assert producer.sent == [f"event-{n:03d}".encode() for n in range(12)]
    assert await pending(sessions) == 0


async def test_rows_go_out_in_commit_order_in_rounds_of_the_limit(sessions: async_sessionmaker[AsyncSession]) -> None:
    producer = GatedProducer()
    producer.gate.set()
    relay = db.OutboxRelay(sessions=sessions, producer=lambda: producer, name=f"t{uuid.uuid4().hex[:6]}")
    for n in range(7):  # one transaction each, as services write them
        await queue(sessions, f"event-{n}".encode())
    assert [await relay.relay_once(limit=3) for _ in range(4)] == [3, 3, 1, 0]
    assert producer.sent == [f"event-{n}".encode() for n in range(7)] and await pending(sessions) == 0


def pending_gauge() -> float | None:
    return REGISTRY.get_sample_value("eldercare_outbox_pending_rows")


def gauge_shows(rows: int) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return pending_gauge() == rows

    return probe


class RefusingProducer:
    async def send(self, topic: str, value: bytes, *, key: bytes | None) -> asyncio.Future[Any]:
        raise KafkaConnectionError("broker unreachable")


async def test_the_pending_gauge_shows_a_backlog_and_rows_piling_up_while_kafka_refuses(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    producer = GatedProducer()
    producer.gate.set()
    relay = db.OutboxRelay(sessions=sessions, producer=lambda: producer, name=f"t{uuid.uuid4().hex[:6]}")
    await queue(sessions, *(f"e{n}".encode() for n in range(12)))
    assert await relay.relay_once(limit=5) == 5 and pending_gauge() == 7  # a full round counts what is left
    assert await relay.relay_once(limit=50) == 7 and pending_gauge() == 0

    down = db.OutboxRelay(sessions=sessions, producer=RefusingProducer, name=f"t{uuid.uuid4().hex[:6]}")
    await queue(sessions, b"a", b"b", b"c")
    await down.start()
    try:
        await eventually(gauge_shows(3), timeout=10)
    finally:
        await down.stop()
    assert await pending(sessions) == 3  # nothing lost while Kafka refused

