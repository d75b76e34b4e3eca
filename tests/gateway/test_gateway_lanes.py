"""GATEWAY_LANES on the real broker and Kafka: the alarm lane in a process of its own beside a bulk-lane one.

Each device message must reach Kafka exactly once: the SOS through the alarm-lane process
only (the bulk lane's '#' sees it too, and drops it), the location report through the
bulk lane only. A bulk-lane gateway alone must never produce an SOS; the SOS waits at the
broker for the alarm lane instead.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from eldercare.topics import ALARMS, TELEMETRY
from eldercare.v1 import events_pb2 as pb
from gateway.app import Gateway
from gateway.config import GatewayLanes, GatewaySettings
from gateway.mqtt import MqttSession
from gateway.receipts import ReceiptSender
from tests.platform import Brokers, Platform, eventually, new_device_id, own_brokers, read_topic
from tools.devstack import ALARM_GATEWAY

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

LOCATION = {"ts": 1795473651961, "lat": 31.9, "lon": 118.7}


def sos(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "ts": "2026-11-22T08:15:00Z"}


async def copies(kafka_bootstrap: str, topic: str, device_id: str, device_event: str) -> int:
    """How many times the device's event was written to the topic."""
    count = 0
    for record in await read_topic(kafka_bootstrap, topic):
        envelope = pb.Envelope()
        envelope.ParseFromString(record.value)
        if envelope.device_id == device_id and envelope.device_event_id == device_event:
            count += 1
    return count


async def exactly_once(kafka_bootstrap: str, topic: str, device_id: str, device_event: str) -> None:
    """Wait for the first copy, give a second one every chance to arrive, then count."""
    await eventually(lambda: copies(kafka_bootstrap, topic, device_id, device_event), timeout=30)
    await asyncio.sleep(1.0)
    assert await copies(kafka_bootstrap, topic, device_id, device_event) == 1, (topic, device_event)


async def exported_by(platform: Platform, sample: str) -> set[str]:
    """The gateway processes whose /metrics show the sample (a metric with its labels, maybe its value)."""
    found = set()
    for name in (ALARM_GATEWAY, "gateway"):
        url = platform.stack.processes[name].health_url
        if sample in (await platform.http.get(f"{url}/metrics")).text:
            found.add(name)
    return found


def listening_device(mqtt_url: str, device_id: str, inbox: asyncio.Queue[dict[str, Any]]) -> MqttSession:
    """A device session subscribed to its commands topic (receipts arrive there), each message into `inbox`."""
    return MqttSession(
        url=mqtt_url,
        client_id=f"dev-{device_id}",
        subscriptions=[f"eldercare/v1/devices/{device_id}/commands"],
        on_message=lambda message: inbox.put_nowait(orjson.loads(message.payload)),
        persistent=False,
        manual_ack=False,
    )


# ---- the platform as `make run` lays it out: gateway-alarms and gateway (bulk) processes ----------------


async def test_each_lane_has_a_process_that_runs_only_its_session(platform: Platform) -> None:
    processes = platform.stack.processes
    assert processes[ALARM_GATEWAY].env["GATEWAY_LANES"] == "alarms"
    assert processes["gateway"].env["GATEWAY_LANES"] == "bulk"
    for name in (ALARM_GATEWAY, "gateway"):
        url = processes[name].health_url
        assert (await platform.http.get(f"{url}/readyz")).status_code == 200, name
    for session, process in (("alarms", ALARM_GATEWAY), ("bulk", "gateway")):
        assert await exported_by(platform, f'gateway_mqtt_connected{{session="{session}"}}') == {process}
        assert await exported_by(platform, f'gateway_mqtt_connected{{session="{session}"}} 1.0') == {process}


async def test_an_sos_and_a_location_each_reach_kafka_once_through_their_own_lane(platform: Platform) -> None:
    device_id = new_device_id()
    await platform.publish(device_id, "sos", sos("lane-sos"))
    # Published after the SOS: once the bulk lane forwarded it, it has handled (dropped) its copy of the SOS.
    await platform.publish(device_id, "location", {"event_id": "lane-loc", **LOCATION})
    await exactly_once(platform.kafka_bootstrap, TELEMETRY, device_id, "lane-loc")
    await exactly_once(platform.kafka_bootstrap, ALARMS, device_id, "lane-sos")
    incidents = await eventually(lambda: platform.incidents_for(device_id))
    assert [i["kind"] for i in incidents] == ["sos"]

    for kind, process in (("sos", ALARM_GATEWAY), ("location", "gateway")):
        assert await exported_by(platform, f'gateway_messages_received_total{{kind="{kind}"}}') == {process}


