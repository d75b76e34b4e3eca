"""Turning incident timeline entries into Server-Sent Events.

The event id is the entry's primary key, so a console reconnecting with
Last-Event-ID gets every entry after it straight from the database: nothing is
kept in memory, and any replica can serve any console.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from eldercare.settings import ApiPrincipal, Role
from services.dispatch import metrics
from services.dispatch.elder import service as elders
from services.dispatch.incident.models import Incident, IncidentEntry
from services.dispatch.incident.service import personal_detail, priority_label, without_personal_detail
from services.dispatch.platform_alert.service import PlatformAlert, PlatformAlertBoard

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


async def latest_entry_id(session: AsyncSession) -> int:
    """The newest entry id (0 when there is none)."""
    return int(await session.scalar(select(func.max(col(IncidentEntry.id)))) or 0)


async def entries_after(
    session: AsyncSession, *, after_id: int, limit: int = BATCH
) -> list[tuple[IncidentEntry, Incident]]:
    """Entries with an id above `after_id`, in id order, each with its incident's current row."""
    rows = await session.execute(
        select(IncidentEntry, Incident)
        .join(Incident, col(Incident.id) == col(IncidentEntry.incident_id))
        .where(col(IncidentEntry.id) > after_id)
        .order_by(col(IncidentEntry.id))
        .limit(limit)
    )
    return [(entry, incident) for entry, incident in rows.all()]


def render_platform_alert(alert: PlatformAlert) -> bytes:
    """A platform alert frame. No `id:` line: Last-Event-ID stays the last timeline entry's, so a
    reconnecting console resumes the timeline where it was (alerts are sent again as a snapshot)."""
    data = {**alert.as_dict(), "audience": "supervisor"}
    return f"event: platform_alert\ndata: {orjson.dumps(data).decode()}\n\n".encode()


async def sse_events(
    sessions: async_sessionmaker[AsyncSession],
    *,
    last_event_id: int | None,
    poll_seconds: float,
    heartbeat_seconds: float,
    max_seconds: float,
    disconnected: Callable[[], Any],
    committed: Callable[[], asyncio.Event] | None = None,
    platform_alerts: PlatformAlertBoard | None = None,
    reader: ApiPrincipal | None = None,
) -> AsyncIterator[bytes]:
    """Replay after `last_event_id` (or start from now), then follow new entries, with heartbeats.

    With `platform_alerts` (supervisors' streams), the critical platform alerts firing now come
    first, then every change to one as it arrives. Those live in memory, so the stream keeps
    running, with heartbeats and alerts, while the database is unreachable: that outage is
    itself the alert a supervisor most needs to see.

    A frame carrying an elder's personal data (who called, a note) is a read of it: audited for
    `reader` (with the incident) before it is sent, and sent to ops without those fields.
    """
    withhold = reader is not None and reader.role is Role.OPS
    audited = reader if reader is not None and not withhold else None
    metrics.STREAM_CLIENTS.inc()
    try:
        cursor: int | None = last_event_id
        alerts_seen = 0
        yield b"retry: 2000\n\n"
        if platform_alerts is not None:
            alerts_seen = platform_alerts.sequence
            for alert in reversed(platform_alerts.alerts(status="firing", critical_only=True)):
                yield render_platform_alert(alert)
        started = last_beat = time.monotonic()
        gap_since: float | None = None
        database_down = False
        while time.monotonic() - started < max_seconds:
            if await disconnected():
                return
            # Taken before looking, so a commit or an alert between the look and the wait is not missed.
            wakeups = [committed()] if committed is not None else []
            if platform_alerts is not None:
                wakeups.append(platform_alerts.changed())
                for alert in platform_alerts.changes_after(alerts_seen):
                    alerts_seen = max(alerts_seen, alert.sequence)
                    last_beat = time.monotonic()
                    yield render_platform_alert(alert)
            rows: list[tuple[IncidentEntry, Incident]] = []
            starting = cursor is None
            try:
                # Bounded, so a database that hangs (a cut link) does not hold back the alerts.
                async with asyncio.timeout(max(2 * poll_seconds, 2.0)):
                    async with sessions() as session:
                        if cursor is None:
                            cursor = await latest_entry_id(session)
                        rows = await entries_after(session, after_id=cursor)
                if starting:
                    yield f": stream from entry {cursor}\n\n".encode()
                if database_down:
                    database_down = False
                    yield b": database reachable again\n\n"
            except Exception as exc:  # unreachable or timing out: the alerts and heartbeats go on
                if not database_down:
                    database_down = True
                    log.warning("live stream: database unreachable (%s: %s)", type(exc).__name__, exc)
                    yield b": database unreachable; timeline paused, platform alerts continue\n\n"
            for entry, incident in rows:
                assert entry.id is not None and cursor is not None
                if entry.id != cursor + 1:
                    gap_since = gap_since if gap_since is not None else time.monotonic()
                    if time.monotonic() - gap_since < GAP_GRACE_SECONDS:
                        break  # wait for the missing id to commit (or to prove it never will)
                if audited is not None and not await _audit_read(sessions, entry, incident, audited):
                    break  # no audit row, no frame: the next round tries again from here
                gap_since = None
                cursor = entry.id
                last_beat = time.monotonic()
                yield render(entry, incident, withhold_personal=withhold)
            if time.monotonic() - last_beat >= heartbeat_seconds:
                last_beat = time.monotonic()
                yield b": heartbeat\n\n"
            if len(rows) < BATCH or gap_since is not None:
                # This replica's commits (and alerts) wake the stream at once; other replicas' are seen by polling.
                if not wakeups or gap_since is not None or database_down:
                    await asyncio.sleep(poll_seconds)
                else:
                    await _first_of(wakeups, poll_seconds)
    finally:
        metrics.STREAM_CLIENTS.dec()


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


async def _first_of(events: list[asyncio.Event], timeout: float) -> None:
    """Wait until any of `events` is set, or `timeout`."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
