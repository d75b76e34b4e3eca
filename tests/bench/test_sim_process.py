"""The bench's simulator child never outlives a wait that gave up on it."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import cast

import pytest

from bench.harness import Environment, SimProcess

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_wait_that_times_out_kills_the_simulator() -> None:
    with socket.socket() as closed:  # a port nobody listens on: the fleet keeps retrying, never finishes
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = cast(Environment, SimpleNamespace(mqtt_url=f"mqtt://127.0.0.1:{port}"))
    sim = await SimProcess(env, "--devices", "2", "--rate", "1", "--duration-s", "3600").start()
    with pytest.raises(TimeoutError):
        await sim.wait(timeout=1.0)
    assert sim.process is not None
    assert await sim.process.wait() is not None  # killed, not left running
