"""The topic names the device and the kind: its rules, whatever the payload."""

from __future__ import annotations

import pytest

from eldercare.envelope import device_event_id
from gateway.payloads import Ignored, Rejection, parse_device_message
from tests.unit.gateway.payloads.contract import (
    EVENT,
    RECEIVED_AT,
    accept,
    doc,
    encode,
    topic,
)


@pytest.mark.parametrize(
    "device",
    ["a", "860000000000001", "SN-00042_b", "A-Za-z_0-9", "x" * 64, "-", "_"],
)
def test_valid_device_ids(device: str) -> None:
    envelope = accept("sos", doc("sos"), device=device)
    assert envelope.device_id == device
    assert envelope.event_id == device_event_id(device, EVENT)


@pytest.mark.parametrize(
    ("topic_name", "reason"),
    [
        pytest.param("eldercare/v1/devices//sos", "invalid_device_id", id="empty-id"),
        pytest.param("eldercare/v1/devices/" + "x" * 65 + "/sos", "invalid_device_id", id="65-chars"),
        pytest.param("eldercare/v1/devices/dev.1/sos", "invalid_device_id", id="dot"),
        pytest.param("eldercare/v1/devices/dev 1/sos", "invalid_device_id", id="space"),
        pytest.param("eldercare/v1/devices/dev:1/sos", "invalid_device_id", id="colon"),
        pytest.param("eldercare/v1/devices/dév/sos", "invalid_device_id", id="non-ascii"),
        pytest.param("eldercare/v1/devices/d٣/sos", "invalid_device_id", id="arabic-digit"),
        pytest.param("eldercare/v1/devices/+/sos", "invalid_device_id", id="wildcard-plus"),
        pytest.param("eldercare/v1/devices/#/sos", "invalid_device_id", id="wildcard-hash"),
        pytest.param("eldercare/v1/devices/dev\n/sos", "invalid_device_id", id="newline"),
        pytest.param("eldercare/v1/devices/dev1/SOS", "unknown_kind", id="kind-case"),
        pytest.param("eldercare/v1/devices/dev1/panic", "unknown_kind", id="kind-panic"),
        pytest.param("eldercare/v1/devices/dev1/sos ", "unknown_kind", id="kind-space"),
        pytest.param("eldercare/v1/devices/dev1/command", "unknown_kind", id="command"),
        pytest.param("eldercare/v1/devices/dev1/acks", "unknown_kind", id="acks"),
        pytest.param("eldercare/v1/devices/dev1/incident", "unknown_kind", id="incident"),
        pytest.param("eldercare/v2/devices/dev1/sos", "invalid_topic", id="v2"),
        pytest.param("Eldercare/v1/devices/dev1/sos", "invalid_topic", id="prefix-case"),
        pytest.param("/eldercare/v1/devices/dev1/sos", "invalid_topic", id="leading-slash"),
        pytest.param("eldercare/v1/device/dev1/sos", "invalid_topic", id="device-singular"),
        pytest.param("eldercare/v1/devices", "invalid_topic", id="prefix-only"),
        pytest.param("eldercare/v1/devices/", "invalid_topic", id="prefix-slash"),
        pytest.param("eldercare/v1/devices/dev1", "invalid_topic", id="one-level"),
        pytest.param("eldercare/v1/devices/dev1/sos/extra", "invalid_topic", id="three"),
        pytest.param("eldercare/v1/devices/dev1/sos/", "invalid_topic", id="trailing-slash"),
        pytest.param("eldercare/v1/devices/dev1/commands/x", "invalid_topic", id="cmd-deep"),
        pytest.param("", "invalid_topic", id="empty"),
        pytest.param("sos", "invalid_topic", id="bare-kind"),
    ],
)
def test_invalid_topics_are_rejected_even_for_a_valid_sos_payload(topic_name: str, reason: str) -> None:
    # No salvage: without a device (or a known kind) there is nobody to raise an alarm for.
    result = parse_device_message(topic_name, encode(doc("sos")), RECEIVED_AT)
    assert isinstance(result, Rejection), result
    assert result.reason == reason
    assert result.detail.strip()


@pytest.mark.parametrize("kind", ["commands"])  # device acks are input: tests/dispatch/test_units.py
@pytest.mark.parametrize(
    "payload",
    [
        b'{"command_id":"c1","type":"locate"}',
        b'{"command_id":"c1"}',
        b"",
        b"\xff\xfe not utf-8",
        b"{broken",
        b"x" * (16 * 1024 + 1),
    ],
)
def test_platform_topics_are_ignored(kind: str, payload: bytes) -> None:
    result = parse_device_message(topic(kind), payload, RECEIVED_AT)
    assert result == Ignored(kind)


def test_platform_topic_with_invalid_device_id_is_still_rejected() -> None:
    result = parse_device_message("eldercare/v1/devices/bad.id/commands", b"{}", RECEIVED_AT)
    assert isinstance(result, Rejection)
    assert result.reason == "invalid_device_id"
