"""Fixtures shared by the integration tests: a migrated dispatch database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eldercare import db
from services.dispatch.app import MIGRATIONS
from tests.infra import DatabaseFactory


async def _migrated(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await db.ensure_database(url)
    engine = db.create_engine(url)
    await db.run_migrations(engine, MIGRATIONS)
    await db.run_migrations(engine, MIGRATIONS)  # a second start is a no-op
    yield db.session_factory(engine)
    await engine.dispose()


async def tables_on_postgres(
    databases: DatabaseFactory, metadata: MetaData, *, prefix: str, inbox: bool = False
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A fresh PostgreSQL database holding `metadata`'s tables (and the inbox's, with `inbox`)."""
    url = databases.url(f"{prefix}_{uuid.uuid4().hex[:6]}")
    await db.ensure_database(url)
    engine = db.create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        if inbox:
            await connection.run_sync(db.ProcessedEvent.__table__.create)  # type: ignore[attr-defined]
    yield db.session_factory(engine)
    await engine.dispose()


@pytest_asyncio.fixture(params=["postgresql", "sqlite"], loop_scope="session")
async def sessions(
    request: pytest.FixtureRequest, databases: DatabaseFactory, tmp_path: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """On each back end a service runs on (SQLite when no PostgreSQL answers)."""
    url = (
        databases.url(f"svc_{uuid.uuid4().hex[:6]}")
        if request.param == "postgresql"
        else f"sqlite+aiosqlite:///{tmp_path}/d.db"
    )
    async for factory in _migrated(url):
        yield factory


@pytest_asyncio.fixture(loop_scope="session")
async def pg_sessions(databases: DatabaseFactory) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """PostgreSQL only, for what SQLite does not have (advisory locks)."""
    async for factory in _migrated(databases.url(f"svc_{uuid.uuid4().hex[:6]}")):
        yield factory
