"""The SLA report on a seeded history matches figures computed by hand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests import infra
from tests.dispatch.helpers import api
from tests.platform import OPS, SUPERVISOR, Platform

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

BASE = datetime(2020, 1, 1, 10, 0, tzinfo=UTC)
UNTIL = "2020-01-02T00:00:00Z"

# (area, priority, status, outcome, seconds to ack, seconds to on scene)
HISTORY: list[tuple[str, int, str, str | None, int | None, int | None]] = [
    ("north", 1, "resolved", "handled", 30, 600),
    ("north", 1, "resolved", "false_alarm", 90, 900),
    ("north", 2, "resolved", "false_alarm", 45, None),
    ("south", 1, "resolved", "handled", 10, 300),
    ("south", 3, "cancelled", None, None, None),  # cancelled before anyone answered: not answerable
    # Never answered: counts against the rate. P1 so that escalation, which raises priority, cannot move it.
    ("south", 1, "open", None, None, None),
]


async def seed(dsn: str, area_prefix: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        rows = [*HISTORY, ("north", 1, "resolved", "handled", 5, 50)]  # the last one is outside the window
        for index, (area, priority, status, outcome, ack_s, scene_s) in enumerate(rows):
            opened = BASE + timedelta(minutes=index) if index < len(HISTORY) else BASE - timedelta(days=2)
            incident_id = str(uuid.uuid4())
            acked = opened + timedelta(seconds=ack_s) if ack_s is not None else None
            closed = opened + timedelta(hours=1) if status in ("resolved", "cancelled") else None
            await connection.execute(
                """INSERT INTO incidents (id, status, priority, kind, device_id, source_event_id, occurred_at,
                   opened_at, updated_at, last_alarm_at, alarm_count, acknowledged_at, closed_at, outcome, area)
                   VALUES ($1, $2, $3, 'sos', 'seeded', $1, $4, $4, $4, $4, 1, $5, $6, $7, $8)""",
                incident_id,
                status,
                priority,
                opened,
                acked,
                closed,
                outcome,
                f"{area_prefix}-{area}",
            )
            if scene_s is not None:
                await connection.execute(
                    """INSERT INTO incident_entries (incident_id, at, action, actor, from_status, to_status, detail)
                       VALUES ($1, $2, 'on_scene', 'seed', 'dispatched', 'on_scene', '{}')""",
                    incident_id,
                    opened + timedelta(seconds=scene_s),
                )
    finally:
        await connection.close()


def figures(
    incidents: int,
    answerable: int,
    within: int,
    rate: float | None,
    ack: tuple[int, float | None, float | None],
    scene: tuple[int, float | None, float | None],
    resolved: int,
    false_alarms: int,
    false_rate: float | None,
) -> dict[str, Any]:
    return {
        "incidents": incidents,
        "answerable": answerable,
        "answered_within_60s": within,
        "answered_within_60s_rate": rate,
        "time_to_ack_seconds": {"count": ack[0], "median": ack[1], "p90": ack[2]},
        "time_to_on_scene_seconds": {"count": scene[0], "median": scene[1], "p90": scene[2]},
        "resolved": resolved,
        "false_alarms": false_alarms,
        "false_alarm_rate": false_rate,
    }


async def test_sla_report_matches_hand_computed_figures(ops: Platform, databases: infra.DatabaseFactory) -> None:
    prefix = "sla" + uuid.uuid4().hex[:6]
    await seed(databases.url("dispatch_ops").replace("postgresql+asyncpg://", "postgresql://"), prefix)
    report = await api(ops, "GET", "/api/v1/reports/sla", params={"period": "1d", "until": UNTIL}, headers=OPS)

    # acks 10, 30, 45, 90 s: median (30+45)/2; p90 at rank 2.7 → 45 + 0.7·45. On scene 300, 600, 900 s.
    assert report["overall"] == figures(6, 5, 3, 0.6, (4, 37.5, 76.5), (3, 600.0, 840.0), 4, 2, 0.5)
    assert report["by_area"] == {
        f"{prefix}-north": figures(3, 3, 2, 0.6667, (3, 45.0, 81.0), (2, 750.0, 870.0), 3, 2, 0.6667),
        f"{prefix}-south": figures(3, 2, 1, 0.5, (1, 10.0, 10.0), (1, 300.0, 300.0), 1, 0, 0.0),
    }
    assert report["by_priority"] == {
        "P1": figures(4, 4, 2, 0.5, (3, 30.0, 78.0), (3, 600.0, 840.0), 3, 1, 0.3333),
        "P2": figures(1, 1, 1, 1.0, (1, 45.0, 45.0), (0, None, None), 1, 1, 1.0),
        "P3": figures(1, 0, 0, None, (0, None, None), (0, None, None), 0, 0, None),
    }
    # The work queue filters by area and priority; the seeded open incident is cancelled so it stops escalating.
    [still_open] = await api(ops, "GET", "/api/v1/incidents", params={"area": f"{prefix}-south", "priority": "P1"})
    assert still_open["status"] == "open"
    await api(
        ops, "POST", f"/api/v1/incidents/{still_open['id']}/cancel", json={"reason": "seeded"}, headers=SUPERVISOR
    )
    bad = await ops.http.get(ops.url("dispatch", "/api/v1/reports/sla"), params={"period": "soon"}, headers=OPS)
    assert bad.status_code == 422
