"""sos: the button press, and the documented example verbatim (salvage from a broken sos: test_life_safety.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from eldercare.envelope import decode_envelope, device_event_id
from eldercare.v1 import events_pb2 as pb
from gateway.payloads import DeviceMessage, parse_device_message
from tests.unit.gateway.payloads.contract import (
    RECEIVED_AT,
    mapped,
    stamp,
)

# --------------------------------------------------------------------------------------------
# docs/device-contract.md example, verbatim
# --------------------------------------------------------------------------------------------

DESIGN_TOPIC = "eldercare/v1/devices/860000000000001/sos"
DESIGN_PAYLOAD = (
    b'{"event_id":"a1b2","ts":"2026-11-22T08:15:00Z","battery":64,'
    b'"location":{"lat":31.95,"lon":118.75,"accuracy_m":12,"source":"gps"}}'
)


def test_design_example_verbatim() -> None:
    result = parse_device_message(DESIGN_TOPIC, DESIGN_PAYLOAD, RECEIVED_AT)

    assert isinstance(result, DeviceMessage)
    assert result.salvaged is None
    assert result.device_id == "860000000000001"
    assert result.kind == "sos"
    assert result.is_alarm is True
    expected = pb.Envelope(
        event_id=device_event_id("860000000000001", "a1b2"),
        kind=pb.EVENT_KIND_SOS,
        device_id="860000000000001",
        device_event_id="a1b2",
        occurred_at=stamp(datetime(2026, 11, 22, 8, 15, tzinfo=UTC)),
        received_at=stamp(RECEIVED_AT),
        producer="gateway",
        battery=64,
        location=pb.Location(lat=31.95, lon=118.75, accuracy_m=12.0, source=pb.LOCATION_SOURCE_GPS),
        sos=pb.Sos(),
    )
    assert result.envelope == expected
    assert not result.envelope.location.HasField("speed_kmh")
    # The envelope survives the wire and the consumers' sanity checks.
    assert decode_envelope(result.envelope.SerializeToString()) == expected


def test_the_body_is_an_empty_sos() -> None:
    assert mapped("sos", {}) == pb.Sos()
