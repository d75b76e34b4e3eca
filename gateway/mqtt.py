"""An asyncio face on paho-mqtt (v2 API, MQTT v5).

paho's network I/O runs on the asyncio event loop, as Home Assistant's MQTT client
does: the socket is watched with `add_reader`/`add_writer` and paho's `loop_read`,
`loop_write` and `loop_misc` are called from there, so received messages reach the
service without a thread hop, a lock hand-off or a wake-up pipe (docs/decisions.md,
"MQTT on the event loop"). Only the blocking part of (re)connecting, the TCP and TLS
handshake, runs in a worker thread. Publish acks are awaited with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from eldercare.settings import BaseProcessSettings
from eldercare.tasks import cancel_and_wait

log = logging.getLogger(__name__)


# What every subscription asks for: at least once, so the broker keeps and redelivers what we have not acked.
SUBSCRIBE_QOS = 1


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """mqtt://host:port or mqtts://host:port."""
    parsed = urlparse(url)
    tls = parsed.scheme == "mqtts"
    return MqttEndpoint(parsed.hostname or "127.0.0.1", parsed.port or (8883 if tls else 1883), tls)


_PUBACK = struct.Struct("!BBH")


class ReceivedMessage(mqtt.MQTTMessage):
    """A received PUBLISH, built without the `MQTTMessageInfo` (a threading.Condition) only sent messages use."""

    def __init__(self, *, mid: int, topic: bytes, payload: bytes, qos: int, dup: bool, retain: bool) -> None:
        # Deliberately not calling MQTTMessage.__init__: it builds that MQTTMessageInfo.
        self.timestamp = time.monotonic()
        self.state = mqtt.mqtt_ms_invalid
        self.dup = dup
        self.mid = mid
        self._topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = None  # the fast path only takes PUBLISHes that carry no properties

    @property
    def info(self) -> mqtt.MQTTMessageInfo:  # type: ignore[override]
        """paho's delivery handle; meaningless for a received message, kept for the interface."""
        return mqtt.MQTTMessageInfo(self.mid)


class FastReceiveClient(mqtt.Client):
    """paho's client with a cheaper receive path for a subscriber taking thousands of messages a second.

    Profiling the gateway showed paho spending most of its receive time outside the
    message itself: a `Properties` object (dozens of dicts and string scans) built for
    every v5 PUBLISH, one to three `recv` syscalls and a `select` per packet, and a
    topic-filter walk even with no filtered callbacks. This subclass
    - reads the socket 64 KiB at a time and parses every complete packet in the buffer
      before going back to `select`;
    - decodes a PUBLISH whose property block is empty (what devices send) without
      building `Properties`; anything else goes through paho's own decoder;
    - hands messages straight to `on_message` when no `message_callback_add` filter exists;
    - acknowledges a burst of messages with one queued write (`ack_many`).
    It overrides three private paho methods (`_sock_recv`, `_handle_publish`,
    `_handle_on_message`) and queues through a fourth (`_packet_queue`), so requirements/*.lock
    pins paho-mqtt and tests/unit/gateway/test_mqtt_fast_receive.py checks the result against stock paho.
    """

    _READ_SIZE = 65536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_buffer = b""
        self._read_pos = 0
        self._read_sock: Any = None
        self._filtered_callbacks = False

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._filtered_callbacks = True
        super().message_callback_add(sub, callback)

    def _buffered(self) -> bool:
        return self._read_sock is self._sock and self._read_pos < len(self._read_buffer)

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self._buffered():
            data = super()._sock_recv(max(bufsize, self._READ_SIZE))
            if not data:
                return data  # the peer closed: paho handles the empty read
            self._read_buffer, self._read_pos, self._read_sock = data, 0, self._sock
        start = self._read_pos
        chunk = self._read_buffer[start : start + bufsize]
        self._read_pos = start + len(chunk)
        return chunk

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        """paho's loop_read, repeated while complete packets are still buffered (select cannot see them).

        Over TLS, a 64 KiB read takes the whole of a record (16 KiB at most), so OpenSSL holds no
        decrypted bytes back that the selector could not see either.
        """
        rc = super().loop_read(max_packets)
        while rc == mqtt.MQTT_ERR_SUCCESS and self._sock is not None and self._buffered():
            rc = super().loop_read(max_packets)
        return rc

    def ack_many(self, mids: Sequence[int]) -> mqtt.MQTTErrorCode:
        """PUBACK several QoS 1 messages (manual ack) as one queued write: one wake-up and one send, not one each."""
        if not mids or not self._manual_ack:
            return mqtt.MQTT_ERR_SUCCESS
        # The bytes paho's own ack() queues per message (PUBACK, remaining length 2, packet id).
        packet = b"".join(_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids)
        result: mqtt.MQTTErrorCode = self._packet_queue(mqtt.PUBACK, packet, mids[-1], 1)
        return result

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        header: int = self._in_packet["command"]
        packet: bytearray = self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        if self._protocol != mqtt.MQTTv5 or qos > 1 or len(packet) < 2:
            return super()._handle_publish()
        position = 2 + int.from_bytes(packet[0:2], "big")
        topic = bytes(packet[2:position])
        mid = 0
        if qos:
            mid = int.from_bytes(packet[position : position + 2], "big")
            position += 2
        if position >= len(packet) or packet[position] != 0:
            return super()._handle_publish()  # it carries properties (or is malformed): paho's own decoder
        message = ReceivedMessage(
            mid=mid,
            topic=topic,
            payload=bytes(packet[position + 1 :]),
            qos=qos,
            dup=bool(header & 0x08),
            retain=bool(header & 0x01),
        )
        self._handle_on_message(message)
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return mqtt.MQTT_ERR_SUCCESS

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        if self._filtered_callbacks:
            super()._handle_on_message(message)
            return
        with self._callback_mutex:
            on_message = self.on_message
        if on_message is None:
            return
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise


