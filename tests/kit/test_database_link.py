"""A database link that drops everything (fault scenario 14): statements and connects give up, then recover.

Real PostgreSQL behind a TCP proxy that stops forwarding without closing anything, as a dead
route or a dropping firewall does. Without asyncpg's command timeout a statement on an open
connection waits for as long as the link is dead, and the consumer's retry never comes round.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from eldercare import db
from tests.infra import DatabaseFactory, free_port
from tests.proxy import ProxyThread

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
def link(databases: DatabaseFactory) -> Iterator[ProxyThread]:
    port = urlparse(databases.server_url).port
    assert port is not None
    proxy = ProxyThread(listen_port=free_port(), target_port=port)
    proxy.start()
    yield proxy
    proxy.stop()


def through(link: ProxyThread, databases: DatabaseFactory) -> str:
    url = databases.url(f"link_{uuid.uuid4().hex[:6]}")
    return url.replace(f":{urlparse(databases.server_url).port}/", f":{link.listen_port}/")


async def select_one(engine: AsyncEngine) -> int:
    async with engine.begin() as connection:
        return int((await connection.execute(text("SELECT 1"))).scalar_one())


async def test_a_statement_and_a_connect_on_a_silent_link_give_up_then_the_engine_recovers(
    link: ProxyThread, databases: DatabaseFactory
) -> None:
    url = through(link, databases)
    await db.ensure_database(url)
    engine = db.create_engine(url, command_timeout=1.0, connect_timeout=1.0, pool_timeout=1.0)
    try:
        assert await select_one(engine) == 1  # one pooled connection, open through the link
        link.blackhole()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(select_one(engine), 10)  # the pooled connection: command timeout
        with pytest.raises(TimeoutError):
            async with engine.connect() as first, engine.connect():  # the second one is a new connect
                await first.execute(text("SELECT 1"))
        assert time.monotonic() - started < 8  # each bounded by its own timeout, not by the outer 10 s
        link.restore()
        assert await select_one(engine) == 1
    finally:
        link.restore()
        await engine.dispose()


async def test_without_the_command_timeout_a_statement_waits_for_the_link(
    link: ProxyThread, databases: DatabaseFactory
) -> None:
    """The failure the timeout prevents (so the test above can tell the difference)."""
    url = through(link, databases)
    await db.ensure_database(url)
    engine = db.create_engine(url, command_timeout=None)
    try:
        assert await select_one(engine) == 1
        link.blackhole()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(select_one(engine), 3)  # our own bound fired: the driver never gave up
    finally:
        link.restore()
        await engine.dispose()
