"""End-to-end alarm receipts: the device learns that the platform has its alarm (docs/decisions.md 41).

A broker's PUBACK only says Mosquitto holds the message; a Mosquitto crash before its next save
loses what it acknowledged. So once an alarm is on Kafka (where the alarm lane acks it to the
broker), the gateway publishes `{"type": "receipt", "event_id": …, "received_at": …}` to the
device's commands topic, QoS 1, and the device resends the alarm (same event id) until that
arrives (docs/device-contract.md).

Receipts go through a session that already publishes there (the downlink's), from a bounded
queue drained by a worker: queueing never blocks the alarm lane's ack, and a receipt that cannot
go out (queue full, broker away, no PUBACK) is counted and dropped, because the device's resend
will ask for it again.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
from datetime import datetime

import orjson
from prometheus_client import Counter

from eldercare.envelope import utcnow
from eldercare.tasks import cancel_and_wait
from gateway.mqtt import MqttSession
from gateway.payloads import TOPIC_PREFIX

log = logging.getLogger(__name__)

RECEIPTS_SENT = Counter("gateway_receipts_sent_total", "Alarm receipts the broker acknowledged (PUBACK)")
RECEIPTS_FAILED = Counter(
    "gateway_receipts_failed_total",
    "Alarm receipts not delivered to the broker (the device's resend asks again)",
    ["reason"],
)

# A device's event id as the contract allows it, found without parsing the payload (a flood's repeats
# are counted from the topic alone; see AlarmCoalescer.repeat_without_parsing).
_EVENT_ID = re.compile(rb'"event_id"\s*:\s*"([^"\\]{1,64})"')


def event_id_in(payload: bytes) -> str | None:
    """The `event_id` of a raw payload, or None; a cheap scan, not a validation."""
    match = _EVENT_ID.search(payload)
    if match is None:
        return None
    try:
        return match.group(1).decode()
    except UnicodeDecodeError:
        return None


def receipt_payload(event_id: str, received_at: datetime) -> bytes:
    return orjson.dumps(
        {
            "type": "receipt",
            "event_id": event_id,
            "received_at": received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
    )


class ReceiptSender:
    """Queues receipts without waiting and publishes them, a bounded number at a time, through `session`."""

    def __init__(
        self,
        session: MqttSession,
        *,
        max_queued: int = 50_000,
        max_in_flight: int = 200,
        connect_wait_s: float = 5.0,
        puback_timeout_s: float = 10.0,
    ) -> None:
        self.session = session
        self._max_queued = max_queued
        self._connect_wait_s = connect_wait_s
        self._puback_timeout_s = puback_timeout_s
        self._queue: collections.deque[tuple[str, bytes]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._worker: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()

    def send(self, device_id: str, event_id: str, received_at: datetime | None = None) -> None:
        """Queue a receipt; never blocks. Call only once the alarm is on Kafka."""
        if not event_id:
            return  # a salvaged alarm without an id: the device cannot be waiting for it by id
        if len(self._queue) >= self._max_queued:
            RECEIPTS_FAILED.labels("queue_full").inc()
            return
        topic = f"{TOPIC_PREFIX}{device_id}/commands"
        self._queue.append((topic, receipt_payload(event_id, received_at or utcnow())))
        self._wakeup.set()

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="gateway-receipts")

    async def stop(self) -> None:
        await cancel_and_wait(self._worker)
        for task in list(self._publishing):
            task.cancel()
        if self._publishing:
            await asyncio.wait(self._publishing, timeout=2)
        if self._queue:
            RECEIPTS_FAILED.labels("stopped").inc(len(self._queue))
            self._queue.clear()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if not self.session.connected.is_set():
                try:
                    await asyncio.wait_for(self.session.connected.wait(), self._connect_wait_s)
                except TimeoutError:
                    # The broker is away: what waits is dropped rather than kept without bound; devices resend.
                    RECEIPTS_FAILED.labels("not_connected").inc(len(self._queue))
                    self._queue.clear()
                    continue
            await self._slots.acquire()
            topic, payload = self._queue.popleft()
            task = asyncio.create_task(self._publish(topic, payload))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def _publish(self, topic: str, payload: bytes) -> None:
        try:
            await self.session.publish(topic, payload, qos=1, timeout=self._puback_timeout_s)
        except asyncio.CancelledError:
            RECEIPTS_FAILED.labels("stopped").inc()
            raise
        except TimeoutError:
            RECEIPTS_FAILED.labels("no_puback").inc()
        except Exception as exc:
            RECEIPTS_FAILED.labels("publish_error").inc()
            log.debug("receipt to %s not published: %r", topic, exc)
        else:
            RECEIPTS_SENT.inc()
        finally:
            self._slots.release()
