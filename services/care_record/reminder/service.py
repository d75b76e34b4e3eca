"""Reminders: scheduling, and firing each due one exactly once as a device command.

Firing claims due rows with `FOR UPDATE SKIP LOCKED`, flips them to `sent` and writes
the command to the outbox in the same transaction: a replica that crashes before
commit leaves the row `scheduled` for the next pass (nothing skipped), and a row
that committed `sent` is never claimed again (nothing sent twice). The command id is
derived from the reminder id, so even a relay retry is recognisable downstream.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from eldercare.db import claim_due, queue_event
from eldercare.envelope import platform_event, to_timestamp, utcnow
from eldercare.tasks import cancel_and_wait
from eldercare.topics import COMMANDS
from eldercare.v1 import commands_pb2
from services.care_record import metrics
from services.care_record.device.service import bindings_of_elder
from services.care_record.elder.service import get_elder
from services.care_record.errors import Conflict, Invalid, NotFound
from services.care_record.reminder.models import Reminder, ReminderCreate, ReminderRepeat, ReminderStatus

log = logging.getLogger(__name__)

_COMMAND_NAMESPACE = uuid.UUID("1b0d1c4e-6a4f-4c55-9a57-7f1a8c2e5d30")
_REPEAT_EVERY = {ReminderRepeat.DAILY.value: timedelta(days=1), ReminderRepeat.WEEKLY.value: timedelta(days=7)}


def command_id_for(reminder_id: str) -> str:
    """The command id of a reminder's delivery; the same on every attempt."""
    return str(uuid.uuid5(_COMMAND_NAMESPACE, reminder_id))


async def create_reminder(session: AsyncSession, *, elder_id: str, data: ReminderCreate, actor: str) -> Reminder:
    """Schedule a reminder for the elder."""
    if data.due_at.tzinfo is None:
        raise Invalid("due_at needs a UTC offset")
    await get_elder(session, elder_id=elder_id)
    reminder = Reminder(
        id=str(uuid.uuid4()),
        elder_id=elder_id,
        kind=data.kind.value,
        text=data.text,
        due_at=data.due_at,
        repeat=data.repeat.value,
        device_id=data.device_id,
        status=ReminderStatus.SCHEDULED.value,
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(reminder)
    await session.flush()
    return reminder


async def list_reminders(session: AsyncSession, *, elder_id: str) -> list[Reminder]:
    """The elder's reminders by due time."""
    rows = await session.scalars(
        select(Reminder).where(col(Reminder.elder_id) == elder_id).order_by(col(Reminder.due_at), col(Reminder.id))
    )
    return list(rows)


async def cancel_reminder(session: AsyncSession, *, elder_id: str, reminder_id: str) -> Reminder:
    """Cancel a scheduled reminder; Conflict when it has fired or was cancelled already."""
    reminder = await session.scalar(
        select(Reminder).where(col(Reminder.id) == reminder_id, col(Reminder.elder_id) == elder_id).with_for_update()
    )
    if reminder is None:
        raise NotFound(f"no reminder {reminder_id} for elder {elder_id}")
    if reminder.status != ReminderStatus.SCHEDULED.value:
        raise Conflict(f"reminder is {reminder.status}; only scheduled reminders can be cancelled")
    reminder.status = ReminderStatus.CANCELLED.value
    return reminder


async def fire_due_reminders(session: AsyncSession, *, now: datetime | None = None, limit: int = 100) -> int:
    """Claim due reminders, queue their commands on the outbox and mark them sent; returns how many fired."""
    now = now or utcnow()
    scheduled = col(Reminder.status) == ReminderStatus.SCHEDULED.value
    due = await claim_due(session, Reminder, where=scheduled, due=Reminder.due_at, until=now, limit=limit)
    for reminder in due:
        device_id = reminder.device_id
        if device_id is None:
            active = await bindings_of_elder(session, elder_id=reminder.elder_id, active_only=True)
            device_id = active[-1].device_id if active else None
        if device_id is None:
            reminder.status = ReminderStatus.UNDELIVERABLE.value
            metrics.REMINDERS_FIRED.labels("undeliverable").inc()
        else:
            reminder.status = ReminderStatus.SENT.value
            reminder.command_id = command_id_for(reminder.id)
            reminder.sent_to_device, reminder.sent_at = device_id, now
            _queue_command(session, reminder, device_id=device_id, now=now)
            metrics.REMINDERS_FIRED.labels("sent").inc()
        if reminder.repeat in _REPEAT_EVERY:
            _schedule_next(session, reminder, now=now)
    return len(due)


def _queue_command(session: AsyncSession, reminder: Reminder, *, device_id: str, now: datetime) -> None:
    assert reminder.command_id is not None
    envelope = platform_event(
        producer="care_record",
        occurred_at=reminder.due_at,
        received_at=now,
        event_id=reminder.command_id,
        device_id=device_id,
        command=commands_pb2.DeviceCommand(
            command_id=reminder.command_id,
            type="reminder",
            device_id=device_id,
            text=reminder.text,
            attempt=1,
            issued_at=to_timestamp(now),
        ),
    )
    queue_event(session, topic=COMMANDS, key=device_id, envelope=envelope)


def _schedule_next(session: AsyncSession, reminder: Reminder, *, now: datetime) -> None:
    step = _REPEAT_EVERY[reminder.repeat]
    next_due = reminder.due_at + step
    while next_due <= now:  # after an outage, resume with the next future occurrence, not a burst
        next_due += step
    session.add(
        Reminder(
            id=str(uuid.uuid4()),
            elder_id=reminder.elder_id,
            kind=reminder.kind,
            text=reminder.text,
            due_at=next_due,
            repeat=reminder.repeat,
            device_id=reminder.device_id,
            status=ReminderStatus.SCHEDULED.value,
            created_at=now,
            created_by=reminder.created_by,
        )
    )


class ReminderScheduler:
    """Fires due reminders every `interval` seconds; safe to run in every replica.

    Their outbox rows need no nudge: the commit wakes the relay (`eldercare.db.session_factory`).
    """

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], interval: float) -> None:
        self._sessions = sessions
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reminder-scheduler")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def run_once(self) -> int:
        """One pass: fire everything due, in batches."""
        fired_total = 0
        while True:
            async with self._sessions() as session, session.begin():
                fired = await fire_due_reminders(session)
            fired_total += fired
            if fired < 100:
                break
        return fired_total

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reminder pass failed; retrying")
            await asyncio.sleep(self._interval)
