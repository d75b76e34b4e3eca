"""Alertmanager's webhook into dispatch: authenticated, bad bodies refused with a reason, alerts kept in memory.

In-process on purpose (no database, no brokers): the board needs neither, which is the point of it.
The live stream's part is tested with the platform in tests/monitoring/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from httpx import ASGITransport, AsyncClient

from services.dispatch.app import create_app
from services.dispatch.config import DEV_ALERTMANAGER_TOKEN, DispatchSettings
from services.dispatch.stream.service import sse_events

pytestmark = pytest.mark.asyncio
WEBHOOK = "/api/v1/platform-alerts/alertmanager"
ALERTMANAGER = {"Authorization": f"Bearer {DEV_ALERTMANAGER_TOKEN}"}
SUPERVISOR = {"Authorization": "Bearer dev-supervisor-token"}
DISPATCHER = {"Authorization": "Bearer dev-dispatcher-token"}


def alert(name: str, *, status: str = "firing", severity: str = "page", fingerprint: str = "f1") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "job": "dispatch"},
        "annotations": {"summary": f"{name} happened"},
        "startsAt": "2026-12-03T10:00:00Z",
        "endsAt": "2026-12-03T10:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def body(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "dispatch", "groupKey": "{}", "alerts": list(alerts)}


@pytest_asyncio.fixture
async def client(tmp_path: Any) -> AsyncIterator[AsyncClient]:
    settings = DispatchSettings(
        alertmanager_token=DEV_ALERTMANAGER_TOKEN, database_url=f"sqlite+aiosqlite:///{tmp_path}/unused.db"
    )
    app = create_app(settings)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://dispatch") as http:
        http.app = app  # type: ignore[attr-defined]
        yield http


async def test_the_webhook_wants_alertmanagers_token(client: AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"}, SUPERVISOR):
        response = await client.post(WEBHOOK, json=body(alert("X")), headers=headers)
        assert response.status_code == 401, response.text
        assert "Alertmanager token" in response.json()["detail"]


async def test_the_webhook_is_off_without_a_token_setting(tmp_path: Any) -> None:
    app = create_app(DispatchSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/unused.db"))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://dispatch") as http:
        response = await http.post(WEBHOOK, json=body(alert("X")), headers=ALERTMANAGER)
    assert response.status_code == 403 and "DISPATCH_ALERTMANAGER_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b"[]",
        b'{"version": "3", "status": "firing", "alerts": []}',
        b'{"version": "4", "status": "burning", "alerts": []}',
        b'{"version": "4", "status": "firing", "alerts": [{"status": "firing"}]}',
        b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {}, "fingerprint": ""}]}',
        b'{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"a":1},"fingerprint":"f"}]}',
    ],
)
async def test_a_bad_body_is_a_4xx_with_a_reason_never_a_500(client: AsyncClient, bad: bytes) -> None:
    response = await client.post(WEBHOOK, content=bad, headers={**ALERTMANAGER, "content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"], response.text


async def test_alerts_are_recorded_listed_and_resolved(client: AsyncClient) -> None:
    sent = body(alert("AlarmNotOpenedAsIncident"), alert("DeadLettersRising", severity="warning", fingerprint="f2"))
    response = await client.post(WEBHOOK, json=sent, headers=ALERTMANAGER)
    assert response.status_code == 200 and response.json() == {"received": 2, "changed": 2}
    # Alertmanager repeats a firing alert every repeat_interval: a repeat changes nothing.
    assert (await client.post(WEBHOOK, json=sent, headers=ALERTMANAGER)).json()["changed"] == 0

    firing = (await client.get("/api/v1/platform-alerts", headers=SUPERVISOR)).json()
    assert {(a["alert"], a["critical"]) for a in firing} == {
        ("AlarmNotOpenedAsIncident", True),
        ("DeadLettersRising", False),
    }
    assert firing[0]["ends_at"] is None
    critical = (await client.get("/api/v1/platform-alerts?critical_only=true", headers=SUPERVISOR)).json()
    assert [a["alert"] for a in critical] == ["AlarmNotOpenedAsIncident"]
    assert (await client.get("/api/v1/platform-alerts", headers=DISPATCHER)).status_code == 403

    await client.post(WEBHOOK, json=body(alert("AlarmNotOpenedAsIncident", status="resolved")), headers=ALERTMANAGER)
    still = (await client.get("/api/v1/platform-alerts", headers=SUPERVISOR)).json()
    assert [a["alert"] for a in still] == ["DeadLettersRising"]
    every = (await client.get("/api/v1/platform-alerts?status=all", headers=SUPERVISOR)).json()
    assert every[0]["alert"] == "AlarmNotOpenedAsIncident" and every[0]["status"] == "resolved"


async def test_the_stream_shows_critical_alerts_while_the_database_is_unreachable(client: AsyncClient) -> None:
    """The stream's database calls all fail (as with PostgreSQL down), yet alerts arrive, firing first."""
    app = client.app  # type: ignore[attr-defined]
    board = app.state.platform_alerts
    await client.post(WEBHOOK, json=body(alert("AlreadyFiring", fingerprint="f0")), headers=ALERTMANAGER)

    def unreachable() -> Any:
        raise ConnectionRefusedError("database unreachable")

    async def connected() -> bool:
        return False

    stream = sse_events(
        unreachable,  # type: ignore[arg-type]
        last_event_id=None,
        poll_seconds=0.05,
        heartbeat_seconds=60,
        max_seconds=30,
        disconnected=connected,
        platform_alerts=board,
    )
    frames = []
    async for frame in stream:
        frames.append(frame.decode())
        if len(frames) == 2:  # the retry line, then the alert firing when the stream opened
            assert "event: platform_alert" in frames[1] and "AlreadyFiring" in frames[1]
            assert "id:" not in frames[1]  # Last-Event-ID stays the timeline's
        if len(frames) == 3:
            assert "database unreachable" in frames[2]
            await client.post(WEBHOOK, json=body(alert("StuckSos", fingerprint="f9")), headers=ALERTMANAGER)
            await client.post(
                WEBHOOK, json=body(alert("Minor", severity="warning", fingerprint="f8")), headers=ALERTMANAGER
            )
        if len(frames) == 4:
            assert "event: platform_alert" in frames[3] and "StuckSos" in frames[3], frames
            assert '"audience":"supervisor"' in frames[3]
            break
    await stream.aclose()
