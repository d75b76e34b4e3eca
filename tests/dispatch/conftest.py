"""A platform of its own for the dispatch-operations tests: short deadlines, own brokers, own database.

Own brokers: see `tests.platform.own_brokers`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests import infra
from tests.platform import Platform, own_platform

# Deadlines short enough to watch escalations, retries and timeouts happen within a test.
OPS_ENV = {
    "DISPATCH_ACK_DEADLINE_P1_SECONDS": "2",
    "DISPATCH_ACK_DEADLINE_P2_SECONDS": "3",
    "DISPATCH_ACK_DEADLINE_P3_SECONDS": "4",
    "DISPATCH_ACK_DEADLINE_P4_SECONDS": "5",
    "DISPATCH_TIMER_INTERVAL_SECONDS": "0.2",
    "DISPATCH_COMMAND_RETRY_SECONDS": "0.5",
    "DISPATCH_COMMAND_MAX_ATTEMPTS": "3",
    "DISPATCH_STREAM_POLL_SECONDS": "0.1",
    "DISPATCH_STREAM_HEARTBEAT_SECONDS": "1",
}


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def ops(workdir: Path, databases: infra.DatabaseFactory) -> AsyncIterator[Platform]:
    """Gateway and dispatch on their own brokers and database, with short operational deadlines."""
    async with own_platform(
        workdir / "dispatch_ops",
        databases,
        services=("gateway", "dispatch"),
        env={**OPS_ENV, "DISPATCH_DATABASE_URL": databases.url("dispatch_ops")},
    ) as platform:
        yield platform
