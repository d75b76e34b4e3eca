"""Candidates on a seeded map, assignment through its states, and the cascade (real brokers, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.dispatch.helpers import api, new_place, offset, open_incident, responder, timeline
from tests.platform import OPS, Platform, eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def off_duty_now() -> list[dict[str, Any]]:
    """A one-hour shift that ended an hour ago, local time."""
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    start, end = local - timedelta(hours=2), local - timedelta(hours=1)
    return [{"days": [start.weekday()], "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}]


async def test_candidates_rank_skills_then_distance_and_leave_out_who_cannot_go(ops: Platform) -> None:
    place = new_place()
    neighbour = await responder(
        ops, kind="neighbour_helper", name="near, no first aid", base=offset(place, north_km=0.5)
    )
    station = await responder(
        ops, kind="community_station", name="station", base=offset(place, east_km=1.2), skills=["first_aid"]
    )
    team = await responder(
        ops, kind="mobile_team", name="team", base=offset(place, north_km=-8), skills=["first_aid", "medical"]
    )
    await responder(ops, kind="neighbour_helper", name="unavailable", base=offset(place, north_km=0.2), available=False)
    off_duty = off_duty_now()
    if off_duty[0]["start"] < off_duty[0]["end"]:  # a shift across midnight would need two days; skip the row then
        await responder(
            ops,
            kind="doctor",
            name="off duty",
            base=offset(place, north_km=0.3),
            skills=["first_aid"],
            schedule=off_duty,
        )
    await responder(
        ops, kind="neighbour_helper", name="out of coverage", base=offset(place, east_km=5), coverage_radius_km=1
    )
    ambulance = await responder(ops, kind="ambulance", name="120 station", base=offset(place, north_km=10))
    # The responder app moves the neighbour further away than the team: the live position wins over home.
    await api(ops, "PATCH", f"/api/v1/responders/{neighbour['id']}", json={"location": offset(place, north_km=9)})

    incident = await open_incident(ops, place, kind="fall")
    ranked = await api(ops, "GET", f"/api/v1/incidents/{incident['id']}/candidates", headers=OPS)

    assert ranked["needed_skills"] == ["first_aid"]
    assert ranked["origin_source"] == "last_location"
    assert [c["responder_id"] for c in ranked["candidates"]] == [station["id"], team["id"], neighbour["id"]]
    assert [c["rank"] for c in ranked["candidates"]] == [1, 2, 3]
    assert ranked["candidates"][0]["distance_km"] == pytest.approx(1.2, abs=0.01)
    assert ranked["candidates"][2]["distance_km"] == pytest.approx(9.0, abs=0.01)
    assert ranked["candidates"][2]["missing_skills"] == ["first_aid"]
    assert ranked["ambulance"]["responder_id"] == ambulance["id"]  # P1 always offers the ambulance


async def test_assignment_walks_its_states_and_drives_the_incident(ops: Platform) -> None:
    place = new_place()
    helper = await responder(ops, kind="neighbour_helper", name="helper", base=offset(place, north_km=1))
    incident = await open_incident(ops, place)
    path = f"/api/v1/incidents/{incident['id']}"
    await api(ops, "POST", f"{path}/assign", json={"responder_id": helper["id"]}, expect=409)  # not acknowledged yet
    await api(ops, "POST", f"{path}/acknowledge")
    [assignment] = await api(ops, "POST", f"{path}/assign", json={"responder_id": helper["id"]}, expect=201)
    assert assignment["state"] == "notified" and assignment["respond_by"] is not None
    await api(ops, "POST", f"{path}/assign", json={"responder_id": helper["id"]}, expect=409)  # already on it

    step = f"/api/v1/assignments/{assignment['id']}"
    await api(ops, "POST", f"{step}/done", expect=409)  # not on scene yet
    assert (await api(ops, "POST", f"{step}/accept"))["state"] == "accepted"
    assert (await ops.incident(incident["id"]))["status"] == "dispatched"
    assert (await api(ops, "POST", f"{step}/en_route"))["state"] == "en_route"
    assert (await api(ops, "POST", f"{step}/on_scene"))["state"] == "on_scene"
    assert (await ops.incident(incident["id"]))["status"] == "on_scene"
    assert (await api(ops, "POST", f"{step}/done"))["state"] == "done"
    await api(ops, "POST", f"{path}/resolve", json={"outcome": "handled"})

    actions = [entry["action"] for entry in await timeline(ops, incident["id"])]
    for expected in (
        "acknowledge",
        "responder_assigned",
        "assignment_accepted",
        "dispatch",
        "assignment_en_route",
        "assignment_on_scene",
        "on_scene",
        "assignment_done",
        "resolve",
    ):
        assert expected in actions, (expected, actions)
    assert actions.index("assignment_accepted") < actions.index("dispatch") < actions.index("assignment_on_scene")
    # En route tells the elder's device that help is on the way.
    commands = await api(ops, "GET", f"{path}/commands")
    assert [c["text"] for c in commands][-1].startswith("救援人员已出发")


async def test_a_decline_cascades_to_the_next_candidate(ops: Platform) -> None:
    place = new_place()
    first = await responder(ops, kind="family", name="first", base=offset(place, north_km=0.5))
    second = await responder(ops, kind="neighbour_helper", name="second", base=offset(place, north_km=2))
    incident = await open_incident(ops, place)
    path = f"/api/v1/incidents/{incident['id']}"
    await api(ops, "POST", f"{path}/acknowledge")
    [assignment] = await api(ops, "POST", f"{path}/assign", json={"responder_id": first["id"]}, expect=201)
    await api(ops, "POST", f"/api/v1/assignments/{assignment['id']}/decline", json={"reason": "out of town"})

    assignments = await api(ops, "GET", f"{path}/assignments")
    assert [(a["responder_id"], a["state"], a["round"]) for a in assignments] == [
        (first["id"], "declined", 1),
        (second["id"], "notified", 2),
    ]
    assert assignments[0]["reason"] == "out of town"
    assert assignments[1]["assigned_by"] == "system:cascade"


async def test_no_answer_in_time_cascades_and_then_runs_out(ops: Platform) -> None:
    place = new_place()
    first = await responder(ops, kind="family", name="silent", base=offset(place, north_km=0.5))
    second = await responder(ops, kind="neighbour_helper", name="also silent", base=offset(place, north_km=2))
    incident = await open_incident(ops, place)
    path = f"/api/v1/incidents/{incident['id']}"
    await api(ops, "POST", f"{path}/acknowledge")
    await api(ops, "POST", f"{path}/assign", json={"responder_id": first["id"], "timeout_seconds": 0.5}, expect=201)

    async def exhausted() -> list[str] | None:
        actions = [entry["action"] for entry in await timeline(ops, incident["id"])]
        return actions if "cascade_exhausted" in actions else None

    # The cascaded assignment gets the configured timeout (60 s in these tests), so time it out by hand:
    async def second_notified() -> list[dict[str, Any]] | None:
        rows = await api(ops, "GET", f"{path}/assignments")
        return rows if len(rows) == 2 else None

    assignments = await eventually(second_notified)
    assert [(a["responder_id"], a["state"]) for a in assignments] == [
        (first["id"], "timed_out"),
        (second["id"], "notified"),
    ]
    await api(ops, "POST", f"/api/v1/assignments/{assignments[1]['id']}/decline")
    actions = await eventually(exhausted)
    assert actions.count("assignment_timed_out") == 1
    assert actions.count("responder_assigned") == 2
