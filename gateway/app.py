"""The gateway process: device MQTT messages in, canonical events on Kafka out.

Two MQTT sessions form the fast lane: one subscribes only to alarm kinds, the other
to everything else, so an SOS never queues behind location reports at the broker,
in paho's socket, or in our producer (each lane has its own Kafka producer). A
message is acknowledged to the broker only after Kafka acknowledged the write.

GATEWAY_LANES picks the sessions a process runs: `all` (both, one process), or
`alarms` / `bulk`, so that the alarm lane has an event loop and a GIL of its own
beside bulk-lane processes (docs/decisions.md, "Alarm lane in its own process").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from eldercare import metrics as kafka_metrics
from eldercare.envelope import from_timestamp, utcnow
from eldercare.http import ops_app
from eldercare.kafka import (
    TOO_LARGE,
    BatchSender,
    DeadLetterPublisher,
    create_producer,
    ensure_topics,
    send_with_retry,
)
from eldercare.runtime import start_with_retry
from eldercare.tasks import cancel_and_wait
from gateway import metrics
from gateway.acl_probe import probe_acl
from gateway.chunks import ChunkQueue
from gateway.coalesce import AlarmCoalescer, flush_forever, send_summary
from gateway.config import GatewaySettings
from gateway.downlink import Downlink
from gateway.mqtt import MqttSession, mqtt_tls
from gateway.payloads import ALARM_KINDS, TELEMETRY_KINDS, DeviceMessage, Ignored, Rejection, parse_device_message
from gateway.ratelimit import CappedDeadLetters, DeviceRateLimiter
from gateway.receipts import ReceiptSender, event_id_in
from gateway.retire import LaneRetirement

log = logging.getLogger(__name__)

DEVICE_TREE = "eldercare/v1/devices"
# Bulk-lane messages taken from the inbox at a time: Kafka batches are built per chunk.
BULK_CHUNK = 1000
# How often a gateway whose account lacks its ACL grants asks again.
ACL_RETRY_S = 30.0
# Within a chunk, the bulk lane yields to the event loop this often (a few ms of validation).
BULK_YIELD_EVERY = 64


def alarm_lane_owns(topic: str) -> bool:
    """True for topics the alarm session subscribes to (the bulk session's '#' sees them too)."""
    levels = topic.split("/")
    return len(levels) == 5 and topic.startswith(DEVICE_TREE + "/") and levels[4] in ALARM_KINDS


# A lane ("alarm" / "bulk", as in the metrics' lane label) -> its session's name (client ids, `session` label).
SESSION_NAMES = {"alarm": "alarms", "bulk": "bulk"}


def lane_client_id(settings: GatewaySettings, lane: str) -> str:
    """The lane's persistent MQTT session: unique per gateway instance and lane."""
    return f"eldercare-gw-{settings.instance_id}-{SESSION_NAMES[lane]}"


def _filters(lane: str) -> list[str]:
    if lane == "alarm":
        return [f"{DEVICE_TREE}/+/{kind}" for kind in sorted(ALARM_KINDS)]
    # '#' rather than '+/+' so that malformed topics are dead-lettered, not unseen.
    return [f"{DEVICE_TREE}/#"]


def lane_subscriptions(settings: GatewaySettings, lane: str) -> list[str]:
    """The lane's topic filters: plain, except the bulk lane of gateways that split it (GATEWAY_BULK_SHARED).

    Plain because Mosquitto (2.0.11) does not restore an offline session's shared subscription
    after it restarts: until the gateway reconnected and subscribed again, the broker acked what
    devices sent and routed it nowhere. A plain subscription is restored, so everything waits in
    the session. Several alarm-lane gateways therefore each forward every alarm (the consumers'
    inboxes absorb the copies by event id); bulk-lane gateways must split the telemetry and
    accept that gap, narrowed by reconnecting at most a second apart (docs/decisions.md 36).
    """
    if lane == "bulk" and settings.bulk_shared:
        return [f"$share/{settings.share_group}/{topic}" for topic in _filters(lane)]
    return _filters(lane)


def every_subscription_form(settings: GatewaySettings, lane: str) -> list[str]:
    """The lane's filters plain and shared: what a left-over session of any configuration may hold."""
    return _filters(lane) + [f"$share/{settings.share_group}/{topic}" for topic in _filters(lane)]


class Acknowledger(Protocol):
    def ack(self, message: mqtt.MQTTMessage) -> None: ...


class Gateway:
    """Forwards device messages from MQTT to Kafka, with a lane of its own for alarms."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        # Kafka clients bind to the running event loop, so start() creates them.
        self._alarm_producer: AIOKafkaProducer | None = None
        self._bulk_producer: AIOKafkaProducer | None = None
        # Through the bulk producer when this process has one, else the alarm lane's.
        self.dead_letters = DeadLetterPublisher(lambda: self._producer_for("bulk"), "gateway")
        self.alarm_session: MqttSession | None = None
        self.bulk_session: MqttSession | None = None
        if settings.runs_alarm_lane:
            self.alarm_session = self._session("alarm", settings.alarm_receive_maximum)
        if settings.runs_bulk_lane:
            self.bulk_session = self._session("bulk", settings.telemetry_receive_maximum)
        # The sessions this process runs, by session name: readiness, metrics, start and stop cover these only.
        self.sessions = {
            name: session
            for name, session in (("alarms", self.alarm_session), ("bulk", self.bulk_session))
            if session is not None
        }
        # A single-lane process ends the other lane's session its instance may have left behind.
        self.retirement: LaneRetirement | None = None
        if settings.lanes != "all":
            self.retirement = self._retirement("bulk" if settings.lanes == "alarms" else "alarm")
        self._retirement_task: asyncio.Task[None] | None = None
        self.rate_limiter = DeviceRateLimiter(rate_per_s=settings.device_rate_per_s, burst=settings.device_burst)
        self.capped_dead_letters = CappedDeadLetters.configured(
            self.dead_letters, settings, metrics.DEAD_LETTERS_SUPPRESSED
        )
        self.coalescer = AlarmCoalescer(settings.alarm_coalesce_seconds)
        # Set by create_app to publish through the downlink's session; None: no receipts (some tests).
        self.receipts: ReceiptSender | None = None
        self._coalesce_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        # The bulk lane is one worker draining a queue (bounded by the session's Receive Maximum),
        # not a task per message: it hands each event to the producer and acks from the delivery callback.
        self._bulk_inbox: ChunkQueue[mqtt.MQTTMessage] = ChunkQueue()
        self._bulk_worker: asyncio.Task[None] | None = None
        self._acl_task: asyncio.Task[None] | None = None
        # Why the broker's ACL and this gateway's account disagree (a round-trip probe); None when they agree.
        self.acl_problem: str | None = None
        self._bulk_batches: BatchSender[tuple[mqtt.MQTTMessage, DeviceMessage]] | None = None

    def _session(self, lane: str, receive_maximum: int) -> MqttSession:
        settings = self.settings
        return MqttSession(
            url=settings.mqtt_url,
            client_id=lane_client_id(settings, lane),
            subscriptions=lane_subscriptions(settings, lane),
            on_message=lambda message: self._dispatch(message, lane=lane),
            receive_maximum=receive_maximum,
            username=settings.mqtt_username,
            password=settings.mqtt_password,
            **mqtt_tls(settings),
            # Back within a second of the broker: after a Mosquitto restart a shared bulk lane's
            # subscription only routes again once this session has subscribed anew.
            max_reconnect_delay=settings.mqtt_max_reconnect_delay_s,
        )

    def _retirement(self, lane: str) -> LaneRetirement:
        """What the left-over session of `lane` still holds is forwarded with that lane's rules."""
        retirement = LaneRetirement(
            settings=self.settings,
            client_id=lane_client_id(self.settings, lane),
            subscriptions=every_subscription_form(self.settings, lane),
            on_message=lambda message: self._spawn(self._forward(message, lane=lane, session=retirement)),
            receive_maximum=self.settings.alarm_receive_maximum,
        )
        return retirement

    @property
    def bulk_batches(self) -> BatchSender[tuple[mqtt.MQTTMessage, DeviceMessage]]:
        assert self._bulk_batches is not None, "start() first, with the bulk lane"
        return self._bulk_batches

    def _producer_for(self, lane: str) -> AIOKafkaProducer:
        """The lane's own producer; in a single-lane process, the one there is."""
        if lane == "alarm":
            producer = self._alarm_producer or self._bulk_producer
        else:
            producer = self._bulk_producer or self._alarm_producer
        assert producer is not None, "start() first"
        return producer

    async def start(self) -> None:
        if self.settings.lanes == "bulk":
            log.warning(
                "GATEWAY_LANES=bulk: this process acks and drops SOS, fall and alarm messages; a gateway with "
                "GATEWAY_LANES=alarms must run beside it (same broker) or alarms are lost"
            )
        log.info("gateway lanes: %s (MQTT sessions: %s)", self.settings.lanes, ", ".join(self.sessions))
        if self.alarm_session is not None:
            self._alarm_producer = create_producer(self.settings, fast_lane=True)
        if self.bulk_session is not None:
            self._bulk_producer = create_producer(
                self.settings, fast_lane=False, linger_ms=self.settings.telemetry_linger_ms
            )
            self._bulk_batches = BatchSender(self._bulk_producer)
        for name, session in self.sessions.items():
            metrics.MQTT_CONNECTED.labels(name).set_function(session.connected.is_set)
            # Connected is not enough: a session whose subscription the broker refused receives nothing.
            metrics.MQTT_SUBSCRIBED.labels(name).set_function(session.subscribed.is_set)
        if self._alarm_producer is not None:
            await start_with_retry("kafka (alarm lane)", self._alarm_producer.start)
        if self._bulk_producer is not None:
            await start_with_retry("kafka (bulk lane)", self._bulk_producer.start)
        await start_with_retry("kafka topics", lambda: ensure_topics(self.settings))
        if self.bulk_session is not None:
            self._bulk_worker = asyncio.create_task(self._run_bulk_lane(), name="gateway-bulk-lane")
        if self.alarm_session is not None and self.coalescer.enabled:
            self._coalesce_task = asyncio.create_task(self._flush_coalesced(), name="gateway-alarm-coalescer")
        for session in self.sessions.values():
            await session.start()
        if self.retirement is not None:
            self._retirement_task = asyncio.create_task(self.retirement.run(), name="gateway-retire-session")
        self._acl_task = asyncio.create_task(self._probe_acl(), name="gateway-acl-probe")

    async def stop(self) -> None:
        self._stopping.set()
        # Stop taking messages first; what is still in flight is not acked and will be redelivered.
        await cancel_and_wait(self._acl_task)
        await cancel_and_wait(self._retirement_task)
        for session in self.sessions.values():
            await session.stop()
        if self._bulk_worker is not None:
            self._bulk_worker.cancel()
        await cancel_and_wait(self._coalesce_task)
        # Counts still open go out now rather than die with the process (bounded by the stop timeout).
        for summary in self.coalescer.due(float("inf")):
            self._spawn(self._produce_summary(summary))
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        for task in self._tasks:
            task.cancel()
        for producer in (self._alarm_producer, self._bulk_producer):
            if producer is not None:
                await producer.stop()

    def _dispatch(self, message: mqtt.MQTTMessage, *, lane: str) -> None:
        """Runs on the event loop for every MQTT message; starts its forwarding."""
        if lane == "bulk":
            self._bulk_inbox.put(message)
            return
        assert self.alarm_session is not None
        if self._repeat_from_topic(message):
            # A flood's repeat costs a topic split and an ack, not a task: the lane stays free for others.
            self.alarm_session.ack(message)
            return
        self._spawn(self._forward(message, lane=lane, session=self.alarm_session))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _classify(
        self, message: mqtt.MQTTMessage, received: collections.Counter[str] | None = None
    ) -> DeviceMessage | Rejection | Ignored:
        """Parse and validate; telemetry over the device's rate cap becomes a `rate_limited` rejection.

        Counted as received by kind, or into `received` for the caller to add in one go (each
        counter update takes a lock).
        """
        outcome = parse_device_message(message.topic, bytes(message.payload), utcnow())
        if isinstance(outcome, Rejection | DeviceMessage):
            kind = outcome.kind if isinstance(outcome, DeviceMessage) else "invalid"
            if received is None:
                metrics.received_as(kind).inc()
            else:
                received[kind] += 1
        if (
            isinstance(outcome, DeviceMessage)
            and outcome.kind in TELEMETRY_KINDS
            and not self.rate_limiter.allow(outcome.device_id, time.monotonic())
        ):
            return Rejection("rate_limited", f"{outcome.kind} over the per-device cap")
        return outcome

    def _repeat_from_topic(self, message: mqtt.MQTTMessage) -> bool:
        """A flood's repeats are counted from the topic alone, before any parsing (see AlarmCoalescer)."""
        levels = message.topic.split("/")
        if len(levels) != 5 or not message.topic.startswith(DEVICE_TREE + "/"):
            return False
        if not self.coalescer.repeat_without_parsing(levels[3], levels[4], time.monotonic()):
            return False
        metrics.received_as(levels[4]).inc()
        metrics.COALESCED.labels(levels[4]).inc()
        if self.receipts is not None:
            event_id = event_id_in(bytes(message.payload))
            if event_id is not None and self.coalescer.receipt_now(levels[3], levels[4], event_id):
                self.receipts.send(levels[3], event_id)
        return True

    async def _flush_coalesced(self) -> None:
        """Every quarter of a second, send the count of each coalescing window that ended."""
        await flush_forever(self.coalescer, self._spawn, self._produce_summary)

    async def _produce_summary(self, summary: DeviceMessage) -> None:
        metrics.in_flight_in("alarm").inc()
        try:
            if await send_summary(self.coalescer, summary, functools.partial(self._produce, lane="alarm")):
                # Its repeats had their receipts when acked; a resend of the window's opener waits for this.
                self.coalescer.on_kafka(summary)
        finally:
            metrics.in_flight_in("alarm").dec()

    async def _run_bulk_lane(self) -> None:
        while True:
            chunk = await self._bulk_inbox.next_chunk(BULK_CHUNK)
            try:
                await self._forward_bulk(chunk)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not forward %d messages on the bulk lane", len(chunk))  # unacked: redelivered
            # Yield between chunks so that alarms, acks and /metrics are not held up.
            await asyncio.sleep(0)

    async def _forward_bulk(self, chunk: list[mqtt.MQTTMessage]) -> None:
        """The common case: valid telemetry goes to Kafka in per-partition batches, acked once Kafka acked.

        Anything else (dead letters, salvaged alarms, a refused batch) takes `_forward`, a task per message.
        """
        session = self.bulk_session
        assert session is not None
        by_topic: dict[str, list[tuple[bytes, bytes, tuple[mqtt.MQTTMessage, DeviceMessage]]]] = {}
        received: collections.Counter[str] = collections.Counter()
        for index, message in enumerate(chunk):
            if index and index % BULK_YIELD_EVERY == 0:
                await asyncio.sleep(0)  # validation is the costly part; let the alarm lane in between
            if alarm_lane_owns(message.topic):
                session.ack(message)  # the alarm session (here or in the alarms process) got its own copy
                continue
            outcome = self._classify(message, received)
            if not isinstance(outcome, DeviceMessage) or outcome.salvaged is not None:
                self._spawn(self._forward(message, lane="bulk", session=session, outcome=outcome))
                continue
            record = (outcome.device_id.encode(), outcome.envelope.SerializeToString(), (message, outcome))
            by_topic.setdefault(outcome.topic, []).append(record)
        for kind, count in received.items():
            metrics.received_as(kind).inc(count)
        for topic, records in by_topic.items():
            metrics.in_flight_in("bulk").inc(len(records))
            submitted = time.perf_counter()
            for delivery, items in await self.bulk_batches.send(topic, records):
                delivery.add_done_callback(functools.partial(self._bulk_delivered, topic, items, submitted))

    def _bulk_delivered(
        self,
        topic: str,
        items: list[tuple[mqtt.MQTTMessage, DeviceMessage]],
        submitted: float,
        delivery: asyncio.Future[Any],
    ) -> None:
        metrics.in_flight_in("bulk").dec(len(items))
        session = self.bulk_session
        assert session is not None
        if delivery.cancelled() or delivery.exception() is not None:
            # The producer gave up on the batch: each message falls back to retrying until Kafka takes it.
            kafka_metrics.KAFKA_PRODUCE_ERRORS.labels(topic).inc()
            for message, outcome in items:
                self._spawn(self._forward(message, lane="bulk", session=session, outcome=outcome))
            return
        now = time.monotonic()
        kafka_metrics.kafka_produced_to(topic).inc(len(items))
        # One send, one observation: the batch went to the broker and was acknowledged as a whole.
        kafka_metrics.kafka_produce_seconds_to(topic).observe(time.perf_counter() - submitted)
        produce_seconds = metrics.produce_seconds_in("bulk")
        kinds: collections.Counter[str] = collections.Counter()
        for message, outcome in items:
            kinds[outcome.kind] += 1
            # From the MQTT receipt (paho stamps every message with monotonic time) to Kafka's ack.
            produce_seconds.observe(now - message.timestamp)
            session.ack(message)
        for kind, count in kinds.items():
            metrics.produced_as(kind).inc(count)

    async def _forward(
        self,
        message: mqtt.MQTTMessage,
        *,
        lane: str,
        session: Acknowledger,
        outcome: DeviceMessage | Rejection | Ignored | None = None,
    ) -> None:
        """Forward with `lane`'s rules and ack to `session` (the lane's, or a left-over one being drained)."""
        started = time.perf_counter()
        metrics.in_flight_in(lane).inc()
        try:
            if outcome is None and lane == "bulk" and alarm_lane_owns(message.topic):
                session.ack(message)  # the alarm session got its own copy
                return
            if outcome is None:
                outcome = self._classify(message)
            if (
                lane == "alarm"
                and isinstance(outcome, DeviceMessage)
                and not self.coalescer.admit(outcome, time.monotonic())
            ):
                # A repeat within the device's window: counted into the summary that ends it.
                metrics.COALESCED.labels(outcome.kind).inc()
                if outcome.salvaged is not None:
                    await self._reject(message, outcome.salvaged, salvaged=True)
                session.ack(message)
                self._receipt_for_repeat(outcome)
                return
            if isinstance(outcome, Ignored):
                pass
            elif isinstance(outcome, Rejection):
                await self._reject(message, outcome)
            else:
                try:
                    await self._produce(outcome, lane=lane)
                except TOO_LARGE as exc:
                    # Kafka will never take it: a dead letter (cut to a prefix and a hash) instead
                    # of a redelivery loop that would hold this lane's in-flight slot forever.
                    await self._reject(message, Rejection("too_large_for_kafka", str(exc)))
                    session.ack(message)
                    return
                # On Kafka: the receipt is queued beside the ack, never awaited by it.
                self._receipt(outcome)
                if outcome.salvaged is not None:
                    metrics.SALVAGED.labels(outcome.kind).inc()
                    await self._reject(message, outcome.salvaged, salvaged=True)
                metrics.produce_seconds_in(lane).observe(time.perf_counter() - started)
            session.ack(message)
        except asyncio.CancelledError:
            # Shutting down: not acked, so the broker redelivers it to the next session.
            raise
        except Exception:
            # Unexpected: leave it unacked (redelivered on reconnect) rather than lose it.
            log.exception("could not forward a message on %s lane", lane)
        finally:
            metrics.in_flight_in(lane).dec()

    def _receipt(self, outcome: DeviceMessage) -> None:
        """An alarm is on Kafka: tell its device, so that it stops resending (gateway/receipts.py)."""
        if self.receipts is None or not outcome.is_alarm:
            return
        self.coalescer.on_kafka(outcome)
        envelope = outcome.envelope
        received_at = from_timestamp(envelope.received_at) if envelope.HasField("received_at") else None
        self.receipts.send(outcome.device_id, envelope.device_event_id, received_at)

    def _receipt_for_repeat(self, outcome: DeviceMessage) -> None:
        """A repeat counted into its window was acked: it gets its receipt too (see gateway/coalesce.py)."""
        if self.receipts is None:
            return
        envelope = outcome.envelope
        subtype = envelope.alarm.type if envelope.WhichOneof("body") == "alarm" else 0
        if self.coalescer.receipt_now(outcome.device_id, outcome.kind, envelope.device_event_id, subtype):
            received_at = from_timestamp(envelope.received_at) if envelope.HasField("received_at") else None
            self.receipts.send(outcome.device_id, envelope.device_event_id, received_at)

    async def _produce(self, message: DeviceMessage, *, lane: str) -> None:
        producer = self._producer_for(lane)
        topic = message.topic  # alarms, telemetry or command acks
        await send_with_retry(
            producer,
            topic,
            message.envelope.SerializeToString(),
            key=message.device_id.encode(),
            stop=self._stopping,
            max_delay=0.2 if lane == "alarm" else 5.0,
        )
        metrics.produced_as(message.kind).inc()

    async def _reject(self, message: mqtt.MQTTMessage, rejection: Rejection, *, salvaged: bool = False) -> None:
        metrics.REJECTED.labels(rejection.reason).inc()
        levels = message.topic.split("/")
        sender = levels[3] if len(levels) > 3 and message.topic.startswith(DEVICE_TREE + "/") else message.topic
        if not self.capped_dead_letters.admit(sender, rejection.reason):
            return
        detail = ("alarm raised anyway; " if salvaged else "") + rejection.detail
        log.info("dead-lettered a message (%s): %s", rejection.reason, detail[:200])
        await self.dead_letters.publish(
            reason=rejection.reason,
            detail=detail,
            source=message.topic[:300],
            raw=bytes(message.payload),
        )

    async def check_mqtt(self) -> None:
        for name, session in self.sessions.items():
            if not session.connected.is_set():
                raise ConnectionError(f"MQTT session {name} is not connected")
            # Every lane session subscribes; until the broker grants it, this gateway receives nothing.
            if not session.subscribed.is_set():
                if session.subscription_refused is not None:
                    raise ConnectionError(self.refusal(name, session.subscription_refused))
                raise ConnectionError(f"MQTT session {name} is connected but not subscribed yet")
        if self.acl_problem is not None:
            raise ConnectionError(self.acl_problem)

    def refusal(self, name: str, reasons: str) -> str:
        """A lane's refused (or downgraded) subscription, naming the account it was asked as."""
        user = repr(self.settings.mqtt_username) if self.settings.mqtt_username else "(anonymous)"
        return f"MQTT session {name}: the broker refused the subscription of user {user} ({reasons})"

    async def _probe_acl(self) -> None:
        """Ask the broker, by a round trip, whether the ACL grants this account what the gateway needs.

        Until the answer is yes, readiness says what is missing; a no is asked again every
        `ACL_RETRY_S` (an operator fixing the ACL sends Mosquitto a SIGHUP, not the gateway a restart).
        """
        while not self._stopping.is_set():
            try:
                problem = await probe_acl(self.settings)
            except Exception as exc:  # the probe must never take the gateway down
                log.warning("MQTT ACL probe failed to run: %r", exc)
                problem = None
            else:
                if problem is None and all(s.connected.is_set() for s in self.sessions.values()):
                    if self.acl_problem is not None:
                        log.info("MQTT ACL: the gateway's account has its grants now")
                    self.acl_problem = None
                    return
            if problem is not None:
                if problem != self.acl_problem:
                    log.error("%s", problem)
                self.acl_problem = problem
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), ACL_RETRY_S if problem else 2.0)

    async def check_kafka(self) -> None:
        await self._producer_for("alarm").client.fetch_all_metadata()


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway's HTTP face: health, readiness and metrics."""
    settings = settings or GatewaySettings()
    gateway = Gateway(settings)
    downlink = Downlink(settings, gateway.dead_letters)
    # The downlink's session already publishes to the commands topics, with the gateway's ACL rights.
    receipts = gateway.receipts = ReceiptSender(downlink.session)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        await downlink.start()
        receipts.start()
        try:
            for session in gateway.sessions.values():
                await session.wait_ready(timeout=30)
        except TimeoutError:
            refused = [
                gateway.refusal(name, s.subscription_refused)
                for name, s in gateway.sessions.items()
                if s.subscription_refused
            ]
            if refused:
                log.error("MQTT broker at %s: %s", settings.mqtt_url, "; ".join(refused))
            else:
                log.warning("MQTT broker at %s not reachable yet; still trying", settings.mqtt_url)
        log.info("gateway ready on http://%s:%s", settings.http_host, settings.http_port)
        try:
            yield
        finally:
            # The downlink's session stays up while the lanes finish what they hold, so the receipts
            # of those alarms still go out; what is queued after that is dropped (counted): devices resend.
            await gateway.stop()
            await receipts.stop()
            await downlink.stop()

    return ops_app(
        title="Eldercare gateway",
        lifespan=lifespan,
        checks=lambda: [("mqtt", gateway.check_mqtt), ("kafka", gateway.check_kafka)],
        gateway=gateway,
    )
