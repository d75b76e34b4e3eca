"""The incident stream: timeline entries as Server-Sent Events, followed by id (`stream/feed.py`)."""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from eldercare.settings import ApiPrincipal, Role
from services.dispatch import metrics
from services.dispatch.elder import service as elders
from services.dispatch.incident.models import Incident, IncidentEntry
from services.dispatch.incident.service import personal_detail, priority_label, without_personal_detail
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


def render(entry: IncidentEntry, incident: Incident | None, *, withhold_personal: bool = False) -> bytes:
    """One SSE frame: id, event, and the entry as JSON data (for ops, without its personal fields)."""
    detail = orjson.loads(entry.detail)
    data: dict[str, Any] = {
        "id": entry.id,
        "incident_id": entry.incident_id,
        "at": entry.at.isoformat(),
        "action": entry.action,
        "actor": entry.actor,
        "from_status": entry.from_status,
        "to_status": entry.to_status,
        "detail": without_personal_detail(detail) if withhold_personal else detail,
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


def incident_feed(sessions: async_sessionmaker[AsyncSession], reader: ApiPrincipal | None) -> Feed[Any]:
    """The incident feed as `reader` may see it.

    A frame carrying an elder's personal data (who called, a note) is a read of it: audited for
    `reader` (with the incident) before it is sent; if the audit row cannot be written the frame
    is held back and tried again. Ops get those fields withheld, and no audit row.
    """
    withhold = reader is not None and reader.role is Role.OPS
    audited = reader if reader is not None and not withhold else None

    async def frame(_: AsyncSession, row: tuple[IncidentEntry, Incident]) -> bytes | None:
        entry, incident = row
        if audited is not None and not await _audit_read(sessions, entry, incident, audited):
            return None
        return render(entry, incident, withhold_personal=withhold)

    return replace(INCIDENT_FEED, frame=frame)


# The incident timeline as Server-Sent Events, with supervisors' platform alerts (no reader: unaudited).
sse_events = functools.partial(follow, feed=INCIDENT_FEED)


async def _audit_read(
    sessions: async_sessionmaker[AsyncSession], entry: IncidentEntry, incident: Incident, reader: ApiPrincipal
) -> bool:
    """Record the read when the entry carries an elder's personal data; False when that cannot be written."""
    if incident.elder_id is None or not personal_detail(orjson.loads(entry.detail)):
        return True
    try:
        async with sessions() as session, session.begin():
            elders.record_read(
                session, elder_id=incident.elder_id, principal=reader, via="stream", incident_id=incident.id
            )
    except Exception as exc:
        log.warning("live stream: cannot audit a read (%s); holding the frame back", type(exc).__name__)
        return False
    return True
