"""The production broker config (TLS): per-device accounts and the ACL keep each device to its own topics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from eldercare.settings import REPO_ROOT
from gateway.app import Gateway
from gateway.config import GatewaySettings
from gateway.mqtt import MqttSession
from tests import infra
from tests.platform import eventually
from tools import certs, provision
from tools.provision import GATEWAY_ACCOUNT, provision_device

pytestmark = pytest.mark.integration
INFRA = REPO_ROOT / "infra" / "mosquitto"


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], str]]:
    """Mosquitto with the production config: TLS, the ACL and a password file (listener moved to a free port)."""
    workdir = tmp_path_factory.mktemp("secured-mqtt")
    passwd = workdir / "passwd"
    accounts = {
        "DEVICE_A": provision_device(passwd, "DEVICE_A"),
        "DEVICE_B": provision_device(passwd, "DEVICE_B"),
    }
    # An account the ACL's `user` block does not name: a gateway misconfigured to use it.
    accounts["gw-renamed"] = provision_device(passwd, "gw-renamed")
    # The command line as an operator runs it, the password on standard input.
    subprocess.run(
        [sys.executable, "-m", "tools.provision", "--passwd-file", str(passwd), "--password-stdin", "gateway"],
        input="gateway-secret\n",
        text=True,
        check=True,
        capture_output=True,
        cwd=REPO_ROOT,
    )
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


@pytest.mark.parametrize("device_id", ["gateway", "Gateway"])
def test_provisioning_refuses_the_accounts_the_acl_names(tmp_path: Path, device_id: str) -> None:
    # A device account named like an ACL `user` would read every device's topics.
    with pytest.raises(ValueError, match="reserved"):
        provision_device(tmp_path / "passwd", device_id)
    assert not (tmp_path / "passwd").exists()
    assert provision.reserved_accounts(INFRA / "acl") == {"gateway"}


def test_the_password_file_is_readable_by_the_brokers_group_and_nobody_else(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    provision_device(passwd, "DEVICE_D", gid=os.getgid())
    mode = passwd.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o640 and mode.st_gid == os.getgid()


def test_a_chosen_password_never_reaches_a_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []
    real_run = subprocess.run

    def recording_run(command: list[str], **kwargs: object) -> object:
        commands.append(command)
        return real_run(command, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(provision.subprocess, "run", recording_run)
    provision_device(tmp_path / "passwd", "DEVICE_E", "chosen-secret-1")
    assert commands and all("chosen-secret-1" not in part for command in commands for part in command)
    # The tool has no option that takes a password; a password is one line.
    with pytest.raises(SystemExit):
        provision.main(["--passwd-file", str(tmp_path / "passwd"), "gateway", "--password", "x"])
    with pytest.raises(ValueError, match="one non-empty line"):
        provision.set_password(tmp_path / "passwd", "DEVICE_E", "two\nlines")


@pytest.mark.parametrize(("user", "ready"), [(GATEWAY_ACCOUNT, True), ("gw-renamed", False)])
async def test_a_gateway_account_the_acl_does_not_name_is_not_ready_and_says_why(
    secured_broker: tuple[str, dict[str, str], str], user: str, ready: bool
) -> None:
    """Mosquitto grants the wrong account its subscriptions and delivers it nothing: only the probe tells."""
    url, accounts, ca_file = secured_broker
    settings = GatewaySettings(
        mqtt_url=url,
        lanes="alarms",
        instance_id=f"acl-{user}",
        mqtt_username=user,
        mqtt_password=accounts[user],
        mqtt_ca_file=ca_file,
    )
    gateway = Gateway(settings)
    alarms = gateway.sessions["alarms"]
    await alarms.start()
    probing = asyncio.create_task(gateway._probe_acl())
    try:
        await alarms.wait_ready(timeout=10)  # connected and subscribed, the wrong account too
        if ready:
            await asyncio.wait_for(probing, timeout=15)  # it returns once the round trip came back
            assert gateway.acl_problem is None
            await gateway.check_mqtt()
            return
        await eventually(lambda: _problem(gateway), timeout=15)
        with pytest.raises(ConnectionError) as refused:
            await gateway.check_mqtt()
        reason = str(refused.value)
        assert "MQTT user 'gw-renamed'" in reason and "did not come back" in reason, reason
        assert "`topic read eldercare/v1/devices/#`" in reason and "GATEWAY_MQTT_USERNAME" in reason, reason
    finally:
        gateway._stopping.set()
        probing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probing
        await alarms.stop()


async def _problem(gateway: Gateway) -> str | None:
    return gateway.acl_problem
