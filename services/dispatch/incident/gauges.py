"""Incidents-open gauges, refreshed from the database (a restart must not zero them).

The oldest unacknowledged incident's age is computed when scraped, from the opening time last
read: while the database is unreachable nobody can acknowledge anything through this replica, so
the age goes on rising (and SosNotAcknowledged fires) instead of freezing at the last refresh.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from eldercare.envelope import utcnow
from eldercare.runtime import ServiceRuntime
from services.dispatch import metrics
from services.dispatch.incident.models import ACTIVE_STATUSES, Incident, IncidentStatus

log = logging.getLogger(__name__)
PRIORITIES = ("P1", "P2", "P3", "P4")
# Opening time of the oldest open incident per priority, as last read from the database.
_oldest_open: dict[str, datetime | None] = dict.fromkeys(PRIORITIES)


def _age_of_oldest(priority: str) -> float:
    opened = _oldest_open.get(priority)
    return 0.0 if opened is None else max((utcnow() - opened).total_seconds(), 0.0)


for _priority in PRIORITIES:
    metrics.OLDEST_UNACKNOWLEDGED_SECONDS.labels(_priority).set_function(functools.partial(_age_of_oldest, _priority))


async def refresh_incident_gauges(runtime: ServiceRuntime) -> None:
    """Counts of active incidents by priority and state, and the oldest unacknowledged one's age."""
    async with runtime.sessions() as session:
        counts = await session.execute(
            select(col(Incident.priority), col(Incident.status), func.count())
            .where(col(Incident.status).in_([s.value for s in ACTIVE_STATUSES]))
            .group_by(col(Incident.priority), col(Incident.status))
        )
        oldest = await session.execute(
            select(col(Incident.priority), func.min(col(Incident.opened_at)))
            .where(col(Incident.status) == IncidentStatus.OPEN.value)
            .group_by(col(Incident.priority))
        )
        count_rows = list(counts.tuples())
        oldest_rows = list(oldest.tuples())
    seen = {(f"P{priority}", status): n for priority, status, n in count_rows}
    for priority in PRIORITIES:
        for status in ACTIVE_STATUSES:
            metrics.INCIDENTS_OPEN.labels(priority, status.value).set(seen.get((priority, status.value), 0))
    ages = {f"P{priority}": opened for priority, opened in oldest_rows}
    for priority in PRIORITIES:
        _oldest_open[priority] = ages.get(priority)


def incident_gauges(runtime: ServiceRuntime, *, interval: float = 5.0) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job refreshing the gauges every `interval` seconds."""

    async def run() -> None:
        while True:
            try:
                await refresh_incident_gauges(runtime)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("incident gauges refresh failed; retrying")
            await asyncio.sleep(interval)

    run.__name__ = "incident_gauges"
    return run
