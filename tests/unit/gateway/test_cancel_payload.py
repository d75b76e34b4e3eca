"""The fall-cancel extension of the device contract: `alarm` with `type: "cancel"` and `ref_event_id`."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from eldercare.v1 import events_pb2 as pb
from gateway.payloads import DeviceMessage, Rejection, parse_device_message

RECEIVED_AT = datetime(2026, 11, 22, 8, 15, 30, tzinfo=UTC)
TOPIC = "eldercare/v1/devices/860000000000001/alarm"


def parse(payload: dict[str, object]) -> DeviceMessage | Rejection:
    outcome = parse_device_message(TOPIC, orjson.dumps(payload), RECEIVED_AT)
    assert not isinstance(outcome, DeviceMessage) or outcome.salvaged is None
    return outcome  # type: ignore[return-value]


def test_cancel_becomes_a_cancel_alarm_naming_the_fall() -> None:
    outcome = parse({"event_id": "c1", "ts": "2026-11-22T08:15:20Z", "type": "cancel", "ref_event_id": "fall-7"})
    assert isinstance(outcome, DeviceMessage)
    assert outcome.is_alarm
    alarm = outcome.envelope.alarm
    assert alarm.type == pb.DEVICE_ALARM_TYPE_CANCEL
    assert alarm.raw_type == "cancel"
    assert alarm.ref_event_id == "fall-7"


def test_cancel_without_a_reference_is_rejected_with_a_reason() -> None:
    outcome = parse({"event_id": "c1", "ts": "2026-11-22T08:15:20Z", "type": "cancel"})
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "invalid_field"
    assert "ref_event_id" in outcome.detail


def test_cancel_with_an_oversized_reference_is_rejected() -> None:
    outcome = parse({"event_id": "c1", "ts": "2026-11-22T08:15:20Z", "type": "cancel", "ref_event_id": "x" * 65})
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "invalid_field"


def test_other_alarms_are_unchanged_and_carry_no_reference() -> None:
    outcome = parse({"event_id": "a1", "ts": "2026-11-22T08:15:20Z", "type": "low_battery"})
    assert isinstance(outcome, DeviceMessage)
    assert outcome.envelope.alarm.type == pb.DEVICE_ALARM_TYPE_LOW_BATTERY
    assert outcome.envelope.alarm.ref_event_id == ""
    unknown = parse({"event_id": "a2", "ts": "2026-11-22T08:15:20Z", "type": "cancelled"})
    assert isinstance(unknown, DeviceMessage)
    assert unknown.envelope.alarm.type == pb.DEVICE_ALARM_TYPE_OTHER
