"""3G* watches over real TCP, through the real stack: watch adapter -> Kafka -> dispatch and monitoring."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from eldercare.topics import ALARMS
from eldercare.v1 import elders_pb2
from eldercare.v1 import events_pb2 as pb
from gateway.watch.framing import Frame, FrameReader, encode_frame
from tests import infra
from tests.platform import DISPATCHER, SUPERVISOR, Platform, eventually, publish_elder, running_platform
from tools import kafkanode

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

TAIL = "1,1,460,0,9360,4082,131"


def new_watch_id() -> str:
    return "88" + str(uuid.uuid4().int)[:8]


def position(status: str, *, time: str = "081500", lat: str = "31.950000,S", lon: str = "118.750000,W") -> str:
    # Today's date: a plausible device clock, so that a resend keeps its event id (decode._device_event).
    date = datetime.now(UTC).strftime("%d%m%y")
    return f"{date},{time},A,{lat},{lon},0.5,90.0,30,8,80,64,1200,0,{status},{TAIL}"


class Watch:
    """A watch's TCP connection: frames out in its vendor prefix, frames in through our own framing."""

    def __init__(self, device_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.device_id = device_id
        self.reader, self.writer = reader, writer
        self.frames = FrameReader()
        self.received: list[Frame] = []

    @classmethod
    async def connect(cls, port: int, device_id: str) -> Watch:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(device_id, reader, writer)

    async def send(self, content: str, *, vendor: str = "3G", seq: str | None = None) -> None:
        self.writer.write(encode_frame(vendor, self.device_id, content, seq=seq))
        await self.writer.drain()

    async def expect(self, frame_type: str, timeout: float = 20) -> Frame:
        """The next frame of `frame_type` from the server (frames of other types are kept aside)."""

        async def next_one() -> Frame:
            while True:
                for frame in self.received:
                    if frame.type == frame_type:
                        self.received.remove(frame)
                        return frame
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError(f"closed while waiting for {frame_type}; got {self.received}")
                self.received.extend(self.frames.feed(data))

        return await asyncio.wait_for(next_one(), timeout)

    async def closed_by_server(self, timeout: float = 10) -> bool:
        async def eof() -> bool:
            while await self.reader.read(65536):
                continue  # replies still in flight are discarded; only the EOF matters here
            return True

        return await asyncio.wait_for(eof(), timeout)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def watch_platform(
    workdir: Path,
    mqtt_broker: infra.BrokerProcess,
    kafka_broker: kafkanode.KafkaNode,
    databases: infra.DatabaseFactory,
) -> AsyncIterator[Platform]:
    async with running_platform(
        workdir=workdir / "watch-platform",
        mqtt_port=mqtt_broker.port,
        kafka_bootstrap=kafka_broker.bootstrap,
        databases=databases,
        services=("dispatch", "monitoring", "watch"),
        env={"DISPATCH_COMMAND_RETRY_SECONDS": "60"},
    ) as platform:
        yield platform


async def watch(platform: Platform, device_id: str | None = None) -> Watch:
    assert platform.watch_port is not None
    return await Watch.connect(platform.watch_port, device_id or new_watch_id())


async def one_incident(platform: Platform, device_id: str) -> dict[str, Any]:
    incidents = await eventually(lambda: platform.incidents_for(device_id), timeout=30)
    assert len(incidents) == 1, incidents
    return incidents[0]


async def alarm_events(platform: Platform, device_id: str) -> list[pb.Envelope]:
    events = []
    for record in await platform.read_topic(ALARMS):
        if record.key == device_id.encode():
            envelope = pb.Envelope()
            envelope.ParseFromString(record.value)
            events.append(envelope)
    return events


async def test_the_adapter_is_live_ready_and_exports_metrics(watch_platform: Platform) -> None:
    for path in ("/healthz", "/readyz"):
        assert (await watch_platform.http.get(watch_platform.url("watch", path))).status_code == 200
    assert "watch_connections" in (await watch_platform.http.get(watch_platform.url("watch", "/metrics"))).text


async def test_sos_over_tcp_is_answered_once_on_kafka_and_opens_one_incident(watch_platform: Platform) -> None:
    device = await watch(watch_platform)
    await device.send("LK")
    await device.expect("LK")
    await device.send(f"AL,{position('00010000')}", seq="0042")
    reply = await device.expect("AL")
    assert (reply.seq, reply.vendor, reply.device_id) == ("0042", "3G", device.device_id)
    # The reply came only once Kafka had the alarm: it is on the topic now, without waiting.
    [sos] = await alarm_events(watch_platform, device.device_id)
    assert sos.WhichOneof("body") == "sos" and sos.producer == "gateway-watch"

    incident = await one_incident(watch_platform, device.device_id)
    assert (incident["kind"], incident["priority"], incident["status"]) == ("sos", "P1", "open")
    assert (incident["location"]["lat"], incident["location"]["lon"]) == (-31.95, -118.75)
    assert incident["battery"] == 64

    # The watch resends an alarm it thinks went unanswered: the same event, still one incident.
    await device.send(f"AL,{position('00010000')}", seq="0042")
    await device.expect("AL")
    marker = await watch(watch_platform)
    await marker.send(f"AL,{position('00010000')}")
    await one_incident(watch_platform, marker.device_id)
    assert len(await watch_platform.incidents_for(device.device_id)) == 1
    assert (await watch_platform.incident(incident["id"]))["alarm_count"] == 1
    await device.close()
    await marker.close()


async def test_a_fall_opens_a_fall_incident_and_a_removal_a_device_removed_one(watch_platform: Platform) -> None:
    fall, removed = await watch(watch_platform), await watch(watch_platform)
    await fall.send(f"AL_LTE,{position('00200000', lat='31.95,N', lon='118.75,E')}", vendor="SG")
    assert (await fall.expect("AL")).vendor == "SG"
    await removed.send(f"AL,{position('00100000')}")
    await removed.expect("AL")
    assert (await one_incident(watch_platform, fall.device_id))["kind"] == "fall"
    assert (await one_incident(watch_platform, removed.device_id))["kind"] == "device_removed"
    await fall.close()
    await removed.close()


async def test_a_fix_lands_in_monitoring_with_its_hemisphere_signs(watch_platform: Platform) -> None:
    device = await watch(watch_platform)
    await device.send(f"UD,{position('00000000', lat='22.571707,S', lon='-113.861397,')}")

    async def located() -> dict[str, Any] | None:
        response = await watch_platform.http.get(
            watch_platform.url("monitoring", f"/api/v1/devices/{device.device_id}"), headers=DISPATCHER
        )
        return response.json() if response.status_code == 200 and response.json()["location"] else None

    state = await eventually(located, timeout=30)
    assert (state["location"]["lat"], state["location"]["lon"]) == (-22.571707, -113.861397)
    assert state["battery"] == 64
    await device.close()


async def test_garbage_on_one_connection_ends_it_while_another_watch_is_served(watch_platform: Platform) -> None:
    bad, good = await watch(watch_platform), await watch(watch_platform)
    await good.send("LK")
    await good.expect("LK")
    bad.writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await bad.writer.drain()
    assert await bad.closed_by_server()
    # The other watch's connection is untouched: it is answered and its SOS goes through.
    await good.send("LK,100,0,80")
    await good.expect("LK")
    await good.send(f"AL,{position('00010000')}")
    await good.expect("AL")
    await one_incident(watch_platform, good.device_id)
    metrics = (await watch_platform.http.get(watch_platform.url("watch", "/metrics"))).text
    assert 'watch_bad_frames_total{reason="garbage"}' in metrics
    await good.close()


async def watch_dead_letters(platform: Platform, source: str) -> list[pb.DeadLetter]:
    return [x for x in await platform.dead_letters() if x.producer == "gateway-watch" and x.source.startswith(source)]


async def test_a_bad_frame_is_dead_lettered_with_its_reason_and_bytes(watch_platform: Platform) -> None:
    device = await watch(watch_platform)
    await device.send("LK")
    await device.expect("LK")
    # Identified first, so its letter names it; then a header that is not one ends the connection.
    device.writer.write(b"[3G*" + device.device_id.encode() + b"*zz*LK]")
    await device.writer.drain()
    assert await device.closed_by_server()

    async def lettered() -> list[pb.DeadLetter]:
        return await watch_dead_letters(watch_platform, f"watch/{device.device_id}@")

    [letter] = await eventually(lettered, timeout=30)
    assert (letter.reason, letter.raw) == ("bad_header", b"[3G*" + device.device_id.encode() + b"*zz*LK]")
    assert letter.detail.startswith("connection closed; ")


async def test_bad_frames_from_one_watch_are_dead_lettered_up_to_its_cap_and_the_rest_counted(
    watch_platform: Platform,
) -> None:
    metrics_url = watch_platform.url("watch", "/metrics")

    async def suppressed() -> float:
        text = (await watch_platform.http.get(metrics_url)).text
        sample = 'watch_deadletters_suppressed_total{reason="bad_coordinates"} '
        return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(sample)), 0.0)

    before = await suppressed()
    device = await watch(watch_platform)
    sent = 40  # twice the default burst (GATEWAY_DEADLETTER_BURST, 20), far faster than it refills
    for _ in range(sent):
        # Answered and kept where usable (the battery), dead-lettered for its coordinates.
        await device.send(f"UD,{position('00000000', lat='north,N', lon='east,E')}")
    # UD is not answered; the LK reply shows every UD before it was handled (a connection is served in order).
    await device.send("LK")
    await device.expect("LK")

    async def all_accounted() -> list[pb.DeadLetter] | None:
        letters = await watch_dead_letters(watch_platform, f"watch/{device.device_id}@")
        return letters if len(letters) + await suppressed() - before == sent else None

    letters = await eventually(all_accounted, timeout=30)
    assert {letter.reason for letter in letters} == {"bad_coordinates"}
    assert 20 <= len(letters) < sent  # the burst went out; the rest of the flood was only counted
    await device.close()