async def test_an_sos_sent_while_the_alarm_lane_process_is_down_waits_for_its_restart(platform: Platform) -> None:
    alarms = platform.stack.processes[ALARM_GATEWAY]
    restarts = alarms.restarts
    dying = alarms.process
    assert dying is not None
    alarms.kill(signal.SIGKILL)  # the supervisor restarts it
    await asyncio.wait_for(dying.wait(), 10)

    device_id = new_device_id()
    await platform.publish(device_id, "sos", sos("while-down"))
    await platform.publish(device_id, "location", {"event_id": "while-down-loc", **LOCATION})
    # The bulk lane took its copy of the SOS and dropped it; the alarm lane's session holds the SOS.
    await exactly_once(platform.kafka_bootstrap, TELEMETRY, device_id, "while-down-loc")
    await alarms.wait_healthy(timeout=90)
    assert alarms.restarts == restarts + 1
    await exactly_once(platform.kafka_bootstrap, ALARMS, device_id, "while-down")
    assert len(await eventually(lambda: platform.incidents_for(device_id))) == 1


async def test_the_alarm_lane_process_receipts_an_sos_through_its_downlink_session(platform: Platform) -> None:
    device_id = new_device_id()
    receipts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    device = listening_device(platform.mqtt_url, device_id, receipts)
    await device.start()
    try:
        await device.wait_ready()
        await device.publish(f"eldercare/v1/devices/{device_id}/sos", orjson.dumps(sos("wired")), qos=1)
        receipt = await asyncio.wait_for(receipts.get(), 30)
    finally:
        await device.stop()
    assert (receipt["type"], receipt["event_id"]) == ("receipt", "wired")


# ---- gateways in this process, on brokers of their own ------------------------------------------------------


@pytest.fixture(scope="module")
def brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokers]:
    with own_brokers(tmp_path_factory.mktemp("lanes")) as brokers:
        yield brokers


class Lanes:
    """Gateways of one share group (its own per test) on the module's brokers."""

    def __init__(self, brokers: Brokers) -> None:
        self.mqtt_url = f"mqtt://127.0.0.1:{brokers.mqtt.port}"
        self.kafka_bootstrap = brokers.kafka.bootstrap
        self.share_group = f"lanes{uuid.uuid4().hex[:8]}"

    @asynccontextmanager
    async def gateway(self, lanes: GatewayLanes, instance_id: str) -> AsyncIterator[Gateway]:
        gateway = Gateway(
            GatewaySettings(
                lanes=lanes,
                instance_id=f"{self.share_group}-{instance_id}",
                share_group=self.share_group,
                mqtt_url=self.mqtt_url,
                kafka_bootstrap=self.kafka_bootstrap,
                kafka_topic_partitions=3,
                # These tests follow each press of one device onto Kafka, one by one; coalescing a
                # device's repeats into one event has tests of its own (test_alarm_flood and the unit tests).
                alarm_coalesce_seconds=0,
            )
        )
        await gateway.start()
        try:
            for session in gateway.sessions.values():
                await session.wait_ready(timeout=30)
            yield gateway
        finally:
            await gateway.stop()

    async def leave_sessions_behind(self, lanes: GatewayLanes, instance_id: str) -> None:
        """Start a gateway and stop it: its persistent sessions stay subscribed at the broker, as after a crash."""
        async with self.gateway(lanes, instance_id):
            return

    async def publish(self, device_id: str, kind: str, payload: dict[str, Any]) -> None:
        device = MqttSession(url=self.mqtt_url, client_id=f"dev-{device_id}", persistent=False, manual_ack=False)
        await device.start()
        try:
            await device.wait_ready()
            await device.publish(f"eldercare/v1/devices/{device_id}/{kind}", orjson.dumps(payload), qos=1)
        finally:
            await device.stop()


