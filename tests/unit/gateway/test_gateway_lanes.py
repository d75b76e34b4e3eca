"""GATEWAY_LANES: which MQTT sessions a gateway process runs, and how devstack lays the lanes out."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.app import Gateway, every_subscription_form, lane_subscriptions
from gateway.config import GatewaySettings
from tools.devstack import ALARM_GATEWAY, DEFAULT_PORTS, Stack, StackConfig


@pytest.fixture(autouse=True)
def _no_gateway_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEWAY_LANES", "GATEWAY_INSTANCE_ID", "GATEWAY_PORT", "GATEWAY_BULK_SHARED"):
        monkeypatch.delenv(name, raising=False)


def test_lanes_default_to_both_sessions_in_one_process() -> None:
    settings = GatewaySettings()
    assert settings.lanes == "all"
    assert settings.runs_alarm_lane and settings.runs_bulk_lane


@pytest.mark.parametrize(("lanes", "alarm", "bulk"), [("alarms", True, False), ("bulk", False, True)])
def test_lanes_come_from_gateway_lanes(monkeypatch: pytest.MonkeyPatch, lanes: str, alarm: bool, bulk: bool) -> None:
    monkeypatch.setenv("GATEWAY_LANES", lanes)
    settings = GatewaySettings()
    assert settings.lanes == lanes
    assert (settings.runs_alarm_lane, settings.runs_bulk_lane) == (alarm, bulk)


@pytest.mark.parametrize("value", ["both", "ALARMS", "alarm", "", "alarms,bulk"])
def test_unknown_lanes_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("GATEWAY_LANES", value)
    with pytest.raises(ValidationError, match="GATEWAY_LANES"):
        GatewaySettings()


@pytest.mark.parametrize(
    ("lanes", "sessions", "retired"),
    [("all", {"alarms", "bulk"}, None), ("alarms", {"alarms"}, "bulk"), ("bulk", {"bulk"}, "alarms")],
)
def test_a_gateway_runs_only_its_lanes_sessions(lanes: str, sessions: set[str], retired: str | None) -> None:
    gateway = Gateway(GatewaySettings(lanes=lanes, instance_id="gw-7"))  # type: ignore[arg-type]
    assert set(gateway.sessions) == sessions
    assert {s.client_id for s in gateway.sessions.values()} == {f"eldercare-gw-gw-7-{name}" for name in sessions}
    assert (gateway.alarm_session is not None, gateway.bulk_session is not None) == (
        "alarms" in sessions,
        "bulk" in sessions,
    )
    # A single-lane process ends the other lane's session this instance may have left at the broker.
    if retired is None:
        assert gateway.retirement is None
    else:
        assert gateway.retirement is not None
        assert gateway.retirement.client_id == f"eldercare-gw-gw-7-{retired}"


@pytest.mark.asyncio
@pytest.mark.parametrize("lanes", ["all", "alarms", "bulk"])
async def test_readiness_names_only_the_sessions_the_process_runs(lanes: str) -> None:
    gateway = Gateway(GatewaySettings(lanes=lanes, instance_id="gw-8"))  # type: ignore[arg-type]
    with pytest.raises(ConnectionError) as refused:
        await gateway.check_mqtt()  # nothing is connected
    first = "bulk" if lanes == "bulk" else "alarms"
    assert str(refused.value) == f"MQTT session {first} is not connected"
    for session in gateway.sessions.values():
        session.connected.set()
    with pytest.raises(ConnectionError, match="connected but not subscribed yet"):
        await gateway.check_mqtt()  # connected, but no SUBACK yet: nothing would arrive
    for session in gateway.sessions.values():
        session.subscribed.set()
    await gateway.check_mqtt()


def _stack(tmp_path: Path) -> Stack:
    return Stack(StackConfig(var_dir=tmp_path, ports=dict(DEFAULT_PORTS)))


def test_devstack_refuses_a_bulk_lane_gateway_without_the_alarm_lane_one(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    with pytest.raises(RuntimeError, match=ALARM_GATEWAY):
        stack.make_process("gateway")
    with pytest.raises(RuntimeError, match=ALARM_GATEWAY):
        stack.make_process("gateway", instance="2", port=9999)


def test_devstack_gives_each_gateway_its_lane_instance_id_and_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inherited values must not leak into any process: the lanes and unique ids are what keep alarms covered.
    monkeypatch.setenv("GATEWAY_LANES", "bulk")
    monkeypatch.setenv("GATEWAY_INSTANCE_ID", "shared")
    stack = _stack(tmp_path)
    alarms = stack.make_process("gateway", instance="alarms")
    stack.processes[alarms.name] = alarms
    bulk = stack.make_process("gateway")
    second = stack.make_process("gateway", instance="2", port=DEFAULT_PORTS["gateway"] + 2)
    assert [p.name for p in (alarms, bulk, second)] == [ALARM_GATEWAY, "gateway", "gateway-2"]
    assert [p.env["GATEWAY_LANES"] for p in (alarms, bulk, second)] == ["alarms", "bulk", "bulk"]
    ids = [p.env["GATEWAY_INSTANCE_ID"] for p in (alarms, bulk, second)]
    assert ids == ["local-gateway-alarms", "local-gateway", "local-gateway-2"]
    ports = [p.env["GATEWAY_PORT"] for p in (alarms, bulk, second)]
    assert ports == ["8005", "8004", "8006"]
    assert [p.health_url for p in (alarms, bulk, second)] == [f"http://127.0.0.1:{port}" for port in ports]
    # Other services learn the bulk gateway's port (monitoring reads its /readyz), not the alarm one's.
    assert stack.make_process("monitoring").env["GATEWAY_PORT"] == "8004"


def test_lanes_subscribe_plainly_unless_bulk_gateways_split_the_telemetry() -> None:
    plain = GatewaySettings(share_group="g")
    assert lane_subscriptions(plain, "alarm") == [
        "eldercare/v1/devices/+/alarm",
        "eldercare/v1/devices/+/fall",
        "eldercare/v1/devices/+/sos",
    ]
    assert lane_subscriptions(plain, "bulk") == ["eldercare/v1/devices/#"]
    split = GatewaySettings(share_group="g", bulk_shared=True)
    # Alarms never share (a restarted Mosquitto would drop them until the gateway resubscribes).
    assert lane_subscriptions(split, "alarm") == lane_subscriptions(plain, "alarm")
    assert lane_subscriptions(split, "bulk") == ["$share/g/eldercare/v1/devices/#"]
    # A left-over session is unsubscribed from whichever form its instance used.
    assert set(every_subscription_form(plain, "bulk")) == {"eldercare/v1/devices/#", "$share/g/eldercare/v1/devices/#"}


def test_devstack_shares_the_bulk_lane_only_between_several_bulk_gateways(tmp_path: Path) -> None:
    for processes, shared in ((1, "false"), (2, "true")):
        stack = Stack(StackConfig(gateway_processes=processes, var_dir=tmp_path))
        alarms = stack.make_process("gateway", instance="alarms")
        stack.processes[alarms.name] = alarms
        assert stack.make_process("gateway").env["GATEWAY_BULK_SHARED"] == shared
