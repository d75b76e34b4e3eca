"""The timer loop every dispatch replica runs: escalations, assignment timeouts, command retries.

Each pass claims due rows with FOR UPDATE SKIP LOCKED and applies them in the same
transaction, so replicas share the work without doing any of it twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from eldercare.db import timed_transaction
from eldercare.envelope import utcnow
from eldercare.runtime import ServiceRuntime
from services.dispatch import metrics
from services.dispatch.assignment import service as assignments
from services.dispatch.command import service as commands
from services.dispatch.config import DispatchSettings
from services.dispatch.escalation import service as escalation

log = logging.getLogger(__name__)


async def tick(runtime: ServiceRuntime, settings: DispatchSettings, policy: assignments.Policy) -> None:
    """One pass over everything that may be due."""
    started = time.perf_counter()
    async with timed_transaction(runtime.sessions, "arm_escalation_timers") as session:
        await escalation.arm_timers(session, deadline_of=settings.ack_deadline_seconds)
    async with timed_transaction(runtime.sessions, "escalate") as session:
        escalated = await escalation.escalate_due(session, now=utcnow(), deadline_of=settings.ack_deadline_seconds)
    for incident, level in escalated:
        log.warning("incident %s unacknowledged: escalated to level %d (%s)", incident.id, level, incident.priority)
    async with timed_transaction(runtime.sessions, "assignment_timeouts") as session:
        await assignments.time_out_due(session, now=utcnow(), policy=policy)
    async with timed_transaction(runtime.sessions, "command_retries") as session:
        await commands.retry_due(
            session,
            now=utcnow(),
            first_retry_seconds=settings.command_retry_seconds,
            max_attempts=settings.command_max_attempts,
        )
    async with timed_transaction(runtime.sessions, "disarm_escalation_timers") as session:
        await escalation.disarm_closed(session)
    metrics.TIMER_SECONDS.observe(time.perf_counter() - started)


def operations_timer(
    runtime: ServiceRuntime, settings: DispatchSettings, policy: assignments.Policy
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job for the runtime: `tick` forever, surviving database outages."""

    async def dispatch_operations_timer() -> None:
        while True:
            try:
                await tick(runtime, settings, policy)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("operations timer pass failed; retrying")
            await asyncio.sleep(settings.timer_interval_seconds)

    return dispatch_operations_timer
