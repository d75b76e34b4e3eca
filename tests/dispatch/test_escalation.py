"""Escalation timers live in PostgreSQL: they survive a restart and fire once with two replicas."""

from __future__ import annotations

import itertools
import signal
import uuid
from datetime import datetime
from typing import Any

import pytest

from tests import infra
from tests.dispatch.helpers import api, new_place, open_incident, timeline
from tests.platform import SUPERVISOR, Platform, eventually, new_device_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def escalations(platform: Platform, incident_id: str, at_least: int) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        found = [e for e in await timeline(platform, incident_id) if e["action"] == "escalated"]
        return found if len(found) >= at_least else None

    return await eventually(enough, timeout=30)


def assert_each_level_once(entries: list[dict[str, Any]]) -> None:
    levels = [entry["detail"]["level"] for entry in entries]
    assert levels == list(range(1, len(levels) + 1)), levels


async def test_escalation_fires_after_a_restart_repeats_and_stops_once_acknowledged(ops: Platform) -> None:
    incident = await open_incident(ops, new_place())
    # The process that opened the incident dies before the 2 s deadline; the timer is a row, not a task.
    dispatch = ops.stack.processes["dispatch"]
    dispatch.kill(signal.SIGKILL)
    await dispatch.wait_healthy(timeout=60)
    found = await escalations(ops, incident["id"], at_least=2)
    assert_each_level_once(found)
    assert found[0]["detail"]["notify"] == "supervisors"
    assert found[0]["actor"] == "system:escalation"
    await api(ops, "POST", f"/api/v1/incidents/{incident['id']}/acknowledge")
    escalated_before_ack = len([e for e in await timeline(ops, incident["id"]) if e["action"] == "escalated"])

    # A later incident escalating proves the timer kept running after the acknowledgement.
    marker = await open_incident(ops, new_place())
    await escalations(ops, marker["id"], at_least=1)
    after = [e for e in await timeline(ops, incident["id"]) if e["action"] == "escalated"]
    assert len(after) == escalated_before_ack
    await api(ops, "POST", f"/api/v1/incidents/{marker['id']}/acknowledge")


async def test_two_replicas_escalate_each_level_once_and_raise_the_priority(ops: Platform) -> None:
    port = infra.free_port()
    second = ops.stack.make_process("dispatch", instance="b")
    second.env = {**second.env, "DISPATCH_PORT": str(port)}
    second.health_url = f"http://127.0.0.1:{port}"
    await second.start()
    try:
        await second.wait_healthy(timeout=60)
        device_id = new_device_id()
        await ops.publish(
            device_id,
            "alarm",
            {"event_id": uuid.uuid4().hex[:8], "ts": "2026-11-22T08:15:00Z", "type": "device_removed"},
        )
        [incident] = await eventually(lambda: ops.incidents_for(device_id))
        assert incident["priority"] == "P3"
        found = await escalations(ops, incident["id"], at_least=3)
        await api(ops, "POST", f"/api/v1/incidents/{incident['id']}/acknowledge", headers=SUPERVISOR)

        final = [e for e in await timeline(ops, incident["id"]) if e["action"] == "escalated"]
        assert_each_level_once(final)
        assert [(e["detail"]["from_priority"], e["detail"]["to_priority"]) for e in found[:3]] == [
            ("P3", "P2"),
            ("P2", "P1"),
            ("P1", "P1"),
        ]
        # A replica that escalated again what another had just escalated would leave two entries
        # closer together than the deadline; every gap is at least the deadline of the new priority.
        deadlines = {"P1": 2.0, "P2": 3.0, "P3": 4.0}
        for earlier, later in itertools.pairwise(final):
            gap = (datetime.fromisoformat(later["at"]) - datetime.fromisoformat(earlier["at"])).total_seconds()
            assert gap >= deadlines[earlier["detail"]["to_priority"]] - 0.01, (earlier, later)
        assert (await ops.incident(incident["id"]))["priority"] == "P1"
    finally:
        await second.stop()
