"""eldercare.db.ArrayWrite and the array inbox claim, on real PostgreSQL: what goes in comes back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest_asyncio
from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eldercare import db
from tests.infra import DatabaseFactory, tables_on_postgres

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("label", String(16), nullable=True),
    Column("seen_at", db.UTCDateTime(), nullable=True),
    Column("level", Float, nullable=True),
    Column("count", Integer, nullable=True),
    Column("total", BigInteger, nullable=True),
    Column("flag", Boolean, nullable=False),
)
COLUMNS = ("key", "label", "seen_at", "level", "count", "total", "flag")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PLUS_8 = timezone(timedelta(hours=8))


@pytest_asyncio.fixture(loop_scope="session")
async def sessions(databases: DatabaseFactory) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async for factory in tables_on_postgres(databases, metadata, prefix="arr", inbox=True):
        yield factory


async def read_all(sessions: async_sessionmaker[AsyncSession]) -> dict[str, dict[str, Any]]:
    async with sessions() as session:
        result = await session.execute(select(things).order_by(things.c.key))
        return {row.key: dict(row._mapping) for row in result}


async def test_insert_then_update_round_trips_every_type_and_null(sessions: async_sessionmaker[AsyncSession]) -> None:
    rows = [
        {"key": "a", "label": "first", "seen_at": T0, "level": 1.5, "count": 3, "total": 2**40, "flag": True},
        {"key": "b", "label": None, "seen_at": None, "level": None, "count": None, "total": None, "flag": False},
        # an int in a float column, a non-UTC aware datetime: both stored as PostgreSQL would cast them
        {"key": "c", "label": "x", "seen_at": T0.astimezone(PLUS_8), "level": 7, "count": 0, "total": -1, "flag": True},
    ]
    async with sessions() as session, session.begin():
        await db.ArrayWrite(things, COLUMNS).execute(session, rows, values=dict.get)
    stored = await read_all(sessions)
    assert stored == {"a": rows[0], "b": rows[1], "c": {**rows[2], "level": 7.0, "seen_at": T0}}
    assert isinstance(stored["c"]["level"], float) and stored["c"]["seen_at"].tzinfo == UTC

    later = T0 + timedelta(minutes=5)
    changes = [
        {"key": "b", "label": "second", "seen_at": later, "level": 2.0, "count": 1, "total": 5, "flag": True},
        {"key": "a", "label": None, "seen_at": None, "level": None, "count": None, "total": None, "flag": False},
        {"key": "zz", "label": "ghost", "seen_at": later, "level": 0.0, "count": 0, "total": 0, "flag": True},
    ]
    async with sessions() as session, session.begin():
        await db.ArrayWrite(things, COLUMNS, key="key").execute(session, changes, values=dict.get)
    stored = await read_all(sessions)
    assert stored["a"] == changes[1]
    assert stored["b"] == changes[0]
    assert stored["c"]["label"] == "x"  # not in the update: untouched
    assert "zz" not in stored  # an update never inserts


async def test_nothing_to_write_sends_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await db.ArrayWrite(things, COLUMNS).execute(session, [], values=dict.get)
        await db.ArrayWrite(things, COLUMNS, key="key").execute(session, [], values=dict.get)
    assert await read_all(sessions) == {}


async def test_array_claim_returns_only_ids_never_seen(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        first = await db.claim_events(session, consumer="c1", event_ids=["e1", "e2", "e2", "e3"])
    async with sessions() as session, session.begin():
        second = await db.claim_events(session, consumer="c1", event_ids=["e3", "e4"])
        other_consumer = await db.claim_events(session, consumer="c2", event_ids=["e1"])
    assert first == {"e1", "e2", "e3"}
    assert second == {"e4"}
    assert other_consumer == {"e1"}
    async with sessions() as session:
        stamped = await session.scalars(select(db.ProcessedEvent.processed_at))  # type: ignore[call-overload]
        assert all(at.tzinfo is not None for at in stamped)
