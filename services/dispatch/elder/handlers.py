"""The elders-topic consumer that keeps dispatch's read model.

The read model stores its own position per partition in the transaction that
applies each snapshot, and seeks there whenever partitions are assigned. So a
dispatch with an empty (or freshly restored) database reads the compacted topic
from the beginning and rebuilds, whatever the consumer group had committed.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.handlers import ELDER_SNAPSHOT, envelope_handler
from eldercare.kafka import ConsumerLoop, RecordHandler
from eldercare.runtime import ServiceRuntime
from eldercare.v1 import events_pb2 as pb
from services.dispatch.elder import service

log = logging.getLogger(__name__)

ELDER_CONSUMER = "dispatch-elders"

ELDER_SNAPSHOTS = Counter(
    "dispatch_elder_snapshots_total", "Elder snapshots read; 'stale' ones were older than the one held", ["outcome"]
)


class _SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ElderReadModelConsumer) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._loop.seek_to_stored(assigned)


class ElderReadModelConsumer(ConsumerLoop):
    """A ConsumerLoop whose position comes from the read model's database, not the group's commits."""

    def __init__(self, *, runtime: ServiceRuntime, **kwargs: object) -> None:
        super().__init__(settings=runtime.settings, dead_letters=runtime.dead_letters, **kwargs)  # type: ignore[arg-type]
        self._runtime = runtime

    def _create_consumer(self) -> AIOKafkaConsumer:
        consumer = super()._create_consumer()
        consumer.subscribe(self._topics, listener=_SeekToStoredOffsets(self))
        return consumer

    async def seek_to_stored(self, assigned: list[TopicPartition]) -> None:
        """Position each assigned partition where the read model left off (the start when it never read it)."""
        topics = {tp.topic for tp in assigned}
        stored: dict[tuple[str, int], int] = {}
        async with self._runtime.sessions() as session:
            for topic in topics:
                for partition, offset in (await service.stored_offsets(session, topic=topic)).items():
                    stored[(topic, partition)] = offset
        fresh = []
        for tp in assigned:
            if (tp.topic, tp.partition) in stored:
                self.consumer.seek(tp, stored[(tp.topic, tp.partition)])
            else:
                fresh.append(tp)
        if fresh:
            await self.consumer.seek_to_beginning(*fresh)
            log.info("%s: reading %d partition(s) from the beginning", self.name, len(fresh))


def snapshot_handler(runtime: ServiceRuntime) -> RecordHandler:
    """Apply one snapshot (newer version wins) and the read model's position, in one transaction.

    No inbox: a snapshot is applied only when newer than the one held, and the position is stored with it.
    """

    async def apply(session: AsyncSession, envelope: pb.Envelope, record: ConsumerRecord) -> bool:
        applied = await service.apply_snapshot(session, snapshot=envelope.elder)
        await service.save_offset(
            session, topic=record.topic, partition=record.partition, next_offset=record.offset + 1
        )
        return applied

    return envelope_handler(
        runtime.sessions,
        transaction="apply_elder_snapshot",
        inbox=None,
        accept=ELDER_SNAPSHOT,
        apply=apply,
        committed=lambda _, __, applied: ELDER_SNAPSHOTS.labels("applied" if applied else "stale").inc(),
    )
