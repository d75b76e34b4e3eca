"""The services' own events get their kind from their body, and a fresh id unless they bring one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eldercare.envelope import decode_envelope, from_timestamp, platform_event
from eldercare.v1 import alerts_pb2, commands_pb2
from eldercare.v1 import events_pb2 as pb

AT = datetime(2026, 12, 1, 8, 30, 0, 123456, tzinfo=UTC)


def test_the_kind_follows_from_the_body_and_the_event_decodes() -> None:
    event = platform_event(
        producer="dispatch", occurred_at=AT, device_id="d-1", incident=pb.IncidentEvent(action="ack")
    )
    assert event.kind == pb.EVENT_KIND_INCIDENT and event.producer == "dispatch" and event.device_id == "d-1"
    assert from_timestamp(event.occurred_at) == from_timestamp(event.received_at) == AT
    assert decode_envelope(event.SerializeToString()).incident.action == "ack"
    alert = platform_event(producer="monitoring", occurred_at=AT, event_id="a-1", alert=alerts_pb2.Alert(type="x"))
    assert (alert.kind, alert.event_id) == (pb.EVENT_KIND_ALERT, "a-1")


def test_each_event_gets_its_own_id_and_may_be_received_later() -> None:
    command = commands_pb2.DeviceCommand(command_id="c")
    first = platform_event(
        producer="care_record", occurred_at=AT, received_at=AT + timedelta(seconds=5), command=command
    )
    second = platform_event(producer="care_record", occurred_at=AT, command=command)
    assert first.kind == pb.EVENT_KIND_COMMAND and first.event_id != second.event_id
    assert from_timestamp(first.received_at) - from_timestamp(first.occurred_at) == timedelta(seconds=5)


def test_a_device_body_is_not_a_platform_event() -> None:
    with pytest.raises(KeyError):
        platform_event(producer="dispatch", occurred_at=AT, sos=pb.Sos())
