"""Kafka plumbing: producers, topic creation, dead letters and a commit-after-apply consumer loop."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import hashlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import ConnectionGroup
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner, murmur2
from aiokafka.producer.message_accumulator import BatchBuilder

from eldercare import metrics
from eldercare.db import describe_error
from eldercare.envelope import EnvelopeDecodeError, decode_envelope, to_timestamp, utcnow
from eldercare.settings import BaseProcessSettings
from eldercare.tasks import cancel_and_wait
from eldercare.topics import ALL_TOPICS, DEADLETTER
from eldercare.v1 import events_pb2 as pb

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno
# Refusals no retry cures: `send_with_retry` raises them at once instead of retrying forever.
TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)


class MemoisedKeyPartitioner:
    """aiokafka's DefaultPartitioner (the Java client's murmur2, so every producer agrees on a key's
    partition), remembering each key's answer: murmur2 is pure Python there, and a device id is
    hashed again for every one of its events."""

    def __init__(self, max_keys: int = 200_000) -> None:
        self._index = functools.lru_cache(maxsize=max_keys)(self._murmur_index)

    @staticmethod
    def _murmur_index(key: bytes, partitions: int) -> int:
        return (murmur2(key) & 0x7FFFFFFF) % partitions

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return DefaultPartitioner()(key, all_partitions, available)  # type: ignore[no-any-return]
        return all_partitions[self._index(key, len(all_partitions))]


def kafka_security(settings: BaseProcessSettings) -> dict[str, Any]:
    """The client options for KAFKA_SECURITY_PROTOCOL, the same for every producer, consumer and admin client.

    The broker's certificate and host name are always verified (no setting turns that off): a
    client that reached an impostor would hand it the account's password (PLAIN) and the alarms.
    """
    if settings.kafka_security_protocol == "PLAINTEXT":
        return {"security_protocol": "PLAINTEXT"}
    ca_file = str(settings.kafka_ssl_ca_file) if settings.kafka_ssl_ca_file else None
    options: dict[str, Any] = {
        "security_protocol": settings.kafka_security_protocol,
        "ssl_context": ssl.create_default_context(cafile=ca_file),
    }
    if settings.kafka_security_protocol == "SASL_SSL":
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return options


def create_producer(settings: BaseProcessSettings, *, fast_lane: bool = False, linger_ms: int = 5) -> AIOKafkaProducer:
    """A producer with acks=all; the fast lane never lingers to fill a batch, the bulk one `linger_ms`."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_security(settings),
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=0 if fast_lane else linger_ms,
        max_batch_size=16384 if fast_lane else 262144,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        retry_backoff_ms=100,
        client_id=f"eldercare-{'fast' if fast_lane else 'bulk'}",
        partitioner=MemoisedKeyPartitioner(),
    )


Tag = TypeVar("Tag")


