"""Per-device alarm coalescing on the alarm lane: one stuck button must not cost everyone's SOS.

The first alarm of a device and kind goes to Kafka at once. Repeats of it within the window
are acknowledged and counted instead of forwarded; when the window ends, one event carrying
the count (`Envelope.repeats`) stands for all of them, and a new window starts. A device
pressing steadily therefore costs one Kafka event and one dispatch transaction per window,
whatever it sends; every other device's alarm still goes through at once.

A repeat is acknowledged before its count is on Kafka: holding it unacknowledged would fill
the lane's in-flight window (MQTT Receive Maximum) with one device's presses, which is the
starvation this exists to prevent. The first alarm of a window keeps the full guarantee
(acked only once Kafka has it); a crash loses at most the count of one window's repeats.

Every acknowledged press gets its receipt (gateway/receipts.py), a repeat at once: the
incident it counts into is raised by the window's first alarm, whose own receipt waits for
Kafka, so its device resends that one until the platform has it. The exception is a resend
of the first alarm itself (same event id) while it is still on its way to Kafka: its receipt
would claim what is not yet true, so it gets none, and the first alarm's receipt answers it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from gateway.payloads import DeviceMessage

log = logging.getLogger(__name__)

REPARSE_EVERY = 100


@dataclass(slots=True)
class _Window:
    ends_at: float
    repeats: int = 0
    unparsed: int = 0  # repeats counted from the topic since the last one that was parsed
    latest: DeviceMessage | None = None  # the newest parsed repeat: its position and battery go out with the count
    opener: str = ""  # the device's event id of the alarm that opened the window
    opener_on_kafka: bool = False


def _key(message: DeviceMessage) -> tuple[str, str, int]:
    # A device alarm's type is part of the key: a cancel is never a repeat of a low-battery alarm.
    envelope = message.envelope
    subtype = envelope.alarm.type if envelope.WhichOneof("body") == "alarm" else 0
    return message.device_id, message.kind, subtype


class AlarmCoalescer:
    """Decides, per (device, kind), whether an alarm goes out now or is counted into the window."""

    def __init__(self, window_s: float, *, max_keys: int = 200_000) -> None:
        self.window_s = window_s
        self._max_keys = max_keys
        self._windows: dict[tuple[str, str, int], _Window] = {}

    @property
    def enabled(self) -> bool:
        return self.window_s > 0

    def admit(self, message: DeviceMessage, now: float) -> bool:
        """True: forward it now (it opens a window). False: counted as a repeat of the open window."""
        if not self.enabled:
            return True
        key = _key(message)
        window = self._windows.get(key)
        if window is None or (now >= window.ends_at and window.repeats == 0):
            if window is None and len(self._windows) >= self._max_keys:
                self._evict(now)
            self._windows[key] = _Window(ends_at=now + self.window_s, opener=message.envelope.device_event_id)
            return True
        window.repeats += 1
        window.latest = message
        return False

    def repeat_without_parsing(self, device_id: str, kind: str, now: float) -> bool:
        """True: counted as a repeat from the topic alone (an SOS or fall with its window open).

        Parsing is the costly part of a flood; the payload of a repeat only refreshes the position
        the summary carries, so one repeat in `REPARSE_EVERY` (the window's first among them) is
        still parsed and goes through `admit` instead.
        """
        if not self.enabled or kind not in ("sos", "fall"):
            return False
        window = self._windows.get((device_id, kind, 0))
        if window is None or (now >= window.ends_at and window.repeats == 0):
            return False
        window.unparsed += 1
        if window.unparsed >= REPARSE_EVERY or (window.latest is None and window.unparsed == 1):
            # Counted, but not here: `admit` counts it once it is parsed. The counter moves on at
            # once, so the rest of a burst read in the same go stays on the fast path.
            window.unparsed = 0 if window.latest is not None else 1
            return False
        window.repeats += 1
        return True

    def on_kafka(self, message: DeviceMessage) -> None:
        """The alarm that opened its window is on Kafka: a resend of it may now get a receipt at once."""
        window = self._windows.get(_key(message))
        if window is not None and window.opener == message.envelope.device_event_id:
            window.opener_on_kafka = True

    def receipt_now(self, device_id: str, kind: str, event_id: str, subtype: int = 0) -> bool:
        """Whether a repeat just counted may be receipted now (not a resend of a first alarm not yet on Kafka)."""
        window = self._windows.get((device_id, kind, subtype))
        return window is None or window.opener != event_id or window.opener_on_kafka

    def due(self, now: float) -> list[DeviceMessage]:
        """Summaries of the windows that ended with repeats (each carries `repeats`); quiet windows close."""
        summaries: list[DeviceMessage] = []
        for key, window in list(self._windows.items()):
            if now < window.ends_at:
                continue
            if window.repeats == 0:
                del self._windows[key]
                continue
            if window.latest is None:
                continue  # its first repeat is still being parsed: the count goes out with it

            latest = window.latest
            # The newest parsed repeat goes out for the whole window, standing for itself and the others.
            latest.envelope.repeats = window.repeats - 1
            summaries.append(latest)
            # The opener carries over: during a Kafka outage it can outlast many windows, and until it is
            # on Kafka its resends must still get no receipt.
            self._windows[key] = _Window(
                ends_at=now + self.window_s, opener=window.opener, opener_on_kafka=window.opener_on_kafka
            )
        return summaries

    def requeue(self, message: DeviceMessage, now: float) -> None:
        """A summary that could not be written goes back into its window, so the count is not lost."""
        key = _key(message)
        window = self._windows.setdefault(key, _Window(ends_at=now))
        window.repeats += message.envelope.repeats + 1
        message.envelope.repeats = 0
        window.latest = message

    def _evict(self, now: float) -> None:
        # Bounded memory under a flood of distinct ids: drop windows that ended without repeats first.
        for key, window in list(self._windows.items()):
            if now >= window.ends_at and window.repeats == 0:
                del self._windows[key]
        while len(self._windows) >= self._max_keys:
            self._windows.pop(next(iter(self._windows)))


async def flush_forever(
    coalescer: AlarmCoalescer,
    spawn: Callable[[Coroutine[Any, Any, None]], None],
    send: Callable[[DeviceMessage], Coroutine[Any, Any, None]],
) -> None:
    """Every quarter of a second, `send` (in a task of its own) the count of each window that ended."""
    while True:
        await asyncio.sleep(min(0.25, coalescer.window_s / 4))
        for summary in coalescer.due(time.monotonic()):
            spawn(send(summary))


async def send_summary(
    coalescer: AlarmCoalescer, summary: DeviceMessage, produce: Callable[[DeviceMessage], Awaitable[None]]
) -> bool:
    """Produce one window's count (True); one that could not be written goes back into its window, not lost."""
    try:
        await produce(summary)
    except asyncio.CancelledError:
        coalescer.requeue(summary, time.monotonic())
        raise
    except Exception:
        log.exception("could not send the count of %s repeats from %s", summary.kind, summary.device_id)
        coalescer.requeue(summary, time.monotonic())
        return False
    return True
