"""The AL reply waits for Kafka: withheld while the broker is down, sent once it is back.

On a Kafka node of this module's own, so stopping it disturbs no other test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from eldercare.topics import ALARMS
from tests import infra
from tests.gateway.watch.test_watch_adapter import Watch, new_watch_id, one_incident, position
from tests.platform import DISPATCHER, Platform, eventually, running_platform
from tools import kafkanode

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
        kafka_bootstrap=own_kafka.bootstrap,
        databases=databases,
        services=("dispatch", "watch"),
        # The smallest buffer, so that one test can overflow it.
        env={"WATCH_TELEMETRY_BUFFER": "100"},
    ) as platform:
        yield platform


async def watch_metric(platform: Platform, sample: str) -> float:
    text = (await platform.http.get(platform.url("watch", "/metrics"))).text
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def alarm_produce_errors(platform: Platform) -> float:
    """The adapter's count of failed (and retried) produce attempts to the alarms topic."""
    return await watch_metric(platform, ALARM_PRODUCE_ERRORS)


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


async def test_a_command_echo_outlives_a_telemetry_buffer_that_overflows_in_an_outage(
    outage_platform: Platform, own_kafka: kafkanode.KafkaNode
) -> None:
    assert outage_platform.watch_port is not None
    device = await Watch.connect(outage_platform.watch_port, new_watch_id())
    await device.send(f"AL,{position('00010000')}", seq="0041")
    await device.expect("AL", timeout=30)
    incident = await one_incident(outage_platform, device.device_id)
    commands_url = outage_platform.url("dispatch", f"/api/v1/incidents/{incident['id']}/commands")
    sent = await outage_platform.http.post(commands_url, json={"type": "locate"}, headers=DISPATCHER)
    assert sent.status_code == 201, sent.text
    await device.expect("CR", timeout=30)
    dropped_before = await watch_metric(outage_platform, "watch_telemetry_dropped_total")

    await asyncio.to_thread(own_kafka.stop)
    try:
        # The echo (the command's ack), then more heartbeats than the telemetry buffer holds.
        await device.send("CR", seq="0041")
        for _ in range(150):
            await device.send("LK")
            await device.expect("LK", timeout=10)

        async def overflowed() -> bool:
            return await watch_metric(outage_platform, "watch_telemetry_dropped_total") > dropped_before

        await eventually(overflowed, timeout=30)
    finally:
        await asyncio.to_thread(own_kafka.start)

    async def acked() -> bool:
        listed = await outage_platform.http.get(commands_url, headers=DISPATCHER)
        return listed.json()[0]["state"] == "acked"

    await eventually(acked, timeout=120)
    await device.close()