async def test_locate_goes_out_as_cr_and_the_watchs_echo_is_recorded_as_its_ack(watch_platform: Platform) -> None:
    device = await watch(watch_platform)
    await device.send(f"AL,{position('00010000')}", seq="0007")
    await device.expect("AL")
    incident = await one_incident(watch_platform, device.device_id)
    response = await watch_platform.http.post(
        watch_platform.url("dispatch", f"/api/v1/incidents/{incident['id']}/commands"),
        json={"type": "locate"},
        headers=DISPATCHER,
    )
    assert response.status_code == 201, response.text
    command = await device.expect("CR", timeout=30)
    assert (command.vendor, command.seq, command.body) == ("3G", "0007", b"")
    await device.send("CR", seq="0007")

    async def acked() -> list[dict[str, Any]] | None:
        listed = await watch_platform.http.get(
            watch_platform.url("dispatch", f"/api/v1/incidents/{incident['id']}/commands"), headers=DISPATCHER
        )
        return listed.json() if listed.json()[0]["state"] == "acked" else None

    [recorded] = await eventually(acked, timeout=30)
    assert recorded["type"] == "locate"
    timeline = [entry["action"] for entry in (await watch_platform.incident(incident["id"]))["timeline"]]
    assert "command_acked" in timeline
    await device.close()