class BatchSender(Generic[Tag]):
    """Produces many keyed records at once: one hand-filled batch per partition, not a future per record.

    aiokafka's `send()` costs ~14 µs of CPU per record (a future, an accumulator lookup and a
    callback each); appending to a `BatchBuilder` and submitting it with `send_batch()` costs
    ~4 µs. Records keep their order within a partition, and keys map to
    partitions with the same murmur2 as `create_producer`'s partitioner, so a key lands where
    `send()` would have put it.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._partitioner = MemoisedKeyPartitioner()

    async def send(
        self, topic: str, records: Sequence[tuple[bytes, bytes, Tag]]
    ) -> list[tuple[asyncio.Future[Any], list[Tag]]]:
        """Queue (key, value, tag) records; returns each batch's delivery future and the tags it carries.

        A batch the producer refused (closed, or its queue stayed full past the request timeout)
        comes back with a future that already holds that error, so every tag is accounted for.
        """
        # Known metadata is read as it is (this runs per chunk); otherwise wait for it as send() would.
        known = self._producer.client.cluster.partitions_for_topic(topic)
        try:
            partitions = sorted(known if known else await self._producer.partitions_for(topic))
        except KafkaError as exc:  # no metadata for the topic (broker unreachable): nothing was queued
            return [(self._refused(exc), [tag for _, _, tag in records])]
        open_batches: dict[int, tuple[BatchBuilder, list[Tag]]] = {}
        deliveries: list[tuple[asyncio.Future[Any], list[Tag]]] = []
        for key, value, tag in records:
            partition = self._partitioner(key, partitions, partitions)
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = (self._producer.create_batch(), [])
            if batch[0].append(timestamp=None, key=key, value=value) is None:  # full: send it, start another
                deliveries.append(await self._submit(topic, partition, batch))
                batch = open_batches[partition] = (self._producer.create_batch(), [])
                if batch[0].append(timestamp=None, key=key, value=value) is None:
                    raise ValueError(f"a {len(value)}-byte record does not fit in an empty batch")
            batch[1].append(tag)
        for partition, batch in open_batches.items():
            deliveries.append(await self._submit(topic, partition, batch))
        return deliveries

    async def _submit(
        self, topic: str, partition: int, batch: tuple[BatchBuilder, list[Tag]]
    ) -> tuple[asyncio.Future[Any], list[Tag]]:
        builder, tags = batch
        try:
            return await self._producer.send_batch(builder, topic, partition=partition), tags
        except KafkaError as exc:
            return self._refused(exc), tags

    @staticmethod
    def _refused(exc: KafkaError) -> asyncio.Future[Any]:
        refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        refused.set_exception(exc)
        return refused


async def ensure_topics(settings: BaseProcessSettings, topics: Sequence[str] | None = None) -> None:
    """Create the platform's topics with explicit partition counts; existing ones are left alone."""
    wanted = [spec for spec in ALL_TOPICS if topics is None or spec.name in topics]
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10000, **kafka_security(settings)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new_topics = [
            NewTopic(
                spec.name,
                spec.partitions or settings.kafka_topic_partitions,
                settings.kafka_replication_factor,
                topic_configs={"cleanup.policy": "compact"} if spec.compacted else {},
            )
            for spec in wanted
            if spec.name not in existing
        ]
        if not new_topics:
            return
        response = await admin.create_topics(new_topics)
        for topic, code, message in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"could not create topic {topic}: {code} {message}")
        log.info("created topics %s", [t.name for t in new_topics])
    finally:
        await admin.close()


async def send_with_retry(
    producer: AIOKafkaProducer,
    topic: str,
    value: bytes,
    *,
    key: bytes | None = None,
    headers: list[tuple[str, bytes]] | None = None,
    stop: asyncio.Event | None = None,
    max_delay: float = 5.0,
) -> Any:
    """Send and wait for the broker's ack, retrying with backoff until it succeeds.

    Callers only acknowledge their own input once this returns, so giving up would
    lose data; retrying forever is the safe choice, and the retry counter shows it.
    `max_delay` caps the backoff: the alarm lane keeps it short so that an SOS held
    during an outage goes out within moments of the broker's return. A record Kafka
    refuses for its size (`TOO_LARGE`) is raised at once: it would be refused forever.
    """
    delay = 0.1
    while True:
        started = time.perf_counter()
        try:
            result = await producer.send_and_wait(topic, value, key=key, headers=headers)
        except TOO_LARGE:
            metrics.KAFKA_PRODUCE_ERRORS.labels(topic).inc()
            raise
        except KafkaError as exc:
            metrics.KAFKA_PRODUCE_ERRORS.labels(topic).inc()
            log.warning("produce to %s failed (%s); retrying in %.1fs", topic, exc, delay)
            if stop is not None and stop.is_set():
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        metrics.kafka_produce_seconds_to(topic).observe(time.perf_counter() - started)
        metrics.kafka_produced_to(topic).inc()
        return result


