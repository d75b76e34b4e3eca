"""Reminders reach the device as commands exactly once: across a restart and with two schedulers on one database."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select

from eldercare import db
from eldercare.envelope import utcnow
from eldercare.topics import COMMANDS
from eldercare.v1 import events_pb2
from services.care_record.app import MIGRATIONS
from services.care_record.device.service import bind_device
from services.care_record.elder.models import ElderCreate, Sex, make_id_number
from services.care_record.elder.service import create_elder
from services.care_record.reminder.models import Reminder, ReminderCreate, ReminderKind, ReminderStatus
from services.care_record.reminder.service import ReminderScheduler, command_id_for, create_reminder
from tests import infra
from tests.care_record.conftest import (
    ADMIN,
    DISPATCHER,
    CareApp,
    care_settings,
    elder_body,
    running_app,
)
from tests.platform import eventually, read_topic
from tools import kafkanode

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def commands_for(bootstrap: str, device_id: str) -> list[events_pb2.Envelope]:
    found = []
    for record in await read_topic(bootstrap, COMMANDS):
        if record.key == device_id.encode():
            envelope = events_pb2.Envelope()
            envelope.ParseFromString(record.value)
            found.append(envelope)
    return found


async def test_a_due_reminder_fires_once_across_a_restart_and_none_is_skipped(
    databases: infra.DatabaseFactory, kafka_broker: kafkanode.KafkaNode
) -> None:
    settings = care_settings(databases.url(f"care_rem_{uuid.uuid4().hex[:6]}"), kafka_broker.port)
    device = f"R{uuid.uuid4().hex[:12]}"

    async def sent(care: CareApp, base: str, reminder_id: str) -> dict[str, Any] | None:
        rows = (await care.http.get(f"{base}/reminders", headers=DISPATCHER)).json()
        row = next(r for r in rows if r["id"] == reminder_id)
        return row if row["status"] == "sent" else None

    async with running_app(settings) as care:
        elder = await care.create_elder()
        base = f"/api/v1/elders/{elder['id']}"
        assert (await care.http.post(f"{base}/devices", json={"device_id": device}, headers=ADMIN)).status_code == 201
        before = {"kind": "medication", "text": "请服用降压药", "due_at": (utcnow() - timedelta(seconds=1)).isoformat()}
        first = (await care.http.post(f"{base}/reminders", json=before, headers=ADMIN)).json()
        assert (await eventually(partial(sent, care, base, first["id"])))["sent_to_device"] == device

    # While the service is down a second reminder falls due.
    engine = db.create_engine(settings.database_url or "")
    async with db.session_factory(engine)() as session, session.begin():
        during_outage = await create_reminder(
            session,
            elder_id=elder["id"],
            data=ReminderCreate(kind=ReminderKind.APPOINTMENT, text="明天上午复诊", due_at=utcnow()),
            actor="test",
        )
    await engine.dispose()

    async with running_app(settings) as care:
        await eventually(partial(sent, care, base, during_outage.id))
        # A third, fired by the restarted scheduler later, proves it made further passes over the first two.
        marker = {"kind": "other", "text": "量血压", "due_at": utcnow().isoformat()}
        third = (await care.http.post(f"{base}/reminders", json=marker, headers=ADMIN)).json()
        await eventually(partial(sent, care, base, third["id"]))

        async def three_commands(bootstrap: str) -> list[events_pb2.Envelope] | None:
            found = await commands_for(bootstrap, device)
            return found if len(found) >= 3 else None

        commands = await eventually(partial(three_commands, care.kafka_bootstrap))
        timeline = (await care.http.get(f"{base}/timeline", headers=DISPATCHER)).json()
    ids = Counter(c.command.command_id for c in commands)
    expected = {command_id_for(first["id"]), command_id_for(during_outage.id), command_id_for(third["id"])}
    assert set(ids) == expected and set(ids.values()) == {1}, ids
    texts = {c.command.text for c in commands}
    assert texts == {"请服用降压药", "明天上午复诊", "量血压"}
    assert all(c.command.type == "reminder" and c.command.device_id == device for c in commands)
    assert [i["action"] for i in timeline if i["source"] == "reminder"] == ["sent", "sent", "sent"]


async def test_two_schedulers_on_one_database_fire_each_reminder_once(databases: infra.DatabaseFactory) -> None:
    url = databases.url(f"care_rem2_{uuid.uuid4().hex[:6]}")
    await db.ensure_database(url)
    engines = [db.create_engine(url), db.create_engine(url)]
    await db.run_migrations(engines[0], MIGRATIONS)
    sessions = [db.session_factory(e) for e in engines]
    async with sessions[0]() as session, session.begin():
        body = elder_body()
        data = ElderCreate.model_validate(body)
        elder = await create_elder(session, data=data)
        await bind_device(session, elder_id=elder.id, device_id="TWIN1", actor="test")
        for n in range(250):
            await create_reminder(
                session,
                elder_id=elder.id,
                data=ReminderCreate(kind=ReminderKind.MEDICATION, text=f"dose {n}", due_at=utcnow()),
                actor="test",
            )
        lonely = await create_elder(
            session,
            data=data.model_copy(update={"id_number": make_id_number("320106", data.birth_date, 499, Sex.FEMALE)}),
        )
        await create_reminder(
            session,
            elder_id=lonely.id,
            data=ReminderCreate(kind=ReminderKind.MEDICATION, text="nobody wears a device", due_at=utcnow()),
            actor="test",
        )
    schedulers = [ReminderScheduler(sessions=s, interval=1) for s in sessions]
    fired = await asyncio.gather(*(s.run_once() for s in schedulers), *(s.run_once() for s in schedulers))
    assert sum(fired) == 251
    async with sessions[0]() as session:
        statuses = dict(
            (await session.execute(select(Reminder.status, func.count()).group_by(Reminder.status))).all()  # type: ignore[call-overload]
        )
        outbox = await session.scalar(
            select(func.count()).select_from(db.OutboxMessage).where(db.OutboxMessage.topic == COMMANDS)  # type: ignore[arg-type]
        )
    assert statuses == {ReminderStatus.SENT.value: 250, ReminderStatus.UNDELIVERABLE.value: 1}
    assert outbox == 250
    for engine in engines:
        await engine.dispose()
