"""A commit that wrote wakes the outbox relay by itself: no writer has to remember to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlmodel import SQLModel

from eldercare import db
from eldercare.envelope import utcnow

pytestmark = pytest.mark.asyncio


async def test_only_commits_that_wrote_and_not_the_relays_own_wake_it(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all, tables=[db.OutboxMessage.__table__])
    woken: list[str] = []
    sessions = db.session_factory(engine, after_write_commit=lambda: woken.append("commit"))
    row = {"topic": "t", "value": b"v", "created_at": utcnow()}
    try:
        async with sessions() as session, session.begin():  # an ORM add: flushed at commit
            session.add(db.OutboxMessage(**row))
        assert woken == ["commit"]

        async with sessions() as session, session.begin():  # a Core INSERT: no flush at all
            await session.execute(insert(db.OutboxMessage).values(**row))
        assert woken == ["commit"] * 2

        async with sessions() as session, session.begin():  # only read
            await session.execute(select(db.OutboxMessage))
        assert woken == ["commit"] * 2

        async with sessions() as session:  # wrote, then rolled back
            session.add(db.OutboxMessage(**row))
            await session.flush()
            await session.rollback()
            await session.commit()
        assert woken == ["commit"] * 2

        relay = db.OutboxRelay(sessions=sessions, producer=lambda: _Acking(), name="test")
        assert await relay.relay_once() == 2  # its DELETE commits, and is not news to itself
        assert woken == ["commit"] * 2
    finally:
        await engine.dispose()


class _Acking:
    """A producer that acknowledges at once: the relay's commit is what this test is about."""

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> object:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future
