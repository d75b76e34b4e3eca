"""MqttSession runs paho on the event loop: it must still connect late, reconnect, ping and speak TLS.

paho's own network thread did all of this before; each test is a job that thread did and
that `MqttSession` now does itself, against a real Mosquitto of the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from gateway.mqtt import MqttSession
from tests import infra
from tools.devstack import mosquitto_binary, write_mosquitto_config

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


@contextlib.contextmanager
def broker(
    workdir: Path, *, extra: str = "", port: int | None = None, start: bool = True
) -> Iterator[infra.BrokerProcess]:
    port = port or infra.free_port()
    conf = write_mosquitto_config(workdir / "mosquitto.conf", host="127.0.0.1", port=port, data_dir=workdir / "data")
    if extra:
        conf.write_text(conf.read_text() + extra)
    process = infra.BrokerProcess("mosquitto", [mosquitto_binary(), "-c", str(conf)], port, workdir / "mosquitto.log")
    if start:
        process.start()
    try:
        yield process
    finally:
        process.stop()


def subscriber(url: str, inbox: asyncio.Queue[mqtt.MQTTMessage], **options: object) -> MqttSession:
    return MqttSession(
        url=url,
        client_id="session-under-test",
        subscriptions=["t/#"],
        on_message=inbox.put_nowait,
        manual_ack=False,
        **options,  # type: ignore[arg-type]
    )


async def publish(url: str, topic: str, payload: bytes, **options: object) -> None:
    sender = MqttSession(url=url, client_id="sender", persistent=False, manual_ack=False, **options)  # type: ignore[arg-type]
    await sender.start()
    try:
        await sender.wait_ready()
        await sender.publish(topic, payload, qos=1)
    finally:
        await sender.stop()


async def test_a_session_started_before_its_broker_connects_once_the_broker_is_up(tmp_path: Path) -> None:
    inbox: asyncio.Queue[mqtt.MQTTMessage] = asyncio.Queue()
    with broker(tmp_path, start=False) as late:
        url = f"mqtt://127.0.0.1:{late.port}"
        session = subscriber(url, inbox)
        await session.start()
        try:
            await asyncio.sleep(1.5)  # at least one refused connection and a retry
            assert not session.connected.is_set()
            late.start()
            await session.wait_ready(timeout=15)
            await publish(url, "t/late", b"hello")
            message = await asyncio.wait_for(inbox.get(), 5)
            assert (message.topic, message.payload) == ("t/late", b"hello")
        finally:
            await session.stop()


async def test_a_persistent_session_reconnects_after_a_broker_restart_and_gets_what_was_queued(
    tmp_path: Path,
) -> None:
    inbox: asyncio.Queue[mqtt.MQTTMessage] = asyncio.Queue()
    with broker(tmp_path) as restarting:
        url = f"mqtt://127.0.0.1:{restarting.port}"
        session = subscriber(url, inbox, persistent=True)
        await session.start()
        try:
            await session.wait_ready(timeout=10)
            restarting.stop()  # Mosquitto saves its sessions on a clean stop
            await asyncio.sleep(0.5)
            assert not session.connected.is_set()
            restarting.start()
            await session.wait_ready(timeout=20)
            assert session.connections == 2
            await publish(url, "t/after", b"after the restart")
            message = await asyncio.wait_for(inbox.get(), 5)
            assert message.payload == b"after the restart"
        finally:
            await session.stop()


async def test_a_broker_that_stops_answering_is_noticed_by_the_keepalive_and_left(tmp_path: Path) -> None:
    # No FIN, no RST: only the missing PINGRESP (paho's loop_misc, which the session calls) shows it.
    inbox: asyncio.Queue[mqtt.MQTTMessage] = asyncio.Queue()
    with broker(tmp_path) as frozen:
        url = f"mqtt://127.0.0.1:{frozen.port}"
        session = subscriber(url, inbox, keepalive=1)
        await session.start()
        try:
            await session.wait_ready(timeout=10)
            assert frozen.process is not None
            frozen.process.send_signal(signal.SIGSTOP)
            try:
                for _ in range(100):
                    if not session.connected.is_set():
                        break
                    await asyncio.sleep(0.1)
                assert not session.connected.is_set(), "a silent broker went unnoticed"
            finally:
                frozen.process.send_signal(signal.SIGCONT)
            await session.wait_ready(timeout=20)
            assert session.connections >= 2
        finally:
            await session.stop()


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "broker.crt", directory / "broker.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_over_tls_a_burst_larger_than_a_tls_record_arrives_whole(tmp_path: Path) -> None:
    # The selector sees only encrypted bytes and a TLS record holds at most 16 KiB: a burst spanning
    # many records must be read to the end, not left waiting for the next bytes on the wire.
    cert, key = self_signed(tmp_path)
    port = infra.free_port()
    tls = f"certfile {cert}\nkeyfile {key}\n"
    with broker(tmp_path, port=port, extra=tls):
        url = f"mqtts://127.0.0.1:{port}"
        inbox: asyncio.Queue[mqtt.MQTTMessage] = asyncio.Queue()
        session = subscriber(url, inbox, ca_file=str(cert))
        await session.start()
        try:
            await session.wait_ready(timeout=10)
            payloads = [bytes([n]) * 3000 for n in range(40)]  # 120 KB, queued before the subscriber reads
            sender = MqttSession(url=url, client_id="sender", persistent=False, manual_ack=False, ca_file=str(cert))
            await sender.start()
            try:
                await sender.wait_ready()
                await asyncio.gather(*(sender.publish(f"t/{n}", payload) for n, payload in enumerate(payloads)))
            finally:
                await sender.stop()
            received = [await asyncio.wait_for(inbox.get(), 5) for _ in payloads]
            assert sorted(bytes(m.payload) for m in received) == sorted(payloads)
        finally:
            await session.stop()
