"""Every read of an elder's record through dispatch leaves an audit row: who, when, for which incident."""

from __future__ import annotations

import pytest

from tests.dispatch.helpers import api, new_place, open_incident
from tests.dispatch.test_device_settings import bind_to_an_elder
from tests.platform import OPS, SUPERVISOR, Platform, new_device_id

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