class MqttTls(TypedDict):
    """What a client's TLS needs beyond the mqtts:// scheme: the CA to verify the broker with, and a
    certificate of its own for a broker that asks for one (`require_certificate true`)."""

    ca_file: str | None
    client_cert: tuple[str, str] | None


def mqtt_tls(settings: BaseProcessSettings) -> MqttTls:
    """The process's MQTT TLS files (MQTT_CA_FILE, MQTT_CLIENT_CERT + MQTT_CLIENT_KEY)."""
    cert, key = settings.mqtt_client_cert, settings.mqtt_client_key
    return MqttTls(
        ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
        client_cert=(str(cert), str(key)) if cert and key else None,
    )


def new_paho_client(
    *,
    client_id: str,
    tls: bool,
    username: str | None,
    password: str | None,
    ca_file: str | None,
    client_cert: tuple[str, str] | None = None,
    manual_ack: bool = True,
    reconnect_on_failure: bool = True,
) -> FastReceiveClient:
    """A paho v2-API, MQTT v5 client with the platform's credentials and TLS policy, queueing nothing offline."""
    client = FastReceiveClient(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
        reconnect_on_failure=reconnect_on_failure,
    )
    if username:
        client.username_pw_set(username, password)
    if tls:
        # The broker's certificate and host name are always verified (paho's tls_insecure stays off):
        # against ca_file (MQTT_CA_FILE) or the system store. No setting turns that off.
        certfile, keyfile = client_cert or (None, None)
        client.tls_set(ca_certs=ca_file, certfile=certfile, keyfile=keyfile, cert_reqs=ssl.CERT_REQUIRED)
    client.max_queued_messages_set(0)
    return client


def connect_properties(*, session_expiry_s: int | None, receive_maximum: int) -> Properties:
    """CONNECT properties: how long the broker keeps the session (None: not past the connection) and
    how many unacknowledged messages it may send at once."""
    properties = Properties(PacketTypes.CONNECT)
    if session_expiry_s is not None:
        properties.SessionExpiryInterval = session_expiry_s
    properties.ReceiveMaximum = receive_maximum
    return properties


