"""Per-device message-rate cap: a stuck device spamming telemetry cannot starve the others.

A token bucket per device: `burst` messages at once, refilled at `rate_per_s`. The
burst is generous on purpose — a device that was offline, or a backlog the broker
kept for the gateway during a Kafka outage, arrives all at once and is legitimate;
what the cap stops is a device that keeps sending far above any real schedule.
Alarms (SOS, fall) never go through it: the caller only asks for telemetry.

Memory is bounded: the least recently seen devices are forgotten past `max_devices`
(a forgotten device simply starts again with a full bucket).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import Counter

    from eldercare.kafka import DeadLetterPublisher
    from gateway.config import DeadLetterCapSettings


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class DeviceRateLimiter:
    """Token bucket per device id; `allow` is O(1) and never blocks."""

    def __init__(self, *, rate_per_s: float, burst: int, max_devices: int = 200_000) -> None:
        if rate_per_s < 0 or burst < 1 or max_devices < 1:
            raise ValueError("rate_per_s must be >= 0, burst and max_devices >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_devices = max_devices
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, device_id: str, now: float) -> bool:
        """Take one token for this device at monotonic time `now`; False when it is over its cap."""
        # Runs for every telemetry message: builtins and attribute lookups kept out of the common path.
        rate = self.rate_per_s
        if rate <= 0:
            return True
        buckets = self._buckets
        bucket = buckets.get(device_id)
        if bucket is None:
            bucket = buckets[device_id] = _Bucket(tokens=float(self.burst), updated=now)
            if len(buckets) > self.max_devices:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(device_id)
            elapsed = now - bucket.updated
            if elapsed > 0:
                tokens = bucket.tokens + elapsed * rate
                bucket.tokens = tokens if tokens < self.burst else float(self.burst)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True
        return False


class CappedDeadLetters:
    """Dead letters with a per-sender cap (GATEWAY_DEADLETTER_RATE_PER_S / _BURST), for every ingress.

    A device sending garbage gets its first rejections written and the rest counted in
    `suppressed`, so one faulty firmware cannot turn into a Kafka write per message.
    """

    def __init__(self, publisher: DeadLetterPublisher, *, rate_per_s: float, burst: int, suppressed: Counter) -> None:
        self.publisher = publisher
        self.limiter = DeviceRateLimiter(rate_per_s=rate_per_s, burst=burst)
        self.suppressed = suppressed

    @classmethod
    def configured(
        cls, publisher: DeadLetterPublisher, settings: DeadLetterCapSettings, suppressed: Counter
    ) -> CappedDeadLetters:
        """Capped as the process's settings say (GATEWAY_DEADLETTER_RATE_PER_S / _BURST)."""
        return cls(
            publisher, rate_per_s=settings.deadletter_rate_per_s, burst=settings.deadletter_burst, suppressed=suppressed
        )

    def admit(self, sender: str, reason: str) -> bool:
        """Whether this sender's rejection is written; one over its cap is counted instead."""
        if self.limiter.enabled and not self.limiter.allow(sender, time.monotonic()):
            self.suppressed.labels(reason).inc()
            return False
        return True

    async def publish(self, sender: str, *, reason: str, detail: str, source: str, raw: bytes) -> bool:
        """Write the letter unless the sender is over its cap; returns whether it was written."""
        if not self.admit(sender, reason):
            return False
        await self.publisher.publish(reason=reason, detail=detail, source=source, raw=raw)
        return True
