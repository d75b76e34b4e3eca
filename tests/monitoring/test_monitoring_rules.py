"""Monitoring end to end on real brokers and PostgreSQL: device → gateway → Kafka → monitoring → dispatch."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import pytest

from eldercare.envelope import utcnow
from eldercare.v1 import elders_pb2
from gateway.mqtt import MqttSession
from tests.monitoring.conftest import FAST_RULES
from tests.platform import DISPATCHER, OPS, Platform, eventually, new_device_id, publish_elder

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CENTRE = (31.95, 118.75)
METRES_PER_DEGREE_LAT = 111_195.0


def north_of_centre(metres: float) -> tuple[float, float]:
    return CENTRE[0] + metres / METRES_PER_DEGREE_LAT, CENTRE[1]


class Fleet:
    """Publishes as any number of devices through one MQTT session (anonymous dev broker)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.session: MqttSession | None = None

    async def connect(self) -> None:
        self.session = MqttSession(
            url=self.platform.mqtt_url, client_id=f"fleet-{uuid.uuid4().hex[:8]}", persistent=False, manual_ack=False
        )
        await self.session.start()
        await self.session.wait_ready()

    async def send(self, device_id: str, kind: str, **fields: Any) -> str:
        if self.session is None:
            await self.connect()
        assert self.session is not None
        event_id = fields.pop("event_id", uuid.uuid4().hex[:16])
        payload = {"event_id": event_id, "ts": int(utcnow().timestamp() * 1000), **fields}
        await self.session.publish(f"eldercare/v1/devices/{device_id}/{kind}", orjson.dumps(payload), qos=1)
        return event_id

    async def close(self) -> None:
        if self.session is not None:
            await self.session.stop()
            self.session = None


async def api(platform: Platform, service: str, path: str, **params: Any) -> Any:
    response = await platform.http.get(platform.url(service, path), params=params, headers=OPS)
    response.raise_for_status()
    return response.json()


async def alerts(platform: Platform, device_id: str, type: str | None = None) -> list[dict[str, Any]]:
    found = await api(platform, "monitoring", "/api/v1/alerts", device_id=device_id, limit=1000)
    return [a for a in found if type is None or a["type"] == type]


async def device_state(platform: Platform, device_id: str) -> dict[str, Any] | None:
    response = await platform.http.get(platform.url("monitoring", f"/api/v1/devices/{device_id}"), headers=OPS)
    return response.json() if response.status_code == 200 else None


async def applied_up_to(platform: Platform, fleet: Fleet, device_id: str) -> dict[str, Any]:
    """Send a marker heartbeat behind everything sent so far and wait until monitoring applied it."""
    # The marker must differ from the battery monitoring shows now (the previous marker, often):
    # an equal one would count as applied at once, before the events sent ahead of it.
    before = await device_state(platform, device_id)
    marker = 1 + uuid.uuid4().int % 99
    if before is not None and before["battery"] == marker:
        marker = marker % 99 + 1

    async def seen() -> dict[str, Any] | None:
        state = await device_state(platform, device_id)
        return state if state is not None and state["battery"] == marker else None

    await fleet.send(device_id, "heartbeat", battery=marker)
    return await eventually(seen)


async def bind_elder(platform: Platform, fleet: Fleet, device_id: str, *, dementia: bool, alone: bool) -> str:
    """Publish a care-record snapshot binding the device, and wait until monitoring uses it."""
    elder_id = "E" + uuid.uuid4().hex[:12]
    snapshot = elders_pb2.ElderSnapshot(
        elder_id=elder_id,
        version=1,
        living_situation="alone" if alone else "with_family",
        categories=["dementia"] if dementia else ["elderly"],
        device_ids=[device_id],
        bindings=[elders_pb2.DeviceBinding(device_id=device_id, binding_seq=1)],
    )
    await publish_elder(platform, snapshot)

    async def bound() -> bool:
        state = await applied_up_to(platform, fleet, device_id)
        return state["elder_id"] == elder_id

    await eventually(bound, timeout=30, interval=0.2)
    return elder_id


