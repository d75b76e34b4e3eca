"""Rate caps on a fake clock: the gateway's per-device bucket and the API's per-token one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from eldercare.http import TokenRateLimiter, require_roles
from eldercare.settings import ApiPrincipal, BaseProcessSettings, Role, parse_api_tokens
from gateway.ratelimit import CappedDeadLetters, DeviceRateLimiter


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


# ---- the API's per-token cap (eldercare/http.py) ----------------------------------------------


def test_token_limiter_admits_the_burst_then_says_how_long_to_wait() -> None:
    limiter = TokenRateLimiter(rate_per_s=4.0, burst=3)
    assert [limiter.acquire("t", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("t", 0.0) == pytest.approx(0.25)
    assert limiter.acquire("t", 0.25) == 0.0
    assert limiter.acquire("other", 0.25) == 0.0


def _api(rate_per_s: float, burst: int) -> FastAPI:
    app = FastAPI()
    app.state.principals = parse_api_tokens("dispatcher-token-1:dispatcher,dispatcher-token-2:dispatcher")
    app.state.rate_limiter = TokenRateLimiter(rate_per_s=rate_per_s, burst=burst)

    @app.get("/thing")
    async def thing(principal: Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER))]) -> dict[str, str]:
        return {"who": principal.name}

    return app


async def test_over_the_cap_a_token_gets_429_with_retry_after_and_other_tokens_are_unaffected() -> None:
    transport = httpx.ASGITransport(app=_api(rate_per_s=0.5, burst=5))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        first = {"Authorization": "Bearer dispatcher-token-1"}
        codes = [(await client.get("/thing", headers=first)).status_code for _ in range(5)]
        assert codes == [200] * 5
        refused = await client.get("/thing", headers=first)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "2"
        assert "too many requests" in refused.json()["detail"]
        other = await client.get("/thing", headers={"Authorization": "Bearer dispatcher-token-2"})
        assert other.status_code == 200
        # Unknown tokens are refused as unknown, not counted against anyone.
        assert (await client.get("/thing", headers={"Authorization": "Bearer nobody-at-all"})).status_code == 401


async def test_rate_zero_turns_the_api_cap_off() -> None:
    transport = httpx.ASGITransport(app=_api(rate_per_s=0, burst=1))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        headers = {"Authorization": "Bearer dispatcher-token-1"}
        codes = {(await client.get("/thing", headers=headers)).status_code for _ in range(20)}
        assert codes == {200}


def test_tls_settings_come_in_pairs_and_must_exist(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    settings = BaseProcessSettings(HTTP_TLS_CERT=str(cert), HTTP_TLS_KEY=str(key))
    assert settings.http_tls_cert == cert
    with pytest.raises(ValidationError, match="go together"):
        BaseProcessSettings(HTTP_TLS_CERT=str(cert))
    with pytest.raises(ValidationError, match="no such file"):
        BaseProcessSettings(MQTT_CA_FILE=str(tmp_path / "missing.pem"))


class RecordingPublisher:
    """Stands in for DeadLetterPublisher (no Kafka in unit tests): keeps what it was asked to write."""

    def __init__(self) -> None:
        self.letters: list[tuple[str, str]] = []

    async def publish(self, *, reason: str, detail: str, source: str, raw: bytes, key: bytes | None = None) -> None:
        self.letters.append((reason, source))


async def test_dead_letters_are_capped_per_sender_and_the_rest_counted() -> None:
    suppressed = Counter("test_capped_dead_letters_suppressed_total", "test", ["reason"], registry=CollectorRegistry())
    publisher = RecordingPublisher()
    capped = CappedDeadLetters(publisher, rate_per_s=0.001, burst=3, suppressed=suppressed)  # type: ignore[arg-type]
    written = [await capped.publish("noisy", reason="garbage", detail="", source="s", raw=b"x") for _ in range(5)]
    assert written == [True, True, True, False, False]
    assert await capped.publish("quiet", reason="garbage", detail="", source="q", raw=b"x")  # its own bucket
    assert publisher.letters == [("garbage", "s")] * 3 + [("garbage", "q")]
    assert suppressed.labels("garbage")._value.get() == 2


async def test_a_zero_rate_turns_the_dead_letter_cap_off() -> None:
    suppressed = Counter(
        "test_uncapped_dead_letters_suppressed_total", "test", ["reason"], registry=CollectorRegistry()
    )
    publisher = RecordingPublisher()
    capped = CappedDeadLetters(publisher, rate_per_s=0, burst=1, suppressed=suppressed)  # type: ignore[arg-type]
    assert all([await capped.publish("d", reason="r", detail="", source="s", raw=b"") for _ in range(50)])
    assert len(publisher.letters) == 50
