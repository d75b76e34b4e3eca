"""Every read of an elder's record through dispatch leaves an audit row: who, when, for which incident."""

from __future__ import annotations

import pytest

from tests.dispatch.helpers import api, new_place, open_incident
from tests.dispatch.test_device_settings import bind_to_an_elder
from tests.dispatch.test_stream_and_commands import live_stream, until
from tests.platform import DISPATCHER, OPS, SUPERVISOR, Platform, new_device_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_incident_views_and_device_lookups_are_audited_and_ops_reads_are_not_personal(ops: Platform) -> None:
    device_id = new_device_id()
    await bind_to_an_elder(ops, device_id)
    elder = await api(ops, "GET", f"/api/v1/devices/{device_id}/elder")  # one read: a device lookup
    incident = await open_incident(ops, new_place(), device_id=device_id)
    shown = await api(ops, "GET", f"/api/v1/incidents/{incident['id']}")  # two: the incident on screen
    assert shown["elder"]["elder_id"] == elder["elder_id"]
    await api(ops, "POST", f"/api/v1/incidents/{incident['id']}/acknowledge")  # three: shown with the change
    as_ops = await api(ops, "GET", f"/api/v1/incidents/{incident['id']}", headers=OPS)
    assert as_ops["elder"] is None  # ops get the incident without the record, and no audit row

    reads = await api(ops, "GET", f"/api/v1/elders/{elder['elder_id']}/reads", headers=SUPERVISOR)
    # (The supervisor's polls while waiting for the binding are reads too, and audited.)
    by_dispatcher = [(r["via"], r["incident_id"]) for r in reversed(reads) if r["role"] == "dispatcher"]
    assert by_dispatcher[0] == ("device_elder", None)
    assert by_dispatcher[1:] and set(by_dispatcher[1:]) == {("incident", incident["id"])}
    assert len(by_dispatcher) >= 3  # the GET and the acknowledgement's answer at least
    assert "ops" not in {r["role"] for r in reads}
    # The audit itself is for supervisors and admins.
    await api(ops, "GET", f"/api/v1/elders/{elder['elder_id']}/reads", expect=403)


async def test_a_device_lookup_is_audited_with_the_incident_it_was_for(ops: Platform) -> None:
    device_id = new_device_id()
    await bind_to_an_elder(ops, device_id)
    incident = await open_incident(ops, new_place(), device_id=device_id)
    other = await open_incident(ops, new_place())
    elder = await api(ops, "GET", f"/api/v1/devices/{device_id}/elder")  # the device's active incident
    await api(ops, "GET", f"/api/v1/devices/{device_id}/elder", params={"incident_id": incident["id"]})
    refused = await api(
        ops, "GET", f"/api/v1/devices/{device_id}/elder", params={"incident_id": other["id"]}, expect=422
    )
    assert "is not about device" in refused["detail"]

    reads = await api(ops, "GET", f"/api/v1/elders/{elder['elder_id']}/reads", headers=SUPERVISOR)
    lookups = [(r["via"], r["incident_id"]) for r in reads if r["role"] == "dispatcher"]
    assert lookups == [("device_elder", incident["id"])] * 2  # the refused one left no row
    await cancel(ops, incident, other)


async def test_stream_frames_with_personal_data_are_audited_and_reach_ops_withheld(ops: Platform) -> None:
    device_id = new_device_id()
    await bind_to_an_elder(ops, device_id)
    incident = await open_incident(ops, new_place(), device_id=device_id)
    note = "女儿说钥匙在邻居家"
    async with live_stream(ops, as_=DISPATCHER) as dispatcher, live_stream(ops, as_=OPS) as watcher:
        await api(ops, "POST", f"/api/v1/incidents/{incident['id']}/notes", json={"text": note}, expect=201)
        seen = await until(lambda: [e for e in dispatcher.about(incident["id"]) if e[2]["action"] == "note"])
        seen_by_ops = await until(lambda: [e for e in watcher.about(incident["id"]) if e[2]["action"] == "note"])
    assert seen[0][2]["detail"] == {"text": note}
    assert seen_by_ops[0][2]["detail"] == {"text": "(withheld)"}
    as_ops = await api(ops, "GET", f"/api/v1/incidents/{incident['id']}", headers=OPS)
    assert [e["detail"] for e in as_ops["timeline"] if e["action"] == "note"] == [{"text": "(withheld)"}]

    reads = await api(ops, "GET", f"/api/v1/elders/{incident['elder_id']}/reads", headers=SUPERVISOR)
    streamed = [(r["role"], r["incident_id"]) for r in reads if r["via"] == "stream"]
    # One row for the dispatcher's frame; the opening alarm's frame carried nothing personal; ops read nothing.
    assert streamed == [("dispatcher", incident["id"])]
    await cancel(ops, incident)


async def cancel(platform: Platform, *incidents: dict[str, object]) -> None:
    """Left open, they would escalate on the shared platform and fill other tests' streams."""
    for incident in incidents:
        await api(
            platform,
            "POST",
            f"/api/v1/incidents/{incident['id']}/cancel",
            json={"reason": "test over"},
            headers=SUPERVISOR,
        )
