"""TCP proxies the fault tests can cut: the server behind them stays up, only the link dies.

Every Kafka client reaches each broker through its own proxy (the brokers advertise the
proxies' ports and replicate over an internal listener that bypasses them), and dispatch
reaches PostgreSQL through one. Two kinds of outage:

- `cut()` resets every open connection and refuses new ones (a host that is gone, or a
  firewall that rejects): clients learn at once;
- `blackhole()` keeps every connection open and accepts new ones but forwards nothing
  (a dead link or a firewall that drops): clients learn only from their own timeouts.
  What was sent meanwhile waits in the proxy and goes through once the link returns, as
  TCP's retransmissions would deliver it after a short partition.

`restore()` ends either. To the clients it is a network outage while the server stays
whole, which a server's restart would not be: that one the suite stages separately.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any


class TcpProxy:
    """Forwards 127.0.0.1:`listen_port` to 127.0.0.1:`target_port` until cut."""

    def __init__(self, *, listen_port: int, target_port: int) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.connections = 0

    @property
    def is_cut(self) -> bool:
        return self._server is None

    async def start(self) -> None:
        """Listen (again)."""
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.listen_port, reuse_address=True)

    @property
    def is_blackholed(self) -> bool:
        return not self._flowing.is_set()

    async def restore(self) -> None:
        """End an outage: accept connections again, forward what waited."""
        self._flowing.set()
        await self.start()

    async def blackhole(self) -> None:
        """Start a silent outage: connections stay open (new ones are accepted) and nothing goes through."""
        self._flowing.clear()

    async def cut(self) -> None:
        """Start an outage: stop listening and reset every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            transport = writer.transport
            if not transport.is_closing():
                transport.abort()  # a reset, as when a broker host vanishes
        self._writers.clear()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        self._pipes.clear()

    async def stop(self) -> None:
        self._flowing.set()  # nothing left waiting for a link that will not return
        await self.cut()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        await self._flowing.wait()  # accepted by the kernel; the handshake waits for the link
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self.connections += 1
        self._writers.update((client_writer, upstream_writer))
        for reader, writer in ((client_reader, upstream_writer), (upstream_reader, client_writer)):
            task = asyncio.create_task(self._pipe(reader, writer))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            # A peer hanging up (or the proxy being cut) ends the pipe; both are expected here.
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    await self._flowing.wait()
                    writer.write(data)
                    await writer.drain()
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


class ProxyThread:
    """A `TcpProxy` on an event loop of its own, so a busy or blocked test loop never stalls the traffic."""

    def __init__(self, *, listen_port: int, target_port: int) -> None:
        self.proxy = TcpProxy(listen_port=listen_port, target_port=target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)

    @property
    def listen_port(self) -> int:
        return self.proxy.listen_port

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def start(self) -> None:
        self._thread.start()
        self._run(self.proxy.start())

    def cut(self) -> None:
        self._run(self.proxy.cut())

    def restore(self) -> None:
        self._run(self.proxy.restore())

    def blackhole(self) -> None:
        self._run(self.proxy.blackhole())

    def stop(self) -> None:
        self._run(self.proxy.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


class ProxyGroup:
    """One `ProxyThread` per broker, cut and restored together."""

    def __init__(self, pairs: list[tuple[int, int]]) -> None:
        self.proxies = [ProxyThread(listen_port=listen, target_port=target) for listen, target in pairs]

    @property
    def is_cut(self) -> bool:
        return all(proxy.proxy.is_cut for proxy in self.proxies)

    def start(self) -> None:
        for proxy in self.proxies:
            proxy.start()

    def cut(self) -> None:
        for proxy in self.proxies:
            proxy.cut()

    def restore(self) -> None:
        for proxy in self.proxies:
            proxy.restore()

    def stop(self) -> None:
        for proxy in self.proxies:
            proxy.stop()
