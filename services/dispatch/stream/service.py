"""The incident stream: timeline entries as Server-Sent Events, followed by id (`stream/feed.py`)."""

from __future__ import annotations

import functools
import logging
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.dispatch import metrics
from services.dispatch.incident.models import Incident, IncidentEntry
from services.dispatch.incident.service import priority_label
from services.dispatch.stream.feed import Feed, follow

log = logging.getLogger(__name__)

# How long a hole in the id sequence may hold the stream back: a lower id can commit
# after a higher one, and a rolled-back insert leaves a hole for good.
GAP_GRACE_SECONDS = 2.0
BATCH = 500


def event_type(entry: IncidentEntry) -> str:
    """The SSE event name a console subscribes to."""
    if entry.action == "opened":
        return "incident_opened"
    if entry.action == "escalated":
        return "escalation"
    if entry.action.startswith(("assignment_", "responder_assigned", "cascade")):
        return "assignment"
    if entry.action.startswith("command_"):
        return "command"
    if entry.from_status != entry.to_status:
        return "state_change"
    return "timeline"


def render(entry: IncidentEntry, incident: Incident | None) -> bytes:
    """One SSE frame: id, event, and the entry as JSON data."""
    data: dict[str, Any] = {
        "id": entry.id,
        "incident_id": entry.incident_id,
        "at": entry.at.isoformat(),
        "action": entry.action,
        "actor": entry.actor,
        "from_status": entry.from_status,
        "to_status": entry.to_status,
        "detail": orjson.loads(entry.detail),
    }
    if incident is not None:
        data["incident"] = {
            "status": incident.status,
            "priority": priority_label(incident.priority),
            "kind": incident.kind,
            "area": incident.area,
        }
    if entry.action == "escalated":
        data["audience"] = "supervisor"
    payload = orjson.dumps(data).decode()
    return f"id: {entry.id}\nevent: {event_type(entry)}\ndata: {payload}\n\n".encode()


async def _render_row(_: AsyncSession, row: tuple[IncidentEntry, Incident]) -> bytes:
    return render(*row)


INCIDENT_FEED = Feed(
    name="entry",
    followed=IncidentEntry,
    joined=Incident,
    on=col(Incident.id) == col(IncidentEntry.incident_id),
    frame=_render_row,
    batch=BATCH,
    gap_grace_seconds=GAP_GRACE_SECONDS,
    clients=metrics.STREAM_CLIENTS,
)
latest_entry_id = INCIDENT_FEED.latest_id
# The incident timeline as Server-Sent Events, with supervisors' platform alerts.
sse_events = functools.partial(follow, feed=INCIDENT_FEED)
