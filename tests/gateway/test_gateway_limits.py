"""The per-device telemetry cap through the real broker and gateway: a spamming device is capped, nobody else is."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests import infra
from tests.platform import Platform, eventually, new_device_id, own_platform

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def capped(tmp_path_factory: pytest.TempPathFactory, databases: infra.DatabaseFactory) -> AsyncIterator[Platform]:
    """Gateway and dispatch on brokers of their own, with a tight per-device cap."""
    async with own_platform(
        tmp_path_factory.mktemp("capped"),
        databases,
        services=("gateway", "dispatch"),
        # Every rate-limited report's dead letter is counted below, so the per-device cap on dead
        # letters (tested by test_alarm_flood) is off here.
        env={
            "GATEWAY_DEVICE_RATE_PER_S": "0.01",
            "GATEWAY_DEVICE_BURST": "5",
            "GATEWAY_DEADLETTER_RATE_PER_S": "0",
        },
    ) as platform:
        yield platform


async def test_a_spamming_device_is_capped_but_its_sos_and_other_devices_are_not(capped: Platform) -> None:
    spammer, neighbour = new_device_id(), new_device_id()
    for index in range(30):
        await capped.publish(
            spammer, "location", {"event_id": f"loc-{index}", "ts": 1795473651961, "lat": 31.9, "lon": 118.7}
        )
    await capped.publish(spammer, "sos", {"event_id": "help", "ts": "2026-11-22T08:15:00Z"})
    await capped.publish(neighbour, "location", {"event_id": "n1", "ts": 1795473651961, "lat": 31.9, "lon": 118.7})

    incidents = await eventually(lambda: capped.incidents_for(spammer))
    assert [(i["kind"], i["priority"]) for i in incidents] == [("sos", "P1")]

    async def capped_letters() -> list[str] | None:
        letters = [x.source for x in await capped.dead_letters() if x.reason == "rate_limited"]
        return letters if len(letters) >= 25 else None

    sources = await eventually(capped_letters)
    assert set(sources) == {f"eldercare/v1/devices/{spammer}/location"}  # never the SOS, never the neighbour
    assert len(sources) == 25  # a burst of 5 went through; the other 25 were dead-lettered
    metrics = (await capped.http.get(capped.url("gateway", "/metrics"))).text
    assert 'gateway_messages_rejected_total{reason="rate_limited"} 25.0' in metrics


async def _suppressed(platform: Platform) -> float:
    """Dead letters the bulk-lane gateway counted instead of writing (its per-device dead-letter cap)."""
    text = (await platform.http.get(platform.url("gateway", "/metrics"))).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("gateway_deadletters_suppressed_total{")
    )


async def test_invalid_and_oversized_payloads_count_against_the_devices_cap(platform: Platform) -> None:
    """On the shared platform's default dead-letter cap (burst 20): a device sending 40 payloads over
    16 KiB and 40 that are not JSON has a bounded share of the dead-letter topic; the rest is counted."""
    spammer, neighbour = new_device_id(), new_device_id()
    before = await _suppressed(platform)
    for n in range(40):
        await platform.publish(spammer, "vitals", b'{"event_id": "x", "pad": "' + b"x" * 20_000 + b'"}')
        await platform.publish(spammer, "heartbeat", b"not json %d" % n)
    # A refused payload of another device is still on record: the cap is the spammer's alone.
    await platform.publish(neighbour, "heartbeat", b"not json either")

    async def accounted() -> list[str] | None:
        letters = [x.reason for x in await platform.dead_letters() if spammer in x.source]
        written_or_counted = len(letters) + await _suppressed(platform) - before
        return letters if written_or_counted >= 80 else None

    letters = await eventually(accounted, timeout=30, interval=0.5)
    # The burst of 20, and what refilled at 1/s while the 80 were sent: far fewer than 80.
    assert 20 <= len(letters) <= 40, len(letters)
    assert set(letters) == {"payload_too_large", "invalid_json"}, letters
    neighbours = await eventually(lambda: _letters_of(platform, neighbour), timeout=30, interval=0.5)
    assert len(neighbours) == 1


async def _letters_of(platform: Platform, device_id: str) -> list[str] | None:
    return [x.reason for x in await platform.dead_letters() if device_id in x.source] or None
