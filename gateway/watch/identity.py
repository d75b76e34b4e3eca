"""Which watches are bound to an elder: read from care-record's compacted elders topic.

Every adapter process reads the whole topic from its start at boot (no consumer group: the
compacted topic is the current bindings, and a group's committed position would skip them),
then follows it. Until it has read up to where the topic ended at boot, every watch counts as
known: refusing a watch because the adapter had not finished reading would refuse its SOS.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from eldercare.envelope import EnvelopeDecodeError, decode_envelope
from eldercare.kafka import kafka_security
from eldercare.settings import BaseProcessSettings
from eldercare.tasks import cancel_and_wait
from eldercare.topics import ELDERS

log = logging.getLogger(__name__)


class BoundWatches:
    def __init__(self, settings: BaseProcessSettings) -> None:
        self._settings = settings
        self._devices_of: dict[str, frozenset[str]] = {}  # elder id -> their bound device ids
        self._bound: dict[str, int] = {}  # device id -> how many elders list it (a move in flight: two)
        self.caught_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    def knows(self, device_id: str) -> bool:
        return not self.caught_up.is_set() or device_id in self._bound

    def apply(self, elder_id: str, device_ids: frozenset[str]) -> None:
        """One elder's current bindings (empty for a removed elder) replace what they had."""
        for device_id in self._devices_of.pop(elder_id, frozenset()):
            self._bound[device_id] -= 1
            if not self._bound[device_id]:
                del self._bound[device_id]
        if device_ids:
            self._devices_of[elder_id] = device_ids
            for device_id in device_ids:
                self._bound[device_id] = self._bound.get(device_id, 0) + 1

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="watch-bound-watches")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError) as exc:
                log.warning("elders topic not readable (%s); retrying", exc)
                await asyncio.sleep(2)

    async def _follow(self) -> None:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.kafka_bootstrap,
                enable_auto_commit=False,
                client_id="watch-elders",
                **kafka_security(self._settings),
            )
            await self._consumer.start()
        consumer = self._consumer
        partitions = consumer.partitions_for_topic(ELDERS)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(ELDERS)
        if not partitions:
            raise KafkaError(f"{ELDERS} has no partitions yet")
        assigned = [TopicPartition(ELDERS, partition) for partition in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for records in batches.values():
                for record in records:
                    self._apply_record(record.key, record.value)
            if not self.caught_up.is_set() and all([await consumer.position(tp) >= ends[tp] for tp in assigned]):
                log.info("bound watches read: %d devices", len(self._bound))
                self.caught_up.set()

    def _apply_record(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:  # a compaction tombstone: the elder is gone
            if key:
                self.apply(key.decode(errors="replace"), frozenset())
            return
        try:
            envelope = decode_envelope(value)
        except EnvelopeDecodeError:
            return  # dispatch's read model dead-letters these; here they bind nothing
        if envelope.WhichOneof("body") != "elder":
            return
        elder = envelope.elder
        self.apply(elder.elder_id, frozenset() if elder.deleted else frozenset(elder.device_ids))
