"""The production broker config (TLS): per-device accounts and the ACL keep each device to its own topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from gateway.mqtt import MqttSession
from tests import infra
from tools import certs
from tools.provision import GATEWAY_ACCOUNT, provision_device
from tools.provision import main as provision_main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], str]]:
    """Mosquitto with the production config: TLS, the ACL and a password file (listener moved to a free port)."""
    workdir = tmp_path_factory.mktemp("secured-mqtt")
    passwd = workdir / "passwd"
    accounts = {
        "DEVICE_A": provision_device(passwd, "DEVICE_A"),
        "DEVICE_B": provision_device(passwd, "DEVICE_B"),
    }
    provision_main(["--passwd-file", str(passwd), "gateway", "--password", "gateway-secret"])
    accounts[GATEWAY_ACCOUNT] = "gateway-secret"
    ca = certs.make_ca(workdir / "certs")
    certs.issue(ca, workdir / "certs", "server", hosts=("127.0.0.1",))
    with infra.production_mosquitto(workdir, passwd=passwd, certs=workdir / "certs") as broker:
        yield f"mqtts://127.0.0.1:{broker.port}", accounts, str(ca.cert)


@contextlib.asynccontextmanager
async def session(
    url: str, user: str, password: str, ca_file: str, *, subscribe: list[str] | None = None
) -> AsyncIterator[tuple[MqttSession, asyncio.Queue[mqtt.MQTTMessage]]]:
    inbox: asyncio.Queue[mqtt.MQTTMessage] = asyncio.Queue()
    client = MqttSession(
        url=url,
        client_id=f"acl-{user}",
        subscriptions=subscribe,
        on_message=inbox.put_nowait,
        persistent=False,
        manual_ack=False,
        username=user,
        password=password,
        ca_file=ca_file,
    )
    await client.start()
    try:
        await client.wait_ready()
        yield client, inbox
    finally:
        await client.stop()


@pytest.mark.asyncio(loop_scope="session")
async def test_a_device_publishes_as_itself_but_not_as_another(secured_broker: tuple[str, dict[str, str], str]) -> None:
    url, accounts, ca_file = secured_broker
    async with (
        session(url, GATEWAY_ACCOUNT, accounts[GATEWAY_ACCOUNT], ca_file, subscribe=["eldercare/v1/devices/#"]) as (
            _,
            seen,
        ),
        session(url, "DEVICE_A", accounts["DEVICE_A"], ca_file) as (device_a, _),
    ):
        await device_a.publish("eldercare/v1/devices/DEVICE_B/sos", b'{"forged": true}', qos=1)
        await device_a.publish("eldercare/v1/devices/DEVICE_A/sos", b'{"mine": true}', qos=1)
        message = await asyncio.wait_for(seen.get(), 5)
        # The forged message never reached the gateway; the genuine one (sent after it) did.
        assert message.topic == "eldercare/v1/devices/DEVICE_A/sos"
        assert seen.empty()


@pytest.mark.asyncio(loop_scope="session")
async def test_a_device_reads_only_its_own_commands(secured_broker: tuple[str, dict[str, str], str]) -> None:
    url, accounts, ca_file = secured_broker
    async with (
        session(url, "DEVICE_A", accounts["DEVICE_A"], ca_file, subscribe=["eldercare/v1/devices/+/commands"]) as (
            _,
            inbox_a,
        ),
        session(url, GATEWAY_ACCOUNT, accounts[GATEWAY_ACCOUNT], ca_file) as (gateway, _),
    ):
        await gateway.publish("eldercare/v1/devices/DEVICE_B/commands", b'{"command_id":"b"}', qos=1)
        await gateway.publish("eldercare/v1/devices/DEVICE_A/commands", b'{"command_id":"a"}', qos=1)
        message = await asyncio.wait_for(inbox_a.get(), 5)
        assert message.topic == "eldercare/v1/devices/DEVICE_A/commands"
        assert inbox_a.empty()


@pytest.mark.asyncio(loop_scope="session")
async def test_anonymous_and_wrong_passwords_are_refused(secured_broker: tuple[str, dict[str, str], str]) -> None:
    url, _, ca_file = secured_broker
    for user, password in ((None, None), ("DEVICE_A", "wrong")):
        client = MqttSession(
            url=url,
            client_id="acl-intruder",
            persistent=False,
            manual_ack=False,
            username=user,
            password=password,
            ca_file=ca_file,
        )
        await client.start()
        try:
            with pytest.raises(TimeoutError):
                await client.wait_ready(timeout=2)
        finally:
            await client.stop()


def test_provisioning_refuses_a_bad_device_id_and_hashes_passwords(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="device id"):
        provision_device(tmp_path / "passwd", "bad/id")
    assert not (tmp_path / "passwd").exists()
    password = provision_device(tmp_path / "passwd", "DEVICE_C")
    entry = (tmp_path / "passwd").read_text()
    assert entry.startswith("DEVICE_C:$") and password not in entry
