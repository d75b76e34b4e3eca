"""The watch adapter: a TCP server for "3G*" watches beside the MQTT gateway lanes.

One connection per watch, each served by its own task, thousands per process. Two Kafka
producers, as in the MQTT gateway: alarm frames go out on the alarm producer at once, each in
a task of its own, and are answered (`AL`) only once Kafka acknowledged them (the PUBACK rule);
telemetry goes into a bounded buffer drained in batches by the bulk producer, so a connection
never waits for Kafka and an alarm never waits behind location reports, in this process or in
the producer. Anything a connection sends that is not a frame ends that connection, counted.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Coroutine
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord

from eldercare.envelope import from_timestamp, utcnow
from eldercare.kafka import (
    BatchSender,
    ConsumerLoop,
    DeadLetterPublisher,
    create_producer,
    decode_record,
    ensure_topics,
    send_with_retry,
)
from eldercare.runtime import start_with_retry
from eldercare.tasks import cancel_and_wait
from eldercare.topics import COMMAND_ACKS, COMMANDS
from gateway.chunks import ChunkQueue
from gateway.coalesce import AlarmCoalescer, flush_forever, send_summary
from gateway.payloads import DeviceMessage, ack_message
from gateway.ratelimit import CappedDeadLetters
from gateway.watch import metrics
from gateway.watch.commands import Pending, PendingCommands, Unsupported, translate
from gateway.watch.config import WatchSettings
from gateway.watch.decode import PRODUCER, VOICE_TYPES, Uplink, decode_frame
from gateway.watch.framing import Frame, FrameReader, FramingError, encode_frame
from gateway.watch.identity import BoundWatches

log = logging.getLogger(__name__)

TELEMETRY_CHUNK = 1000
# A watch that stops reading its socket: past this much unsent reply data the connection ends.
MAX_WRITE_BUFFER = 256 * 1024
READ_SIZE = 64 * 1024


class Closed(Exception):
    """Ends one connection; `reason` is the metric label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Connection:
    """One watch's TCP connection: who it is and how to write to it."""

    def __init__(self, writer: asyncio.StreamWriter, max_frame_bytes: int) -> None:
        self.writer = writer
        self.frames = FrameReader(max_frame_bytes)
        self.device_id: str | None = None
        self.vendor = "3G"
        self.seq: str | None = None  # the watch's last sequence field; our own frames reuse it
        self.closed = False
        # Who sent a frame we could not read, before it said which watch it is (dead letters, their cap).
        peer = writer.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else "unknown"

    def send(self, content: str, *, seq: str | None = None, label: str) -> bool:
        """Write one frame in the watch's vendor prefix; False when the connection is gone."""
        if self.closed or self.device_id is None or self.writer.is_closing():
            return False
        transport = self.writer.transport
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.close("slow_reader")
            return False
        self.writer.write(encode_frame(self.vendor, self.device_id, content, seq=seq))
        metrics.replies_of(label).inc()
        return True

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            metrics.CONNECTIONS_CLOSED.labels(reason).inc()
            self.writer.close()


