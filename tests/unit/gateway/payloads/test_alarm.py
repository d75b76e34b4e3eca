"""alarm: a device's own alarm (low battery, removed, tamper…), known or kept as its raw string."""

from __future__ import annotations

from typing import Any

import pytest

from eldercare.v1 import events_pb2 as pb
from tests.unit.gateway.payloads.contract import (
    MISSING,
    accept,
    doc,
    reject,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("low_battery", pb.DEVICE_ALARM_TYPE_LOW_BATTERY),
        ("device_removed", pb.DEVICE_ALARM_TYPE_DEVICE_REMOVED),
        ("power_off", pb.DEVICE_ALARM_TYPE_POWER_OFF),
        ("tamper", pb.DEVICE_ALARM_TYPE_TAMPER),
    ],
)
def test_known_alarm_types_map_to_their_enum(raw: str, expected: int) -> None:
    envelope = accept("alarm", doc("alarm", type=raw))
    assert envelope.alarm.type == expected


@pytest.mark.parametrize(
    "raw",
    [
        "fire",
        "sos_button_stuck",
        "LOW_BATTERY",  # case matters: not the known value
        "low battery",
        "other",
        "x",
        "x" * 64,
        "温度过高",
    ],
)
def test_unknown_alarm_types_map_to_other_and_keep_the_raw_string(raw: str) -> None:
    envelope = accept("alarm", doc("alarm", type=raw))
    assert envelope.alarm == pb.DeviceAlarm(type=pb.DEVICE_ALARM_TYPE_OTHER, raw_type=raw)


@pytest.mark.parametrize(
    ("alarm_type", "reason"),
    [
        pytest.param(MISSING, "missing_field", id="missing"),
        pytest.param("", "invalid_field", id="empty"),
        pytest.param("x" * 65, "invalid_field", id="65-chars"),
        pytest.param(1, "invalid_field", id="int"),
        pytest.param(True, "invalid_field", id="bool"),
        pytest.param(None, "invalid_field", id="null"),
        pytest.param(["tamper"], "invalid_field", id="list"),
        pytest.param({"type": "tamper"}, "invalid_field", id="object"),
    ],
)
def test_missing_or_invalid_alarm_type_is_rejected(alarm_type: Any, reason: str) -> None:
    reject("alarm", doc("alarm", type=alarm_type), reason, "type")
