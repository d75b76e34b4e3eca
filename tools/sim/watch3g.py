"""A minimal "3G*" watch on asyncio, for the fleet simulator: frames out, replies and commands in.

One `WatchConnection` is one watch's TCP connection to the watch adapter, with the same
surface as the MQTT `DeviceConnection` (publish -> future, ping, close), so the fleet drives
either. It is a Protocol with `__slots__` and no task of its own, so thousands fit in one
process. Written from the protocol, not from the adapter's code, so that the bench would
notice an adapter that drifted from what watches send.

A frame that expects a reply (LK, AL) carries a sequence field; the adapter echoes it, which
is how a reply finds its frame. `publish`'s future resolves on that reply (for AL: the adapter
has the alarm on Kafka) or, for frames the protocol does not answer (UD, vitals), once written.
Commands from the platform (CR, MESSAGE, ...) are echoed back, as a watch acknowledges them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import cast

# Replies the adapter sends to what a watch sends; anything else arriving is a command to echo.
REPLIES = frozenset({"LK", "AL", "TKQ", "TKQ2", "INIT", "TK", "JXTKR"})
HELLO_SEQ = "FFFF"  # the LK a watch sends on connecting; its reply is the "connected" signal
MAX_BUFFER = 64 * 1024


def frame(vendor: str, device_id: str, content: str, seq: str | None = None) -> bytes:
    """`[VV*ID*SEQ*LLLL*CONTENT]`: the length is CONTENT's byte count in four hex digits."""
    body = content.encode()
    header = f"[{vendor}*{device_id}*" + (f"{seq}*" if seq is not None else "")
    return f"{header}{len(body):04X}*".encode() + body + b"]"


def split_frames(buffer: bytearray) -> list[bytes]:
    """Whole frames off the front of `buffer` (where brackets balance); the rest stays."""
    frames: list[bytes] = []
    depth = 0
    start = None
    consumed = 0
    for index, byte in enumerate(buffer):
        if byte == 0x5B:  # [
            if depth == 0:
                start = index
            depth += 1
        elif byte == 0x5D and depth:  # ]
            depth -= 1
            if depth == 0 and start is not None:
                frames.append(bytes(buffer[start : index + 1]))
                consumed = index + 1
    del buffer[:consumed]
    return frames


def header_of(raw: bytes) -> tuple[str, str | None, str]:
    """(vendor, sequence field or None, content type) of a frame from the adapter."""
    parts = raw[1:-1].decode("utf-8", "replace").split("*", 4)
    if len(parts) == 5:  # VV*ID*SEQ*LLLL*CONTENT
        vendor, _, seq, _, content = parts
    elif len(parts) == 4:
        vendor, _, _, content = parts
        seq = None
    else:
        raise ValueError(f"not a frame: {raw[:40]!r}")
    return vendor, seq, content.split(",", 1)[0]


