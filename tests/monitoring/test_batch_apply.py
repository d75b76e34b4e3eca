"""Monitoring's batch apply against real PostgreSQL, run in an interpreter of its own (see batch_scenario.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest

from eldercare.settings import REPO_ROOT
from tests.infra import DatabaseFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_a_batch_creates_rows_and_later_events_in_it_build_on_them(databases: DatabaseFactory) -> None:
    url = databases.url(f"mon_batch_{uuid.uuid4().hex[:6]}")
    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.monitoring.batch_scenario", url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "batch scenario passed" in run.stdout
