"""The care-record API in process, on real PostgreSQL and the real Kafka-protocol broker."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.care_record.conftest import ADMIN, DISPATCHER, OPS, SUPERVISOR, CareApp, elder_body, snapshots_of
from tests.platform import eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def area(street: str, area_type: str = "urban") -> dict[str, str]:
    return {
        "province": "江苏省",
        "city": "南京市",
        "district": "鼓楼区",
        "street": street,
        "community": "测试社区",
        "area_type": area_type,
    }


def unique_street() -> str:
    return f"测试街道{uuid.uuid4().hex[:6]}"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id_number": "110105194912310021"}, "check digit"),
        ({"home_location": {"lat": 91, "lon": 118.0}}, "lat"),
        ({"categories": ["rich"]}, "categories"),
        ({"birth_date": date(1941, 5, 17), "id_number": "11010519491231002X"}, "does not match"),
        ({"living_situation": "on_a_boat"}, "living_situation"),
        ({"phone": "call me"}, "phone"),
    ],
)
async def test_bad_registrations_are_422_with_the_reason(care: CareApp, change: dict[str, Any], field: str) -> None:
    body = elder_body()
    body.update({k: (v.isoformat() if isinstance(v, date) else v) for k, v in change.items()})
    response = await care.http.post("/api/v1/elders", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert field in response.text


async def test_a_registered_id_number_is_409(care: CareApp) -> None:
    body = elder_body()
    assert (await care.http.post("/api/v1/elders", json=body, headers=ADMIN)).status_code == 201
    again = await care.http.post("/api/v1/elders", json={**body, "name": "另一个人"}, headers=ADMIN)
    assert again.status_code == 409 and "ID number" in again.text


async def test_roles_admins_write_dispatchers_read_ops_see_nothing_personal(care: CareApp) -> None:
    elder = await care.create_elder()
    full_id = elder["id_number"]
    assert "*" not in full_id and elder["birth_date"]  # admins see both in full
    path = f"/api/v1/elders/{elder['id']}"
    incident_id = str(uuid.uuid4())
    for headers in (DISPATCHER, SUPERVISOR):
        # The dispatcher says which incident the record is read for; the supervisor names none.
        params = {"incident_id": incident_id} if headers is DISPATCHER else {}
        detail = (await care.http.get(path, headers=headers, params=params)).json()
        # Nothing the reader gets gives back the hidden digits: no region prefix (the address
        # names it), no birth date (digits 7-14), the age instead.
        assert detail["id_number"] == "*" * 14 + full_id[-4:]
        assert detail["birth_date"] is None and detail["age"] > 0
        assert full_id[6:14] not in str(detail)
        # The health archive reads back as registered (the fields not given at their defaults).
        assert detail["health"] == {
            **{"primary_doctor": "", "family_doctor_contract": False, "hospital_preference": ""},
            **elder_body()["health"],
        }
        assert (await care.http.patch(path, json={"notes": "x"}, headers=headers)).status_code == 403
    for ops_path in (path, "/api/v1/elders", f"{path}/timeline", "/api/v1/reports/visits?period=2026-10"):
        assert (await care.http.get(ops_path, headers=OPS)).status_code == 403, ops_path
    assert (await care.http.get(path)).status_code == 401
    listed = (await care.http.get("/api/v1/elders", params={"q": elder["name"]}, headers=ADMIN)).json()
    assert listed and all("*" in e["id_number"] for e in listed)  # masked in lists, even for admins
    assert all(e["phone"] is None or "*" in e["phone"] for e in listed)

    # Every read of the whole record is audited: who, as which role, why; only admins see the audit.
    refused = await care.http.get(path, headers=DISPATCHER, params={"incident_id": "x' OR 1=1"})
    assert refused.status_code == 422  # not a read, and nothing audited
    reads = await care.http.get(f"{path}/reads", headers=ADMIN)
    assert reads.status_code == 200
    assert [(r["role"], r["incident_id"]) for r in reads.json()] == [("supervisor", None), ("dispatcher", incident_id)]
    assert (await care.http.get(f"{path}/reads", headers=DISPATCHER)).status_code == 403
    assert (await care.http.get("/api/v1/elders/nobody/reads", headers=ADMIN)).status_code == 404


async def test_bindings_one_active_elder_per_device_with_history(care: CareApp) -> None:
    first, second = await care.create_elder(), await care.create_elder(name="李桂兰")
    device = f"D{uuid.uuid4().hex[:12]}"
    bind = {"device_id": device}
    assert (await care.http.post(f"/api/v1/elders/{first['id']}/devices", json=bind, headers=ADMIN)).status_code == 201
    for elder in (first, second):
        duplicate = await care.http.post(f"/api/v1/elders/{elder['id']}/devices", json=bind, headers=ADMIN)
        assert duplicate.status_code == 409, duplicate.text
    wrong = await care.http.delete(f"/api/v1/elders/{second['id']}/devices/{device}", headers=ADMIN)
    assert wrong.status_code == 404
    assert (await care.http.delete(f"/api/v1/elders/{first['id']}/devices/{device}", headers=ADMIN)).status_code == 200
    assert (await care.http.post(f"/api/v1/elders/{second['id']}/devices", json=bind, headers=ADMIN)).status_code == 201
    history = (await care.http.get(f"/api/v1/devices/{device}", headers=DISPATCHER)).json()
    assert [(h["elder_id"], h["active"]) for h in history] == [(first["id"], False), (second["id"], True)]
    bad = await care.http.post(f"/api/v1/elders/{first['id']}/devices", json={"device_id": "no spaces"}, headers=ADMIN)
    assert bad.status_code == 422
    unknown = await care.http.post("/api/v1/elders/nobody/devices", json=bind, headers=ADMIN)
    assert unknown.status_code == 404


async def test_every_change_publishes_a_newer_snapshot_through_the_outbox(care: CareApp) -> None:
    elder = await care.create_elder(living_situation="alone", categories=["dementia"])
    elder_id, device = elder["id"], f"D{uuid.uuid4().hex[:12]}"
    base = f"/api/v1/elders/{elder_id}"
    assert (await care.http.post(f"{base}/devices", json={"device_id": device}, headers=ADMIN)).status_code == 201
    contacts = [
        {"name": "张伟", "relation": "儿子", "phone": "13900000001", "has_key": True, "distance_km": 2.5},
        {"name": "刘芳", "relation": "邻居", "phone": "13900000002"},
    ]
    assert (await care.http.put(f"{base}/contacts", json=contacts, headers=ADMIN)).status_code == 200
    assessment = {"assessed_on": "2026-10-01", "assessor": "鼓楼区评估中心", "level": 3}
    assert (await care.http.post(f"{base}/assessments", json=assessment, headers=ADMIN)).status_code == 201

    async def all_four() -> list[Any] | None:
        found = await snapshots_of(care.kafka_bootstrap, elder_id)
        return found if len(found) >= 4 else None

    snapshots = await eventually(all_four)
    assert [s.version for s in snapshots] == [1, 2, 3, 4]
    latest = snapshots[-1]
    assert latest.device_ids == [device] and latest.bindings[0].binding_seq > 0
    assert latest.ability_level == 3
    assert [c.name for c in latest.contacts] == ["张伟", "刘芳"] and latest.contacts[0].has_key
    assert latest.living_situation == "alone" and "dementia" in latest.categories
    assert latest.conditions == ["高血压"] and latest.home_lat == pytest.approx(32.06)
    assert elder["id_number"].encode() not in latest.SerializeToString()  # the ID number stays here
    detail = (await care.http.get(base, headers=DISPATCHER)).json()
    assert detail["snapshot_version"] == 4 and detail["device_ids"] == [device]
    assert detail["current_assessment"]["level"] == 3 and detail["ability_level"] == 3


async def test_assessment_history_keeps_the_latest_as_current(care: CareApp) -> None:
    elder = await care.create_elder()
    path = f"/api/v1/elders/{elder['id']}/assessments"
    scores = {"self_care": 20, "basic_motor": 15, "mental_state": 10, "perception_social": 12}
    newer = {"assessed_on": "2026-09-01", "assessor": "A", "level": 2, "sub_scores": scores}
    assert (await care.http.post(path, json=newer, headers=ADMIN)).status_code == 201
    older = {"assessed_on": "2025-03-01", "assessor": "B", "level": 4}
    recorded = await care.http.post(path, json=older, headers=ADMIN)
    assert recorded.status_code == 201 and recorded.json()["current"] is False  # recorded later, but older
    history = (await care.http.get(path, headers=DISPATCHER)).json()
    assert [(a["level"], a["current"]) for a in history] == [(2, True), (4, False)]
    assert history[0]["total_score"] == 57 and history[0]["level_name"] == "moderately impaired"
    detail = (await care.http.get(f"/api/v1/elders/{elder['id']}", headers=DISPATCHER)).json()
    assert detail["ability_level"] == 2
    bad_bodies = (
        {**newer, "level": 5},
        {**newer, "sub_scores": {"self_care": 33}},
        {**newer, "assessed_on": "2099-01-01"},
    )
    for bad in bad_bodies:
        assert (await care.http.post(path, json=bad, headers=ADMIN)).status_code == 422


async def test_list_filters_search_and_paging(care: CareApp) -> None:
    street = unique_street()
    made = {
        "alone_hardship": await care.create_elder(name="赵长福", area=area(street), categories=["special_hardship"]),
        "dementia": await care.create_elder(
            name="钱玉珍",
            area=area(street),
            categories=["dementia"],
            living_situation="with_family",
            phone="13712345678",
        ),
        "plain": await care.create_elder(
            name="孙有才", area=area(street), categories=[], living_situation="with_family"
        ),
    }
    level = {"assessed_on": "2026-10-01", "assessor": "A", "level": 3}
    await care.http.post(f"/api/v1/elders/{made['dementia']['id']}/assessments", json=level, headers=ADMIN)
    scope = {"area": f"江苏省/南京市/鼓楼区/{street}"}

    async def names(**params: Any) -> tuple[list[str], int]:
        response = await care.http.get("/api/v1/elders", params={**scope, **params}, headers=DISPATCHER)
        assert response.status_code == 200, response.text
        return [e["name"] for e in response.json()], int(response.headers["X-Total-Count"])

    assert await names() == (["孙有才", "赵长福", "钱玉珍"], 3)
    assert await names(category="dementia") == (["钱玉珍"], 1)
    assert await names(min_ability_level=3) == (["钱玉珍"], 1)
    assert await names(ability_level=0) == ([], 0)
    assert await names(q="长福") == (["赵长福"], 1)
    assert await names(q="1371234") == (["钱玉珍"], 1)
    # The alone, special-hardship elder born 1941 needs weekly visits and has had none.
    assert await names(overdue="true") == (["赵长福"], 1)
    assert await names(limit=1, offset=1) == (["赵长福"], 3)
    bad = await care.http.get("/api/v1/elders", params={"category": "rich"}, headers=DISPATCHER)
    assert bad.status_code == 422


async def test_visit_compliance_report_counts_slots_per_area(care: CareApp) -> None:
    street_a, street_b = unique_street(), unique_street()
    weekly_ok = await care.create_elder(name="周建国", area=area(street_a))
    weekly_missed = await care.create_elder(name="吴秀英", area=area(street_a))
    # Special hardship, 76, with family: monthly. (At 80+ the default policy would make it weekly.)
    monthly = await care.create_elder(
        name="郑德明", area=area(street_b), living_situation="with_family", birth_date=date(1950, 3, 3)
    )
    await care.create_elder(name="冯春生", area=area(street_b), living_situation="with_family", categories=[])

    async def visit(elder: dict[str, Any], day: int, method: str = "in_person") -> None:
        body = {"visited_at": datetime(2026, 10, day, 3, tzinfo=UTC).isoformat(), "visitor": "社工", "method": method}
        response = await care.http.post(f"/api/v1/elders/{elder['id']}/visits", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text

    for day in (2, 9, 16, 27):
        await visit(weekly_ok, day, "phone" if day == 9 else "in_person")
    for day in (2, 16, 27):  # nobody came on 8-14 October
        await visit(weekly_missed, day)
    await visit(monthly, 20)

    response = await care.http.get(
        "/api/v1/reports/visits",
        params={"period": "2026-10", "area": "江苏省/南京市/鼓楼区", "group_by": "street"},
        headers=SUPERVISOR,
    )
    assert response.status_code == 200, response.text
    report = response.json()
    by_area = {a["area"].rsplit("/", 1)[-1]: a for a in report["areas"]}
    assert (by_area[street_a]["required"], by_area[street_a]["compliant"], by_area[street_a]["rate"]) == (2, 1, 0.5)
    assert (by_area[street_b]["required"], by_area[street_b]["compliant"], by_area[street_b]["rate"]) == (1, 1, 1.0)
    overdue = [o for o in report["overdue"] if o["area"].split("/")[3] in (street_a, street_b)]
    assert [(o["name"], o["frequency"], o["missed_slots"]) for o in overdue] == [
        ("吴秀英", "weekly", ["2026-10-08..2026-10-14"])
    ]
    future = {"visited_at": "2099-01-01T00:00:00Z", "visitor": "x", "method": "video"}
    rejected = await care.http.post(f"/api/v1/elders/{monthly['id']}/visits", json=future, headers=ADMIN)
    assert rejected.status_code == 422
    for params in ({"period": "2026-13"}, {"period": "last month"}, {"period": "2026-10", "group_by": "planet"}):
        assert (await care.http.get("/api/v1/reports/visits", params=params, headers=ADMIN)).status_code == 422


async def test_timeline_merges_the_record_in_time_order(care: CareApp) -> None:
    elder = await care.create_elder()
    base = f"/api/v1/elders/{elder['id']}"
    await care.http.post(f"{base}/devices", json={"device_id": f"D{uuid.uuid4().hex[:12]}"}, headers=ADMIN)
    await care.http.post(
        f"{base}/visits",
        json={"visited_at": "2026-10-05T02:00:00Z", "visitor": "社工", "method": "video", "findings": "平稳"},
        headers=ADMIN,
    )
    assessment = {"assessed_on": "2026-10-01", "assessor": "A", "level": 1}
    await care.http.post(f"{base}/assessments", json=assessment, headers=ADMIN)
    items = (await care.http.get(f"{base}/timeline", headers=DISPATCHER)).json()
    assert [i["source"] for i in items] == ["visit", "device", "assessment"]
    assert items == sorted(items, key=lambda i: i["at"])
    assert (await care.http.get("/api/v1/elders/nobody/timeline", headers=DISPATCHER)).status_code == 404