class DeadLetterPublisher:
    """Writes rejected input with its reason to the dead-letter topic.

    Every letter has to be written: whoever rejected the input moves past it only once its
    letter is acknowledged, and Kafka refuses a record over its size limit however often it
    is sent. So a payload over `MAX_RAW_BYTES` is kept as its first bytes, its sha256 and its
    length; a letter still refused for its size (a broker with a lower limit) goes once more
    with `FALLBACK_RAW_BYTES` of it and no key, and is logged and dropped if even that is refused.
    """

    MAX_RAW_BYTES = 64 * 1024
    FALLBACK_RAW_BYTES = 1024

    def __init__(self, producer: Callable[[], AIOKafkaProducer], producer_name: str) -> None:
        self._producer = producer
        self._name = producer_name

    async def publish(self, *, reason: str, detail: str, source: str, raw: bytes, key: bytes | None = None) -> None:
        """Record one rejection; returns once Kafka has acknowledged it (or refused it for its size twice)."""
        letter = self._letter(reason, detail, source, raw, self.MAX_RAW_BYTES)
        if not await self._send(letter, key=key):
            letter = self._letter(reason, detail[:200], source, raw, self.FALLBACK_RAW_BYTES)
            if not await self._send(letter, key=None):
                log.error(
                    "dead letter (%s) from %s not written: Kafka refuses even a %d-byte letter",
                    reason,
                    letter.source,
                    letter.ByteSize(),
                )
                return
        if letter.raw_sha256:
            metrics.DEAD_LETTERS_CUT.labels(self._name, reason).inc()
        metrics.DEAD_LETTERS.labels(self._name, reason).inc()

    def _letter(self, reason: str, detail: str, source: str, raw: bytes, max_raw: int) -> pb.DeadLetter:
        letter = pb.DeadLetter(
            reason=reason,
            detail=detail[:2000],
            source=source[:300],
            raw=raw[:max_raw],
            producer=self._name,
            rejected_at=to_timestamp(utcnow()),
        )
        if len(raw) > max_raw:
            letter.raw_sha256, letter.raw_size = hashlib.sha256(raw).hexdigest(), len(raw)
        return letter

    async def _send(self, letter: pb.DeadLetter, *, key: bytes | None) -> bool:
        """Retried through broker outages; False when Kafka refuses the letter for its size."""
        try:
            await send_with_retry(
                self._producer(),
                DEADLETTER,
                letter.SerializeToString(),
                key=key,
                headers=[("reason", letter.reason.encode())],
            )
        except TOO_LARGE as exc:
            log.warning("a %d-byte dead letter refused for its size (%s)", letter.ByteSize(), exc)
            return False
        return True


class PoisonRecord(Exception):
    """A record that can never be applied; it goes to the dead-letter topic instead of being retried."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode_record(record: ConsumerRecord) -> pb.Envelope:
    """The record's envelope; a record that is not one is poison (dead-lettered, never retried)."""
    try:
        return decode_envelope(record.value)
    except EnvelopeDecodeError as exc:
        raise PoisonRecord("undecodable_envelope", str(exc)) from exc


# A consumer that stops heartbeating is out of its group after this long (its partitions move on).
SESSION_TIMEOUT_MS = 10_000
# A JoinGroup legitimately waits up to the rebalance timeout (the session timeout here) for a
# departed member, so it gets longer than any other request, as in the Java client.
JOIN_GROUP_TIMEOUT_MS = SESSION_TIMEOUT_MS + 5_000


def patch_join_group_timeout(consumer: AIOKafkaConsumer, timeout_ms: int) -> None:
    """Give JoinGroup requests their own, longer timeout; every other request keeps the client's.

    aiokafka has one request timeout per client. With it above the session timeout (so a JoinGroup
    can wait out a departed member), a heartbeat to a frozen coordinator would hang past the
    session: the group would expel this member and rebalance, a stall for every partition. With it
    short everywhere, a JoinGroup that must wait would time out and retry. A connection reads the
    timeout as each request is sent, so coordinator connections (ConnectionGroup.COORDINATION) set
    it per request as they are opened.
    """
    client = consumer._client
    get_conn = client._get_conn
    short = client._request_timeout_ms / 1000

    async def _get_conn(
        node_id: int, *, group: ConnectionGroup = ConnectionGroup.DEFAULT, no_hint: bool = False
    ) -> Any:
        conn = await get_conn(node_id, group=group, no_hint=no_hint)
        if conn is not None and group is ConnectionGroup.COORDINATION and not hasattr(conn, "_eldercare_send"):
            send = conn._eldercare_send = conn.send

            def send_with_timeout(request: Any, expect_response: bool = True) -> Any:
                conn._request_timeout = timeout_ms / 1000 if request.API_KEY == JOIN_GROUP_API_KEY else short
                return send(request, expect_response=expect_response)

            conn.send = send_with_timeout
        return conn

    client._get_conn = _get_conn


JOIN_GROUP_API_KEY = 11

RecordHandler = Callable[[ConsumerRecord], Awaitable[None]]
# Applies a partition's batch in one database transaction (inbox rows included).
BatchHandler = Callable[[Sequence[ConsumerRecord]], Awaitable[None]]


