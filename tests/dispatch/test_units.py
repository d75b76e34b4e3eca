"""Pure parts of dispatch operations: ack payloads, command payloads, ranking, percentiles, schedules."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from eldercare.kafka import PoisonRecord
from eldercare.topics import COMMAND_ACKS
from eldercare.v1 import commands_pb2
from eldercare.v1 import events_pb2 as pb
from gateway.downlink import command_payload
from gateway.payloads import DeviceMessage, Rejection, parse_device_message
from services.dispatch.assignment.ranking import Option, haversine_km, rank
from services.dispatch.report.service import parse_period, percentile
from services.dispatch.responder.models import Shift, Skill
from services.dispatch.responder.service import on_duty

NOW = datetime(2026, 11, 22, 8, 15, tzinfo=UTC)


def test_a_device_ack_becomes_a_command_ack_envelope_on_its_own_topic() -> None:
    result = parse_device_message("eldercare/v1/devices/dev1/ack", b'{"command_id":"c-1"}', NOW)
    assert isinstance(result, DeviceMessage)
    assert result.topic == COMMAND_ACKS
    assert result.envelope.kind == pb.EVENT_KIND_COMMAND_ACK
    assert result.envelope.command_ack.command_id == "c-1"
    assert result.envelope.command_ack.device_id == "dev1"
    again = parse_device_message("eldercare/v1/devices/dev1/ack", b'{"command_id":"c-1","ts":1795473651961}', NOW)
    assert isinstance(again, DeviceMessage) and again.envelope.event_id == result.envelope.event_id


@pytest.mark.parametrize("payload", [b"{}", b'{"command_id":""}', b'{"command_id":7}', b"{broken", b"[]"])
def test_a_broken_ack_is_rejected(payload: bytes) -> None:
    assert isinstance(parse_device_message("eldercare/v1/devices/dev1/ack", payload, NOW), Rejection)


def test_a_command_envelope_maps_to_the_device_topic_and_contract_payload() -> None:
    envelope = pb.Envelope(
        event_id="e",
        kind=pb.EVENT_KIND_COMMAND,
        device_id="dev1",
        command=commands_pb2.DeviceCommand(command_id="c-1", type="message", device_id="dev1", text="hi", attempt=2),
    )
    topic, payload = command_payload(envelope)
    assert topic == "eldercare/v1/devices/dev1/commands"
    assert orjson.loads(payload) == {"command_id": "c-1", "type": "message", "text": "hi", "attempt": 2}
    with pytest.raises(PoisonRecord):
        command_payload(pb.Envelope(event_id="e", kind=pb.EVENT_KIND_SOS, device_id="dev1", sos=pb.Sos()))
    bad_device = pb.Envelope(command=commands_pb2.DeviceCommand(command_id="c", type="locate", device_id="a/b"))
    with pytest.raises(PoisonRecord):
        command_payload(bad_device)


def test_haversine_matches_a_known_distance() -> None:
    # Beijing Tiananmen to Shanghai People's Square: about 1067 km.
    assert haversine_km((39.9087, 116.3975), (31.2304, 121.4737)) == pytest.approx(1067, rel=0.01)


def test_close_own_contacts_come_first_then_skills_then_distance() -> None:
    origin = (30.0, 120.0)
    options = [
        Option("far-contact", (30.1, 120.0), set(), own_contact=True),  # ~11 km: not close
        Option("near-no-aid", (30.001, 120.0), set(), own_contact=False),
        Option("aid", (30.02, 120.0), {Skill.FIRST_AID}, own_contact=False),
        Option("close-contact", (30.01, 120.0), set(), own_contact=True),
        Option("out-of-range", (30.05, 120.0), {Skill.FIRST_AID}, own_contact=False, coverage_radius_km=1),
    ]
    ranked = rank(options, origin=origin, needed={Skill.FIRST_AID}, contact_close_km=3)
    assert [o.responder_id for o in ranked] == ["close-contact", "aid", "near-no-aid", "far-contact"]


def test_on_duty_schedules_including_overnight_shifts() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    monday_23h = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 Monday in Shanghai
    tuesday_02h = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # 02:00 Tuesday
    night = [Shift(days=[0], start="22:00", end="06:00")]
    assert on_duty(night, monday_23h, zone) and on_duty(night, tuesday_02h, zone)
    assert not on_duty([Shift(days=[1], start="22:00", end="06:00")], tuesday_02h, zone)
    assert not on_duty([Shift(days=[0], start="08:00", end="18:00")], monday_23h, zone)
    assert on_duty(None, monday_23h, zone)


def test_percentile_and_period() -> None:
    assert percentile([90, 10, 45, 30], 0.5) == 37.5
    assert percentile([90, 10, 45, 30], 0.9) == 76.5
    assert percentile([], 0.5) is None
    assert parse_period("7d").days == 7
    with pytest.raises(ValueError):
        parse_period("0d")