class WatchConnection(asyncio.Protocol):
    """One watch's connection. `publish(key, frame)`: `key` is the reply awaited ("AL*0001"), or ""."""

    __slots__ = (
        "_buffer",
        "_hello",
        "_inflight",
        "closed",
        "commands_echoed",
        "device_id",
        "last_sent",
        "on_lost",
        "transport",
        "vendor",
    )

    def __init__(
        self, device_id: str, vendor: str = "3G", on_lost: Callable[[WatchConnection], None] | None = None
    ) -> None:
        self.device_id = device_id
        self.vendor = vendor
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._hello: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        # Reply key -> the sends waiting for it (a resend on the same connection waits for the same reply).
        self._inflight: dict[str, list[asyncio.Future[None]]] = {}
        self.closed = False
        self.last_sent = 0.0
        self.commands_echoed = 0
        self.on_lost = on_lost

    # ---- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > MAX_BUFFER:
            self._fail(ConnectionError("no frame end from the adapter within 64 KiB"))
            return
        for raw in split_frames(self._buffer):
            try:
                _, seq, kind = header_of(raw)
            except ValueError as exc:
                self._fail(exc)
                return
            if kind == "LK" and seq == HELLO_SEQ:
                if not self._hello.done():
                    self._hello.set_result(True)
                continue
            waiting = self._inflight.pop(f"{kind}*{seq}", None)
            if waiting is not None:
                for future in waiting:
                    if not future.done():
                        future.set_result(None)
            elif kind not in REPLIES and self.transport is not None:
                # A command (CR, MESSAGE, CALL, ...): the watch's echo of its type is the ack.
                self.transport.write(frame(self.vendor, self.device_id, kind, seq))
                self.commands_echoed += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        error = exc or ConnectionError("connection closed")
        if not self._hello.done():
            self._hello.set_exception(error)
        for waiting in self._inflight.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(ConnectionError("connection lost before the reply"))
        self._inflight.clear()
        if self.on_lost is not None:
            self.on_lost(self)

    # ---- operations ------------------------------------------------------------------------

    async def hello(self, timeout: float = 30.0) -> None:
        """LK on connecting, as watches do; the adapter knows the watch once it has answered."""
        assert self.transport is not None
        self.transport.write(frame(self.vendor, self.device_id, "LK", HELLO_SEQ))
        self.last_sent = time.monotonic()
        await asyncio.wait_for(self._hello, timeout)

    def publish(self, key: str, payload: bytes, now: float) -> asyncio.Future[None]:
        """Send one frame; the future completes on the reply `key` names (at once when it is "")."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.closed or self.transport is None:
            future.set_exception(ConnectionError("not connected"))
            return future
        if key:
            self._inflight.setdefault(key, []).append(future)
        self.transport.write(payload)
        self.last_sent = now
        if not key:
            future.set_result(None)
        return future

    def ping(self, now: float) -> None:
        """A bare LK keeps the connection inside the adapter's idle timeout (its reply needs no match)."""
        if not self.closed and self.transport is not None:
            self.transport.write(frame(self.vendor, self.device_id, "LK"))
            self.last_sent = now

    def close(self, *, graceful: bool = True) -> None:
        """The protocol has no goodbye: a watch just drops its connection."""
        if self.transport is not None and not self.closed:
            self.transport.close()

    @property
    def inflight(self) -> int:
        return sum(len(waiting) for waiting in self._inflight.values())

    def _fail(self, exc: Exception) -> None:
        if not self._hello.done():
            self._hello.set_exception(exc)
        if self.transport is not None:
            self.transport.close()


async def open_watch(
    host: str,
    port: int,
    device_id: str,
    *,
    on_lost: Callable[[WatchConnection], None] | None = None,
    timeout: float = 30.0,
) -> WatchConnection:
    """Connect one watch and wait for the adapter's answer to its first LK."""
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: WatchConnection(device_id, on_lost=on_lost), host, port), timeout
    )
    try:
        await protocol.hello(timeout)
    except BaseException:
        protocol.close(graceful=False)
        raise
    return protocol


# ---- the fleet's events as 3G* frame contents ------------------------------------------------------------


def _coordinate(value: float, positive: str, negative: str) -> str:
    return f"{abs(value):.6f},{positive if value >= 0 else negative}"


def position(lat: float, lon: float, *, battery: int, status: int, speed_kmh: float = 0.0, steps: int = 0) -> str:
    """A position body (UD, AL): device time now in UTC, a satellite fix, one cell, no Wi-Fi."""
    stamp = time.strftime("%d%m%y,%H%M%S", time.gmtime())
    return (
        f"{stamp},A,{_coordinate(lat, 'N', 'S')},{_coordinate(lon, 'E', 'W')},{speed_kmh:.1f},0.0,30,8,80,"
        f"{battery},{steps},0,{status:08X},1,1,460,0,9360,4082,131,0"
    )


# Status word bits of AL frames.
SOS_BIT, FALL_BIT, LOW_BATTERY_BIT = 1 << 16, 1 << 21, 1