class ConsumerLoop:
    """Consume topics, apply each record, and commit offsets only after the handler returned.

    The handler is expected to write its effect and its inbox row in one database
    transaction; a record that raised is retried with backoff (nothing is skipped),
    and a `PoisonRecord` goes to the dead-letter topic.

    With a `batch_handler` (high-volume topics), each fetched partition batch is first
    applied in one call, which should be one transaction; if that raises anything, the
    batch is applied again record by record through `handler`, so a poison record is
    isolated and dead-lettered and a transient failure is retried as usual. Offsets are
    committed only after the batch or every record of it was applied, as in per-record mode.

    With `key_concurrency` (the alarm consumers), a fetch is split by record key (device id):
    each key's records are applied in order, up to `key_concurrency` keys at once, so one
    device's burst is no longer a queue in front of every other device's alarm. A key's run of
    several records goes to `key_batch_handler` in one call (one transaction) when given,
    falling back to one record at a time as above. Offsets are committed once every key of
    the fetch is done.
    """

    def __init__(
        self,
        *,
        settings: BaseProcessSettings,
        name: str,
        topics: Sequence[str],
        handler: RecordHandler,
        dead_letters: DeadLetterPublisher,
        fetch_max_wait_ms: int = 500,
        fetch_min_bytes: int = 1,
        max_records: int = 200,
        batch_handler: BatchHandler | None = None,
        lag_interval_s: float = 2.0,
        key_concurrency: int = 0,
        key_batch_handler: BatchHandler | None = None,
    ) -> None:
        self.name = name
        self._topics = list(topics)
        self._handler = handler
        self._batch_handler = batch_handler
        self._dead_letters = dead_letters
        self._settings = settings
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._fetch_min_bytes = fetch_min_bytes
        self._consumer: AIOKafkaConsumer | None = None
        self._max_records = max_records
        self._lag_interval_s = lag_interval_s
        self._key_concurrency = key_concurrency
        self._key_batch_handler = key_batch_handler
        self._committed: dict[TopicPartition, int] = {}
        # Records fetched and not yet applied, offset -> Kafka timestamp (s), per partition: the age of
        # the oldest is the consumer's lag in seconds, and it needs neither the database nor the broker.
        self._pending: dict[TopicPartition, dict[int, float]] = {}
        # Partitions whose lag gauge this loop set: one neither assigned nor held any more is removed,
        # or a stale value would sit beside the new owner's.
        self._lag_reported: set[TopicPartition] = set()
        self._to_commit: dict[TopicPartition, int] = {}
        self._commit_wanted = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self.healthy = False
        self.last_error: str | None = None

    def _create_consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._settings.kafka_bootstrap,
            **kafka_security(self._settings),
            group_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Kafka answers a parked fetch as soon as `fetch_min_bytes` have arrived (one record by
            # default), so the wait only bounds an idle consumer's polling and never delays an SOS.
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            # A bulk consumer that keeps up would otherwise fetch again the moment any record
            # arrives: hundreds of tiny fetches a second. With a minimum size the broker answers
            # when it holds a batch or at the wait, whichever comes first.
            fetch_min_bytes=self._fetch_min_bytes,
            # A handler stuck longer than this (a dead database) makes the member leave the group;
            # report_lag keeps measuring the partitions it still holds records of.
            max_poll_interval_ms=300000,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            # Fetches, heartbeats, commits: a frozen partition leader is given up on after this, and
            # the partition is fetched from its new leader; a frozen coordinator is replaced before
            # the session expires, so the group does not rebalance. JoinGroup: see below.
            request_timeout_ms=self._settings.kafka_request_timeout_ms,
            heartbeat_interval_ms=3000,
            client_id=f"eldercare-{self.name}",
        )
        patch_join_group_timeout(consumer, JOIN_GROUP_TIMEOUT_MS)
        return consumer

    @property
    def consumer(self) -> AIOKafkaConsumer:
        assert self._consumer is not None, "start() first"
        return self._consumer

    async def start(self) -> None:
        """Create the Kafka consumer (it must be made on the running loop) and start consuming."""
        if self._consumer is None:
            self._consumer = self._create_consumer()
        await self._consumer.start()
        # Computed at scrape time from memory: a handler stuck on a dead database, or a broker that no
        # longer answers, cannot freeze them.
        for topic in self._topics:
            metrics.KAFKA_CONSUMER_LAG_SECONDS.labels(self.name, topic).set_function(
                functools.partial(self.oldest_pending_age, topic)
            )
        metrics.KAFKA_HANDLERS_RETRYING.labels(self.name).set(0)
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")
        self._lag_task = asyncio.create_task(self._lag_reporter(), name=f"consumer-lag-{self.name}")
        self._commit_task = asyncio.create_task(self._committer(), name=f"consumer-commit-{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        for task in (self._task, self._lag_task, self._commit_task):
            await cancel_and_wait(task)
        if self._consumer is not None:
            # What was applied since the last commit, once, bounded: a coordinator that does not
            # answer costs the next owner a redelivery (absorbed by its inbox), not a hung shutdown.
            with contextlib.suppress(KafkaError, TimeoutError):
                await asyncio.wait_for(self._commit_pending(), self._settings.kafka_request_timeout_ms / 1000)
            await self._consumer.stop()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batches = await self.consumer.getmany(timeout_ms=500, max_records=self._max_records)
            except KafkaError as exc:
                self.healthy = False
                self.last_error = str(exc)
                log.warning("%s: fetch failed: %s", self.name, exc)
                await asyncio.sleep(1)
                continue
            self.healthy = True
            if not batches:
                continue
            fetched = [record for records in batches.values() for record in records]
            for partition, records in batches.items():
                pending = self._pending.setdefault(partition, {})
                for record in records:
                    pending[record.offset] = record.timestamp / 1000
            # A whole fetch, every partition in it, is one batch: per-transaction costs are paid
            # once for hundreds of records instead of once per partition's handful.
            if self._batch_handler is not None and len(fetched) > 1 and await self._apply_batch(fetched):
                self._forget(batches)
                self._commit({partition: records[-1].offset + 1 for partition, records in batches.items()})
            elif self._key_concurrency:
                await self._apply_by_key(batches)
                self._forget(batches)
                self._commit({partition: records[-1].offset + 1 for partition, records in batches.items()})
            else:
                for partition, records in batches.items():
                    for record in records:
                        await self._apply(record)
                    self._forget({partition: records})
                    self._commit({partition: records[-1].offset + 1})

    def _forget(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """These records are applied (or dead-lettered): they no longer count towards the lag in seconds."""
        for partition, records in batches.items():
            pending = self._pending.get(partition)
            if pending is None:
                continue
            for record in records:
                pending.pop(record.offset, None)
            if not pending:
                del self._pending[partition]

    def oldest_pending_age(self, topic: str) -> float:
        """Seconds since the oldest fetched, unapplied record of `topic` reached Kafka; 0 when none waits.

        Records not fetched yet are newer than the fetched ones of their partition, so while the loop
        is stuck on a fetch this is the age of the oldest record not applied.
        """
        oldest = min(
            (
                min(pending.values())
                for partition, pending in self._pending.items()
                if partition.topic == topic and pending
            ),
            default=None,
        )
        return 0.0 if oldest is None else max(time.time() - oldest, 0.0)

    async def _apply(self, record: ConsumerRecord) -> None:
        retrying = False
        delay = 0.1
        try:
            while True:
                started = time.perf_counter()
                try:
                    await self._handler(record)
                except PoisonRecord as poison:
                    await self._dead_letters.publish(
                        reason=poison.reason,
                        detail=poison.detail,
                        source=f"{record.topic}/{record.partition}/{record.offset}",
                        raw=record.value or b"",
                        key=record.key,
                    )
                    metrics.KAFKA_CONSUMED.labels(self.name, record.topic, "dead_letter").inc()
                    self._forget({TopicPartition(record.topic, record.partition): [record]})
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # Transient (database down, broker hiccup) until proven otherwise: retry, never skip.
                    self.last_error = describe_error(exc)
                    metrics.KAFKA_HANDLER_RETRIES.labels(self.name, record.topic).inc()
                    if not retrying:  # counted once per record, however many attempts it takes
                        retrying = True
                        metrics.KAFKA_HANDLERS_RETRYING.labels(self.name).inc()
                    log.warning(
                        "%s: applying %s/%s/%s failed (%s); retrying in %.1fs",
                        self.name,
                        record.topic,
                        record.partition,
                        record.offset,
                        self.last_error,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                metrics.KAFKA_HANDLE_SECONDS.labels(self.name, record.topic).observe(time.perf_counter() - started)
                metrics.KAFKA_CONSUMED.labels(self.name, record.topic, "applied").inc()
                self._forget({TopicPartition(record.topic, record.partition): [record]})
                return
        finally:
            if retrying:
                metrics.KAFKA_HANDLERS_RETRYING.labels(self.name).dec()

    async def _apply_by_key(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        runs: dict[tuple[TopicPartition, bytes | None], list[ConsumerRecord]] = {}
        for partition, records in batches.items():
            for record in records:
                runs.setdefault((partition, record.key), []).append(record)
        slots = asyncio.Semaphore(self._key_concurrency)

        async def apply_run(records: list[ConsumerRecord]) -> None:
            async with slots:
                handler = self._key_batch_handler
                if handler is not None and len(records) > 1 and await self._apply_batch(records, handler):
                    return
                for record in records:
                    await self._apply(record)

        await asyncio.gather(*(apply_run(records) for records in runs.values()))

    async def _apply_batch(self, records: Sequence[ConsumerRecord], handler: BatchHandler | None = None) -> bool:
        """One attempt at the whole batch; False sends it down the record-by-record path."""
        handler = handler or self._batch_handler
        assert handler is not None
        started = time.perf_counter()
        try:
            await handler(records)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.last_error = describe_error(exc)
            log.info("%s: batch of %d failed (%s); applying record by record", self.name, len(records), self.last_error)
            return False
        per_record = (time.perf_counter() - started) / len(records)
        by_partition: dict[TopicPartition, list[ConsumerRecord]] = {}
        for record in records:
            by_partition.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        self._forget(by_partition)
        for topic, count in collections.Counter(record.topic for record in records).items():
            histogram = metrics.KAFKA_HANDLE_SECONDS.labels(self.name, topic)
            for _ in range(count):
                histogram.observe(per_record)
            metrics.KAFKA_CONSUMED.labels(self.name, topic, "applied").inc(count)
        return True

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Hand applied offsets to the committer and go on at once.

        The apply path never waits for the group coordinator: when the broker coordinating this
        group freezes, records keep flowing from the partitions' live leaders. An offset that is
        committed late (or never, if the partition moves meanwhile) costs a redelivery, which the
        inbox absorbs.
        """
        self._to_commit.update(offsets)
        self._commit_wanted.set()

    async def _committer(self) -> None:
        delay = 0.1
        while True:
            await self._commit_wanted.wait()
            try:
                await self._commit_pending()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # KafkaError, or IllegalStateError for a partition just revoked
                log.warning("%s: commit failed (%s: %s); retrying in %.1fs", self.name, type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _commit_pending(self) -> None:
        self._commit_wanted.clear()
        assigned = self.consumer.assignment()
        # Offsets of partitions revoked meanwhile belong to their new owner now.
        offsets = {tp: offset for tp, offset in self._to_commit.items() if tp in assigned}
        self._to_commit.clear()
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except BaseException:
            for tp, offset in offsets.items():  # newer offsets applied meanwhile win
                self._to_commit.setdefault(tp, offset)
            self._commit_wanted.set()
            raise
        self._committed.update(offsets)

    async def _lag_reporter(self) -> None:
        """Lag per partition = the log end offset (Kafka's ListOffsets) minus what this group committed.

        It runs beside the consumer rather than after each fetch, so the gauge keeps rising while a
        handler retries (database down) instead of freezing at its last value.
        """
        while not self._stopping.is_set():
            await asyncio.sleep(self._lag_interval_s)
            try:
                await self.report_lag()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker unreachable: the next round tries again
                log.debug("%s: lag not measured (%s)", self.name, exc)

    async def report_lag(self) -> dict[TopicPartition, int]:
        """Measure and publish the lag of every assigned partition, and of every one it holds records of, now.

        A handler stuck longer than `max_poll_interval_ms` makes aiokafka leave the group, and the
        assignment is then empty; the partitions whose records it still holds keep being measured,
        so the gauge goes on rising instead of freezing at its last value.
        """
        held = {partition for partition, pending in self._pending.items() if pending}
        partitions = sorted(set(self.consumer.assignment()) | held)
        for gone in self._lag_reported - set(partitions):  # another member reports it now
            with contextlib.suppress(KeyError):
                metrics.KAFKA_CONSUMER_LAG.remove(self.name, gone.topic, str(gone.partition))
        self._lag_reported &= set(partitions)
        if not partitions:
            return {}
        ends = await self.consumer.end_offsets(partitions)
        lags: dict[TopicPartition, int] = {}
        for partition in partitions:
            committed = self._committed.get(partition)
            if committed is None and partition in held:  # what we hold is at least what is not applied
                committed = min(self._pending.get(partition) or {ends[partition]: 0.0})
            if committed is None:
                committed = await self.consumer.committed(partition)
            if committed is None:  # nothing committed yet: everything from the log start is ahead of us
                committed = (await self.consumer.beginning_offsets([partition]))[partition]
            lags[partition] = max(ends[partition] - committed, 0)
            metrics.KAFKA_CONSUMER_LAG.labels(self.name, partition.topic, str(partition.partition)).set(lags[partition])
            self._lag_reported.add(partition)
        return lags