class MqttSession:
    """One MQTT v5 client session on the event loop: subscribe, ack manually, publish with acks."""

    def __init__(
        self,
        *,
        url: str,
        client_id: str,
        subscriptions: list[str] | None = None,
        on_message: Callable[[mqtt.MQTTMessage], None] | None = None,
        persistent: bool = True,
        session_expiry_s: int = 7 * 24 * 3600,
        receive_maximum: int = 1000,
        username: str | None = None,
        password: str | None = None,
        manual_ack: bool = True,
        keepalive: int = 30,
        ca_file: str | None = None,
        client_cert: tuple[str, str] | None = None,
        max_reconnect_delay: float = 10.0,
    ) -> None:
        self.endpoint = parse_mqtt_url(url)
        self._max_reconnect_delay = max_reconnect_delay
        self.client_id = client_id
        self._subscriptions = subscriptions or []
        self._on_message = on_message
        self._persistent = persistent
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self._keepalive = keepalive
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending_publishes: dict[int, asyncio.Future[None]] = {}
        self._acks: list[int] = []
        self._ack_flush_scheduled = False
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()
        # The broker's reasons when it refused a subscription (an ACL, a bad filter): readiness says them.
        self.subscription_refused: str | None = None
        self.connections = 0
        self.client = new_paho_client(
            client_id=client_id,
            tls=self.endpoint.tls,
            username=username,
            password=password,
            ca_file=ca_file,
            client_cert=client_cert,
            manual_ack=manual_ack,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_message = self._handle_message
        self.client.on_subscribe = self._handle_subscribe
        self.client.on_publish = self._handle_publish
        self.client.on_socket_open = self._socket_opened
        self.client.on_socket_close = self._socket_closed
        self.client.on_socket_register_write = self._socket_wants_write
        self.client.on_socket_unregister_write = self._socket_written
        self._loop_thread: int | None = None
        self._fd: int | None = None  # the socket the event loop watches
        self._disconnected = asyncio.Event()
        self._connector: asyncio.Task[None] | None = None
        self._stopping = False

    # ---- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, retrying with backoff in the background for as long as the session runs."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        properties = connect_properties(
            session_expiry_s=self._session_expiry_s if self._persistent else None,
            receive_maximum=self._receive_maximum,
        )
        self.client.connect_async(
            self.endpoint.host,
            self.endpoint.port,
            keepalive=self._keepalive,
            clean_start=not self._persistent,
            properties=properties,
        )
        self._connector = asyncio.create_task(
            self._stay_connected(max_delay=self._max_reconnect_delay), name=f"mqtt-{self.client_id}"
        )

    async def _stay_connected(self, max_delay: float, min_delay: float = 1.0) -> None:
        """(Re)connect whenever the socket is gone, with backoff: what paho's own network thread would do."""
        delay = min(min_delay, max_delay)
        while not self._stopping:
            self._disconnected.clear()
            connections = self.connections
            try:
                # Only the TCP connect and the TLS handshake block; paho then hands the socket to the loop.
                await asyncio.to_thread(self.client.reconnect)
            except Exception as exc:  # whatever it was, a session never stops trying (OSError is the usual)
                log.warning(
                    "MQTT %s: cannot connect to %s:%s: %r", self.client_id, self.endpoint.host, self.endpoint.port, exc
                )
            else:
                await self._housekeep_until_disconnected()
            if self._stopping:
                return
            if self.connections > connections:
                delay = min(min_delay, max_delay)  # it was up: a fresh failure, not a broker refusing us
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)

    async def _housekeep_until_disconnected(self) -> None:
        """Keepalive pings and the dead-broker check (paho's loop_misc), once a second while connected."""
        while not self._disconnected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._disconnected.wait(), 1.0)
            if not self._disconnected.is_set():
                self.client.loop_misc()

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until connected and, when there are subscriptions, subscribed."""
        await asyncio.wait_for(self.connected.wait(), timeout)
        if self._subscriptions:
            await asyncio.wait_for(self.subscribed.wait(), timeout)

    async def stop(self, timeout: float = 2.0) -> None:
        """Disconnect cleanly; the broker keeps a persistent session for the next start."""
        self._stopping = True
        if self._ack_flush_scheduled:
            self._flush_acks()  # what was acked goes out before the DISCONNECT, not redelivered next time
        if self.client.socket() is not None:
            self.client.disconnect()
            self.client.loop_write()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._disconnected.wait(), timeout)
        await cancel_and_wait(self._connector)
        if self.client.socket() is not None:  # the broker never saw the DISCONNECT through: just close
            self.client._sock_close()  # paho has no public close that skips the DISCONNECT
        for future in self._pending_publishes.values():
            if not future.done():
                future.set_exception(ConnectionError("MQTT session stopped"))

    # ---- operations ---------------------------------------------------------------------------

    def ack(self, message: mqtt.MQTTMessage) -> None:
        """Acknowledge a received QoS 1 message (only once its effect is durable).

        On the event loop, acks made in one loop iteration leave together (one queued write
        and one wake-up of paho's thread instead of one each), later in the same iteration.
        """
        if message.qos != 1 or self._loop is None:
            if message.qos > 0:
                self.client.ack(message.mid, message.qos)
            return
        self._acks.append(message.mid)
        if not self._ack_flush_scheduled:
            self._ack_flush_scheduled = True
            self._loop.call_soon(self._flush_acks)

    def _flush_acks(self) -> None:
        self._ack_flush_scheduled = False
        mids, self._acks = self._acks, []
        if not self.connected.is_set():
            # Acks for a lost connection die with it (paho's reconnect() clears its queue anyway), and
            # queued now they could reach a new socket ahead of its CONNECT. The broker redelivers.
            return
        self.client.ack_many(mids)
        self.client.loop_write()  # now, rather than after another trip through the selector

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, timeout: float = 10.0) -> None:
        """Publish and wait for the broker's PUBACK (QoS 1) or the write (QoS 0)."""
        assert self._loop is not None, "start() first"
        future: asyncio.Future[None] = self._loop.create_future()
        info = self.client.publish(topic, payload, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"MQTT publish failed: {mqtt.error_string(info.rc)}")
        if qos == 0:
            return
        self._pending_publishes[info.mid] = future
        if info.is_published():
            self._resolve_publish(info.mid)
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            self._pending_publishes.pop(info.mid, None)

    # ---- paho's socket, watched by the event loop ---------------------------------------------
    # paho calls these from the loop, except while reconnect() runs in its worker thread.

    def _on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            callback(*args)
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)

    def _socket_opened(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._watch, sock.fileno())

    def _socket_closed(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # The fd is taken now: paho closes the socket as soon as this returns.
        self._on_loop(self._unwatch, sock.fileno())

    def _socket_wants_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._watch_writes, sock.fileno())

    def _socket_written(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._unwatch_writes, sock.fileno())

    def _watch(self, fd: int) -> None:
        assert self._loop is not None
        if self._stopping:
            # A reconnect() that was already under way in its thread when stop() came: leave at once.
            self.client._sock_close()
            return
        self._fd = fd
        self._loop.add_reader(fd, self.client.loop_read)

    def _unwatch(self, fd: int) -> None:
        assert self._loop is not None
        self._loop.remove_reader(fd)
        self._loop.remove_writer(fd)
        if fd == self._fd:
            self._fd = None
            self._disconnected.set()

    def _watch_writes(self, fd: int) -> None:
        assert self._loop is not None
        if fd == self._fd:  # not a socket closed in between
            self._loop.add_writer(fd, self.client.loop_write)

    def _unwatch_writes(self, fd: int) -> None:
        assert self._loop is not None
        self._loop.remove_writer(fd)

    # ---- paho callbacks (on the event loop) ------------------------------------------------------

    def _handle_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT %s: connection refused: %s", self.client_id, reason)
            return
        self.connections += 1
        if self._subscriptions:
            client.subscribe([(topic, SubscribeOptions(qos=SUBSCRIBE_QOS)) for topic in self._subscriptions])
        self._on_loop(self.connected.set)

    def _handle_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        log.warning("MQTT %s disconnected: %s", self.client_id, reason)
        self._on_loop(self.connected.clear)
        self._on_loop(self.subscribed.clear)

    def _handle_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], properties: Any
    ) -> None:
        # Every filter is asked for at QoS 1; a broker granting QoS 0 (`max_qos 0`) would drop what arrives
        # while we are away and never redeliver it: for an alarm lane that is a refusal too.
        failed = [
            f"{topic}: {reason}" if reason.is_failure else f"{topic}: granted QoS {reason.value}, not {SUBSCRIBE_QOS}"
            for topic, reason in zip(self._subscriptions, reasons, strict=False)
            if reason.is_failure or reason.value < SUBSCRIBE_QOS
        ]
        if failed:
            log.error("MQTT %s: subscription refused: %s", self.client_id, failed)
            self._on_loop(self._refused, "; ".join(failed))
            return
        self._on_loop(self._granted)

    def _refused(self, reasons: str) -> None:
        self.subscription_refused = reasons
        self.subscribed.clear()

    def _granted(self) -> None:
        self.subscription_refused = None
        self.subscribed.set()

    def _handle_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._on_message is not None:
            self._on_message(message)

    def _handle_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
    ) -> None:
        self._on_loop(self._resolve_publish, mid)

    def _resolve_publish(self, mid: int) -> None:
        future = self._pending_publishes.get(mid)
        if future is not None and not future.done():
            future.set_result(None)
