"""Device settings (who the SOS key dials, how often it reports) sent outside any incident, over MQTT."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from eldercare.v1 import elders_pb2
from tests.dispatch.helpers import api, new_place, open_incident
from tests.dispatch.test_stream_and_commands import device_listening, until
from tests.platform import SUPERVISOR, Platform, eventually, new_device_id, publish_elder

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def bind_to_an_elder(platform: Platform, device_id: str) -> None:
    """Care-record's snapshot binding the device, published as care-record would; waits until dispatch has it."""
    elder_id = "E" + uuid.uuid4().hex[:12]
    snapshot = elders_pb2.ElderSnapshot(
        elder_id=elder_id,
        version=1,
        device_ids=[device_id],
        bindings=[elders_pb2.DeviceBinding(device_id=device_id, binding_seq=1)],
    )
    await publish_elder(platform, snapshot)

    async def known() -> bool:
        response = await platform.http.get(
            platform.url("dispatch", f"/api/v1/devices/{device_id}/elder"), headers=SUPERVISOR
        )
        return response.status_code == 200

    await eventually(known, timeout=30)


async def test_sos_numbers_reach_the_device_and_its_ack_is_recorded(ops: Platform) -> None:
    device_id = new_device_id()
    watch, received = await device_listening(ops, device_id)
    await bind_to_an_elder(ops, device_id)
    path = f"/api/v1/devices/{device_id}/commands"
    sent = await api(
        ops,
        "POST",
        path,
        headers=SUPERVISOR,
        json={"type": "sos_numbers", "numbers": ["12349", "+8613900000001"]},
        expect=201,
    )
    assert sent["incident_id"] is None and sent["text"] == "12349,+8613900000001"

    [command] = await until(lambda: [c for c in received if c["command_id"] == sent["id"]] or None)
    assert command["type"] == "sos_numbers" and command["text"] == "12349,+8613900000001"
    assert "incident_id" not in command
    await watch.publish(
        f"eldercare/v1/devices/{device_id}/ack", orjson.dumps({"command_id": command["command_id"]}), qos=1
    )

    async def acked() -> dict[str, Any] | None:
        rows = await api(ops, "GET", path)
        return rows[0] if rows and rows[0]["state"] == "acked" else None

    row = await eventually(acked)
    assert row["id"] == sent["id"] and row["created_by"].startswith("supervisor")

    interval = await api(
        ops, "POST", path, headers=SUPERVISOR, json={"type": "upload_interval", "interval_seconds": 300}, expect=201
    )
    await until(lambda: [c for c in received if c["command_id"] == interval["id"] and c["text"] == "300"] or None)
    assert [r["type"] for r in await api(ops, "GET", path)][:2] == ["upload_interval", "sos_numbers"]


async def test_device_settings_refuse_bad_requests_with_a_reason(ops: Platform) -> None:
    device_id = new_device_id()
    await bind_to_an_elder(ops, device_id)
    path = f"/api/v1/devices/{device_id}/commands"

    # Who the SOS key dials is a supervisor's decision; a dispatcher may still locate the device.
    refused = await api(ops, "POST", path, json={"type": "sos_numbers", "numbers": ["12349"]}, expect=403)
    assert "supervisor" in refused["detail"]
    await api(ops, "POST", path, json={"type": "locate"}, expect=201)

    for body in (
        {"type": "upload_interval", "interval_seconds": 5},
        {"type": "upload_interval"},
        {"type": "sos_numbers", "numbers": []},
        {"type": "sos_numbers", "numbers": ["1", "2", "3", "4"]},
        {"type": "sos_numbers", "numbers": ["12349; DROP"]},
    ):
        await api(ops, "POST", path, headers=SUPERVISOR, json=body, expect=422)

    unknown = await api(ops, "POST", f"/api/v1/devices/{new_device_id()}/commands", json={"type": "locate"}, expect=404)
    assert "no known elder" in unknown["detail"]

    incident = await open_incident(ops, new_place(), device_id=device_id)
    wrong_place = await api(
        ops,
        "POST",
        f"/api/v1/incidents/{incident['id']}/commands",
        headers=SUPERVISOR,
        json={"type": "sos_numbers", "text": "12349"},
        expect=422,
    )
    assert "/api/v1/devices/" in str(wrong_place)