class WatchGateway:
    def __init__(self, settings: WatchSettings) -> None:
        self.settings = settings
        self._alarm_producer: AIOKafkaProducer | None = None
        self._bulk_producer: AIOKafkaProducer | None = None
        self._batches: BatchSender[DeviceMessage] | None = None
        self.dead_letters = DeadLetterPublisher(lambda: self._producer(alarm=False), "gateway-watch")
        self.dead_letters_capped = CappedDeadLetters.configured(
            self.dead_letters, settings, metrics.DEAD_LETTERS_SUPPRESSED
        )
        self.coalescer = AlarmCoalescer(settings.alarm_coalesce_seconds)
        self.bound = BoundWatches(settings)
        self.pending = PendingCommands()
        self.connections: dict[str, Connection] = {}
        self._telemetry: ChunkQueue[DeviceMessage] = ChunkQueue()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._background: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.downlink = ConsumerLoop(
            settings=settings,
            # Its own group per process: every adapter sees every command and keeps those of the
            # watches it holds (or may hold next); acks on the acks topic release them everywhere.
            name=f"gateway-watch-downlink-{settings.instance_id}",
            topics=[COMMANDS, COMMAND_ACKS],
            handler=self._on_command_record,
            dead_letters=self.dead_letters,
        )
        self._joining: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def _producer(self, *, alarm: bool) -> AIOKafkaProducer:
        producer = self._alarm_producer if alarm else self._bulk_producer
        assert producer is not None, "start() first"
        return producer

    async def start(self) -> None:
        self._alarm_producer = create_producer(self.settings, fast_lane=True)
        self._bulk_producer = create_producer(
            self.settings, fast_lane=False, linger_ms=self.settings.telemetry_linger_ms
        )
        self._batches = BatchSender(self._bulk_producer)
        await start_with_retry("kafka (alarm lane)", self._alarm_producer.start)
        await start_with_retry("kafka (bulk lane)", self._bulk_producer.start)
        await start_with_retry("kafka topics", lambda: ensure_topics(self.settings))
        await self.bound.start()
        self._background = [
            asyncio.create_task(self._run_telemetry(), name="watch-telemetry"),
            asyncio.create_task(self._sweep(), name="watch-sweep"),
        ]
        if self.coalescer.enabled:
            self._background.append(asyncio.create_task(self._flush_coalesced(), name="watch-coalescer"))
        metrics.CONNECTIONS.set_function(lambda: len(self.connections))
        metrics.TELEMETRY_QUEUED.set_function(lambda: len(self._telemetry))
        metrics.COMMANDS_PENDING.set_function(lambda: len(self.pending))
        host, port = self.settings.listen_address
        # Alarms are taken as soon as Kafka is: the downlink's group join may wait for a rebalance.
        self._server = await asyncio.start_server(self._serve, host, port, limit=READ_SIZE, backlog=4096)
        self._joining = asyncio.create_task(start_with_retry("kafka (watch downlink)", self.downlink.start))
        log.info("watch adapter listening on %s:%s", host, port)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections.values()):
            connection.close("shutdown")
        if self._joining is not None and not self._joining.done():
            await cancel_and_wait(self._joining)
        await self.downlink.stop()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)  # alarms in flight get their moment to land
        for task in [*self._tasks, *self._background]:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.bound.stop()
        for producer in (self._alarm_producer, self._bulk_producer):
            if producer is not None:
                await producer.stop()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- connections -----------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(writer, self.settings.max_frame_bytes)
        metrics.CONNECTIONS_OPENED.inc()
        if len(self.connections) >= self.settings.max_connections:
            connection.close("too_many_connections")
            return
        reason = "peer_closed"
        try:
            while not connection.closed:
                partial = connection.frames.partial
                timeout = self.settings.frame_timeout_s if partial else self.settings.idle_timeout_s
                try:
                    data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
                except TimeoutError:
                    if partial:
                        raise connection.frames.unfinished() from None
                    raise Closed("idle") from None
                if not data:
                    break
                for frame in connection.frames.feed(data):
                    self._on_frame(connection, frame)
        except FramingError as error:
            metrics.BAD_FRAMES.labels(error.reason).inc()
            log.info("watch %s: %s; closing its connection", connection.device_id or "(unidentified)", error)
            reason = error.reason
            self._dead_letter(connection, error.reason, f"connection closed; {error.detail}", error.raw)
        except Closed as closed:
            reason = closed.reason
        except (ConnectionError, OSError):
            reason = "reset"
        except Exception:
            # Our bug, not the watch's: this connection ends, the server and every other watch go on.
            log.exception("watch %s: unexpected error; closing its connection", connection.device_id)
            reason = "internal_error"
        finally:
            connection.close(reason)
            if connection.device_id is not None and self.connections.get(connection.device_id) is connection:
                del self.connections[connection.device_id]

    def _identify(self, connection: Connection, frame: Frame) -> None:
        if connection.device_id is not None:
            if frame.device_id != connection.device_id:
                raise Closed("device_id_changed")
            return
        known = self.bound.knows(frame.device_id)
        if not known and self.settings.refuse_unknown:
            metrics.IDENTITIES.labels("refused").inc()
            log.info("watch %s is bound to no elder: refused (WATCH_REFUSE_UNKNOWN)", frame.device_id)
            raise Closed("unknown_device")
        metrics.IDENTITIES.labels("known" if known else "unknown").inc()
        if not known:
            log.info("watch %s is bound to no elder: served, flagged as unknown", frame.device_id)
        connection.device_id, connection.vendor = frame.device_id, frame.vendor
        previous = self.connections.get(frame.device_id)
        if previous is not None:
            previous.close("replaced")  # the watch reconnected before its old connection timed out
        self.connections[frame.device_id] = connection
        for pending in self.pending.for_watch(frame.device_id, time.time()):
            self._deliver(connection, pending)

    def _on_frame(self, connection: Connection, frame: Frame) -> None:
        self._identify(connection, frame)
        connection.vendor = frame.vendor
        if frame.seq is not None:
            connection.seq = frame.seq
        received = time.monotonic()
        uplink = decode_frame(frame, utcnow())
        metrics.frames_of(uplink.label).inc()
        if uplink.problem is not None:
            metrics.PROBLEMS.labels(uplink.problem).inc()
            done = "alarm raised anyway" if uplink.alarm else "answered, the usable fields kept"
            self._dead_letter(connection, uplink.problem, f"{done}; a {frame.type[:32]} frame", frame.raw)
        if uplink.label in VOICE_TYPES:
            metrics.VOICE.labels(uplink.label).inc()
        if not uplink.known:
            self._on_unhandled(connection, frame)
            return
        if uplink.alarm:
            self._spawn(self._raise_alarm(connection, frame, uplink, received))
            return
        for message in uplink.events:
            self._queue_telemetry(message)
        if uplink.reply is not None:
            connection.send(uplink.reply, seq=frame.seq, label=uplink.label)

    def _dead_letter(self, connection: Connection, reason: str, detail: str, raw: bytes) -> None:
        """A bad frame to the dead-letter topic, in the background: no watch waits for Kafka to take it."""
        sender = connection.device_id or f"peer:{connection.peer}"
        if not self.dead_letters_capped.admit(sender, reason):
            return
        source = f"watch/{connection.device_id or 'unidentified'}@{connection.peer}"
        self._spawn(self.dead_letters.publish(reason=reason, detail=detail, source=source, raw=raw))

    def _on_unhandled(self, connection: Connection, frame: Frame) -> None:
        """A type we do not decode: the echo (ack) of a command we sent, or a vendor extension."""
        assert connection.device_id is not None
        pending = self.pending.echoed(connection.device_id, frame.type)
        if pending is None:
            metrics.count_unhandled(frame.type)
            return
        metrics.COMMANDS.labels("acked").inc()
        now = utcnow()
        # Not the telemetry buffer, which drops its oldest in a long Kafka outage: a lost ack would
        # have dispatch resend the command, and give it up as unacknowledged after its last attempt.
        self._spawn(
            self._produce_now(
                ack_message(connection.device_id, pending.command_id, acked_at=now, received_at=now, producer=PRODUCER)
            )
        )

    # ---- alarm lane ------------------------------------------------------------------------

    async def _raise_alarm(self, connection: Connection, frame: Frame, uplink: Uplink, received: float) -> None:
        """Every event of the frame on Kafka, then `AL`: a watch resends an alarm it got no answer to."""
        try:
            now = time.monotonic()
            for message in uplink.events:
                if not self.coalescer.admit(message, now):
                    metrics.COALESCED.labels(message.kind).inc()
                    continue
                await self._produce_now(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Unanswered, the watch sends the alarm again: that is its retry.
            log.exception("could not forward an alarm from watch %s", frame.device_id)
            return
        if connection.send(uplink.reply or "AL", seq=frame.seq, label=uplink.label):
            metrics.ALARM_SECONDS.observe(time.monotonic() - received)

    async def _produce_now(self, message: DeviceMessage) -> None:
        """Alarms and command acks: never buffered or dropped, retried until Kafka has them."""
        await send_with_retry(
            self._producer(alarm=True),
            message.topic,
            message.envelope.SerializeToString(),
            key=message.device_id.encode(),
            stop=self._stopping,
            max_delay=0.2,
        )
        metrics.events_of(message.kind).inc()

    async def _flush_coalesced(self) -> None:
        await flush_forever(self.coalescer, self._spawn, self._produce_summary)

    async def _produce_summary(self, summary: DeviceMessage) -> None:
        await send_summary(self.coalescer, summary, self._produce_now)

    # ---- bulk lane -------------------------------------------------------------------------

    def _queue_telemetry(self, message: DeviceMessage) -> None:
        if len(self._telemetry) >= self.settings.telemetry_buffer:
            self._telemetry.drop_oldest()  # the oldest goes: the newest position and battery matter most
            metrics.TELEMETRY_DROPPED.inc()
        self._telemetry.put(message)

    async def _run_telemetry(self) -> None:
        delay = 0.1
        while True:
            chunk = await self._telemetry.next_chunk(TELEMETRY_CHUNK)
            failed = await self._send_telemetry(chunk)
            if failed:
                # Back at the front, in order, and retried after a pause: Kafka is down or refusing.
                self._telemetry.put_back(failed)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                delay = 0.1
                await asyncio.sleep(0)

    async def _send_telemetry(self, chunk: list[DeviceMessage]) -> list[DeviceMessage]:
        """Send a chunk in per-partition batches; what Kafka did not acknowledge comes back."""
        assert self._batches is not None
        by_topic: dict[str, list[tuple[bytes, bytes, DeviceMessage]]] = {}
        for message in chunk:
            record = (message.device_id.encode(), message.envelope.SerializeToString(), message)
            by_topic.setdefault(message.topic, []).append(record)
        failed: list[DeviceMessage] = []
        for topic, records in by_topic.items():
            for delivery, messages in await self._batches.send(topic, records):
                try:
                    await delivery
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("telemetry batch to %s failed (%s); retrying", topic, exc)
                    failed.extend(messages)
                    continue
                for kind, count in collections.Counter(message.kind for message in messages).items():
                    metrics.events_of(kind).inc(count)
        return failed

    # ---- downlink --------------------------------------------------------------------------

    async def _on_command_record(self, record: ConsumerRecord) -> None:
        envelope = decode_record(record)
        body = envelope.WhichOneof("body")
        if body == "command_ack":
            # Acked through some adapter (or MQTT): nothing left to deliver from here.
            self.pending.drop(envelope.device_id, envelope.command_ack.command_id)
            return
        if body != "command":
            return
        command = envelope.command
        device_id = command.device_id or envelope.device_id
        issued = from_timestamp(command.issued_at).timestamp() if command.HasField("issued_at") else time.time()
        expires_at = issued + self.settings.command_ttl_s
        if expires_at <= time.time():
            metrics.COMMANDS.labels("expired").inc()
            return
        try:
            echo, content = translate(command)
        except Unsupported as exc:
            metrics.COMMANDS.labels("unsupported").inc()
            log.info("command %s for %s not sent: %s", command.command_id, device_id, exc)
            return
        pending = self.pending.add(device_id, Pending(command.command_id, echo, content, expires_at))
        connection = self.connections.get(device_id)
        if connection is not None:
            self._deliver(connection, pending)

    def _deliver(self, connection: Connection, pending: Pending) -> None:
        if connection.send(pending.content, seq=connection.seq, label=pending.echo):
            pending.sent = True
            metrics.COMMANDS.labels("sent").inc()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(5)
            expired = self.pending.expire(time.time())
            if expired:
                metrics.COMMANDS.labels("expired").inc(expired)

    # ---- readiness -------------------------------------------------------------------------

    async def check_listener(self) -> None:
        if self._server is None or not self._server.is_serving():
            raise ConnectionError("the watch listener is not serving")

    async def check_kafka(self) -> None:
        await self._producer(alarm=True).client.fetch_all_metadata()
