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
