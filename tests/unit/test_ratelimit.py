"""The gateway's per-device token bucket (gateway/ratelimit.py), on a fake clock."""

from __future__ import annotations

import pytest

from gateway.ratelimit import DeviceRateLimiter


def take(limiter: DeviceRateLimiter, device: str, count: int, now: float) -> int:
    return sum(limiter.allow(device, now) for _ in range(count))


def test_a_fresh_device_gets_its_burst_then_is_capped() -> None:
    limiter = DeviceRateLimiter(rate_per_s=2.0, burst=10)
    assert take(limiter, "spammer", 25, now=0.0) == 10


def test_tokens_refill_at_the_configured_rate_up_to_the_burst() -> None:
    limiter = DeviceRateLimiter(rate_per_s=2.0, burst=10)
    take(limiter, "d", 10, now=0.0)
    assert take(limiter, "d", 10, now=1.5) == 3  # 1.5 s x 2/s
    assert take(limiter, "d", 50, now=1000.0) == 10  # never more than the burst


def test_a_spamming_device_does_not_use_up_another_devices_budget() -> None:
    limiter = DeviceRateLimiter(rate_per_s=1.0, burst=5)
    assert take(limiter, "stuck", 10_000, now=0.0) == 5
    assert take(limiter, "quiet", 5, now=0.0) == 5


def test_sustained_spam_is_held_to_the_rate() -> None:
    limiter = DeviceRateLimiter(rate_per_s=2.0, burst=4)
    allowed = 0
    for tick in range(1000):  # 100 messages per second for 10 seconds
        allowed += limiter.allow("stuck", tick / 100)
    assert 23 <= allowed <= 24  # the burst plus ~10 s x 2/s, instead of 1000


def test_rate_zero_disables_the_cap() -> None:
    limiter = DeviceRateLimiter(rate_per_s=0, burst=1)
    assert not limiter.enabled
    assert take(limiter, "d", 1000, now=0.0) == 1000
    assert len(limiter) == 0


def test_memory_is_bounded_by_forgetting_the_least_recently_seen_device() -> None:
    limiter = DeviceRateLimiter(rate_per_s=1.0, burst=1, max_devices=3)
    for device in ("a", "b", "c"):
        assert limiter.allow(device, 0.0)
    assert limiter.allow("a", 0.0) is False  # 'a' is now the most recent
    assert limiter.allow("d", 0.0)  # evicts 'b'
    assert len(limiter) == 3
    assert limiter.allow("b", 0.0)  # forgotten: a full bucket again
    assert limiter.allow("a", 0.0) is False  # still remembered and still empty


def test_a_clock_going_backwards_never_adds_tokens() -> None:
    limiter = DeviceRateLimiter(rate_per_s=10.0, burst=2)
    take(limiter, "d", 2, now=100.0)
    assert take(limiter, "d", 5, now=50.0) == 0


@pytest.mark.parametrize(("rate", "burst", "devices"), [(-1.0, 1, 1), (1.0, 0, 1), (1.0, 1, 0)])
def test_nonsense_settings_are_refused(rate: float, burst: int, devices: int) -> None:
    with pytest.raises(ValueError):
        DeviceRateLimiter(rate_per_s=rate, burst=burst, max_devices=devices)