async def create_fence(platform: Platform, elder_id: str, radius_m: float = 200) -> dict[str, Any]:
    response = await platform.http.post(
        platform.url("monitoring", "/api/v1/geofences"),
        headers=DISPATCHER,
        json={
            "elder_id": elder_id,
            "name": "home",
            "shape": "circle",
            "center_lat": CENTRE[0],
            "center_lon": CENTRE[1],
            "radius_m": radius_m,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def fleet(mplatform: Platform) -> Any:
    publisher = Fleet(mplatform)
    yield publisher
    await publisher.close()


async def test_walking_out_of_the_fence_raises_one_exit_alert_not_ten(mplatform: Platform, fleet: Fleet) -> None:
    device_id = new_device_id()
    elder_id = await bind_elder(mplatform, fleet, device_id, dementia=True, alone=False)
    fence = await create_fence(mplatform, elder_id)
    for _ in range(3):
        await fleet.send(device_id, "location", lat=CENTRE[0], lon=CENTRE[1], accuracy_m=10, source="gps")
    for step in range(10):
        lat, lon = north_of_centre(400 + 30 * step)
        await fleet.send(device_id, "location", lat=lat, lon=lon, accuracy_m=10, source="gps")
    await applied_up_to(mplatform, fleet, device_id)

    exits = await alerts(mplatform, device_id, "geofence_exit")
    assert len(exits) == 1, exits
    assert exits[0]["severity"] == "high" and exits[0]["suggested_priority"] == "P2"
    assert exits[0]["geofence_id"] == fence["id"] and exits[0]["elder_id"] == elder_id
    assert await alerts(mplatform, device_id, "geofence_enter") == []

    incidents = await eventually(lambda: mplatform.incidents_for(device_id))
    assert [(i["kind"], i["priority"], i["elder_id"]) for i in incidents] == [("geofence_exit", "P2", elder_id)]


async def test_jittery_gps_at_the_boundary_does_not_flap(mplatform: Platform, fleet: Fleet) -> None:
    device_id = new_device_id()
    elder_id = await bind_elder(mplatform, fleet, device_id, dementia=False, alone=False)
    await create_fence(mplatform, elder_id)
    for _ in range(3):
        await fleet.send(device_id, "location", lat=CENTRE[0], lon=CENTRE[1], accuracy_m=10, source="gps")
    # Within the fix's accuracy of the boundary: neither side is certain.
    for step in range(12):
        lat, lon = north_of_centre(190 if step % 2 else 215)
        await fleet.send(device_id, "location", lat=lat, lon=lon, accuracy_m=30, source="gps")
    # Clearly on alternate sides, but never for three fixes in a row.
    for step in range(12):
        lat, lon = north_of_centre(150 if step % 3 == 2 else 260)
        await fleet.send(device_id, "location", lat=lat, lon=lon, accuracy_m=5, source="gps")
    await applied_up_to(mplatform, fleet, device_id)

    assert await alerts(mplatform, device_id, "geofence_exit") == []
    assert await alerts(mplatform, device_id, "geofence_enter") == []


async def test_sustained_abnormal_vitals_raise_one_alert_and_a_single_spike_none(
    mplatform: Platform, fleet: Fleet
) -> None:
    sustained, spike = new_device_id(), new_device_id()
    for heart_rate in (35, 34, 36, 33, 35, 34):
        await fleet.send(sustained, "vitals", heart_rate=heart_rate, spo2=97)
    for heart_rate in (72, 150, 74, 71):
        await fleet.send(spike, "vitals", heart_rate=heart_rate, spo2=97)
    await applied_up_to(mplatform, fleet, sustained)
    await applied_up_to(mplatform, fleet, spike)

    raised = await alerts(mplatform, sustained, "vitals_abnormal")
    assert len(raised) == 1, raised
    assert raised[0]["detail"]["measure"] == "heart_rate"
    assert raised[0]["detail"]["limit"] == "heart_rate_low"
    assert raised[0]["detail"]["abnormal_readings"] == 3
    assert await alerts(mplatform, spike, "vitals_abnormal") == []
    incidents = await eventually(lambda: mplatform.incidents_for(sustained))
    assert [(i["kind"], i["priority"]) for i in incidents] == [("vitals_abnormal", "P2")]


async def test_a_silent_device_goes_offline_once_and_comes_back_once(mplatform: Platform, fleet: Fleet) -> None:
    device_id = new_device_id()
    await fleet.send(device_id, "heartbeat", battery=80, signal=70)

    async def offline() -> list[dict[str, Any]]:
        return await alerts(mplatform, device_id, "device_offline")

    first = await eventually(offline, timeout=20)
    state = await device_state(mplatform, device_id)
    assert state is not None and state["status"] == "offline"
    # Several more sweeps pass over the still-silent device.
    await asyncio.sleep(6 * float(FAST_RULES["MONITORING_SWEEP_INTERVAL_SECONDS"]))
    assert await offline() == first and len(first) == 1
    assert first[0]["suggested_priority"] == "P4"

    await fleet.send(device_id, "heartbeat", battery=79)
    recovered = await eventually(lambda: alerts(mplatform, device_id, "device_online"))
    assert len(recovered) == 1 and recovered[0]["resolves_alert_id"] == first[0]["id"]
    incidents = await eventually(lambda: mplatform.incidents_for(device_id))
    assert [(i["kind"], i["priority"]) for i in incidents] == [("device_offline", "P4")]

    async def noted() -> bool:
        detail = await mplatform.incident(incidents[0]["id"])
        return [e["action"] for e in detail["timeline"]] == ["opened", "alert_recovered"]

    await eventually(noted)


async def test_fleet_reconnect_after_a_broker_restart_raises_no_storm(mplatform: Platform, fleet: Fleet) -> None:
    assert mplatform.brokers is not None
    mqtt = mplatform.brokers.mqtt
    devices = [new_device_id() for _ in range(20)]
    for device_id in devices:
        await fleet.send(device_id, "heartbeat", battery=90)
    for device_id in devices:
        await eventually(lambda device_id=device_id: device_state(mplatform, device_id))
    await fleet.close()

    async def held() -> bool:
        metrics = (await mplatform.http.get(mplatform.url("monitoring", "/metrics"))).text
        return "monitoring_offline_detection_held 1.0" in metrics

    mqtt.stop()
    try:
        await eventually(held, timeout=20)
        # Longer than the devices' offline timeout, with no message able to arrive.
        await asyncio.sleep(float(FAST_RULES["MONITORING_OFFLINE_FLOOR_SECONDS"]) + 1)
    finally:
        mqtt.start()
    await mplatform.stack.processes["gateway"].wait_healthy(60)
    for device_id in devices:
        await fleet.send(device_id, "heartbeat", battery=88)
    for device_id in devices:
        await eventually(lambda device_id=device_id: _battery_is(mplatform, device_id, 88), timeout=30)
        assert (await device_state(mplatform, device_id))["status"] == "online"  # type: ignore[index]

    # Then the whole fleet falls silent at once: marked offline, without a storm of alerts.
    for device_id in devices:
        await eventually(lambda device_id=device_id: _status_is(mplatform, device_id, "offline"), timeout=30)

    # The alert decision comes after the offline-alert delay: wait for it, then look for alerts.
    async def decided() -> bool:
        metrics = (await mplatform.http.get(mplatform.url("monitoring", "/metrics"))).text
        return 'monitoring_alerts_suppressed_total{reason="mass_silence",type="device_offline"}' in metrics

    await eventually(decided, timeout=30)
    for device_id in devices:
        assert await alerts(mplatform, device_id) == [], device_id


async def _battery_is(platform: Platform, device_id: str, battery: int) -> bool:
    state = await device_state(platform, device_id)
    return state is not None and state["battery"] == battery


async def _status_is(platform: Platform, device_id: str, status: str) -> bool:
    state = await device_state(platform, device_id)
    return state is not None and state["status"] == status


async def test_fall_then_cancel_within_a_minute_cancels_the_incident(mplatform: Platform, fleet: Fleet) -> None:
    device_id = new_device_id()
    await fleet.send(device_id, "fall", event_id="fall-1", confidence=0.8)
    incident = (await eventually(lambda: mplatform.incidents_for(device_id)))[0]
    assert incident["kind"] == "fall" and incident["status"] == "open"

    await fleet.send(device_id, "alarm", event_id="ok-1", type="cancel", ref_event_id="fall-1")

    async def cancelled() -> dict[str, Any] | None:
        detail = await mplatform.incident(incident["id"])
        return detail if detail["status"] == "cancelled" else None

    detail = await eventually(cancelled)
    assert detail["timeline"][-1]["action"] == "cancel"
    assert detail["timeline"][-1]["actor"] == "device"
    assert detail["timeline"][-1]["detail"]["reason"] == "device cancel: false alarm"
    kept = await mplatform.incidents_for(device_id, status="all")
    assert [i["id"] for i in kept] == [incident["id"]]


async def test_prometheus_scrapes_every_service_and_counts_an_sos(mplatform: Platform, fleet: Fleet) -> None:
    prometheus: str = mplatform.prometheus_url  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=prometheus, timeout=5) as client:

        async def all_up() -> dict[str, str] | None:
            targets = (await client.get("/api/v1/targets")).json()["data"]["activeTargets"]
            health = {t["labels"]["job"]: t["health"] for t in targets}
            return (
                health
                if set(health) == {"gateway", "dispatch", "care-record", "monitoring", "watch", "alertmanager"}
                and set(health.values()) == {"up"}
                else None
            )

        await eventually(all_up, timeout=30, interval=0.5)
        device_id = new_device_id()
        await fleet.send(device_id, "sos")
        await eventually(lambda: mplatform.incidents_for(device_id))

        async def counted(query: str) -> float | None:
            result = (await client.get("/api/v1/query", params={"query": query})).json()["data"]["result"]
            return float(result[0]["value"][1]) if result and float(result[0]["value"][1]) >= 1 else None

        assert await eventually(lambda: counted('sum(gateway_messages_received_total{kind="sos"})'), timeout=30)
        assert await eventually(lambda: counted('sum(dispatch_incidents_opened_total{kind="sos"})'), timeout=30)
        rules = (await client.get("/api/v1/rules")).json()["data"]["groups"]
        assert {r["name"] for g in rules for r in g["rules"]} >= {"SosNotAcknowledged", "DeviceOfflineRatioJump"}
