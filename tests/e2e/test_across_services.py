"""Care record and dispatch as separate processes: snapshots over Kafka, the incident view, priority, rebuild.

Runs on the session `platform` (gateway, dispatch, care-record, monitoring on real
Mosquitto, the Kafka-protocol broker and PostgreSQL) and talks to it only over HTTP,
MQTT and Kafka, plus direct database access where a test plays the operator.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from eldercare import db
from eldercare.envelope import utcnow
from services.care_record.elder.visit_policy import CHINA_TIME, parse_period
from services.care_record.seed import elder_id_for, seed
from tests.care_record.conftest import ADMIN, elder_body
from tests.platform import DISPATCHER, OPS, Platform, eventually, new_device_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def register(platform: Platform, device_id: str, assessment_level: int, **profile: Any) -> dict[str, Any]:
    """An elder with a contact, an assessment and a bound device, through care-record's API."""
    care = platform.http

    def url(path: str) -> str:
        return platform.url("care-record", path)

    response = await care.post(url("/api/v1/elders"), json=elder_body(**profile), headers=ADMIN)
    assert response.status_code == 201, response.text
    elder = response.json()
    base = f"/api/v1/elders/{elder['id']}"
    contact = [{"name": "张伟", "relation": "儿子", "phone": "13900000001", "has_key": True, "distance_km": 3.2}]
    assert (await care.put(url(f"{base}/contacts"), json=contact, headers=ADMIN)).status_code == 200
    assessment = {"assessed_on": "2026-10-01", "assessor": "评估中心", "level": assessment_level}
    assert (await care.post(url(f"{base}/assessments"), json=assessment, headers=ADMIN)).status_code == 201
    bound = await care.post(url(f"{base}/devices"), json={"device_id": device_id}, headers=ADMIN)
    assert bound.status_code == 201, bound.text
    return elder  # type: ignore[no-any-return]


async def dispatch_knows(platform: Platform, device_id: str, elder_id: str, version: int) -> dict[str, Any] | None:
    response = await platform.http.get(
        platform.url("dispatch", f"/api/v1/devices/{device_id}/elder"), headers=DISPATCHER
    )
    if response.status_code != 200:
        return None
    known = response.json()
    return known if known["elder_id"] == elder_id and known["version"] >= version else None


async def test_the_incident_shows_the_elder_and_vulnerable_elders_come_first(platform: Platform) -> None:
    fragile_device, sturdy_device, unbound_device = new_device_id(), new_device_id(), new_device_id()
    fragile = await register(
        platform, fragile_device, 3, living_situation="alone", categories=["dementia"], birth_date=date(1950, 2, 3)
    )
    sturdy = await register(
        platform, sturdy_device, 1, living_situation="with_family", categories=[], birth_date=date(1952, 6, 1)
    )
    # Four changes each (register, contacts, assessment, binding): version 4 is the whole record.
    await eventually(lambda: dispatch_knows(platform, fragile_device, fragile["id"], 4))
    await eventually(lambda: dispatch_knows(platform, sturdy_device, sturdy["id"], 4))

    for device in (fragile_device, sturdy_device, unbound_device):
        await platform.publish(device, "sos", {"event_id": "help", "ts": "2026-11-22T08:15:00Z"})
    incidents = {}
    for device in (fragile_device, sturdy_device, unbound_device):
        found = await eventually(lambda device=device: platform.incidents_for(device))  # type: ignore[misc]
        incidents[device] = await platform.incident(found[0]["id"])

    mine = incidents[fragile_device]
    assert mine["priority"] == "P1" and mine["elder_id"] == fragile["id"]
    assert {"ability level 3+ (severely or completely impaired) (+1)", "lives alone (+1)", "dementia (+1)"} <= set(
        mine["priority_reasons"]
    )
    assert mine["timeline"][0]["detail"]["priority_reasons"] == mine["priority_reasons"]
    elder = mine["elder"]
    assert elder["age"] == utcnow().year - 1950 - (utcnow().date() < date(utcnow().year, 2, 3))
    assert elder["living_situation"] == "alone" and elder["categories"] == ["dementia"]
    assert elder["ability_level"] == 3
    assert elder["conditions"] == ["高血压"] and elder["medications"] == ["氨氯地平"]
    assert elder["contacts"] == [
        {"name": "张伟", "relation": "儿子", "phone": "13900000001", "has_key": True, "distance_km": 3.2}
    ]
    assert elder["home_address"].startswith("鼓楼区") and elder["home_location"] == {"lat": 32.06, "lon": 118.77}

    other = incidents[sturdy_device]
    assert other["priority"] == "P2" and other["priority_reasons"] == ["sos: base P2"]
    nobody = incidents[unbound_device]
    assert nobody["elder"] is None and nobody["elder_id"] is None and nobody["priority"] == "P1"
    assert any("unbound device" in reason for reason in nobody["priority_reasons"])

    # The queue puts the fragile elder's SOS ahead of the same alarm from the sturdy one.
    queue = (
        await platform.http.get(
            platform.url("dispatch", "/api/v1/incidents"), params={"limit": 500}, headers=DISPATCHER
        )
    ).json()
    order = [i["id"] for i in queue]
    assert order.index(mine["id"]) < order.index(other["id"])
    # Ops see the incident but not the person.
    as_ops = await platform.http.get(platform.url("dispatch", f"/api/v1/incidents/{mine['id']}"), headers=OPS)
    assert as_ops.status_code == 200 and as_ops.json()["elder"] is None

    # Care-record's timeline picked up the alarm and the incident from Kafka.
    async def timeline_has_both() -> list[dict[str, Any]] | None:
        response = await platform.http.get(
            platform.url("care-record", f"/api/v1/elders/{fragile['id']}/timeline"), headers=DISPATCHER
        )
        items = response.json()
        sources = {(i["source"], i["action"]) for i in items}
        return items if {("alarm", "sos"), ("incident", "opened")} <= sources else None

    items = await eventually(timeline_has_both)
    assert items == sorted(items, key=lambda i: i["at"])


