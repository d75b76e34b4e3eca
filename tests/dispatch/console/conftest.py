"""A platform of the dispatch console's own (gateway, dispatch, care-record) and a headless Chromium.

Own brokers (see `tests.platform.own_brokers`): the console's alarm must hear only this platform's P1s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from eldercare.settings import REPO_ROOT
from tests import infra
from tests.platform import Platform, own_platform

# Screenshots and traces of the browser tests: kept after the run, never committed (var/ is ignored).
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "console"

CONSOLE_ENV = {
    "DISPATCH_STREAM_POLL_SECONDS": "0.1",
    "DISPATCH_STREAM_HEARTBEAT_SECONDS": "1",
    # Escalation would change priorities under the tests' feet; these tests are about the console.
    "DISPATCH_ACK_DEADLINE_P1_SECONDS": "3600",
    "DISPATCH_ACK_DEADLINE_P2_SECONDS": "3600",
}

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def console_platform(workdir: Path, databases: infra.DatabaseFactory) -> AsyncIterator[Platform]:
    async with own_platform(
        workdir / "dispatch_console",
        databases,
        services=("gateway", "dispatch", "care-record"),
        env={
            **CONSOLE_ENV,
            "DISPATCH_DATABASE_URL": databases.url("dispatch_console"),
            "CARE_RECORD_DATABASE_URL": databases.url("care_record_console"),
        },
    ) as platform:
        yield platform


@pytest.fixture(scope="package")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (system-deps)")
    return CHROMIUM


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def browser(chromium: str) -> AsyncIterator[Any]:
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
