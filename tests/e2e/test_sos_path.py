"""The whole path for real: device MQTT -> gateway -> Kafka -> dispatch -> dispatcher API."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import Any

import pytest

from tests.platform import DISPATCHER, OPS, SUPERVISOR, Platform, eventually, new_device_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def sos(event_id: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "ts": "2026-11-22T08:15:00Z", **extra}


async def one_incident(platform: Platform, device_id: str) -> dict[str, Any]:
    incidents = await eventually(lambda: platform.incidents_for(device_id))
    assert len(incidents) == 1, incidents
    return incidents[0]


async def test_every_process_is_live_and_ready(platform: Platform) -> None:
    for service in platform.ports:
        for path in ("/healthz", "/readyz"):
            response = await platform.http.get(platform.url(service, path))
            assert response.status_code == 200, (service, path, response.text)
        metrics = await platform.http.get(platform.url(service, "/metrics"))
        assert metrics.status_code == 200 and "# TYPE" in metrics.text


async def test_sos_from_a_device_becomes_an_open_incident(platform: Platform) -> None:
    device_id = new_device_id()
    await platform.publish(
        device_id,
        "sos",
        sos("e1", battery=64, location={"lat": 31.95, "lon": 118.75, "accuracy_m": 12, "source": "gps"}),
    )
    incident = await one_incident(platform, device_id)
    assert incident["status"] == "open"
    assert incident["priority"] == "P1"
    assert incident["kind"] == "sos"
    assert incident["occurred_at"] == "2026-11-22T08:15:00Z"
    assert incident["location"] == {"lat": 31.95, "lon": 118.75, "accuracy_m": 12.0, "source": "gps"}
    assert incident["battery"] == 64

    detail = await platform.incident(incident["id"])
    assert [entry["action"] for entry in detail["timeline"]] == ["opened"]
    assert detail["timeline"][0]["detail"]["device_event_id"] == "e1"


async def test_same_event_delivered_twice_makes_one_incident_with_one_entry(platform: Platform) -> None:
    device_id = new_device_id()
    await platform.publish(device_id, "sos", sos("dup-1"))
    await platform.publish(device_id, "sos", sos("dup-1"))
    incident = await one_incident(platform, device_id)
    # Give the second delivery every chance to be (wrongly) applied before looking.
    marker = new_device_id()
    await platform.publish(marker, "sos", sos("marker"))
    await one_incident(platform, marker)
    detail = await platform.incident(incident["id"])
    assert detail["alarm_count"] == 1
    assert [entry["action"] for entry in detail["timeline"]] == ["opened"]


async def test_two_presses_make_one_incident_with_both_in_the_timeline(platform: Platform) -> None:
    device_id = new_device_id()
    await platform.publish(device_id, "sos", sos("press-1"))
    first = await one_incident(platform, device_id)
    await platform.publish(device_id, "sos", sos("press-2", location={"lat": 40.0, "lon": 116.0}))

    async def attached() -> dict[str, Any] | None:
        detail = await platform.incident(first["id"])
        return detail if detail["alarm_count"] == 2 else None

    detail = await eventually(attached)
    assert len(await platform.incidents_for(device_id)) == 1
    assert [entry["action"] for entry in detail["timeline"]] == ["opened", "alarm_attached"]
    assert [entry["detail"]["device_event_id"] for entry in detail["timeline"]] == ["press-1", "press-2"]
    assert detail["location"]["lat"] == 40.0  # the newest fix is where help goes


async def test_fall_is_p1_device_removed_is_p3_low_battery_opens_nothing(platform: Platform) -> None:
    fall_device, removed_device, battery_device = new_device_id(), new_device_id(), new_device_id()
    await platform.publish(fall_device, "fall", {"event_id": "f1", "ts": 1795473651961, "confidence": 0.9})
    await platform.publish(
        removed_device, "alarm", {"event_id": "a1", "ts": "2026-11-22T08:15:00+08:00", "type": "device_removed"}
    )
    await platform.publish(
        battery_device, "alarm", {"event_id": "b1", "ts": "2026-11-22T08:15:00Z", "type": "low_battery"}
    )
    fall = await one_incident(platform, fall_device)
    removed = await one_incident(platform, removed_device)
    assert (fall["kind"], fall["priority"]) == ("fall", "P1")
    assert (removed["kind"], removed["priority"]) == ("device_removed", "P3")
    assert removed["occurred_at"] == "2026-11-22T00:15:00Z"
    # The low-battery alarm went through the same lane before the removal alarm was applied? Not
    # necessarily; a later marker on the same device's partition proves it was consumed.
    await platform.publish(battery_device, "sos", sos("after-battery"))
    incident = await one_incident(platform, battery_device)
    assert incident["kind"] == "sos"


async def test_malformed_payloads_are_dead_lettered_and_the_gateway_keeps_serving(platform: Platform) -> None:
    device_id = new_device_id()
    marker = uuid.uuid4().hex
    bad = {
        "invalid_json": (device_id, "vitals", f"{{not json {marker}".encode()),
        "missing_field": (device_id, "location", f'{{"event_id":"{marker}","lat":1,"lon":2}}'.encode()),
        "invalid_field": (
            device_id,
            "heartbeat",
            f'{{"event_id":"{marker}","ts":1795473651961,"battery":101}}'.encode(),
        ),
        "unknown_kind": (device_id, "teleport", f'{{"event_id":"{marker}"}}'.encode()),
        "payload_too_large": (
            device_id,
            "location",
            (f'{{"event_id":"{marker}","pad":"' + "x" * 17000 + '"}').encode(),
        ),
    }
    for target_device, kind, payload in bad.values():
        await platform.publish(target_device, kind, payload)

    async def all_dead_lettered() -> dict[str, Any] | None:
        found = {letter.reason: letter for letter in await platform.dead_letters() if marker.encode() in letter.raw}
        return found if set(bad) <= set(found) else None

    found = await eventually(all_dead_lettered)
    for reason, letter in found.items():
        assert letter.detail, reason
        assert letter.producer == "gateway"
        assert letter.source.startswith("eldercare/v1/devices/")
    assert found["invalid_field"].detail.startswith("battery")

    metrics = (await platform.http.get(platform.url("gateway", "/metrics"))).text
    assert 'gateway_messages_rejected_total{reason="invalid_json"}' in metrics
    assert (await platform.http.get(platform.url("gateway", "/readyz"))).status_code == 200
    await platform.publish(device_id, "sos", sos("still-works"))
    assert (await one_incident(platform, device_id))["kind"] == "sos"


async def test_broken_sos_still_raises_an_alarm_and_is_dead_lettered(platform: Platform) -> None:
    device_id = new_device_id()
    await platform.publish(device_id, "sos", b"SOS!!! firmware bug")
    incident = await one_incident(platform, device_id)
    assert (incident["kind"], incident["priority"]) == ("sos", "P1")

    async def letter() -> Any:
        return [x for x in await platform.dead_letters() if x.source == f"eldercare/v1/devices/{device_id}/sos"]

    letters = await eventually(letter)
    assert letters[0].reason == "invalid_json"
    assert "alarm raised anyway" in letters[0].detail


async def test_dispatch_killed_mid_stream_loses_nothing_and_duplicates_nothing(platform: Platform) -> None:
    devices = [new_device_id() for _ in range(40)]
    dispatch = platform.stack.processes["dispatch"]

    async def send(index: int) -> None:
        await platform.publish(devices[index], "sos", sos(f"kill-{index}"))

    await asyncio.gather(*(send(i) for i in range(20)))
    dispatch.kill(signal.SIGKILL)  # the supervisor restarts it
    await asyncio.gather(*(send(i) for i in range(20, 40)))
    # Resends of the first half, as a device that missed its PUBACK would do.
    await asyncio.gather(*(send(i) for i in range(10)))
    await dispatch.wait_healthy(timeout=90)

    async def all_there() -> list[Any] | None:
        response = await platform.http.get(
            platform.url("dispatch", "/api/v1/incidents"), params={"status": "all", "limit": 500}, headers=DISPATCHER
        )
        mine = [i for i in response.json() if i["device_id"] in set(devices)]
        return mine if len(mine) >= len(devices) else None

    incidents = await eventually(all_there, timeout=60)
    assert sorted(i["device_id"] for i in incidents) == sorted(devices)  # each exactly once
    assert all(i["alarm_count"] == 1 for i in incidents)
    assert dispatch.restarts >= 1


async def test_api_auth_roles_and_transitions(platform: Platform) -> None:
    device_id = new_device_id()
    await platform.publish(device_id, "sos", sos("api-1"))
    incident = await one_incident(platform, device_id)
    base = platform.url("dispatch", f"/api/v1/incidents/{incident['id']}")
    http = platform.http

    assert (await http.get(platform.url("dispatch", "/api/v1/incidents"))).status_code == 401
    bad = {"Authorization": "Bearer not-a-real-token"}
    assert (await http.get(platform.url("dispatch", "/api/v1/incidents"), headers=bad)).status_code == 401
    assert (await http.get(base, headers=OPS)).status_code == 200  # ops may read
    forbidden = await http.post(f"{base}/acknowledge", headers=OPS)
    assert forbidden.status_code == 403 and "ops" in forbidden.json()["detail"]

    too_early = await http.post(f"{base}/resolve", json={"outcome": "handled"}, headers=DISPATCHER)
    assert too_early.status_code == 409
    assert "open" in too_early.json()["detail"]
    assert (
        await http.post(platform.url("dispatch", "/api/v1/incidents/nope/acknowledge"), headers=DISPATCHER)
    ).status_code == 404
    assert (await http.get(platform.url("dispatch", "/api/v1/incidents/nope"), headers=DISPATCHER)).status_code == 404

    acked = await http.post(f"{base}/acknowledge", headers=DISPATCHER)
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledged_by"].startswith("dispatcher-")
    assert (await http.post(f"{base}/acknowledge", headers=DISPATCHER)).status_code == 409

    assert (await http.post(f"{base}/notes", json={}, headers=DISPATCHER)).status_code == 422
    assert (await http.post(f"{base}/notes", json={"text": ""}, headers=DISPATCHER)).status_code == 422
    note = await http.post(f"{base}/notes", json={"text": "called the daughter"}, headers=DISPATCHER)
    assert note.status_code == 201

    bad_outcome = await http.post(f"{base}/resolve", json={"outcome": "maybe"}, headers=DISPATCHER)
    assert bad_outcome.status_code == 422 and "outcome" in bad_outcome.text
    assert (
        await http.post(
            f"{base}/resolve", content=b"{not json", headers={**DISPATCHER, "content-type": "application/json"}
        )
    ).status_code == 422
    resolved = await http.post(
        f"{base}/resolve", json={"outcome": "handled", "note": "she is fine"}, headers=DISPATCHER
    )
    assert resolved.status_code == 200
    body = resolved.json()
    assert body["status"] == "resolved" and body["outcome"] == "handled"
    # Acknowledging also tells the elder's device that help is on the way (a command entry).
    actions = [e["action"] for e in body["timeline"]]
    assert "command_sent" in actions
    lifecycle = [e for e in body["timeline"] if not e["action"].startswith("command_")]
    assert [e["action"] for e in lifecycle] == ["opened", "acknowledge", "note", "resolve"]
    assert [e["to_status"] for e in lifecycle] == ["open", "acknowledged", "acknowledged", "resolved"]
    assert (await http.post(f"{base}/cancel", json={"reason": "x"}, headers=SUPERVISOR)).status_code == 409

    # Closed incidents leave the default (active) queue but stay in 'all'.
    assert await platform.incidents_for(device_id, status="active") == []
    assert len(await platform.incidents_for(device_id, status="all")) == 1
    unknown_status = await http.get(
        platform.url("dispatch", "/api/v1/incidents"), params={"status": "lost"}, headers=DISPATCHER
    )
    assert unknown_status.status_code == 422


async def test_incident_lifecycle_events_reach_the_incidents_topic(platform: Platform) -> None:
    from eldercare.topics import INCIDENTS
    from eldercare.v1 import events_pb2 as pb

    device_id = new_device_id()
    await platform.publish(device_id, "sos", sos("topic-1"))
    incident = await one_incident(platform, device_id)
    await platform.http.post(
        platform.url("dispatch", f"/api/v1/incidents/{incident['id']}/acknowledge"), headers=DISPATCHER
    )

    async def published() -> list[str] | None:
        actions = []
        for record in await platform.read_topic(INCIDENTS):
            envelope = pb.Envelope()
            envelope.ParseFromString(record.value)
            if envelope.incident.incident_id == incident["id"] and not envelope.incident.action.startswith("command_"):
                actions.append(envelope.incident.action)
        return actions if len(actions) >= 2 else None

    assert await eventually(published) == ["opened", "acknowledge"]
