"""One device flooding its sos topic cannot hold back anyone else's SOS (real Mosquitto, Kafka, PostgreSQL).

A C publisher (mosquitto_pub, reading one payload a line) sends 20,000 broken payloads on
one device's sos topic: each is still an alarm (an SOS is never dropped for its form), so
without coalescing each would cost a Kafka event and a dispatch transaction. Meanwhile ten
other devices press SOS. Every one of them must become its own incident, and the flooding
device must have one incident whose alarm count is every press it made. How long the other
SOS took is reported by the fault suite's burst scenario; here the test checks what happened.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.platform import Platform, eventually, flood_sos, new_device_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

FLOOD = 20_000
OTHERS = 10


async def only_incident(platform: Platform, device_id: str) -> dict[str, Any] | None:
    incidents = await platform.incidents_for(device_id)
    assert len(incidents) <= 1, incidents
    return incidents[0] if incidents else None


async def test_a_flood_from_one_device_delays_no_other_sos_and_is_one_incident_with_every_press(
    platform: Platform,
) -> None:
    flooder = new_device_id()
    others = [new_device_id() for _ in range(OTHERS)]
    for device_id in others:
        await platform.device(device_id)  # connected before the flood, as real devices are
    publisher = await flood_sos(platform.mqtt_url, flooder, FLOOD)
    flood_started = time.monotonic()
    await eventually(lambda: only_incident(platform, flooder), timeout=30, interval=0.05)

    async def press(number: int, device_id: str) -> tuple[float, bool]:
        await asyncio.sleep(0.1 * number)  # spread over the flood, as ten people pressing would be
        flooding = publisher.returncode is None
        sent_at = time.time()
        await platform.publish(device_id, "sos", {"event_id": f"other-{number}", "ts": "2026-12-02T03:00:00Z"})
        incident = await eventually(lambda: only_incident(platform, device_id), timeout=60, interval=0.05)
        # Dispatch's own time of opening it (same host clock): no polling error in the figure.
        return datetime.fromisoformat(incident["opened_at"]).timestamp() - sent_at, flooding

    pressed = await asyncio.gather(*(press(number, device_id) for number, device_id in enumerate(others)))
    _, errors = await publisher.communicate()
    assert publisher.returncode == 0, errors
    flood_seconds = time.monotonic() - flood_started
    waits = [round(wait, 2) for wait, _ in pressed]  # in the order they were pressed, 0.1 s apart
    print(f"\nflood of {FLOOD} sent in about {flood_seconds:.1f} s; other SOS -> incident, in press order (s): {waits}")
    assert any(flooding for _, flooding in pressed), "the flood was over before anyone else pressed SOS"
    # Its garbage is on record by its first dead letters, not by one write per press.
    letters = [x for x in await platform.dead_letters() if x.source == f"eldercare/v1/devices/{flooder}/sos"]
    assert 1 <= len(letters) <= 25, len(letters)

    # Every press is counted on the flooding device's one incident once its coalescing windows closed.
    async def every_press_counted() -> dict[str, Any] | None:
        incident = await only_incident(platform, flooder)
        return incident if incident is not None and incident["alarm_count"] == FLOOD else None

    incident = await eventually(every_press_counted, timeout=90, interval=0.5)
    detail = await platform.http.get(
        platform.url("dispatch", f"/api/v1/incidents/{incident['id']}"),
        headers={"Authorization": "Bearer dev-dispatcher-token"},
    )
    entries = detail.json()["timeline"]
    absorbed = sum(entry["detail"].get("repeats", 0) for entry in entries if entry["action"] == "alarm_attached")
    attached = sum(entry["action"] == "alarm_attached" for entry in entries)
    assert absorbed + attached + 1 == FLOOD, (absorbed, attached)
    assert attached < 20, f"{attached} attach entries: the flood was not coalesced"
    assert uuid.UUID(incident["id"])
