"""The AL reply waits for Kafka: withheld while the broker is down, sent once it is back.

On a Kafka node of this module's own, so stopping it disturbs no other test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from eldercare import kafkanode
from eldercare.topics import ALARMS
from tests import infra
from tests.integration.test_watch_adapter import Watch, new_watch_id, position
from tests.platform import Platform, eventually, running_platform

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ALARM_PRODUCE_ERRORS = f'eldercare_kafka_produce_errors_total{{topic="{ALARMS}"}}'


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafkanode.KafkaNode]:
    with infra.kafka(tmp_path_factory.mktemp("watch-outage")) as node:
        yield node


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def outage_platform(
    tmp_path_factory: pytest.TempPathFactory,
    mqtt_broker: infra.BrokerProcess,
    own_kafka: kafkanode.KafkaNode,
    databases: infra.DatabaseFactory,
) -> AsyncIterator[Platform]:
    async with running_platform(
        workdir=tmp_path_factory.mktemp("watch-outage-platform"),
        mqtt_port=mqtt_broker.port,
        kafka_port=own_kafka.port,
        databases=databases,
        services=("dispatch", "watch"),
    ) as platform:
        yield platform


async def alarm_produce_errors(platform: Platform) -> float:
    """The adapter's count of failed (and retried) produce attempts to the alarms topic."""
    text = (await platform.http.get(platform.url("watch", "/metrics"))).text
    for line in text.splitlines():
        if line.startswith(ALARM_PRODUCE_ERRORS + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_the_al_reply_is_withheld_while_kafka_is_down_and_sent_after_it_returns(
    outage_platform: Platform, own_kafka: kafkanode.KafkaNode
) -> None:
    assert outage_platform.watch_port is not None
    device = await Watch.connect(outage_platform.watch_port, new_watch_id())
    await device.send("LK")
    await device.expect("LK")  # identified and served before the outage
    errors_before = await alarm_produce_errors(outage_platform)

    await asyncio.to_thread(own_kafka.stop)
    try:
        await device.send(f"AL,{position('00010000')}", seq="0031")

        # The adapter is trying to hand the alarm to Kafka and failing: its retry counter rises.
        async def retried() -> bool:
            return await alarm_produce_errors(outage_platform) > errors_before

        await eventually(retried, timeout=60, interval=0.5)
        # The heartbeat lane still answers while the alarm waits, so the connection is alive...
        await device.send("LK")
        await device.expect("LK", timeout=10)
        # ...and yet no AL came: replying would tell the watch its SOS was taken when it was not.
        assert all(frame.type != "AL" for frame in device.received), device.received
        with contextlib.suppress(TimeoutError):
            early = await device.expect("AL", timeout=1)
            pytest.fail(f"AL sent while Kafka was down: {early}")
    finally:
        await asyncio.to_thread(own_kafka.start)

    reply = await device.expect("AL", timeout=90)
    assert reply.seq == "0031"
    # Dispatch was cut off too and has to rejoin its group first, hence the longer wait.
    incidents = await eventually(lambda: outage_platform.incidents_for(device.device_id), timeout=90)
    assert [incident["kind"] for incident in incidents] == ["sos"]
    await device.close()
