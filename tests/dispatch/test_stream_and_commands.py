"""The live stream resumes with Last-Event-ID; device commands reach the device over MQTT and acks come back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest

from gateway.mqtt import MqttSession
from tests.dispatch.helpers import api, new_place, open_incident, timeline
from tests.platform import DISPATCHER, OPS, Platform, eventually, new_device_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def until(condition: Callable[[], Any], *, timeout: float = 15.0) -> Any:
    """`eventually` for a plain (non-async) condition."""

    async def probe() -> Any:
        return condition()

    return await eventually(probe, timeout=timeout)


class SseReader:
    """Reads a text/event-stream response into (id, event, data) tuples on a background task."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.comments: list[str] = []

    async def consume(self, lines: AsyncIterator[str]) -> None:
        fields: dict[str, str] = {}
        async for line in lines:
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line == "":
                if "data" in fields:
                    self.events.append((int(fields["id"]), fields["event"], orjson.loads(fields["data"])))
                fields = {}
            else:
                name, _, value = line.partition(": ")
                fields[name] = value

    def about(self, incident_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        return [e for e in self.events if e[2]["incident_id"] == incident_id]


@contextlib.asynccontextmanager
async def live_stream(
    platform: Platform, last_event_id: int | None = None, *, as_: dict[str, str] = OPS
) -> AsyncIterator[SseReader]:
    headers = dict(as_)
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    reader = SseReader()
    async with platform.http.stream(
        "GET", platform.url("dispatch", "/api/v1/incidents/stream"), headers=headers, timeout=None
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        task = asyncio.create_task(reader.consume(response.aiter_lines()))
        try:
            yield reader
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_stream_needs_a_token(ops: Platform) -> None:
    response = await ops.http.get(ops.url("dispatch", "/api/v1/incidents/stream"))
    assert response.status_code == 401
    bad = await ops.http.get(
        ops.url("dispatch", "/api/v1/incidents/stream"), headers={**DISPATCHER, "Last-Event-ID": "abc"}
    )
    assert bad.status_code == 422


async def test_a_reconnecting_console_misses_nothing(ops: Platform) -> None:
    async with live_stream(ops) as reader:
        incident = await open_incident(ops, new_place())
        opened = await until(lambda: [e for e in reader.about(incident["id"]) if e[1] == "incident_opened"])
        await api(ops, "POST", f"/api/v1/incidents/{incident['id']}/acknowledge")
        await until(lambda: [e for e in reader.about(incident["id"]) if e[1] == "state_change"])
        await until(lambda: reader.comments.count("heartbeat") > 0 or None, timeout=10)
    resume_after = opened[0][0]

    # While the console is away: a note, and the incident is resolved.
    await api(
        ops, "POST", f"/api/v1/incidents/{incident['id']}/notes", json={"text": "called the daughter"}, expect=201
    )
    await api(ops, "POST", f"/api/v1/incidents/{incident['id']}/resolve", json={"outcome": "false_alarm"})
    entries = await timeline(ops, incident["id"])

    async with live_stream(ops, last_event_id=resume_after) as reader:
        replayed = await until(
            lambda: reader.about(incident["id"]) if len(reader.about(incident["id"])) >= len(entries) - 1 else None
        )
    # The acknowledgement's message to the (silent) device is retried on its own clock, so a
    # `command_retried` entry may follow the ones read above: compare what was there.
    replayed = replayed[: len(entries) - 1]
    assert [e[2]["action"] for e in replayed] == [entry["action"] for entry in entries[1:]]
    ids = [e[0] for e in reader.events]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) and ids[0] > resume_after
    assert replayed[0][1] == "state_change"
    assert replayed[-1][2]["incident"]["status"] == "resolved"


async def device_listening(platform: Platform, device_id: str) -> tuple[MqttSession, list[dict[str, Any]]]:
    """A paho client subscribed to the device's command topic, as the watch would be; collects the commands."""
    received: list[dict[str, Any]] = []

    def on_message(message: mqtt.MQTTMessage) -> None:
        document = orjson.loads(message.payload)
        # The receipt for the SOS that opened the incident shares the topic; these tests follow commands.
        if document.get("type") != "receipt":
            received.append(document)

    session = MqttSession(
        url=platform.mqtt_url,
        client_id=f"watch-{device_id}",
        subscriptions=[f"eldercare/v1/devices/{device_id}/commands"],
        on_message=on_message,
        persistent=False,
        manual_ack=False,
    )
    await session.start()
    await session.wait_ready()
    platform.devices.append(session)
    return session, received


async def test_acknowledging_messages_the_device_and_its_ack_is_recorded(ops: Platform) -> None:
    device_id = new_device_id()
    watch, received = await device_listening(ops, device_id)
    incident = await open_incident(ops, new_place(), device_id=device_id)
    await api(ops, "POST", f"/api/v1/incidents/{incident['id']}/acknowledge")

    # Retries come every 0.5 s here: a slow first delivery can arrive together with the second
    # attempt, so take the first and check that any others are the same command again.
    command = (await until(lambda: received or None))[0]
    assert command["type"] == "message" and command["text"].startswith("已收到您的求助")
    assert command["incident_id"] == incident["id"] and command["attempt"] == 1
    assert {c["command_id"] for c in received} == {command["command_id"]}
    await watch.publish(
        f"eldercare/v1/devices/{device_id}/ack", orjson.dumps({"command_id": command["command_id"]}), qos=1
    )

    async def acked() -> list[dict[str, Any]] | None:
        rows = await api(ops, "GET", f"/api/v1/incidents/{incident['id']}/commands")
        return rows if rows and rows[0]["state"] == "acked" else None

    [row] = await eventually(acked)
    assert row["id"] == command["command_id"] and row["attempts"] == 1 and row["acked_at"]
    assert "command_acked" in [entry["action"] for entry in await timeline(ops, incident["id"])]


async def test_an_unacknowledged_command_is_retried_with_backoff_then_given_up(ops: Platform) -> None:
    device_id = new_device_id()
    _, received = await device_listening(ops, device_id)
    incident = await open_incident(ops, new_place(), device_id=device_id)
    await api(ops, "POST", f"/api/v1/incidents/{incident['id']}/acknowledge")
    sent = await api(ops, "POST", f"/api/v1/incidents/{incident['id']}/commands", json={"type": "locate"}, expect=201)
    await api(ops, "POST", f"/api/v1/incidents/{incident['id']}/commands", json={"type": "call_back"}, expect=422)

    async def given_up() -> dict[str, Any] | None:
        rows = await api(ops, "GET", f"/api/v1/incidents/{incident['id']}/commands")
        locate = next(r for r in rows if r["id"] == sent["id"])
        return locate if locate["state"] == "unacknowledged" else None

    locate = await eventually(given_up)
    assert locate["attempts"] == 3  # DISPATCH_COMMAND_MAX_ATTEMPTS in these tests

    def attempts_seen() -> list[int] | None:
        seen = sorted(c["attempt"] for c in received if c["command_id"] == sent["id"])
        return seen if len(seen) >= 3 else None

    attempts = await until(attempts_seen)
    assert attempts[:3] == [1, 2, 3]
    actions = [e["action"] for e in await timeline(ops, incident["id"]) if e["detail"].get("command_id") == sent["id"]]
    assert actions == ["command_sent", "command_retried", "command_retried", "command_unacknowledged"]