async def test_a_message_for_a_watch_not_connected_goes_out_when_it_reconnects(watch_platform: Platform) -> None:
    device = await watch(watch_platform)
    await device.send(f"AL,{position('00010000')}")
    await device.expect("AL")
    incident = await one_incident(watch_platform, device.device_id)
    await device.close()
    response = await watch_platform.http.post(
        watch_platform.url("dispatch", f"/api/v1/incidents/{incident['id']}/commands"),
        json={"type": "message", "text": "help is coming"},
        headers=DISPATCHER,
    )
    assert response.status_code == 201, response.text
    metrics_url = watch_platform.url("watch", "/metrics")

    async def held() -> bool:
        text = (await watch_platform.http.get(metrics_url)).text
        return any(
            line.startswith("watch_commands_pending ") and float(line.split()[1]) >= 1 for line in text.splitlines()
        )

    await eventually(held, timeout=30)
    again = await watch(watch_platform, device.device_id)
    await again.send("LK")
    message = await again.expect("MESSAGE", timeout=30)
    assert bytes.fromhex(message.fields()[0]).decode("utf-16-be") == "help is coming"
    await again.close()


async def another_adapter(platform: Platform, instance: str, **env: str) -> int:
    """A further watch adapter process on the platform (stopped with it); returns its TCP port."""
    listen_port = infra.free_port()
    process = platform.stack.make_process("watch", instance=instance, port=infra.free_port())
    process.env = {
        **process.env,
        "WATCH_LISTEN": f"127.0.0.1:{listen_port}",
        "WATCH_INSTANCE_ID": f"test-watch-{instance}",
        **env,
    }
    await process.start()
    platform.stack.processes[process.name] = process
    await process.wait_healthy(90)
    return listen_port


