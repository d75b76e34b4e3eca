"""The preamble every Kafka handler shares: decode, check, claim in the inbox, apply in one transaction.

A service's handler says only what is its own: which envelopes it takes (`accept`), what
applying one does (`apply`, in the transaction, never committing) and what to count once it
is committed (`committed`). Decoding, dead-lettering bad records with a reason (a
`PoisonRecord`, which `ConsumerLoop` writes to the dead-letter topic), the inbox claim and
the transaction are here, once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eldercare.db import claim_events, timed_transaction
from eldercare.envelope import EnvelopeDecodeError, decode_envelope, kind_name
from eldercare.kafka import BatchHandler, PoisonRecord, RecordHandler, decode_record
from eldercare.v1 import events_pb2 as pb

T = TypeVar("T")

# True: this consumer applies the envelope; False: not its business, skipped; PoisonRecord: dead-lettered.
Accept = Callable[[pb.Envelope], bool]
# Applies one envelope in the open transaction; the record is there for a handler that keeps its position.
Apply = Callable[[AsyncSession, pb.Envelope, ConsumerRecord], Awaitable[T]]
# After the commit: the session (for what it noted in `session.info`), the envelope and what
# `apply` returned, or None when the inbox had the event already.
Committed = Callable[[AsyncSession, pb.Envelope, T | None], None]


def only(*bodies: str) -> Accept:
    """Take envelopes with one of these bodies and skip the rest (they are another consumer's)."""
    wanted = frozenset(bodies)
    return lambda envelope: envelope.WhichOneof("body") in wanted


def require(
    bodies: Collection[str], *, reason: str, detail: str | None = None, has: Callable[[pb.Envelope], object] = bool
) -> Accept:
    """Take envelopes with one of these bodies for which `has` is true; dead-letter any other.

    The letter's detail is `detail` when given, otherwise the kind of envelope that came.
    """
    wanted = frozenset(bodies)

    def accept(envelope: pb.Envelope) -> bool:
        if envelope.WhichOneof("body") not in wanted or not has(envelope):
            raise PoisonRecord(reason, detail or f"{kind_name(envelope.kind)} is not what this topic carries")
        return True

    return accept


def envelope_handler(
    sessions: async_sessionmaker[AsyncSession],
    *,
    transaction: str,
    inbox: str | None,
    accept: Accept,
    apply: Apply[T],
    committed: Committed[T] | None = None,
    dead_letter_undecodable: bool = True,
) -> RecordHandler:
    """A record handler: one envelope, one transaction, its inbox row included.

    `inbox` None is for a consumer whose apply is idempotent by itself (a row keyed by the
    event id, a read model that keeps its own offsets). With `dead_letter_undecodable` False an
    undecodable record is skipped: for a second consumer of a topic whose first one letters it.
    """

    async def handle(record: ConsumerRecord) -> None:
        if dead_letter_undecodable:
            envelope = decode_record(record)
        else:
            try:
                envelope = decode_envelope(record.value)
            except EnvelopeDecodeError:
                return
        if not accept(envelope):
            return
        result: T | None = None
        async with timed_transaction(sessions, transaction) as session:
            if inbox is None or await claim_events(session, consumer=inbox, event_ids=[envelope.event_id]):
                result = await apply(session, envelope, record)
        if committed is not None:
            committed(session, envelope, result)

    return handle


@dataclass(frozen=True)
class Batch(Generic[T]):
    """What a batch's transaction did, for its `committed` hook."""

    accepted: list[pb.Envelope]  # the envelopes this consumer takes, duplicates included
    fresh: list[pb.Envelope]  # those the inbox had not seen, each once
    result: T


async def claim_fresh(session: AsyncSession, *, inbox: str, envelopes: Sequence[pb.Envelope]) -> list[pb.Envelope]:
    """Claim the envelopes in the inbox; the new ones, each once (a resend in the same batch is a duplicate)."""
    fresh = await claim_events(session, consumer=inbox, event_ids=[envelope.event_id for envelope in envelopes])
    todo = []
    for envelope in envelopes:
        if envelope.event_id in fresh:
            fresh.discard(envelope.event_id)
            todo.append(envelope)
    return todo


@dataclass(frozen=True)
class BatchHandlers:
    """The two handlers of a consumer that applies batches: `batch` first, `record` to isolate a failure."""

    record: RecordHandler
    batch: BatchHandler


def envelope_batch_handlers(
    sessions: async_sessionmaker[AsyncSession],
    *,
    transaction: str,
    inbox: str,
    accept: Accept,
    apply: Callable[[AsyncSession, list[pb.Envelope]], Awaitable[T]],
    committed: Callable[[AsyncSession, Batch[T]], None] | None = None,
) -> BatchHandlers:
    """Handlers applying many envelopes in one transaction: one inbox statement, `apply` on the new ones.

    A poison record anywhere fails the whole batch, and `ConsumerLoop` applies it again record by
    record through `record` (the same path with one envelope), which isolates the record.
    """

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        accepted = [envelope for envelope in map(decode_record, records) if accept(envelope)]
        if not accepted:
            return
        async with timed_transaction(sessions, transaction) as session:
            fresh = await claim_fresh(session, inbox=inbox, envelopes=accepted)
            result = await apply(session, fresh)
        if committed is not None:
            committed(session, Batch(accepted=accepted, fresh=fresh, result=result))

    async def handle_one(record: ConsumerRecord) -> None:
        await handle([record])

    return BatchHandlers(record=handle_one, batch=handle)


# The elders topic (care-record's compacted snapshots) as every service reading it checks it.
ELDER_SNAPSHOT = require(
    ["elder"],
    reason="unexpected_body",
    detail="the elders topic carries ElderSnapshot envelopes with an elder id",
    has=lambda envelope: envelope.elder.elder_id,
)
