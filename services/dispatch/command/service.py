"""Device downlink: issue commands through the outbox, record acks, retry with backoff."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import claim_due, queue_event
from eldercare.envelope import platform_event, to_timestamp, utcnow
from eldercare.topics import COMMANDS
from eldercare.v1 import commands_pb2
from eldercare.v1 import events_pb2 as pb
from services.dispatch import metrics
from services.dispatch.command.models import CommandState, CommandType, DeviceCommandRecord
from services.dispatch.incident import service as incidents
from services.dispatch.incident.models import Incident

ACKNOWLEDGED_MESSAGE = "已收到您的求助，正在为您安排 / we have your call, help is being arranged"
EN_ROUTE_MESSAGE = "救援人员已出发 / help is on the way"
RETRY_ACTOR = "system:command-retry"
MAX_BACKOFF = timedelta(minutes=5)


def backoff(first_retry_seconds: float, attempts: int) -> timedelta:
    """Delay before the next send after `attempts` sends: doubles each time, capped."""
    return min(timedelta(seconds=first_retry_seconds * 2 ** (attempts - 1)), MAX_BACKOFF)


def _enqueue(session: AsyncSession, command: DeviceCommandRecord, *, now: datetime) -> None:
    envelope = platform_event(
        producer="dispatch",
        occurred_at=now,
        device_id=command.device_id,
        command=commands_pb2.DeviceCommand(
            command_id=command.id,
            type=command.type,
            device_id=command.device_id,
            incident_id=command.incident_id or "",
            text=command.text or "",
            attempt=command.attempts,
            issued_at=to_timestamp(command.created_at),
            callback_number=command.callback_number or "",
        ),
    )
    queue_event(session, topic=COMMANDS, key=command.device_id, envelope=envelope)
    metrics.COMMANDS_SENT.labels(command.type).inc()


async def _audit(
    session: AsyncSession, incident: Incident, command: DeviceCommandRecord, *, action: str, actor: str, **detail: Any
) -> None:
    """The command's step on its incident's timeline: which command, of what type, and what else happened."""
    await incidents.append_entry(
        session, incident, action=action, actor=actor, detail={"command_id": command.id, "type": command.type, **detail}
    )


def issue_device_command(
    session: AsyncSession,
    *,
    device_id: str,
    type: CommandType,
    actor: str,
    first_retry_seconds: float,
    text: str | None = None,
    callback_number: str | None = None,
    incident_id: str | None = None,
) -> DeviceCommandRecord:
    """Send a command to a device through the outbox; retried until acked.

    Without an incident (a device's settings) its audit is the command row itself: who,
    when, attempts and ack, listed per device.
    """
    now = utcnow()
    command = DeviceCommandRecord(
        id=str(uuid.uuid4()),
        incident_id=incident_id,
        device_id=device_id,
        type=type.value,
        text=text,
        callback_number=callback_number,
        state=CommandState.SENT.value,
        attempts=1,
        next_attempt_at=now + backoff(first_retry_seconds, 1),
        last_sent_at=now,
        created_at=now,
        created_by=actor,
    )
    session.add(command)
    _enqueue(session, command, now=now)
    return command


async def issue_command(
    session: AsyncSession,
    *,
    incident: Incident,
    type: CommandType,
    actor: str,
    first_retry_seconds: float,
    text: str | None = None,
    callback_number: str | None = None,
) -> DeviceCommandRecord:
    """Send a command to the incident's device (through the outbox) and audit it on the incident."""
    command = issue_device_command(
        session,
        device_id=incident.device_id,
        incident_id=incident.id,
        type=type,
        actor=actor,
        first_retry_seconds=first_retry_seconds,
        text=text,
        callback_number=callback_number,
    )
    await _audit(session, incident, command, action="command_sent", actor=actor, attempt=1, text=text)
    return command


async def retry_due(
    session: AsyncSession, *, now: datetime, first_retry_seconds: float, max_attempts: int, limit: int = 100
) -> int:
    """Resend unacknowledged commands whose retry is due, or give up after the last attempt."""
    sent = col(DeviceCommandRecord.state) == CommandState.SENT.value
    retry_at = DeviceCommandRecord.next_attempt_at
    due = await claim_due(session, DeviceCommandRecord, where=sent, due=retry_at, until=now, limit=limit)
    for command in due:
        incident = (
            await incidents.get_incident(session, incident_id=command.incident_id) if command.incident_id else None
        )
        if command.attempts >= max_attempts:
            command.state = CommandState.UNACKNOWLEDGED.value
            command.next_attempt_at = None
            metrics.COMMAND_ACKS.labels("gave_up").inc()
            if incident is not None:
                await _audit(
                    session,
                    incident,
                    command,
                    action="command_unacknowledged",
                    actor=RETRY_ACTOR,
                    attempts=command.attempts,
                )
            continue
        command.attempts += 1
        command.last_sent_at = now
        command.next_attempt_at = now + backoff(first_retry_seconds, command.attempts)
        _enqueue(session, command, now=now)
        if incident is not None:
            await _audit(
                session, incident, command, action="command_retried", actor=RETRY_ACTOR, attempt=command.attempts
            )
    return len(due)


async def record_ack(session: AsyncSession, *, envelope: pb.Envelope) -> DeviceCommandRecord | None:
    """Mark a command acknowledged by its device; None when it is unknown or from another device."""
    ack = envelope.command_ack
    command = await session.scalar(
        select(DeviceCommandRecord).where(col(DeviceCommandRecord.id) == ack.command_id).with_for_update()
    )
    if command is None or command.device_id != envelope.device_id:
        metrics.COMMAND_ACKS.labels("unknown").inc()
        return None
    if command.state == CommandState.ACKED.value:
        metrics.COMMAND_ACKS.labels("repeat").inc()
        return command
    command.state = CommandState.ACKED.value
    command.acked_at = utcnow()
    command.next_attempt_at = None
    metrics.COMMAND_ACKS.labels("acked").inc()
    if command.incident_id:
        incident = await incidents.get_incident(session, incident_id=command.incident_id)
        actor = f"device:{command.device_id}"
        await _audit(session, incident, command, action="command_acked", actor=actor, attempts=command.attempts)
    return command


async def list_commands(session: AsyncSession, *, incident_id: str) -> list[DeviceCommandRecord]:
    """The incident's commands, oldest first."""
    rows = await session.scalars(
        select(DeviceCommandRecord)
        .where(col(DeviceCommandRecord.incident_id) == incident_id)
        .order_by(col(DeviceCommandRecord.created_at), col(DeviceCommandRecord.id))
    )
    return list(rows)


async def list_device_commands(session: AsyncSession, *, device_id: str, limit: int = 100) -> list[DeviceCommandRecord]:
    """A device's commands, incidents' and settings' alike, newest first."""
    rows = await session.scalars(
        select(DeviceCommandRecord)
        .where(col(DeviceCommandRecord.device_id) == device_id)
        .order_by(col(DeviceCommandRecord.created_at).desc(), col(DeviceCommandRecord.id))
        .limit(limit)
    )
    return list(rows)
