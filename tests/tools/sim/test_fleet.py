"""The fleet simulator's MQTT codec (pure) and the fleet against a real Mosquitto."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest

from gateway.mqtt import MqttSession
from tests import infra
from tests.platform import new_device_id
from tools.sim.fleet import Fleet, FleetConfig, FleetStats
from tools.sim.protocol import (
    PUBACK,
    PUBLISH,
    encode_remaining_length,
    iter_packets,
    puback_packet,
    publish_packet,
)


async def run_fleet(config: FleetConfig) -> tuple[Fleet, FleetStats]:
    """Run a fleet to its end (a minute at most) and close it; the fleet stays readable for its audit."""
    fleet = Fleet(config)
    try:
        return fleet, await asyncio.wait_for(fleet.run(), 60)
    finally:
        await fleet.close()


@pytest.mark.parametrize("length", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152])
def test_remaining_length_round_trips_through_the_packet_splitter(length: int) -> None:
    packet = bytes([PUBACK << 4]) + encode_remaining_length(length) + b"x" * length
    buffer = bytearray(packet + packet[:1])  # one whole packet and the first byte of the next
    assert iter_packets(buffer) == [(PUBACK, 0, b"x" * length)]
    assert bytes(buffer) == packet[:1]


def test_publish_packet_carries_qos1_topic_id_and_payload() -> None:
    raw = publish_packet("eldercare/v1/devices/D1/location", b"{}", 513, dup=True)
    [(kind, flags, body)] = iter_packets(bytearray(raw))
    assert kind == PUBLISH and flags == 0x08 | 0x02
    assert body == b"\x00\x20eldercare/v1/devices/D1/location" + b"\x02\x01" + b"{}"
    assert puback_packet(513) == b"\x40\x02\x02\x01"


def test_a_split_packet_waits_for_its_tail() -> None:
    raw = publish_packet("t", b"payload", 7)
    buffer = bytearray(raw[:4])
    assert iter_packets(buffer) == []
    buffer += raw[4:]
    assert [kind for kind, _, _ in iter_packets(buffer)] == [PUBLISH]


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
async def test_fleet_survives_a_reconnect_storm_without_losing_an_acked_event(
    mqtt_broker: infra.BrokerProcess,
) -> None:
    config = FleetConfig(
        mqtt_url=f"mqtt://127.0.0.1:{mqtt_broker.port}",
        devices=40,
        id_prefix=new_device_id()[:8],
        rate=200,
        duration_s=4,
        storm="reconnect",
        storm_at_s=1.5,
        seed=7,
    )
    fleet, stats = await run_fleet(config)
    assert stats.connects >= 2 * config.devices  # everyone came back after the storm
    assert stats.storm_recovery_s is not None
    assert stats.published > 0 and stats.acked == stats.published
    audit = fleet.audit_record()["devices"]
    assert all(not record["unacked"] for record in audit.values())
    assert sum(record["last_seq"] for record in audit.values()) == stats.published


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
async def test_mass_sos_storm_sends_one_sos_per_chosen_device(mqtt_broker: infra.BrokerProcess) -> None:
    config = FleetConfig(
        mqtt_url=f"mqtt://127.0.0.1:{mqtt_broker.port}",
        devices=30,
        id_prefix=new_device_id()[:8],
        duration_s=1.5,
        storm="sos",
        storm_at_s=0.5,
        storm_size=10,
        sos_per_device_day=0,
        fall_per_device_day=0,
    )
    _, stats = await run_fleet(config)
    assert stats.by_kind["sos"] == 10
    assert stats.acked == stats.published


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
async def test_an_sos_is_resent_with_its_event_id_until_its_receipt_arrives(tmp_path: Path) -> None:
    # A broker of its own: on the session's broker the running platform's gateway would receipt
    # the first copy itself, and the resend this test is about would never be sent.
    with infra.mosquitto(tmp_path) as broker:
        await _resent_until_receipted(f"mqtt://127.0.0.1:{broker.port}")


async def _resent_until_receipted(url: str) -> None:
    arrivals: list[tuple[str, str]] = []  # (device id, event id) of every SOS copy the "gateway" saw
    receipted = asyncio.Event()

    def on_sos(message: mqtt.MQTTMessage) -> None:
        device_id = message.topic.split("/")[3]
        if not device_id.startswith(prefix):
            return  # another test's device
        event_id = orjson.loads(message.payload)["event_id"]
        arrivals.append((device_id, event_id))
        if len(arrivals) == 2:  # the first copy goes unanswered, as if the broker lost it: the resend is receipted
            payload = orjson.dumps({"type": "receipt", "event_id": event_id, "received_at": "2026-12-02T03:00:00Z"})
            asyncio.get_running_loop().create_task(
                gateway.publish(f"eldercare/v1/devices/{device_id}/commands", payload)
            ).add_done_callback(lambda _: receipted.set())

    prefix = new_device_id()[:8]
    gateway = MqttSession(
        url=url,
        client_id=f"receipts-{prefix}",
        subscriptions=["eldercare/v1/devices/+/sos"],
        on_message=on_sos,
        persistent=False,
        manual_ack=False,
    )
    await gateway.start()
    await gateway.wait_ready()
    config = FleetConfig(
        mqtt_url=url,
        devices=1,
        id_prefix=prefix,
        duration_s=4,
        storm="sos",
        storm_at_s=0.2,
        storm_size=1,
        sos_per_device_day=0,
        fall_per_device_day=0,
        heartbeat_s=3600,
        location_min_s=3600,
        location_max_s=3600,
        vitals_s=3600,
        receipt_timeout_s=0.5,
    )
    fleet = Fleet(config)
    try:
        run = asyncio.create_task(fleet.run())
        await asyncio.wait_for(receipted.wait(), 30)
        stats = await asyncio.wait_for(run, 60)
    finally:
        await fleet.close()
        await gateway.stop()
    # Unanswered, it would have gone again 1 s and 2 s after the resend: the receipt stopped it.
    assert len(arrivals) == 2 and arrivals[0] == arrivals[1], arrivals
    assert (stats.alarm_resends, stats.receipts, stats.receipted_after_resend) == (1, 1, 1)
    assert stats.acked == stats.published == 1
