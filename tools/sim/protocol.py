"""A minimal MQTT 3.1.1 device client on asyncio: CONNECT, QoS 1 PUBLISH/PUBACK, SUBSCRIBE, PINGREQ.

One `DeviceConnection` is one TCP connection and one broker session. It is an
asyncio Protocol (no stream objects, no task per device) with `__slots__`, so
tens of thousands of them fit in one process; see docs/decisions.md.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections.abc import Callable
from typing import cast

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 4, 8, 9, 12, 13, 14
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"


class MqttProtocolError(Exception):
    """The broker sent something this client does not understand or refused the session."""


def encode_remaining_length(length: int) -> bytes:
    """MQTT's variable-length integer."""
    out = bytearray()
    while True:
        digit, length = length % 128, length // 128
        out.append(digit | 0x80 if length else digit)
        if not length:
            return bytes(out)


def _string(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


def connect_packet(
    client_id: str, *, keepalive: int, clean_session: bool, username: str | None = None, password: str | None = None
) -> bytes:
    """CONNECT for MQTT 3.1.1 (protocol level 4); a password goes only with a username."""
    password = password if username else None
    flags = (0x02 if clean_session else 0) | (0x80 if username else 0) | (0x40 if password is not None else 0)
    body = _string(b"MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + _string(client_id.encode())
    if username:
        body += _string(username.encode())
    if password is not None:
        body += _string(password.encode())
    return bytes([CONNECT << 4]) + encode_remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int, *, dup: bool = False) -> bytes:
    """PUBLISH at QoS 1."""
    body = _string(topic.encode()) + struct.pack("!H", packet_id) + payload
    return bytes([(PUBLISH << 4) | (0x08 if dup else 0) | 0x02]) + encode_remaining_length(len(body)) + body


def subscribe_packet(topic: str, packet_id: int) -> bytes:
    """SUBSCRIBE to one filter at QoS 1."""
    body = struct.pack("!H", packet_id) + _string(topic.encode()) + b"\x01"
    return bytes([(SUBSCRIBE << 4) | 0x02]) + encode_remaining_length(len(body)) + body


def puback_packet(packet_id: int) -> bytes:
    return bytes([PUBACK << 4, 2]) + struct.pack("!H", packet_id)


def iter_packets(buffer: bytearray) -> list[tuple[int, int, bytes]]:
    """Split complete packets off the front of `buffer` as (type, flags, body); leaves the rest."""
    packets: list[tuple[int, int, bytes]] = []
    position = 0
    size = len(buffer)
    while size - position >= 2:
        multiplier, length, index = 1, 0, position + 1
        while True:
            if index >= size:
                del buffer[:position]
                return packets
            byte = buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
            if multiplier > 128**3:
                raise MqttProtocolError("malformed remaining length")
        if index + length > size:
            break
        first = buffer[position]
        packets.append((first >> 4, first & 0x0F, bytes(buffer[index : index + length])))
        position = index + length
    del buffer[:position]
    return packets


class DeviceConnection(asyncio.Protocol):
    """One device's MQTT session. `publish` returns a future resolved by the broker's PUBACK."""

    __slots__ = (
        "_buffer",
        "_connack",
        "_inflight",
        "_next_id",
        "client_id",
        "closed",
        "last_sent",
        "on_command",
        "on_lost",
        "session_present",
        "transport",
    )

    def __init__(
        self,
        client_id: str,
        on_lost: Callable[[DeviceConnection], None] | None = None,
        on_command: Callable[[bytes], None] | None = None,
    ) -> None:
        self.client_id = client_id
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._connack: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight: dict[int, tuple[asyncio.Future[None], str, bytes]] = {}
        self._next_id = 0
        self.closed = False
        self.session_present = False
        self.last_sent = 0.0
        self.on_lost = on_lost
        # Called with the payload of each message on the device's commands topic (receipts among them).
        self.on_command = on_command

    # ---- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, whichever loop made it: uvloop's are not asyncio.Transport subclasses.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            packets = iter_packets(self._buffer)
        except MqttProtocolError as exc:
            self._fail(exc)
            return
        for kind, flags, body in packets:
            if kind == PUBACK:
                entry = self._inflight.pop(struct.unpack_from("!H", body)[0], None)
                if entry is not None and not entry[0].done():
                    entry[0].set_result(None)
            elif kind == CONNACK:
                if body[1] != 0:
                    self._fail(MqttProtocolError(f"CONNACK refused with return code {body[1]}"))
                    return
                self.session_present = bool(body[0] & 0x01)
                if not self._connack.done():
                    self._connack.set_result(self.session_present)
            elif kind == PUBLISH and self.transport is not None:
                topic_length = struct.unpack_from("!H", body)[0]
                start = 2 + topic_length
                if (flags >> 1) & 0x03 == 1:
                    # A command for the device at QoS 1: acknowledge so the broker does not resend it.
                    self.transport.write(puback_packet(struct.unpack_from("!H", body, start)[0]))
                    start += 2
                if self.on_command is not None:
                    self.on_command(body[start:])

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        error = exc or ConnectionError("connection closed")
        if not self._connack.done():
            self._connack.set_exception(error)
        for future, _, _ in self._inflight.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost before PUBACK"))
        self._inflight.clear()
        if self.on_lost is not None:
            self.on_lost(self)

    # ---- operations ------------------------------------------------------------------------

    async def handshake(
        self,
        *,
        keepalive: int,
        clean_session: bool,
        timeout: float = 30.0,
        username: str | None = None,
        password: str | None = None,
    ) -> bool:
        """Send CONNECT and wait for CONNACK; returns whether the broker kept a session."""
        assert self.transport is not None
        self.transport.write(
            connect_packet(
                self.client_id, keepalive=keepalive, clean_session=clean_session, username=username, password=password
            )
        )
        return await asyncio.wait_for(self._connack, timeout)

    def publish(self, topic: str, payload: bytes, now: float) -> asyncio.Future[None]:
        """Send a QoS 1 PUBLISH; the future completes on PUBACK or fails if the connection drops."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.closed or self.transport is None:
            future.set_exception(ConnectionError("not connected"))
            return future
        self._next_id = self._next_id % 65535 + 1
        self._inflight[self._next_id] = (future, topic, payload)
        self.transport.write(publish_packet(topic, payload, self._next_id))
        self.last_sent = now
        return future

    def subscribe(self, topic: str) -> None:
        """Ask for `topic` at QoS 1; the SUBACK is not waited for (what arrives before it is not lost: QoS 1)."""
        if not self.closed and self.transport is not None:
            self._next_id = self._next_id % 65535 + 1
            self.transport.write(subscribe_packet(topic, self._next_id))

    def ping(self, now: float) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(PINGREQ_PACKET)
            self.last_sent = now

    def close(self, *, graceful: bool = True) -> None:
        """DISCONNECT (graceful) or just drop the socket (as a dying battery or broker restart would)."""
        if self.transport is not None and not self.closed:
            if graceful:
                self.transport.write(DISCONNECT_PACKET)
            self.transport.close()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def _fail(self, exc: Exception) -> None:
        if not self._connack.done():
            self._connack.set_exception(exc)
        if self.transport is not None:
            self.transport.close()


async def open_device(
    host: str,
    port: int,
    client_id: str,
    *,
    keepalive: int = 300,
    clean_session: bool = False,
    on_lost: Callable[[DeviceConnection], None] | None = None,
    timeout: float = 30.0,
    commands_topic: str | None = None,
    on_command: Callable[[bytes], None] | None = None,
    tls: ssl.SSLContext | None = None,
    username: str | None = None,
    password: str | None = None,
) -> DeviceConnection:
    """Open a TCP (or, with `tls`, TLS) connection and an MQTT session for one device, subscribed to
    `commands_topic` if given. A TLS connection verifies the broker's certificate for `host`."""
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(
            lambda: DeviceConnection(client_id, on_lost, on_command),
            host,
            port,
            ssl=tls,
            server_hostname=host if tls is not None else None,
        ),
        timeout,
    )
    try:
        await protocol.handshake(
            keepalive=keepalive, clean_session=clean_session, timeout=timeout, username=username, password=password
        )
    except BaseException:
        protocol.close(graceful=False)
        raise
    if commands_topic is not None:
        # Every time, not only without a session: a broker restarted from an old save may have lost it.
        protocol.subscribe(commands_topic)
    return protocol
