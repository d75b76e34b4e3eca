"""The shared handler preamble: poison is refused before any transaction, the inbox applies an event once."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from eldercare import db
from eldercare.handlers import Batch, envelope_batch_handlers, envelope_handler, only, require
from eldercare.kafka import PoisonRecord
from eldercare.v1 import elders_pb2
from eldercare.v1 import events_pb2 as pb
from tests.platform import elder_envelope

pytestmark = pytest.mark.asyncio


def _record(value: bytes | None) -> ConsumerRecord[Any, Any]:
    return cast(ConsumerRecord, SimpleNamespace(value=value))


def _snapshot(elder_id: str) -> bytes:
    return elder_envelope(elders_pb2.ElderSnapshot(elder_id=elder_id))


@pytest.fixture
async def sessions(tmp_path: Path) -> Any:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all, tables=[db.ProcessedEvent.__table__])
    yield db.session_factory(engine, after_write_commit=lambda: None)
    await engine.dispose()


async def test_an_event_is_applied_once_and_a_duplicate_is_reported_as_none(sessions: Any) -> None:
    applied: list[str] = []
    seen: list[str | None] = []

    async def apply(session: AsyncSession, envelope: pb.Envelope, _: ConsumerRecord) -> str:
        applied.append(envelope.elder.elder_id)
        return "applied"

    handle = envelope_handler(
        sessions,
        transaction="t",
        inbox="test",
        accept=only("elder"),
        apply=apply,
        committed=lambda _, __, result: seen.append(result),
    )
    record = _record(_snapshot("e-1"))
    await handle(record)
    await handle(record)
    assert applied == ["e-1"]
    assert seen == ["applied", None]


async def test_bad_records_are_poison_and_others_bodies_are_skipped(sessions: Any) -> None:
    async def apply(session: AsyncSession, envelope: pb.Envelope, _: ConsumerRecord) -> None:
        raise AssertionError("never applied")

    strict = envelope_handler(
        sessions, transaction="t", inbox="test", accept=require(["incident"], reason="unexpected_body"), apply=apply
    )
    with pytest.raises(PoisonRecord) as refused:
        await strict(_record(_snapshot("e-1")))
    assert refused.value.reason == "unexpected_body"
    with pytest.raises(PoisonRecord) as undecodable:
        await strict(_record(b"\xff"))
    assert undecodable.value.reason == "undecodable_envelope"

    lenient = envelope_handler(
        sessions, transaction="t", inbox="test", accept=only("incident"), apply=apply, dead_letter_undecodable=False
    )
    await lenient(_record(_snapshot("e-1")))
    await lenient(_record(b"\xff"))


async def test_a_batch_applies_each_new_event_once(sessions: Any) -> None:
    batches: list[Batch[list[str]]] = []

    async def apply(session: AsyncSession, envelopes: list[pb.Envelope]) -> list[str]:
        return [envelope.elder.elder_id for envelope in envelopes]

    handlers = envelope_batch_handlers(
        sessions,
        transaction="t",
        inbox="test",
        accept=only("elder"),
        apply=apply,
        committed=lambda _, batch: batches.append(batch),
    )
    first, second = _record(_snapshot("e-1")), _record(_snapshot("e-2"))
    await handlers.batch([first, first, second])  # a producer retry inside one batch
    await handlers.record(second)
    assert [batch.result for batch in batches] == [["e-1", "e-2"], []]
    assert [len(batch.accepted) for batch in batches] == [3, 1]