async def test_two_adapters_each_deliver_the_commands_of_the_watches_they_hold(watch_platform: Platform) -> None:
    # Two adapter processes behind one address (a TCP load balancer): a watch is on one of them,
    # and every command must reach the adapter that holds its watch.
    listen_port = await another_adapter(watch_platform, "2")

    assert watch_platform.watch_port is not None
    watches = [
        await Watch.connect(watch_platform.watch_port, new_watch_id()),
        await Watch.connect(listen_port, new_watch_id()),
    ]
    for number, device in enumerate(watches):
        await device.send(f"AL,{position('00010000')}", seq=f"00{number}1")
        await device.expect("AL", timeout=30)
    incidents = [await one_incident(watch_platform, device.device_id) for device in watches]
    for incident in incidents:
        response = await watch_platform.http.post(
            watch_platform.url("dispatch", f"/api/v1/incidents/{incident['id']}/commands"),
            json={"type": "locate"},
            headers=DISPATCHER,
        )
        assert response.status_code == 201, response.text
    for device in watches:
        await device.expect("CR", timeout=30)  # on its own socket, from the adapter holding it
        await device.send("CR")

    async def both_acked() -> bool:
        states = []
        for incident in incidents:
            listed = await watch_platform.http.get(
                watch_platform.url("dispatch", f"/api/v1/incidents/{incident['id']}/commands"), headers=DISPATCHER
            )
            states.append(listed.json()[0]["state"])
        return states == ["acked", "acked"]

    await eventually(both_acked, timeout=30)
    for device in watches:
        await device.close()


async def test_an_adapter_that_refuses_unknown_watches_serves_bound_ones_only(watch_platform: Platform) -> None:
    bound_id, stranger_id = new_watch_id(), new_watch_id()
    elder_id = "E" + uuid.uuid4().hex[:12]
    await publish_elder(
        watch_platform,
        elders_pb2.ElderSnapshot(
            elder_id=elder_id,
            version=1,
            device_ids=[bound_id],
            bindings=[elders_pb2.DeviceBinding(device_id=bound_id, binding_seq=1)],
        ),
    )
    # Started after the binding is on the elders topic: the adapter reads it up to date before serving.
    port = await another_adapter(watch_platform, "refusing", WATCH_REFUSE_UNKNOWN="true")

    async def stranger_refused() -> bool:
        # Until the adapter has read the bindings up to date it serves everyone (it must not turn
        # a bound watch away at start-up), so the stranger is tried until the read model is in.
        stranger = await Watch.connect(port, stranger_id)
        await stranger.send("LK")
        try:
            await stranger.expect("LK", timeout=5)
        except ConnectionError:
            return True  # closed by the server: refused
        finally:
            await stranger.close()
        return False

    await eventually(stranger_refused, timeout=60, interval=0.5)
    bound = await Watch.connect(port, bound_id)
    await bound.send("LK")
    await bound.expect("LK")
    await bound.send(f"AL,{position('00010000')}")
    await bound.expect("AL", timeout=30)
    await one_incident(watch_platform, bound_id)
    await bound.close()


async def test_a_supervisor_sets_the_numbers_the_watchs_sos_key_dials(watch_platform: Platform) -> None:
    device = await watch(watch_platform)
    await device.send("LK")
    await device.expect("LK")
    elder_id = "E" + uuid.uuid4().hex[:12]
    binding = elders_pb2.DeviceBinding(device_id=device.device_id, binding_seq=1)
    snapshot = elders_pb2.ElderSnapshot(elder_id=elder_id, version=1, device_ids=[device.device_id], bindings=[binding])
    await publish_elder(watch_platform, snapshot)
    url = watch_platform.url("dispatch", f"/api/v1/devices/{device.device_id}/commands")

    async def sent() -> dict[str, Any] | None:
        # 404 until dispatch has read the binding from the elders topic.
        response = await watch_platform.http.post(
            url, json={"type": "sos_numbers", "numbers": ["12349", "13900000001"]}, headers=SUPERVISOR
        )
        return response.json() if response.status_code == 201 else None

    command = await eventually(sent, timeout=30)
    frame = await device.expect("SOS", timeout=30)
    assert frame.body == b"12349,13900000001,"
    await device.send("SOS")

    async def acked() -> bool:
        listed = await watch_platform.http.get(url, headers=SUPERVISOR)
        return any(row["id"] == command["id"] and row["state"] == "acked" for row in listed.json())

    await eventually(acked, timeout=30)
    await device.close()