async def test_a_bulk_lane_gateway_alone_forwards_telemetry_but_never_an_sos(
    brokers: Brokers, caplog: pytest.LogCaptureFixture
) -> None:
    lanes = Lanes(brokers)
    # The alarm lane's session exists at the broker, as once its process has run; then that process is down.
    await lanes.leave_sessions_behind("alarms", "a")
    device_id = new_device_id()
    with caplog.at_level(logging.WARNING, logger="gateway.app"):
        async with lanes.gateway("bulk", "b") as bulk:
            assert bulk.alarm_session is None
            assert "GATEWAY_LANES=alarms must run beside it" in caplog.text
            await lanes.publish(device_id, "sos", sos("alone"))
            await lanes.publish(device_id, "location", {"event_id": "alone-loc", **LOCATION})
            await exactly_once(lanes.kafka_bootstrap, TELEMETRY, device_id, "alone-loc")
            assert await copies(lanes.kafka_bootstrap, ALARMS, device_id, "alone") == 0
    # Not lost: it waited in the alarm lane's session for the alarm-lane gateway.
    async with lanes.gateway("alarms", "a"):
        await exactly_once(lanes.kafka_bootstrap, ALARMS, device_id, "alone")


async def test_what_devices_send_after_a_broker_restart_waits_for_the_gateway(
    brokers: Brokers,
) -> None:
    mqtt = brokers.mqtt
    lanes = Lanes(brokers)
    # The gateway's sessions are at the broker and its process is down (a deploy, a crash) when
    # Mosquitto restarts: the sessions and their subscriptions come back from Mosquitto's save ...
    await lanes.leave_sessions_behind("all", "a")
    await asyncio.to_thread(mqtt.restart)
    device_id = new_device_id()
    await lanes.publish(device_id, "sos", sos("after-restart"))
    await lanes.publish(device_id, "location", {"event_id": "after-restart-loc", **LOCATION})
    # ... so what the broker acknowledged to the device before the gateway is back waits there for it.
    async with lanes.gateway("all", "a"):
        await exactly_once(lanes.kafka_bootstrap, ALARMS, device_id, "after-restart")
        await exactly_once(lanes.kafka_bootstrap, TELEMETRY, device_id, "after-restart-loc")


async def test_an_instance_moved_to_the_bulk_lane_ends_the_alarm_session_it_left_behind(
    brokers: Brokers,
) -> None:
    lanes = Lanes(brokers)
    # Instance "moved" ran both lanes; its alarm session stays subscribed at the broker after it stopped ...
    await lanes.leave_sessions_behind("all", "moved")
    device_id = new_device_id()
    await lanes.publish(device_id, "sos", sos("held"))  # ... and holds this SOS
    async with lanes.gateway("alarms", "new"), lanes.gateway("bulk", "moved") as moved:
        assert moved.retirement is not None
        await asyncio.wait_for(moved.retirement.finished.wait(), 30)
        assert moved.retirement.found is True
        assert moved.retirement.drained >= 1
        await exactly_once(lanes.kafka_bootstrap, ALARMS, device_id, "held")
        # Left in place, the old session would take every other SOS of the group and hold it for days.
        presses = [f"after-{n}" for n in range(4)]
        for press in presses:
            await lanes.publish(device_id, "sos", sos(press))
        for press in presses:
            await exactly_once(lanes.kafka_bootstrap, ALARMS, device_id, press)


# ---- end-to-end receipts ------------------------------------------------------------------------------------


async def test_a_devices_sos_gets_a_receipt_naming_its_event_id_once_kafka_has_it(
    brokers: Brokers,
) -> None:
    lanes = Lanes(brokers)
    device_id = new_device_id()
    receipts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    device = listening_device(lanes.mqtt_url, device_id, receipts)
    await device.start()
    try:
        await device.wait_ready()
        async with lanes.gateway("alarms", "r") as gateway:
            # create_app wires the downlink's session; here the gateway gets a session of its own.
            downlink = MqttSession(url=lanes.mqtt_url, client_id=f"{lanes.share_group}-dl", persistent=False)
            await downlink.start()
            gateway.receipts = ReceiptSender(downlink)
            gateway.receipts.start()
            try:
                for press in ("rcpt-1", "rcpt-2"):
                    await device.publish(f"eldercare/v1/devices/{device_id}/sos", orjson.dumps(sos(press)), qos=1)
                    receipt = await asyncio.wait_for(receipts.get(), 30)
                    assert receipt["type"] == "receipt"
                    assert receipt["event_id"] == press
                    assert receipt["received_at"].endswith("Z")
                    # Sent only once the alarm was on Kafka: it is there by the time the device hears.
                    assert await copies(lanes.kafka_bootstrap, ALARMS, device_id, press) == 1
            finally:
                await gateway.receipts.stop()
                await downlink.stop()
    finally:
        await device.stop()
    assert receipts.empty()
