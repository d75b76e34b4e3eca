"""The fleet simulator as "3G*" watches: frames the adapter's own decoder reads, and a fleet through the adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from gateway.watch.decode import decode_frame
from gateway.watch.framing import FrameReader
from tests import infra
from tests.platform import DISPATCHER, Platform, eventually, new_device_id, running_platform
from tests.tools.sim.test_fleet import run_fleet
from tools import kafkanode
from tools.sim import watch3g
from tools.sim.fleet import FALL, HEARTBEAT, LOCATION, SOS, VITALS, FleetConfig, SimDevice, watch_frame


def decoded(frame: bytes) -> Any:
    [parsed] = FrameReader().feed(frame)
    return parsed, decode_frame(parsed, datetime.now(UTC))


@pytest.mark.parametrize(
    ("kind", "body", "reply", "events"),
    [
        (HEARTBEAT, {"battery": 57, "signal": 80}, "LK", ["heartbeat", "vitals"]),
        (LOCATION, {"lat": -31.95, "lon": 118.75, "speed_kmh": 1.5}, None, ["location"]),
        (VITALS, {"systolic": 120, "diastolic": 80, "heart_rate": 66}, None, ["vitals"]),
        (SOS, {"battery": 57, "location": {"lat": 31.9, "lon": -118.7}}, "AL", ["sos"]),
        (FALL, {"confidence": 0.9, "location": {"lat": 31.9, "lon": 118.7}}, "AL", ["fall"]),
        ("alarm", {"type": "low_battery", "battery": 9}, "AL", ["alarm"]),
    ],
)
def test_each_simulated_event_is_a_frame_the_adapter_reads_as_that_event(
    kind: str, body: dict[str, Any], reply: str | None, events: list[str]
) -> None:
    device = SimDevice("SIMW000001", (31.95, 118.75), 57)
    device.seq = 0x1_002A
    key, frame = watch_frame(device, kind, body, device.seq)
    parsed, uplink = decoded(frame)
    assert (parsed.vendor, parsed.device_id, parsed.seq) == ("3G", "SIMW000001", "002A")
    assert uplink.problem is None, uplink
    assert [message.kind for message in uplink.events] == events
    assert uplink.reply == reply
    # The future waits for exactly the reply the adapter sends: its type and our sequence field.
    assert key == (f"{reply}*002A" if reply else "")
    if "location" in body or kind == LOCATION:
        where = body.get("location", body)
        location = uplink.events[0].envelope.location
        assert (round(location.lat, 6), round(location.lon, 6)) == (where["lat"], where["lon"])


def test_frames_split_where_brackets_balance_and_keep_the_rest() -> None:
    buffer = bytearray(b"[3G*1*0001*0002*LK][3G*1*0002*AL][3G*1*00")
    assert watch3g.split_frames(buffer) == [b"[3G*1*0001*0002*LK]", b"[3G*1*0002*AL]"]
    assert bytes(buffer) == b"[3G*1*00"
    assert watch3g.header_of(b"[3G*1*0001*0002*LK]") == ("3G", "0001", "LK")
    assert watch3g.header_of(b"[SG*1*0009*MESSAGE,0074]") == ("SG", None, "MESSAGE")


class Wire:
    """A transport that keeps what was written (unit test: no socket)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        """Nothing to release: this stand-in for a socket holds none."""


async def test_a_reply_resolves_its_frame_and_a_command_is_echoed_as_its_ack() -> None:
    conn = watch3g.WatchConnection("W1")
    wire = Wire()
    conn.connection_made(wire)  # type: ignore[arg-type]
    sos = conn.publish("AL*0007", watch3g.frame("3G", "W1", "AL,x", "0007"), 0.0)
    location = conn.publish("", watch3g.frame("3G", "W1", "UD,x", "0008"), 0.0)
    assert location.done() and not sos.done()  # UD is never answered; AL is
    conn.data_received(b"[3G*W1*0006*0002*AL]")  # someone else's sequence number: not ours
    assert not sos.done()
    again = conn.publish("AL*0007", watch3g.frame("3G", "W1", "AL,x", "0007"), 0.0)  # resent before the reply
    assert conn.inflight == 2
    conn.data_received(b"[3G*W1*0007*0002*AL][3G*W1*0007*00")
    assert sos.done() and again.done() and conn.inflight == 0
    conn.data_received(b"02*CR]")
    assert wire.written[-1] == b"[3G*W1*0007*0002*CR]" and conn.commands_echoed == 1


async def test_a_lost_connection_fails_what_awaits_a_reply() -> None:
    conn = watch3g.WatchConnection("W1")
    conn.connection_made(Wire())  # type: ignore[arg-type]
    sos = conn.publish("AL*0001", b"[...]", 0.0)
    conn.connection_lost(None)
    with pytest.raises(ConnectionError):
        await sos


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def adapter(
    tmp_path_factory: pytest.TempPathFactory,
    mqtt_broker: infra.BrokerProcess,
    kafka_broker: kafkanode.KafkaNode,
    databases: infra.DatabaseFactory,
) -> AsyncIterator[Platform]:
    async with running_platform(
        workdir=tmp_path_factory.mktemp("fleet-watch"),
        mqtt_port=mqtt_broker.port,
        kafka_bootstrap=kafka_broker.bootstrap,
        databases=databases,
        services=("dispatch", "watch"),
    ) as platform:
        yield platform


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
async def test_a_watch_fleet_heartbeats_reports_and_its_sos_presses_become_incidents(adapter: Platform) -> None:
    config = FleetConfig(
        protocol="watch3g",
        watch_addr=f"127.0.0.1:{adapter.watch_port}",
        devices=25,
        id_prefix=new_device_id()[:8],
        rate=150,
        duration_s=3,
        storm="sos",
        storm_at_s=1.0,
        storm_size=5,
        sos_per_device_day=0,
        fall_per_device_day=0,
        seed=11,
    )
    fleet, stats = await run_fleet(config)
    assert stats.connects == config.devices and stats.connect_failures == 0
    assert stats.by_kind[HEARTBEAT] > 0 and stats.by_kind[LOCATION] > 0
    assert stats.by_kind[SOS] == 5
    assert stats.published > 0 and stats.acked == stats.published  # every AL and LK answered
    assert all(not record["unacked"] for record in fleet.audit_record()["devices"].values())

    async def incidents() -> list[dict[str, Any]] | None:
        response = await adapter.http.get(
            adapter.url("dispatch", "/api/v1/incidents"), params={"status": "all", "limit": 500}, headers=DISPATCHER
        )
        found = [i for i in response.json() if i["device_id"].startswith(config.id_prefix)]
        return found if len(found) >= 5 else None

    opened = await eventually(incidents, timeout=30)
    # Five presses on five different watches (the storm samples without repeats): five SOS incidents.
    assert sorted(i["kind"] for i in opened) == ["sos"] * 5
    assert len({i["device_id"] for i in opened}) == 5
    metrics = (await adapter.http.get(adapter.url("watch", "/metrics"))).text
    assert 'watch_frames_total{type="UD"}' in metrics and 'watch_frames_total{type="LK"}' in metrics
