"""Following a table by its id as Server-Sent Events: the loop both live streams share.

The event id is the row's primary key, so a console reconnecting with Last-Event-ID gets
every row after it straight from the database: nothing is kept in memory, and any replica
can serve any console.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import orjson
from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.dispatch.platform_alert.service import PlatformAlert, PlatformAlertBoard

log = logging.getLogger(__name__)


class HasId(Protocol):
    id: int | None


Row = TypeVar("Row", bound=tuple[HasId, Any])


@dataclass(frozen=True)
class Feed(Generic[Row]):
    """What a stream follows: the rows of `followed` by id, each with the `joined` row it belongs
    to (`on`), and how such a pair becomes a frame."""

    name: str  # what a row is, for the stream's comments: ": stream from <name> <id>"
    followed: Any  # a table model with an integer `id`
    joined: Any
    on: Any  # the join condition
    # None holds the row back (its read could not be audited): the stream stops there and tries again.
    frame: Callable[[AsyncSession, Row], Awaitable[bytes | None]]
    batch: int
    # How long a hole in the id sequence may hold the stream back (a lower id can commit after a
    # higher one, and a rolled-back insert leaves a hole for good); 0: never wait.
    gap_grace_seconds: float
    clients: Gauge | None = None  # counts the open streams

    async def latest_id(self, session: AsyncSession) -> int:
        """The newest id (0 when there is none)."""
        return int(await session.scalar(select(func.max(self.followed.id))) or 0)

    async def rows_after(self, session: AsyncSession, after_id: int, limit: int) -> list[Row]:
        """Rows with an id above `after_id`, in id order, each with its joined row as it is now."""
        rows = await session.execute(
            select(self.followed, self.joined)
            .join(self.joined, self.on)
            .where(self.followed.id > after_id)
            .order_by(self.followed.id)
            .limit(limit)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


def render_platform_alert(alert: PlatformAlert) -> bytes:
    """A platform alert frame. No `id:` line: Last-Event-ID stays the last row's, so a reconnecting
    console resumes the feed where it was (alerts are sent again as a snapshot)."""
    data = {**alert.as_dict(), "audience": "supervisor"}
    return f"event: platform_alert\ndata: {orjson.dumps(data).decode()}\n\n".encode()


async def follow(
    sessions: async_sessionmaker[AsyncSession],
    feed: Feed[Row],
    *,
    last_event_id: int | None,
    poll_seconds: float,
    heartbeat_seconds: float,
    max_seconds: float,
    disconnected: Callable[[], Any],
    committed: Callable[[], asyncio.Event] | None = None,
    platform_alerts: PlatformAlertBoard | None = None,
) -> AsyncIterator[bytes]:
    """Replay after `last_event_id` (or start from now), then follow new rows, with heartbeats.

    With `platform_alerts` (supervisors' streams), the critical platform alerts firing now come
    first, then every change to one as it arrives. Those live in memory, so the stream keeps
    running, with heartbeats and alerts, while the database is unreachable: that outage is
    itself the alert a supervisor most needs to see.
    """
    if feed.clients is not None:
        feed.clients.inc()
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
            frames: list[bytes] = []
            rows = 0
            starting = cursor is None
            try:
                # Bounded, so a database that hangs (a cut link) does not hold back the alerts.
                async with asyncio.timeout(max(2 * poll_seconds, 2.0)), sessions() as session:
                    if cursor is None:
                        cursor = await feed.latest_id(session)
                    found = await feed.rows_after(session, cursor, feed.batch)
                    rows = len(found)
                    for row in found:
                        row_id = row[0].id
                        assert row_id is not None
                        if row_id != cursor + 1 and feed.gap_grace_seconds:
                            gap_since = gap_since if gap_since is not None else time.monotonic()
                            if time.monotonic() - gap_since < feed.gap_grace_seconds:
                                break  # wait for the missing id to commit (or to prove it never will)
                        frame = await feed.frame(session, row)
                        if frame is None:
                            break
                        gap_since = None
                        cursor = row_id
                        frames.append(frame)
                if starting:
                    yield f": stream from {feed.name} {cursor}\n\n".encode()
                if database_down:
                    database_down = False
                    yield b": database reachable again\n\n"
            except Exception as exc:  # unreachable or timing out: the alerts and heartbeats go on
                if not database_down:
                    database_down = True
                    log.warning("live stream: database unreachable (%s: %s)", type(exc).__name__, exc)
                    yield b": database unreachable; stream paused, platform alerts continue\n\n"
            for frame in frames:
                last_beat = time.monotonic()
                yield frame
            if time.monotonic() - last_beat >= heartbeat_seconds:
                last_beat = time.monotonic()
                yield b": heartbeat\n\n"
            if rows < feed.batch or gap_since is not None:
                # This replica's commits (and alerts) wake the stream at once; other replicas' are seen by polling.
                if not wakeups or gap_since is not None or database_down:
                    await asyncio.sleep(poll_seconds)
                else:
                    await _first_of(wakeups, poll_seconds)

    finally:
        if feed.clients is not None:
            feed.clients.dec()


async def _first_of(events: list[asyncio.Event], timeout: float) -> None:
    """Wait until any of `events` is set, or `timeout`."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
