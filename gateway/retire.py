"""Ending the persistent MQTT session of a lane this gateway process no longer runs.

Mosquitto hands each message of a shared subscription to the group's members in turn,
offline persistent sessions included: their turn waits in the session until it expires
(7 days). A gateway instance that ran both lanes and now runs one (GATEWAY_LANES=bulk
or alarms) leaves the other lane's session behind under its client id, and for the
alarm lane that session would go on taking its share of the SOS and holding them.

So a single-lane gateway resumes that session at start-up, unsubscribes it at once (no
new message is routed to it), forwards what it still holds, and ends it. Until it has
drained, the session is kept: a crash here leaves the held messages for the next try.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config import GatewaySettings
from gateway.mqtt import connect_properties, mqtt_tls, new_paho_client, parse_mqtt_url

log = logging.getLogger(__name__)

SESSION_TAKEN_OVER = 142  # MQTT v5 DISCONNECT reason: another connection with our client id


class ClientIdInUse(Exception):
    """Another live connection uses the client id: instance ids are not unique."""


@dataclass(kw_only=True, eq=False)
class LaneRetirement:
    """Finds, drains and ends one left-over session; `run()` retries until that is done."""

    settings: GatewaySettings
    client_id: str
    subscriptions: list[str]
    on_message: Callable[[mqtt.MQTTMessage], None]
    receive_maximum: int
    session_expiry_s: int = 7 * 24 * 3600
    quiet_s: float = 2.0
    drain_timeout_s: float = 120.0
    retry_s: float = 10.0
    drained: int = field(default=0, init=False)  # messages it still held, acked once handled (all attempts)
    found: bool | None = field(default=None, init=False)  # whether there was a session to end (None: not known)
    finished: asyncio.Event = field(default_factory=asyncio.Event, init=False)  # set once no such session is left
    _client: mqtt.Client | None = field(default=None, init=False)
    _received: int = field(default=0, init=False)
    _settled: int = field(default=0, init=False)
    _last_message_at: float = field(default=0.0, init=False)

    async def run(self) -> None:
        while True:
            try:
                if await self._attempt():
                    self.finished.set()
                    return
            except asyncio.CancelledError:
                raise
            except ClientIdInUse:
                log.error(
                    "MQTT client id %s is in use by another connection: GATEWAY_INSTANCE_ID must be unique per "
                    "gateway process; not touching that session",
                    self.client_id,
                )
                return
            except Exception as exc:
                log.warning("could not check for a left-over MQTT session %s (%s); retrying", self.client_id, exc)
            await asyncio.sleep(self.retry_s)

    def ack(self, message: mqtt.MQTTMessage) -> None:
        """Acknowledge a message the left-over session held (once its effect is durable)."""
        if message.qos > 0 and self._client is not None:
            self._client.ack(message.mid, message.qos)
        self._settled += 1
        self.drained += 1

    def _receive(self, message: mqtt.MQTTMessage) -> None:
        self._received += 1
        self._last_message_at = time.monotonic()
        self.on_message(message)

    def _new_client(self) -> mqtt.Client:
        return new_paho_client(
            client_id=self.client_id,
            tls=parse_mqtt_url(self.settings.mqtt_url).tls,
            username=self.settings.mqtt_username,
            password=self.settings.mqtt_password,
            **mqtt_tls(self.settings),
            reconnect_on_failure=False,  # a lost connection ends this attempt; `run()` decides
        )

    async def _attempt(self) -> bool:
        """One connection: True once the session is gone (or there was none)."""
        loop = asyncio.get_running_loop()
        connected: asyncio.Future[bool] = loop.create_future()
        unsubscribed = asyncio.Event()
        lost: asyncio.Future[Any] = loop.create_future()
        client = self._new_client()

        def settle(future: asyncio.Future[Any], value: Any) -> None:
            if not future.done():
                future.set_result(value)

        def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object) -> None:
            if reason.is_failure:
                loop.call_soon_threadsafe(settle, lost, reason)
                return
            present = bool(getattr(flags, "session_present", False))
            if present:
                client.unsubscribe(self.subscriptions)  # at once: what is routed to it until then is forwarded
            loop.call_soon_threadsafe(settle, connected, present)

        def on_disconnect(client: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
            loop.call_soon_threadsafe(settle, lost, reason)

        def on_unsubscribe(client: mqtt.Client, userdata: object, mid: int, reasons: object, props: object) -> None:
            loop.call_soon_threadsafe(unsubscribed.set)

        def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            loop.call_soon_threadsafe(self._receive, message)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_unsubscribe = on_unsubscribe
        client.on_message = on_message

        # Kept until drained.
        properties = connect_properties(session_expiry_s=self.session_expiry_s, receive_maximum=self.receive_maximum)
        endpoint = parse_mqtt_url(self.settings.mqtt_url)
        self._client = client
        self._received = self._settled = 0
        self._last_message_at = time.monotonic()
        connecting = asyncio.ensure_future(
            asyncio.to_thread(
                client.connect, endpoint.host, endpoint.port, keepalive=30, clean_start=False, properties=properties
            )
        )
        try:
            await asyncio.shield(connecting)
        except asyncio.CancelledError:
            # The thread connects anyway (paho's 5 s timeout at most): do not leave that connection behind.
            with contextlib.suppress(Exception):
                await connecting
            client.disconnect()
            raise
        client.loop_start()
        finished = False
        try:
            waiters: set[asyncio.Future[Any]] = {connected, lost}
            await asyncio.wait(waiters, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            if not connected.done():
                raise ConnectionError(f"no session: {lost.result() if lost.done() else 'no CONNACK in 10 s'}")
            self.found = connected.result()
            if self.found:
                log.warning(
                    "MQTT session %s is left over from when this instance ran that lane (GATEWAY_LANES=%s now): "
                    "unsubscribed it, forwarding what it holds, then ending it",
                    self.client_id,
                    self.settings.lanes,
                )
                await asyncio.wait_for(unsubscribed.wait(), 10)
                if not await self._wait_drained(lost):
                    return False
            finished = True
            return True
        finally:
            await self._disconnect(client, end_session=finished)
            if finished and self.found:
                log.info("ended left-over MQTT session %s; it held %d messages", self.client_id, self.drained)
            if lost.done() and getattr(lost.result(), "value", None) == SESSION_TAKEN_OVER:
                raise ClientIdInUse(self.client_id)

    async def _wait_drained(self, lost: asyncio.Future[Any]) -> bool:
        """Wait until everything the session handed over is acknowledged and nothing more comes."""
        deadline = time.monotonic() + self.drain_timeout_s
        while not lost.done():
            now = time.monotonic()
            if self._settled >= self._received and now - self._last_message_at >= self.quiet_s:
                return True
            if now > deadline:
                log.warning(
                    "left-over MQTT session %s: %d of %d messages not forwarded after %.0f s; trying again later",
                    self.client_id,
                    self._received - self._settled,
                    self._received,
                    self.drain_timeout_s,
                )
                return False
            await asyncio.sleep(0.1)
        return False

    async def _disconnect(self, client: mqtt.Client, *, end_session: bool) -> None:
        properties = None
        if end_session:
            properties = Properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0  # the broker discards the session now
        client.disconnect(properties=properties)  # otherwise kept, with no subscription left once unsubscribed
        await asyncio.to_thread(client.loop_stop)
