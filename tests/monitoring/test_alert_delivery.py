"""Stop dispatch's database: the stuck SOS reaches a person through Prometheus, Alertmanager and dispatch.

Real components throughout: the platform's processes, Debian's Prometheus (the project's rules,
their `for:` cut to 1 s) and Alertmanager (infra/alertmanager/alertmanager.local.yml), and dispatch's
database behind a TCP proxy the test cuts (an unreachable server, every connection reset).

"Reaches the receiver" means here what it means in the dev stack: dispatch's webhook accepted the
alert, GET /api/v1/platform-alerts shows it and a supervisor's open live stream gets it, all while
dispatch's database is still unreachable (decision 38: the board is in memory for this reason).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import orjson
import pytest

from tests.platform import SUPERVISOR, Platform, eventually, new_device_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

STUCK_ALERT = "AlarmNotOpenedAsIncident"


async def sample(platform: Platform, name: str, **labels: str) -> float | None:
    """One sample from dispatch's /metrics."""
    text = (await platform.http.get(platform.url("dispatch", "/metrics"))).text
    for line in text.splitlines():
        metric = line.split("{")[0].split(" ")[0]
        if metric == name and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def follow_stream(platform: Platform, frames: list[dict[str, Any]]) -> None:
    """A supervisor's console: collect every platform_alert event of the live stream."""
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
        client.stream("GET", platform.url("dispatch", "/api/v1/incidents/stream"), headers=SUPERVISOR) as response,
    ):
        assert response.status_code == 200
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "platform_alert":
                frames.append(orjson.loads(line.removeprefix("data: ")))
            elif line == "":
                event = None


async def test_a_sos_stuck_behind_a_dead_database_reaches_the_supervisors(mplatform: Platform) -> None:
    link = mplatform.dispatch_database_link  # type: ignore[attr-defined]
    frames: list[dict[str, Any]] = []
    console = asyncio.create_task(follow_stream(mplatform, frames))
    device_id = new_device_id()
    try:
        # The console is connected (the stream counts it) before the database goes.
        await eventually(lambda: sample(mplatform, "dispatch_stream_clients"), timeout=10)
        link.cut()
        await mplatform.publish(device_id, "sos", {"event_id": "stuck-1", "ts": "2026-12-03T08:00:00Z"})

        # Dispatch's own view while its database is gone: one handler retrying, the alarm ageing.
        await eventually(
            lambda: _at_least(sample(mplatform, "eldercare_kafka_handlers_retrying", consumer="dispatch-alarms"), 1),
            timeout=20,
        )
        age = await eventually(
            lambda: _at_least(sample(mplatform, "eldercare_kafka_consumer_lag_seconds", consumer="dispatch-alarms"), 2),
            timeout=20,
        )
        assert age < 30  # not yet the alert's threshold

        async def recorded() -> list[dict[str, Any]]:
            response = await mplatform.http.get(
                mplatform.url("dispatch", "/api/v1/platform-alerts"), headers=SUPERVISOR
            )
            assert response.status_code == 200, response.text
            return [a for a in response.json() if a["alert"] == STUCK_ALERT]

        # 30 s of the rule's threshold, then a second or two of scraping, evaluation and delivery.
        [alert] = await eventually(recorded, timeout=90, interval=0.5)
        assert alert["status"] == "firing" and alert["critical"] and alert["labels"]["consumer"] == "dispatch-alarms"
        assert link.proxy.is_cut, "the alert must arrive while the database is still unreachable"
        pushed = await eventually(lambda: _stream_has(frames, STUCK_ALERT), timeout=10)
        assert pushed["audience"] == "supervisor" and pushed["status"] == "firing"
    finally:
        link.restore()
        console.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await console

    # Nothing was lost: the SOS becomes its incident once the database is back, and the alert resolves.
    await eventually(lambda: mplatform.incidents_for(device_id), timeout=60)

    async def resolved() -> bool:
        response = await mplatform.http.get(
            mplatform.url("dispatch", "/api/v1/platform-alerts"), params={"status": "resolved"}, headers=SUPERVISOR
        )
        return any(a["alert"] == STUCK_ALERT for a in response.json())

    await eventually(resolved, timeout=60, interval=0.5)


async def _at_least(value: Any, floor: float) -> float | None:
    found = await value
    return found if found is not None and found >= floor else None


async def _stream_has(frames: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((frame for frame in frames if frame["alert"] == name), None)
