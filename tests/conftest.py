"""Session-wide real infrastructure, the running platform, and a migrated database, for every real-stack test."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eldercare import db
from services.dispatch.app import MIGRATIONS
from tests import infra
from tests.platform import Platform, start_platform
from tools import kafkanode


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    keep = os.environ.get("ELDERCARE_TEST_KEEP_LOGS")
    path = Path(tempfile.mkdtemp(prefix="eldercare-test-"))
    yield path
    if not keep:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def mqtt_broker(workdir: Path) -> Iterator[infra.BrokerProcess]:
    with infra.mosquitto(workdir) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_broker(workdir: Path) -> Iterator[kafkanode.KafkaNode]:
    with infra.kafka(workdir) as broker:
        yield broker


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with infra.postgres_server() as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def databases(postgres_url: str) -> AsyncIterator[infra.DatabaseFactory]:
    factory = infra.DatabaseFactory(postgres_url)
    yield factory
    await factory.drop_all()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def platform(
    workdir: Path,
    mqtt_broker: infra.BrokerProcess,
    kafka_broker: kafkanode.KafkaNode,
    databases: infra.DatabaseFactory,
) -> AsyncIterator[Platform]:
    """Gateway, dispatch, care-record and monitoring as separate processes on real brokers and PostgreSQL."""
    platform = await start_platform(
        workdir=workdir / "platform",
        mqtt_port=mqtt_broker.port,
        kafka_bootstrap=kafka_broker.bootstrap,
        databases=databases,
    )
    try:
        yield platform
    finally:
        await platform.stop()
        await asyncio.sleep(0)


# A migrated dispatch database, for the kit's database plumbing (tests/kit) and dispatch's rules (tests/dispatch).
async def _migrated(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await db.ensure_database(url)
    engine = db.create_engine(url)
    await db.run_migrations(engine, MIGRATIONS)
    await db.run_migrations(engine, MIGRATIONS)  # a second start is a no-op
    yield db.session_factory(engine)
    await engine.dispose()


@pytest_asyncio.fixture(params=["postgresql", "sqlite"], loop_scope="session")
async def sessions(
    request: pytest.FixtureRequest, databases: infra.DatabaseFactory, tmp_path: Path
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
async def pg_sessions(databases: infra.DatabaseFactory) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """PostgreSQL only, for what SQLite does not have (advisory locks)."""
    async for factory in _migrated(databases.url(f"svc_{uuid.uuid4().hex[:6]}")):
        yield factory