async def test_an_emptied_read_model_rebuilds_from_the_compacted_topic(platform: Platform) -> None:
    moved_device, kept_device = new_device_id(), new_device_id()
    first = await register(platform, moved_device, 2)
    second = await register(platform, kept_device, 0, name="李桂兰")
    care = platform.url("care-record", "/api/v1/elders")
    # The device moves from the first elder to the second: the newer binding must win whatever the replay order.
    assert (
        await platform.http.delete(f"{care}/{first['id']}/devices/{moved_device}", headers=ADMIN)
    ).status_code == 200
    moved = await platform.http.post(f"{care}/{second['id']}/devices", json={"device_id": moved_device}, headers=ADMIN)
    assert moved.status_code == 201
    await eventually(lambda: dispatch_knows(platform, moved_device, second["id"], 5))

    dispatch = platform.stack.processes["dispatch"]
    await dispatch.stop()
    url = platform.stack.config.env["DISPATCH_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("TRUNCATE elder_snapshots, device_elder_index, elder_read_model_offsets")
    finally:
        await connection.close()
    restarted = platform.stack.make_process("dispatch")
    await restarted.start()
    platform.stack.processes["dispatch"] = restarted
    await restarted.wait_healthy(90)

    assert await eventually(lambda: dispatch_knows(platform, moved_device, second["id"], 5), timeout=30)
    assert await eventually(lambda: dispatch_knows(platform, kept_device, second["id"], 5))
    response = await platform.http.get(
        platform.url("dispatch", f"/api/v1/devices/{moved_device}/elder"), headers=DISPATCHER
    )
    assert response.json()["device_ids"] == [kept_device, moved_device]


async def test_compliance_report_on_a_seeded_population(platform: Platform) -> None:
    label, prefix = f"t{uuid.uuid4().hex[:6]}", f"S{uuid.uuid4().hex[:4]}"
    engine = db.create_engine(platform.stack.config.env["CARE_RECORD_DATABASE_URL"])
    try:
        result = await seed(db.session_factory(engine), count=45, label=label, device_prefix=prefix)
        again = await seed(db.session_factory(engine), count=45, label=label, device_prefix=prefix)
    finally:
        await engine.dispose()
    assert (result.created, again.created, again.skipped) == (45, 0, 45)
    seeded = {elder_id_for(label, i) for i in range(45)}

    # The seeded devices show their elders in dispatch (the running care-record relayed the snapshots).
    first_device = f"{prefix}{1:0{15 - len(prefix)}d}"
    assert await eventually(lambda: dispatch_knows(platform, first_device, elder_id_for(label, 0), 1), timeout=30)

    this_month = utcnow().astimezone(CHINA_TIME).replace(day=1)
    last_month = (this_month - timedelta(days=1)).strftime("%Y-%m")
    response = await platform.http.get(
        platform.url("care-record", "/api/v1/reports/visits"), params={"period": last_month}, headers=DISPATCHER
    )
    assert response.status_code == 200, response.text
    report = response.json()
    districts = {a["area"]: a for a in report["areas"]}
    for district in ("江苏省/南京市/鼓楼区", "甘肃省/定西市/通渭县", "内蒙古自治区/锡林郭勒盟/正蓝旗"):
        assert districts[district]["required"] > 0, district
    assert report["required"] == sum(a["required"] for a in report["areas"])
    assert report["compliant"] == sum(a["compliant"] for a in report["areas"])
    assert 0 < report["rate"] < 1
    overdue = [o for o in report["overdue"] if o["elder_id"] in seeded]
    assert overdue, "the seed leaves some elders without their visits"
    period = parse_period(last_month)
    for entry in overdue:
        visits = (
            await platform.http.get(
                platform.url("care-record", f"/api/v1/elders/{entry['elder_id']}/visits"),
                params={"limit": 500},
                headers=DISPATCHER,
            )
        ).json()
        local_days = [
            datetime.fromisoformat(v["visited_at"].replace("Z", "+00:00")).astimezone(CHINA_TIME).date() for v in visits
        ]
        for slot in entry["missed_slots"]:
            first_day, last_day = (date.fromisoformat(d) for d in slot.split(".."))
            assert period.start.astimezone(CHINA_TIME).date() <= first_day <= last_day
            assert not [d for d in local_days if first_day <= d <= last_day], (entry, local_days)


async def test_a_deactivated_elder_is_dropped_by_dispatch_and_monitoring_and_leaves_compliance(
    platform: Platform,
) -> None:
    device_id = new_device_id()
    community = f"迁出社区{uuid.uuid4().hex[:6]}"
    area = {**elder_body()["area"], "community": community}
    elder = await register(platform, device_id, 3, area=area)
    await eventually(lambda: dispatch_knows(platform, device_id, elder["id"], 4))

    async def monitoring_elder(expected: str | None) -> bool | None:
        # Each heartbeat makes monitoring look the device's elder up in its read model again.
        beat = {"event_id": uuid.uuid4().hex[:12], "ts": utcnow().isoformat(), "battery": 80}
        await platform.publish(device_id, "heartbeat", beat)
        response = await platform.http.get(platform.url("monitoring", f"/api/v1/devices/{device_id}"), headers=OPS)
        return (response.status_code == 200 and response.json()["elder_id"] == expected) or None

    # A heartbeat a second at most: the gateway's per-device telemetry cap would refuse a faster poll.
    await eventually(lambda: monitoring_elder(elder["id"]), timeout=30, interval=1.0)
    care = platform.url("care-record", f"/api/v1/elders/{elder['id']}")
    report_path = platform.url("care-record", "/api/v1/reports/visits")
    period = utcnow().astimezone(CHINA_TIME).strftime("%Y-%m")
    query = {"period": period, "area": f"江苏省/南京市/鼓楼区/宁海路街道/{community}", "group_by": "community"}

    async def required_here() -> int:
        response = await platform.http.get(report_path, params=query, headers=ADMIN)
        assert response.status_code == 200, response.text
        return int(response.json()["required"])

    assert await required_here() == 1
    # What monitoring keeps about the elder: a fence around the home, their own vitals limits.
    monitoring = platform.http

    def mon(path: str) -> str:
        return platform.url("monitoring", path)

    fence = {"elder_id": elder["id"], "name": "家", "shape": "circle", "center_lat": 32.06, "center_lon": 118.77}
    created = await monitoring.post(mon("/api/v1/geofences"), json={**fence, "radius_m": 200}, headers=DISPATCHER)
    assert created.status_code == 201, created.text
    limits = mon(f"/api/v1/elders/{elder['id']}/vitals/thresholds")
    assert (await monitoring.put(limits, json={"heart_rate_high": 110}, headers=DISPATCHER)).status_code == 200
    refused = await platform.http.post(f"{care}/deactivate", json={"reason": "emigrated"}, headers=ADMIN)
    assert refused.status_code == 422
    by_dispatcher = await platform.http.post(f"{care}/deactivate", json={"reason": "moved"}, headers=DISPATCHER)
    assert by_dispatcher.status_code == 403

    response = await platform.http.post(f"{care}/deactivate", json={"reason": "deceased"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["deactivation_reason"] == "deceased" and done["deactivated_at"] and done["device_ids"] == []
    assert done["visit_frequency"] is None and done["name"] == elder["name"]  # the record stays
    again = await platform.http.post(f"{care}/deactivate", json={"reason": "moved"}, headers=ADMIN)
    assert again.status_code == 409

    async def dispatch_dropped() -> bool | None:
        lookup = await platform.http.get(
            platform.url("dispatch", f"/api/v1/devices/{device_id}/elder"), headers=DISPATCHER
        )
        return lookup.status_code == 404 or None

    await eventually(dispatch_dropped, timeout=30)
    await eventually(lambda: monitoring_elder(None), timeout=30, interval=1.0)
    fences = await monitoring.get(mon("/api/v1/geofences"), params={"elder_id": elder["id"]}, headers=DISPATCHER)
    assert fences.status_code == 200 and fences.json() == []
    # Their limits are gone: the elder is unknown to monitoring now.
    assert (await monitoring.get(limits, headers=DISPATCHER)).json()["heart_rate_high"] != 110
    assert await required_here() == 0
    # Nothing can be bound to the elder any more; the device is free for someone else.
    rebound = await platform.http.post(f"{care}/devices", json={"device_id": device_id}, headers=ADMIN)
    assert rebound.status_code == 409 and "deactivated" in rebound.text
