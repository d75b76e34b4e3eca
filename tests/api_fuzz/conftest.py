"""A platform of its own for API fuzzing, on brokers of its own.

schemathesis creates, patches and cancels whatever the schemas allow (responders,
elders, geofences…), and some of that is published on Kafka. On the shared
`platform` those records would leak into other tests' expectations, so the fuzzer
gets fresh databases and fresh brokers; only the PostgreSQL server is shared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests import infra
from tests.platform import PATIENT_START_TIMEOUT, Platform, own_platform


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_platform(workdir: Path, databases: infra.DatabaseFactory) -> AsyncIterator[Platform]:
    async with own_platform(workdir / "api-fuzz", databases, timeout=PATIENT_START_TIMEOUT) as platform:
        yield platform
