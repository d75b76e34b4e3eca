"""Stopping the outbox relay on real PostgreSQL: a round in flight finishes instead of being re-sent after a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eldercare import db
from services.dispatch.app import MIGRATIONS
from tests.infra import DatabaseFactory

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


@pytest_asyncio.fixture(loop_scope="session")
async def sessions(databases: DatabaseFactory) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = databases.url(f"outbox_{uuid.uuid4().hex[:6]}")
    await db.ensure_database(url)
    engine = db.create_engine(url)
    await db.run_migrations(engine, MIGRATIONS)
    yield db.session_factory(engine)
    await engine.dispose()


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
