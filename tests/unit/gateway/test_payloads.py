"""The device → platform MQTT contract (docs/device-contract.md) as enforced by gateway/payloads.py.

Table-driven: every rule is exercised for every kind it applies to, with concrete expected
values (reason codes, envelope fields), so that a behaviour change makes a test fail.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from eldercare.envelope import decode_envelope, device_event_id
from eldercare.v1 import events_pb2 as pb
from gateway.payloads import DeviceMessage, Ignored, Rejection, parse_device_message

# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------

RECEIVED_AT = datetime(2026, 11, 22, 8, 15, 30, 123456, tzinfo=UTC)
DEVICE = "860000000000001"
TS = "2026-11-22T08:15:00Z"
TS_UTC = datetime(2026, 11, 22, 8, 15, tzinfo=UTC)
EVENT = "evt-1"

ALL_KINDS = ("sos", "fall", "location", "vitals", "heartbeat", "alarm")
LIFE_SAFETY_KINDS = ("sos", "fall")
NEVER_SALVAGED_KINDS = ("location", "vitals", "heartbeat", "alarm")

KIND_ENUM = {
    "sos": pb.EVENT_KIND_SOS,
    "fall": pb.EVENT_KIND_FALL,
    "location": pb.EVENT_KIND_LOCATION,
    "vitals": pb.EVENT_KIND_VITALS,
    "heartbeat": pb.EVENT_KIND_HEARTBEAT,
    "alarm": pb.EVENT_KIND_ALARM,
}
BODY = {
    "sos": "sos",
    "fall": "fall",
    "location": "location_report",
    "vitals": "vitals",
    "heartbeat": "heartbeat",
    "alarm": "alarm",
}
# The smallest kind-specific part of a valid payload.
MINIMAL: dict[str, dict[str, Any]] = {
    "sos": {},
    "fall": {},
    "location": {"lat": 31.95, "lon": 118.75},
    "vitals": {"heart_rate": 72},
    "heartbeat": {},
    "alarm": {"type": "low_battery"},
}
REASONS = {
    "invalid_topic",
    "invalid_device_id",
    "unknown_kind",
    "payload_too_large",
    "invalid_utf8",
    "invalid_json",
    "not_an_object",
    "missing_field",
    "invalid_field",
}
MISSING = object()  # marks a key to delete from a payload


def topic(kind: str, device: str = DEVICE) -> str:
    return f"eldercare/v1/devices/{device}/{kind}"


def doc(kind: str, /, **fields: Any) -> dict[str, Any]:
    """A valid payload for `kind`, with `fields` overriding (MISSING deletes a key)."""
    merged = {"event_id": EVENT, "ts": TS, **MINIMAL[kind], **fields}
    return {key: value for key, value in merged.items() if value is not MISSING}


def encode(payload: dict[str, Any] | bytes) -> bytes:
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, allow_nan=False).encode()


def parse(kind: str, payload: dict[str, Any] | bytes, device: str = DEVICE) -> DeviceMessage | Rejection | Ignored:
    return parse_device_message(topic(kind, device), encode(payload), RECEIVED_AT)


def stamp(moment: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(moment)
    return result


def at(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def accept(kind: str, payload: dict[str, Any] | bytes, device: str = DEVICE) -> pb.Envelope:
    result = parse(kind, payload, device)
    assert isinstance(result, DeviceMessage), result
    assert result.salvaged is None, result.salvaged
    assert result.kind == kind
    assert result.device_id == device
    envelope = result.envelope
    assert envelope.kind == KIND_ENUM[kind]
    assert envelope.WhichOneof("body") == BODY[kind]
    assert envelope.device_id == device
    assert envelope.producer == "gateway"
    assert envelope.received_at == stamp(RECEIVED_AT)
    return envelope


def check_rejection(rejection: Rejection, reason: str, mentions: str | None) -> None:
    assert rejection.reason == reason, rejection
    assert rejection.detail.strip(), rejection
    if mentions is not None:
        assert mentions in rejection.detail, rejection


def reject(kind: str, payload: dict[str, Any] | bytes, reason: str, mentions: str | None = None) -> Rejection:
    result = parse(kind, payload)
    assert isinstance(result, Rejection), result
    check_rejection(result, reason, mentions)
    return result


def salvage(kind: str, payload: dict[str, Any] | bytes, reason: str, mentions: str | None = None) -> pb.Envelope:
    """A life-safety alarm raised from a broken payload: a message AND the problem."""
    result = parse(kind, payload)
    assert isinstance(result, DeviceMessage), result
    assert result.salvaged is not None, "a broken payload must carry its Rejection"
    check_rejection(result.salvaged, reason, mentions)
    envelope = result.envelope
    assert result.kind == kind
    assert envelope.kind == KIND_ENUM[kind]
    assert envelope.WhichOneof("body") == BODY[kind]
    assert envelope.device_id == DEVICE
    assert envelope.producer == "gateway"
    assert envelope.received_at == stamp(RECEIVED_AT)
    assert envelope.event_id == device_event_id(DEVICE, envelope.device_event_id)
    return envelope


def broken(kind: str, payload: dict[str, Any] | bytes, reason: str, mentions: str | None = None) -> pb.Envelope | None:
    """Salvaged for sos/fall, rejected for every other kind."""
    if kind in LIFE_SAFETY_KINDS:
        return salvage(kind, payload, reason, mentions)
    reject(kind, payload, reason, mentions)
    return None


def payload_hash_id(payload: bytes) -> str:
    return "sha256-" + hashlib.sha256(payload).hexdigest()[:32]


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


# --------------------------------------------------------------------------------------------
# Valid payloads per kind and the envelope built from them
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_minimal_valid_payload_builds_the_envelope(kind: str) -> None:
    envelope = accept(kind, doc(kind))

    assert envelope.event_id == device_event_id(DEVICE, EVENT)
    assert uuid.UUID(envelope.event_id).version == 5
    assert envelope.event_id != EVENT
    assert envelope.device_event_id == EVENT
    assert at(envelope.occurred_at) == TS_UTC
    assert not envelope.HasField("battery")
    assert envelope.HasField("location") is (kind == "location")


@pytest.mark.parametrize(
    ("kind", "is_alarm"),
    [("sos", True), ("fall", True), ("alarm", True)] + [(kind, False) for kind in ("location", "vitals", "heartbeat")],
)
def test_is_alarm_per_kind(kind: str, is_alarm: bool) -> None:
    result = parse(kind, doc(kind))
    assert isinstance(result, DeviceMessage)
    assert result.is_alarm is is_alarm


@pytest.mark.parametrize(
    ("kind", "fields", "body"),
    [
        pytest.param("sos", {}, pb.Sos(), id="sos"),
        pytest.param("fall", {}, pb.Fall(), id="fall-bare"),
        pytest.param("fall", {"confidence": 0.87}, pb.Fall(confidence=0.87), id="fall-conf"),
        pytest.param("fall", {"impact_g": 3.2}, pb.Fall(impact_g=3.2), id="fall-impact"),
        pytest.param(
            "fall",
            {"confidence": 0, "impact_g": 0},
            pb.Fall(confidence=0.0, impact_g=0.0),
            id="fall-zeros-are-kept",
        ),
        pytest.param(
            "fall",
            {"confidence": 1, "impact_g": 100},
            pb.Fall(confidence=1.0, impact_g=100.0),
            id="fall-upper-bounds",
        ),
        pytest.param("location", {}, pb.LocationReport(), id="location"),
        pytest.param("vitals", {"heart_rate": 72}, pb.Vitals(heart_rate=72), id="vitals-hr"),
        pytest.param(
            "vitals",
            {"heart_rate": MISSING, "spo2": 97.5},
            pb.Vitals(spo2=97.5),
            id="vitals-spo2-only",
        ),
        pytest.param(
            "vitals",
            {"heart_rate": MISSING, "systolic": 128, "diastolic": 82},
            pb.Vitals(systolic=128, diastolic=82),
            id="vitals-bp-only",
        ),
        pytest.param(
            "vitals",
            {"heart_rate": MISSING, "body_temp": 36.6},
            pb.Vitals(body_temp=36.6),
            id="vitals-temp-only",
        ),
        pytest.param(
            "vitals",
            {"heart_rate": MISSING, "steps": 0},
            pb.Vitals(steps=0),
            id="vitals-zero-steps-is-a-reading",
        ),
        pytest.param(
            "vitals",
            {
                "heart_rate": 58.5,
                "spo2": 99,
                "systolic": 140,
                "diastolic": 90,
                "body_temp": 37.2,
                "steps": 4321,
            },
            pb.Vitals(heart_rate=58.5, spo2=99, systolic=140, diastolic=90, body_temp=37.2, steps=4321),
            id="vitals-all",
        ),
        pytest.param(
            "vitals",
            {
                "heart_rate": 0,
                "spo2": 0,
                "systolic": 0,
                "diastolic": 0,
                "body_temp": 20,
                "steps": 0,
            },
            pb.Vitals(heart_rate=0, spo2=0, systolic=0, diastolic=0, body_temp=20, steps=0),
            id="vitals-lower-bounds",
        ),
        pytest.param(
            "vitals",
            {
                "heart_rate": 350,
                "spo2": 100,
                "systolic": 400,
                "diastolic": 300,
                "body_temp": 46,
                "steps": 10_000_000,
            },
            pb.Vitals(heart_rate=350, spo2=100, systolic=400, diastolic=300, body_temp=46, steps=10**7),
            id="vitals-upper-bounds",
        ),
        pytest.param(
            "vitals",
            {"heart_rate": 72, "spo2": None},
            pb.Vitals(heart_rate=72),
            id="vitals-null-reading-is-absent",
        ),
        pytest.param("heartbeat", {}, pb.Heartbeat(), id="heartbeat-bare"),
        pytest.param("heartbeat", {"signal": 0}, pb.Heartbeat(signal=0), id="heartbeat-sig0"),
        pytest.param("heartbeat", {"signal": 57}, pb.Heartbeat(signal=57), id="heartbeat-sig"),
        pytest.param("heartbeat", {"signal": 100}, pb.Heartbeat(signal=100), id="heartbeat-sig100"),
    ],
)
def test_kind_specific_fields_are_mapped(kind: str, fields: dict[str, Any], body: Any) -> None:
    envelope = accept(kind, doc(kind, **fields))
    assert getattr(envelope, BODY[kind]) == body


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


# --------------------------------------------------------------------------------------------
# Common optional fields: battery and location, for every kind
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("battery", [0, 1, 64, 100])
def test_battery_is_copied(kind: str, battery: int) -> None:
    envelope = accept(kind, doc(kind, battery=battery))
    assert envelope.HasField("battery")
    assert envelope.battery == battery


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_null_optional_common_fields_are_absent(kind: str) -> None:
    fields = {"battery": None}
    if kind != "location":
        fields["location"] = None
    envelope = accept(kind, doc(kind, **fields))
    assert not envelope.HasField("battery")
    assert envelope.HasField("location") is (kind == "location")


def without_top_level_fix(kind: str, **fields: Any) -> dict[str, Any]:
    return doc(kind, **{"lat": MISSING, "lon": MISSING, **fields})


LOCATION_OBJECTS = [
    pytest.param(
        {"lat": 31.95, "lon": 118.75},
        pb.Location(lat=31.95, lon=118.75),
        id="lat-lon-only",
    ),
    pytest.param(
        {"lat": 31.95, "lon": 118.75, "accuracy_m": 12, "source": "gps"},
        pb.Location(lat=31.95, lon=118.75, accuracy_m=12, source=pb.LOCATION_SOURCE_GPS),
        id="gps",
    ),
    pytest.param(
        {"lat": 31.95, "lon": 118.75, "accuracy_m": 850.5, "source": "lbs"},
        pb.Location(lat=31.95, lon=118.75, accuracy_m=850.5, source=pb.LOCATION_SOURCE_LBS),
        id="lbs",
    ),
    pytest.param(
        {"lat": 31.95, "lon": 118.75, "source": "wifi"},
        pb.Location(lat=31.95, lon=118.75, source=pb.LOCATION_SOURCE_WIFI),
        id="wifi-no-accuracy",
    ),
    pytest.param(
        {"lat": 90, "lon": 180, "accuracy_m": 0},
        pb.Location(lat=90, lon=180, accuracy_m=0),
        id="upper-bounds-and-zero-accuracy",
    ),
    pytest.param(
        {"lat": -90, "lon": -180},
        pb.Location(lat=-90, lon=-180),
        id="lower-bounds",
    ),
    pytest.param(
        {"lat": 0, "lon": 0, "accuracy_m": 100_000},
        pb.Location(lat=0, lon=0, accuracy_m=100_000),
        id="null-island-max-accuracy",
    ),
    pytest.param(
        {"lat": 31.95, "lon": 118.75, "speed_kmh": 4.5},
        pb.Location(lat=31.95, lon=118.75, speed_kmh=4.5),
        id="speed",
    ),
    pytest.param(
        {"lat": 31.95, "lon": 118.75, "source": None, "accuracy_m": None},
        pb.Location(lat=31.95, lon=118.75),
        id="nulls-are-absent",
    ),
    pytest.param(
        {"lat": 31.95, "lon": 118.75, "altitude_m": 12, "satellites": 7, "hdop": "0.9"},
        pb.Location(lat=31.95, lon=118.75),
        id="unknown-fields-ignored",
    ),
]


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize(("location", "expected"), LOCATION_OBJECTS)
def test_location_object_is_copied_for_every_kind(kind: str, location: dict[str, Any], expected: pb.Location) -> None:
    envelope = accept(kind, without_top_level_fix(kind, location=location))
    assert envelope.HasField("location")
    assert envelope.location == expected


def test_location_without_source_is_unspecified_and_has_no_accuracy() -> None:
    envelope = accept("sos", doc("sos", location={"lat": 1.5, "lon": 2.5}))
    assert envelope.location.source == pb.LOCATION_SOURCE_UNSPECIFIED
    assert not envelope.location.HasField("accuracy_m")
    assert not envelope.location.HasField("speed_kmh")


INVALID_BATTERY = [
    pytest.param(-1, id="negative"),
    pytest.param(101, id="over-100"),
    pytest.param(64.5, id="fraction"),
    pytest.param(64.0, id="float-integral"),
    pytest.param("64", id="string"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param([64], id="list"),
    pytest.param({"percent": 64}, id="object"),
]


@pytest.mark.parametrize("kind", NEVER_SALVAGED_KINDS)
@pytest.mark.parametrize("battery", INVALID_BATTERY)
def test_invalid_battery_is_rejected(kind: str, battery: Any) -> None:
    reject(kind, doc(kind, battery=battery), "invalid_field", "battery")


@pytest.mark.parametrize("kind", LIFE_SAFETY_KINDS)
@pytest.mark.parametrize("battery", INVALID_BATTERY)
def test_invalid_battery_is_dropped_from_a_life_safety_alarm(kind: str, battery: Any) -> None:
    location = {"lat": 31.95, "lon": 118.75, "source": "gps"}
    envelope = salvage(kind, doc(kind, battery=battery, location=location), "invalid_field", "battery")
    assert not envelope.HasField("battery")
    # Everything else that was valid is kept.
    assert envelope.device_event_id == EVENT
    assert at(envelope.occurred_at) == TS_UTC
    assert envelope.location == pb.Location(lat=31.95, lon=118.75, source=pb.LOCATION_SOURCE_GPS)


INVALID_LOCATION_OBJECTS = [
    pytest.param({"lat": 90.001, "lon": 0}, "invalid_field", "location.lat", id="lat>90"),
    pytest.param({"lat": -90.001, "lon": 0}, "invalid_field", "location.lat", id="lat<-90"),
    pytest.param({"lat": 0, "lon": 180.001}, "invalid_field", "location.lon", id="lon>180"),
    pytest.param({"lat": 0, "lon": -180.001}, "invalid_field", "location.lon", id="lon<-180"),
    pytest.param({"lat": True, "lon": 0}, "invalid_field", "location.lat", id="lat-bool"),
    pytest.param({"lat": 0, "lon": False}, "invalid_field", "location.lon", id="lon-bool"),
    pytest.param({"lat": None, "lon": 0}, "invalid_field", "location.lat", id="lat-null"),
    pytest.param({"lat": [1], "lon": 0}, "invalid_field", "location.lat", id="lat-list"),
    pytest.param({"lon": 0}, "missing_field", "location.lat", id="lat-missing"),
    pytest.param({"lat": 0}, "missing_field", "location.lon", id="lon-missing"),
    pytest.param({}, "missing_field", "location.lat", id="empty"),
    pytest.param(
        {"lat": 0, "lon": 0, "accuracy_m": -1},
        "invalid_field",
        "location.accuracy_m",
        id="accuracy<0",
    ),
    pytest.param(
        {"lat": 0, "lon": 0, "accuracy_m": 100_000.5},
        "invalid_field",
        "location.accuracy_m",
        id="accuracy-huge",
    ),
    pytest.param(
        {"lat": 0, "lon": 0, "accuracy_m": True},
        "invalid_field",
        "location.accuracy_m",
        id="accuracy-bool",
    ),
    pytest.param({"lat": 0, "lon": 0, "source": "GPS"}, "invalid_field", "location.source", id="GPS"),
    pytest.param(
        {"lat": 0, "lon": 0, "source": "glonass"},
        "invalid_field",
        "location.source",
        id="source-unknown",
    ),
    pytest.param({"lat": 0, "lon": 0, "source": 1}, "invalid_field", "location.source", id="source-int"),
    pytest.param(
        {"lat": 0, "lon": 0, "speed_kmh": -1},
        "invalid_field",
        "location.speed_kmh",
        id="speed<0",
    ),
    pytest.param([31.95, 118.75], "invalid_field", "location", id="list"),
    pytest.param("31.95,118.75", "invalid_field", "location", id="string"),
    pytest.param(31.95, "invalid_field", "location", id="number"),
    pytest.param(True, "invalid_field", "location", id="bool"),
]


@pytest.mark.parametrize("kind", NEVER_SALVAGED_KINDS)
@pytest.mark.parametrize(("location", "reason", "mentions"), INVALID_LOCATION_OBJECTS)
def test_invalid_location_object_is_rejected(kind: str, location: Any, reason: str, mentions: str) -> None:
    # For the location kind the top-level fix is valid: the nested object is still checked.
    reject(kind, doc(kind, location=location), reason, mentions)


@pytest.mark.parametrize("kind", LIFE_SAFETY_KINDS)
@pytest.mark.parametrize(("location", "reason", "mentions"), INVALID_LOCATION_OBJECTS)
def test_invalid_location_object_is_dropped_from_a_life_safety_alarm(
    kind: str, location: Any, reason: str, mentions: str
) -> None:
    envelope = salvage(kind, doc(kind, battery=42, location=location), reason, mentions)
    assert not envelope.HasField("location")
    assert envelope.battery == 42
    assert envelope.device_event_id == EVENT
    assert at(envelope.occurred_at) == TS_UTC


# --------------------------------------------------------------------------------------------
# Required fields: event_id and ts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize(
    "event_id",
    ["a", "a1b2", "x" * 64, "6f1c3f5e-3b0a-4f7e-9d43-2b7f0e6c9a11", "事件-1", "with space"],
)
def test_valid_event_ids_are_kept(kind: str, event_id: str) -> None:
    envelope = accept(kind, doc(kind, event_id=event_id))
    assert envelope.device_event_id == event_id
    assert envelope.event_id == device_event_id(DEVICE, event_id)


INVALID_EVENT_IDS = [
    pytest.param("", id="empty"),
    pytest.param("x" * 65, id="65-chars"),
    pytest.param(1234, id="int"),
    pytest.param(12.5, id="float"),
    pytest.param(True, id="bool"),
    pytest.param(None, id="null"),
    pytest.param(["a1b2"], id="list"),
    pytest.param({"id": "a1b2"}, id="object"),
]


@pytest.mark.parametrize("kind", NEVER_SALVAGED_KINDS)
@pytest.mark.parametrize("event_id", INVALID_EVENT_IDS)
def test_invalid_event_id_is_rejected(kind: str, event_id: Any) -> None:
    reject(kind, doc(kind, event_id=event_id), "invalid_field", "event_id")


@pytest.mark.parametrize("kind", NEVER_SALVAGED_KINDS)
@pytest.mark.parametrize("field", ["event_id", "ts"])
def test_missing_required_field_is_rejected(kind: str, field: str) -> None:
    reject(kind, doc(kind, **{field: MISSING}), "missing_field", field)


def test_missing_alarm_type_is_rejected() -> None:
    reject("alarm", doc("alarm", type=MISSING), "missing_field", "type")


@pytest.mark.parametrize(
    "alarm_type",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * 65, id="65-chars"),
        pytest.param(1, id="int"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="null"),
        pytest.param(["tamper"], id="list"),
        pytest.param({"type": "tamper"}, id="object"),
    ],
)
def test_invalid_alarm_type_is_rejected(alarm_type: Any) -> None:
    reject("alarm", doc("alarm", type=alarm_type), "invalid_field", "type")


VALID_TS = [
    pytest.param("2026-11-22T08:15:00Z", TS_UTC, id="rfc3339-Z"),
    pytest.param("2026-11-22T08:15:00+00:00", TS_UTC, id="rfc3339-+00:00"),
    pytest.param("2026-11-22T16:15:00+08:00", TS_UTC, id="rfc3339-+08:00"),
    pytest.param("2026-11-22T03:15:00-05:00", TS_UTC, id="rfc3339--05:00"),
    pytest.param("2026-11-22T13:45:00+05:30", TS_UTC, id="rfc3339-+05:30"),
    pytest.param(
        "2026-11-23T00:15:00+08:00",
        datetime(2026, 11, 22, 16, 15, tzinfo=UTC),
        id="offset-crosses-midnight",
    ),
    pytest.param(
        "2026-11-22T08:15:00.250Z",
        TS_UTC + timedelta(milliseconds=250),
        id="fraction-ms",
    ),
    pytest.param(
        "2026-11-22T08:15:00.123456+08:00",
        datetime(2026, 11, 22, 0, 15, 0, 123456, tzinfo=UTC),
        id="fraction-us-with-offset",
    ),
    pytest.param("2026-11-22t08:15:00Z", TS_UTC, id="lowercase-t"),
    pytest.param(1795335300000, TS_UTC, id="epoch-ms"),
    pytest.param(1795335300250, TS_UTC + timedelta(milliseconds=250), id="epoch-ms-fraction"),
    pytest.param("2000-01-01T00:00:00Z", datetime(2000, 1, 1, tzinfo=UTC), id="lower-bound"),
    pytest.param(946684800000, datetime(2000, 1, 1, tzinfo=UTC), id="lower-bound-epoch"),
    pytest.param("2000-01-01T08:00:00+08:00", datetime(2000, 1, 1, tzinfo=UTC), id="lower-bound-offset"),
    pytest.param("2099-12-31T23:59:59Z", datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC), id="upper"),
    pytest.param(
        4102444799999,
        datetime(2099, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        id="upper-epoch",
    ),
]


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize(("ts", "expected"), VALID_TS)
def test_valid_ts_becomes_occurred_at_in_utc(kind: str, ts: Any, expected: datetime) -> None:
    envelope = accept(kind, doc(kind, ts=ts))
    assert at(envelope.occurred_at) == expected
    assert envelope.occurred_at == stamp(expected)


INVALID_TS = [
    pytest.param("2026-11-22T08:15:00", id="no-offset"),
    pytest.param("2026-11-22T08:15:00.250", id="no-offset-fraction"),
    pytest.param("2026-11-22", id="date-only"),
    pytest.param("08:15:00Z", id="time-only"),
    pytest.param("yesterday", id="words"),
    pytest.param("", id="empty"),
    pytest.param("1795335300000", id="epoch-as-string"),
    pytest.param("2026-13-01T00:00:00Z", id="month-13"),
    pytest.param("2026-02-30T00:00:00Z", id="feb-30"),
    pytest.param("2026-11-22T25:00:00Z", id="hour-25"),
    pytest.param("2026-11-22T08:15:00Z" + " " * 21, id="too-long"),
    pytest.param("1999-12-31T23:59:59Z", id="before-2000"),
    pytest.param("2000-01-01T07:59:59+08:00", id="before-2000-in-utc"),
    pytest.param("2100-01-01T00:00:00Z", id="2100"),
    pytest.param("9999-12-31T23:59:59Z", id="year-9999"),
    pytest.param(946684799999, id="epoch-before-2000"),
    pytest.param(4102444800000, id="epoch-2100"),
    pytest.param(0, id="epoch-zero"),
    pytest.param(-1, id="epoch-negative"),
    pytest.param(1795335300, id="epoch-seconds-is-1970"),
    pytest.param(10**18, id="epoch-far-future"),
    pytest.param(1795335300000.0, id="epoch-float"),
    pytest.param(1795335300000.5, id="epoch-fraction"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param(None, id="null"),
    pytest.param([TS], id="list"),
    pytest.param({"ts": TS}, id="object"),
]


@pytest.mark.parametrize("kind", NEVER_SALVAGED_KINDS)
@pytest.mark.parametrize("ts", INVALID_TS)
def test_invalid_ts_is_rejected(kind: str, ts: Any) -> None:
    reject(kind, doc(kind, ts=ts), "invalid_field", "ts")


# --------------------------------------------------------------------------------------------
# Kind-specific invalid values
# --------------------------------------------------------------------------------------------

INVALID_FALL_FIELDS = [
    pytest.param("confidence", -0.01, id="confidence<0"),
    pytest.param("confidence", 1.01, id="confidence>1"),
    pytest.param("confidence", 87, id="confidence-percent"),
    pytest.param("confidence", True, id="confidence-bool"),
    pytest.param("confidence", "high", id="confidence-word"),
    pytest.param("confidence", [0.5], id="confidence-list"),
    pytest.param("impact_g", -0.1, id="impact<0"),
    pytest.param("impact_g", 100.1, id="impact>100"),
    pytest.param("impact_g", False, id="impact-bool"),
    pytest.param("impact_g", "3g", id="impact-word"),
]


@pytest.mark.parametrize(("field", "value"), INVALID_FALL_FIELDS)
def test_invalid_fall_field_is_dropped_and_the_rest_kept(field: str, value: Any) -> None:
    valid = {"confidence": 0.9, "impact_g": 3.5}
    fields = {**valid, field: value}
    envelope = salvage("fall", doc("fall", battery=30, **fields), "invalid_field", field)
    kept = {name: number for name, number in valid.items() if name != field}
    assert envelope.fall == pb.Fall(**kept)
    assert envelope.battery == 30
    assert envelope.device_event_id == EVENT
    assert at(envelope.occurred_at) == TS_UTC


INVALID_LOCATION_KIND = [
    pytest.param({"lat": MISSING, "lon": MISSING}, "missing_field", "lat", id="no-fix-at-all"),
    pytest.param({"lat": None, "lon": None}, "missing_field", "lat", id="null-fix"),
    pytest.param({"lon": MISSING}, "missing_field", "lon", id="lat-without-lon"),
    pytest.param({"lat": MISSING}, "missing_field", "lat", id="lon-without-lat"),
    pytest.param({"lat": None}, "missing_field", "lat", id="lat-null-lon-set"),
    pytest.param({"lon": MISSING, "location": {"lat": 1, "lon": 2}}, "missing_field", "lon", id="half-top-level-fix"),
    pytest.param({"lat": 90.5}, "invalid_field", "lat", id="lat>90"),
    pytest.param({"lat": -90.5}, "invalid_field", "lat", id="lat<-90"),
    pytest.param({"lon": 180.5}, "invalid_field", "lon", id="lon>180"),
    pytest.param({"lon": -180.5}, "invalid_field", "lon", id="lon<-180"),
    pytest.param({"lat": True}, "invalid_field", "lat", id="lat-bool"),
    pytest.param({"lon": "east"}, "invalid_field", "lon", id="lon-word"),
    pytest.param({"accuracy_m": -0.1}, "invalid_field", "accuracy_m", id="accuracy<0"),
    pytest.param({"accuracy_m": False}, "invalid_field", "accuracy_m", id="accuracy-bool"),
    pytest.param({"source": "satellite"}, "invalid_field", "source", id="source-unknown"),
    pytest.param({"source": "Wifi"}, "invalid_field", "source", id="source-case"),
    pytest.param({"speed_kmh": -0.1}, "invalid_field", "speed_kmh", id="speed<0"),
    pytest.param({"speed_kmh": 1000.1}, "invalid_field", "speed_kmh", id="speed>1000"),
    pytest.param({"speed_kmh": True}, "invalid_field", "speed_kmh", id="speed-bool"),
]


@pytest.mark.parametrize(("fields", "reason", "mentions"), INVALID_LOCATION_KIND)
def test_invalid_location_report_is_rejected(fields: dict[str, Any], reason: str, mentions: str) -> None:
    # No fix (or half a fix) is a missing required field; a bad value is an invalid one.
    reject("location", doc("location", **fields), reason, mentions)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"accuracy_m": 8, "source": "gps", "speed_kmh": 3.6},
            pb.Location(lat=31.95, lon=118.75, accuracy_m=8, source=pb.LOCATION_SOURCE_GPS, speed_kmh=3.6),
            id="top-level-full",
        ),
        pytest.param(
            {"lat": 90, "lon": -180, "accuracy_m": 0, "speed_kmh": 0, "source": "lbs"},
            pb.Location(lat=90, lon=-180, accuracy_m=0, speed_kmh=0, source=pb.LOCATION_SOURCE_LBS),
            id="top-level-bounds",
        ),
        pytest.param(
            {"accuracy_m": 100_000, "speed_kmh": 1000},
            pb.Location(lat=31.95, lon=118.75, accuracy_m=100_000, speed_kmh=1000),
            id="top-level-upper-bounds",
        ),
        pytest.param(
            {
                "lat": 1.5,
                "lon": 2.5,
                "accuracy_m": 3,
                "source": "wifi",
                "location": {"lat": 10, "lon": 20, "accuracy_m": 30, "source": "gps"},
            },
            pb.Location(lat=1.5, lon=2.5, accuracy_m=3, source=pb.LOCATION_SOURCE_WIFI),
            id="top-level-wins-over-object",
        ),
        pytest.param(
            {
                "lat": MISSING,
                "lon": MISSING,
                "location": {"lat": 10, "lon": 20, "accuracy_m": 30, "source": "gps"},
            },
            pb.Location(lat=10, lon=20, accuracy_m=30, source=pb.LOCATION_SOURCE_GPS),
            id="object-only",
        ),
        pytest.param(
            {"lat": None, "lon": None, "location": {"lat": 10, "lon": 20}},
            pb.Location(lat=10, lon=20),
            id="null-top-level-uses-object",
        ),
    ],
)
def test_location_report_fix(fields: dict[str, Any], expected: pb.Location) -> None:
    envelope = accept("location", doc("location", **fields))
    assert envelope.location_report == pb.LocationReport()
    assert envelope.location == expected


INVALID_VITALS = [
    pytest.param({"heart_rate": -1}, "heart_rate", id="hr<0"),
    pytest.param({"heart_rate": 350.5}, "heart_rate", id="hr>350"),
    pytest.param({"heart_rate": True}, "heart_rate", id="hr-bool"),
    pytest.param({"heart_rate": [72]}, "heart_rate", id="hr-list"),
    pytest.param({"spo2": -0.1}, "spo2", id="spo2<0"),
    pytest.param({"spo2": 100.1}, "spo2", id="spo2>100"),
    pytest.param({"spo2": False}, "spo2", id="spo2-bool"),
    pytest.param({"systolic": -1}, "systolic", id="systolic<0"),
    pytest.param({"systolic": 400.1}, "systolic", id="systolic>400"),
    pytest.param({"diastolic": -1}, "diastolic", id="diastolic<0"),
    pytest.param({"diastolic": 300.1}, "diastolic", id="diastolic>300"),
    pytest.param({"body_temp": 19.9}, "body_temp", id="temp<20"),
    pytest.param({"body_temp": 46.1}, "body_temp", id="temp>46"),
    pytest.param({"body_temp": 98.6}, "body_temp", id="temp-fahrenheit"),
    pytest.param({"steps": -1}, "steps", id="steps<0"),
    pytest.param({"steps": 10_000_001}, "steps", id="steps-huge"),
    pytest.param({"steps": 5.0}, "steps", id="steps-float"),
    pytest.param({"steps": 5.5}, "steps", id="steps-fraction"),
    pytest.param({"steps": "5"}, "steps", id="steps-string"),
    pytest.param({"steps": True}, "steps", id="steps-bool"),
    pytest.param({"heart_rate": MISSING}, "heart_rate", id="no-reading"),
    pytest.param(
        {
            "heart_rate": None,
            "spo2": None,
            "systolic": None,
            "diastolic": None,
            "body_temp": None,
            "steps": None,
        },
        "steps",
        id="all-readings-null",
    ),
    pytest.param(
        {"heart_rate": MISSING, "pulse": 72, "temperature": 36.6},
        "heart_rate",
        id="only-unknown-readings",
    ),
]


@pytest.mark.parametrize(("fields", "mentions"), INVALID_VITALS)
def test_invalid_vitals_are_rejected(fields: dict[str, Any], mentions: str) -> None:
    reject("vitals", doc("vitals", **fields), "invalid_field", mentions)


@pytest.mark.parametrize(
    "signal",
    [
        pytest.param(-1, id="negative"),
        pytest.param(101, id="over-100"),
        pytest.param(50.0, id="float"),
        pytest.param(50.5, id="fraction"),
        pytest.param("50", id="string"),
        pytest.param(True, id="bool"),
    ],
)
def test_invalid_heartbeat_signal_is_rejected(signal: Any) -> None:
    reject("heartbeat", doc("heartbeat", battery=80, signal=signal), "invalid_field", "signal")


# Every numeric field of the contract, with a kind that carries it.
NUMERIC_FIELDS = [
    ("sos", "battery"),
    ("fall", "confidence"),
    ("fall", "impact_g"),
    ("location", "lat"),
    ("location", "lon"),
    ("location", "accuracy_m"),
    ("location", "speed_kmh"),
    ("vitals", "heart_rate"),
    ("vitals", "spo2"),
    ("vitals", "systolic"),
    ("vitals", "diastolic"),
    ("vitals", "body_temp"),
    ("vitals", "steps"),
    ("heartbeat", "signal"),
]


@pytest.mark.parametrize(("kind", "field"), NUMERIC_FIELDS)
@pytest.mark.parametrize("boolean", [True, False])
def test_booleans_are_not_numbers(kind: str, field: str, boolean: bool) -> None:
    envelope = broken(kind, doc(kind, **{field: boolean}), "invalid_field", field)
    if envelope is not None:  # salvaged: the boolean is dropped, never turned into 1 or 0
        body = getattr(envelope, BODY[kind])
        holder = envelope if field == "battery" else body
        assert not holder.HasField(field)


@pytest.mark.parametrize(("kind", "field"), NUMERIC_FIELDS)
@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"nan"])
def test_nan_and_infinity_are_not_accepted(kind: str, field: str, literal: bytes) -> None:
    text = json.dumps(doc(kind, **{field: 0}))
    payload = text.replace(f'"{field}": 0', f'"{field}": ' + literal.decode()).encode()
    assert literal in payload
    envelope = broken(kind, payload, "invalid_json")
    if envelope is not None:  # salvaged from bytes that do not parse: nothing is trusted
        assert envelope.device_event_id == payload_hash_id(payload)
        assert at(envelope.occurred_at) == RECEIVED_AT


@pytest.mark.parametrize(("kind", "field"), NUMERIC_FIELDS)
@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "nan", "inf"])
def test_nan_and_infinity_strings_are_not_accepted(kind: str, field: str, text: str) -> None:
    envelope = broken(kind, doc(kind, **{field: text}), "invalid_field", field)
    if envelope is not None:
        holder = envelope if field == "battery" else getattr(envelope, BODY[kind])
        assert not holder.HasField(field)


# --------------------------------------------------------------------------------------------
# Unknown fields are ignored (contracts are extended)
# --------------------------------------------------------------------------------------------

EXTRA_FIELDS = {
    "firmware": "1.4.2",
    "battery_voltage": 3.71,
    "charging": True,
    "meta": {"nested": [1, 2, {"deep": None}]},
    "signal_bars": [1, 2, 3],
    "kind": "something-else",
    "device_id": "not-the-topic-device",
    "received_at": "1999-01-01T00:00:00Z",
}


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_unknown_fields_are_ignored(kind: str) -> None:
    plain = accept(kind, doc(kind, battery=50))
    extended = accept(kind, doc(kind, battery=50, **EXTRA_FIELDS))
    assert extended == plain
    assert extended.device_id == DEVICE  # the topic, not the payload, names the device


# --------------------------------------------------------------------------------------------
# Envelope identity: deterministic, per device
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_resend_maps_to_the_same_event_id(kind: str) -> None:
    first = accept(kind, doc(kind))
    resend = accept(kind, doc(kind, ts="2026-11-22T08:16:00Z", battery=10))
    assert resend.event_id == first.event_id


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_event_id_differs_per_device_and_per_device_event(kind: str) -> None:
    base = accept(kind, doc(kind))
    other_device = accept(kind, doc(kind), device="860000000000002")
    other_event = accept(kind, doc(kind, event_id="evt-2"))
    assert other_device.device_event_id == base.device_event_id == EVENT
    assert len({base.event_id, other_device.event_id, other_event.event_id}) == 3
    assert other_device.event_id == device_event_id("860000000000002", EVENT)


def test_event_id_does_not_collide_on_concatenation() -> None:
    # ("ab", "c") and ("a", "bc") must not produce the same key.
    assert (
        accept("sos", doc("sos", event_id="c"), device="ab").event_id
        != accept("sos", doc("sos", event_id="bc"), device="a").event_id
    )


# --------------------------------------------------------------------------------------------
# Topic rules
# --------------------------------------------------------------------------------------------


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


@pytest.mark.parametrize("kind", ["commands"])  # device acks are input: tests/dispatch/ops/test_units.py
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


# --------------------------------------------------------------------------------------------
# Payload-level problems: size, encoding, JSON, shape
# --------------------------------------------------------------------------------------------

LIMIT = 16 * 1024


def padded(kind: str, size: int) -> bytes:
    """A valid JSON payload for `kind` of exactly `size` bytes."""
    head = encode(doc(kind, pad=""))
    payload = head.replace(b'"pad": ""', b'"pad": "' + b"p" * (size - len(head)) + b'"')
    assert len(payload) == size
    return payload


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_payload_of_exactly_16_kib_is_accepted(kind: str) -> None:
    envelope = accept(kind, padded(kind, LIMIT))
    assert envelope.device_event_id == EVENT


@pytest.mark.parametrize("kind", NEVER_SALVAGED_KINDS)
@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT * 4])
def test_oversized_payload_is_rejected(kind: str, size: int) -> None:
    rejection = reject(kind, padded(kind, size), "payload_too_large")
    assert str(size) in rejection.detail
    assert str(LIMIT) in rejection.detail


BAD_BYTES = [
    pytest.param(b"\xff\xfe\xfd", "invalid_utf8", id="garbage-bytes"),
    pytest.param(
        '{"event_id":"é","ts":"2026-11-22T08:15:00Z"}'.encode("latin-1"),
        "invalid_utf8",
        id="latin-1",
    ),
    pytest.param(
        '{"event_id":"e1","ts":"2026-11-22T08:15:00Z"}'.encode("utf-16"),
        "invalid_utf8",
        id="utf-16",
    ),
    pytest.param(b'{"event_id":"\xc3","ts":"2026-11-22T08:15:00Z"}', "invalid_utf8", id="trunc"),
    pytest.param(b"", "invalid_json", id="empty"),
    pytest.param(b"   ", "invalid_json", id="whitespace"),
    pytest.param(b"{", "invalid_json", id="unterminated"),
    pytest.param(b'{"event_id":"e1",}', "invalid_json", id="trailing-comma"),
    pytest.param(b"{'event_id':'e1'}", "invalid_json", id="single-quotes"),
    pytest.param(b'{"event_id":"e1"} {"x":1}', "invalid_json", id="two-documents"),
    pytest.param(b'{"event_id":"\\ud800","ts":1}', "invalid_json", id="lone-surrogate"),
    pytest.param(b"\xef\xbb\xbf{}", "invalid_json", id="bom"),
    pytest.param(b"[" * 2000 + b"]" * 2000, "invalid_json", id="too-deep"),
    pytest.param(b"sos", "invalid_json", id="bare-word"),
    pytest.param(b"[]", "not_an_object", id="empty-array"),
    pytest.param(b'[{"event_id":"e1","ts":"2026-11-22T08:15:00Z"}]', "not_an_object", id="array"),
    pytest.param(b"null", "not_an_object", id="null"),
    pytest.param(b"true", "not_an_object", id="true"),
    pytest.param(b"42", "not_an_object", id="number"),
    pytest.param(b'"sos"', "not_an_object", id="string"),
]


@pytest.mark.parametrize("kind", NEVER_SALVAGED_KINDS)
@pytest.mark.parametrize(("payload", "reason"), BAD_BYTES)
def test_unparseable_payload_is_rejected(kind: str, payload: bytes, reason: str) -> None:
    reject(kind, payload, reason)


@pytest.mark.parametrize("kind", NEVER_SALVAGED_KINDS)
def test_rejection_for_not_an_object_names_the_json_type(kind: str) -> None:
    rejection = reject(kind, b"[1, 2]", "not_an_object")
    assert "list" in rejection.detail


@pytest.mark.parametrize("kind", NEVER_SALVAGED_KINDS)
def test_missing_field_detail_counts_further_problems(kind: str) -> None:
    rejection = reject(kind, {"battery": 150}, "missing_field", "event_id")
    assert "more" in rejection.detail


# --------------------------------------------------------------------------------------------
# Life-safety salvage: sos and fall raise the alarm from a broken payload
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LIFE_SAFETY_KINDS)
@pytest.mark.parametrize(("payload", "reason"), BAD_BYTES)
def test_unparseable_life_safety_payload_still_raises_the_alarm(kind: str, payload: bytes, reason: str) -> None:
    envelope = salvage(kind, payload, reason)
    assert envelope.device_event_id == payload_hash_id(payload)
    assert envelope.event_id == device_event_id(DEVICE, payload_hash_id(payload))
    assert at(envelope.occurred_at) == RECEIVED_AT
    assert not envelope.HasField("battery")
    assert not envelope.HasField("location")
    assert envelope.SerializeToString()


@pytest.mark.parametrize("kind", LIFE_SAFETY_KINDS)
@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT * 4])
def test_oversized_life_safety_payload_still_raises_the_alarm(kind: str, size: int) -> None:
    payload = padded(kind, size)
    envelope = salvage(kind, payload, "payload_too_large", str(LIMIT))
    # The oversized body is not parsed: its id comes from the payload hash.
    assert envelope.device_event_id == payload_hash_id(payload)
    assert at(envelope.occurred_at) == RECEIVED_AT


@pytest.mark.parametrize("kind", LIFE_SAFETY_KINDS)
@pytest.mark.parametrize(
    ("event_id", "reason"),
    [
        pytest.param(MISSING, "missing_field", id="missing"),
        pytest.param("", "invalid_field", id="empty"),
        pytest.param("x" * 65, "invalid_field", id="65-chars"),
        pytest.param(1234, "invalid_field", id="int"),
        pytest.param(True, "invalid_field", id="bool"),
        pytest.param(None, "invalid_field", id="null"),
        pytest.param(["a1b2"], "invalid_field", id="list"),
    ],
)
def test_bad_event_id_is_replaced_by_the_payload_hash(kind: str, event_id: Any, reason: str) -> None:
    payload = encode(doc(kind, event_id=event_id, battery=77))
    envelope = salvage(kind, payload, reason, "event_id")
    assert envelope.device_event_id == payload_hash_id(payload)
    assert envelope.device_event_id.startswith("sha256-")
    assert len(envelope.device_event_id) == len("sha256-") + 32
    assert envelope.event_id == device_event_id(DEVICE, payload_hash_id(payload))
    # The rest of the payload is still used.
    assert at(envelope.occurred_at) == TS_UTC
    assert envelope.battery == 77


@pytest.mark.parametrize("kind", LIFE_SAFETY_KINDS)
def test_identical_broken_resends_are_idempotent(kind: str) -> None:
    payload = encode({"ts": "garbage", "battery": 20})
    first = salvage(kind, payload, "missing_field", "event_id")
    again = salvage(kind, payload, "missing_field", "event_id")
    assert first.event_id == again.event_id
    assert first == again
    different = salvage(kind, encode({"ts": "garbage", "battery": 21}), "missing_field")
    assert different.event_id != first.event_id


@pytest.mark.parametrize("kind", LIFE_SAFETY_KINDS)
@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        pytest.param(MISSING, "missing_field", id="missing"),
        pytest.param("garbage", "invalid_field", id="garbage"),
        pytest.param("2026-11-22T08:15:00", "invalid_field", id="no-offset"),
        pytest.param("1999-12-31T23:59:59Z", "invalid_field", id="before-2000"),
        pytest.param(4102444800000, "invalid_field", id="epoch-2100"),
        pytest.param(1795335300000.0, "invalid_field", id="epoch-float"),
        pytest.param(True, "invalid_field", id="bool"),
        pytest.param(None, "invalid_field", id="null"),
    ],
)
def test_bad_ts_is_replaced_by_received_at(kind: str, ts: Any, reason: str) -> None:
    location = {"lat": 31.95, "lon": 118.75}
    envelope = salvage(kind, doc(kind, ts=ts, battery=5, location=location), reason, "ts")
    assert at(envelope.occurred_at) == RECEIVED_AT
    assert envelope.occurred_at == envelope.received_at
    # The device's own id is kept, so a resend with a good ts is deduplicated against it.
    assert envelope.device_event_id == EVENT
    assert envelope.event_id == device_event_id(DEVICE, EVENT)
    assert envelope.battery == 5
    assert envelope.location == pb.Location(lat=31.95, lon=118.75)


@pytest.mark.parametrize("kind", LIFE_SAFETY_KINDS)
def test_everything_broken_but_the_button_press(kind: str) -> None:
    payload = encode(
        {
            "event_id": 17,
            "ts": "soon",
            "battery": 101,
            "location": {"lat": 200, "lon": 0},
            "confidence": 7,
            "impact_g": -3,
        }
    )
    envelope = salvage(kind, payload, "invalid_field", "event_id")
    expected = pb.Envelope(
        event_id=device_event_id(DEVICE, payload_hash_id(payload)),
        kind=KIND_ENUM[kind],
        device_id=DEVICE,
        device_event_id=payload_hash_id(payload),
        occurred_at=stamp(RECEIVED_AT),
        received_at=stamp(RECEIVED_AT),
        producer="gateway",
    )
    getattr(expected, BODY[kind]).SetInParent()
    assert envelope == expected


@pytest.mark.parametrize("kind", LIFE_SAFETY_KINDS)
def test_mixed_payload_keeps_each_valid_field(kind: str) -> None:
    envelope = salvage(
        kind,
        doc(
            kind,
            ts="2026-11-22T16:15:00+08:00",
            battery=-5,
            location={"lat": 31.95, "lon": 118.75, "accuracy_m": 30, "source": "lbs"},
            confidence=0.75,
            impact_g=250,
        ),
        "invalid_field",
        "battery",
    )
    assert envelope.device_event_id == EVENT
    assert at(envelope.occurred_at) == TS_UTC
    assert not envelope.HasField("battery")
    assert envelope.location == pb.Location(lat=31.95, lon=118.75, accuracy_m=30, source=pb.LOCATION_SOURCE_LBS)
    if kind == "fall":
        assert envelope.fall == pb.Fall(confidence=0.75)


@pytest.mark.parametrize("kind", NEVER_SALVAGED_KINDS)
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"{broken", id="bad-json"),
        pytest.param(b"\xff", id="bad-utf8"),
        pytest.param(b"[]", id="not-object"),
        pytest.param(b"x" * (LIMIT + 1), id="oversized"),
        pytest.param({"ts": TS, "type": "tamper", "heart_rate": 70, "lat": 1, "lon": 1}, id="id"),
        pytest.param({"event_id": "e", "type": "tamper", "heart_rate": 70, "lat": 1, "lon": 1}),
        pytest.param(
            {"event_id": "e", "ts": "bad", "type": "tamper", "heart_rate": 70, "lat": 1, "lon": 1},
            id="bad-ts",
        ),
        pytest.param(
            {"event_id": "e", "ts": TS, "type": "tamper", "heart_rate": 70, "lat": 1, "lon": 1, "battery": 900},
            id="bad-battery",
        ),
    ],
)
def test_telemetry_and_device_alarms_are_never_salvaged(kind: str, payload: dict[str, Any] | bytes) -> None:
    result = parse(kind, payload)
    assert isinstance(result, Rejection), result
    assert result.reason in REASONS
    assert result.detail.strip()


# --------------------------------------------------------------------------------------------
# Robustness: the validator never raises, whatever a device sends
# --------------------------------------------------------------------------------------------

WEIRD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**63),
    2**64 + 1,
    1e308,
    -1e308,
    5e-324,
    0.5,
    "",
    "0",
    "x" * 200,
    "\u0000",
    "2026-11-22T08:15:00Z",
    [],
    [1, 2],
    {},
    {"lat": 1, "lon": 2},
]


def check_outcome(kind: str, result: DeviceMessage | Rejection | Ignored) -> None:
    if kind in LIFE_SAFETY_KINDS:
        assert isinstance(result, DeviceMessage), result
    assert isinstance(result, DeviceMessage | Rejection), result
    if isinstance(result, Rejection):
        assert result.reason in REASONS
        assert result.detail.strip()
        return
    if kind not in LIFE_SAFETY_KINDS:
        assert result.salvaged is None
    if result.salvaged is not None:
        assert result.salvaged.reason in REASONS
        assert result.salvaged.detail.strip()
    envelope = result.envelope
    assert envelope.kind == KIND_ENUM[kind]
    assert envelope.WhichOneof("body") == BODY[kind]
    assert 0 < len(envelope.device_event_id) <= 64
    assert envelope.event_id == device_event_id(DEVICE, envelope.device_event_id)
    assert decode_envelope(envelope.SerializeToString()) == envelope


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_any_value_in_any_field_never_raises(kind: str) -> None:
    fields = [
        "event_id", "ts", "battery", "location", "confidence", "impact_g", "lat", "lon",
        "accuracy_m", "source", "speed_kmh", "heart_rate", "spo2", "systolic", "diastolic",
        "body_temp", "steps", "signal", "type",
    ]  # fmt: skip
    for field in fields:
        for value in WEIRD_VALUES:
            for location in (None, {"lat": 1, "lon": 2, field: value}):
                payload = doc(kind, **{field: value})
                if location is not None:
                    payload["location"] = location
                check_outcome(kind, parse(kind, payload))


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_mutated_payloads_never_raise(kind: str) -> None:
    rng = random.Random(f"payload-fuzz-{kind}")
    seed = encode(
        doc(
            kind,
            battery=64,
            location={"lat": 31.95, "lon": 118.75, "accuracy_m": 12, "source": "gps"},
            confidence=0.9,
            signal=40,
        )
    )
    for _ in range(400):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(4)
            position = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(position, len(data) - 1)] = rng.randrange(256)
            elif op == 1:
                del data[position : position + rng.randint(1, 8)]
            elif op == 2:
                data[position:position] = rng.choice([b"\xff", b'"', b"{", b"]", b"9", b",", b"-"])
            else:
                data = data[:position]
        check_outcome(kind, parse(kind, bytes(data)))


# --------------------------------------------------------------------------------------------
# Regressions: bugs found by these tests and fixed
# --------------------------------------------------------------------------------------------

NUMERIC_STRINGS = [
    pytest.param("vitals", {"heart_rate": "72"}, "heart_rate", id="vitals-heart_rate"),
    pytest.param("vitals", {"spo2": "97"}, "spo2", id="vitals-spo2"),
    pytest.param("vitals", {"body_temp": "36.6"}, "body_temp", id="vitals-body_temp"),
    pytest.param("location", {"lat": "31.95"}, "lat", id="location-lat"),
    pytest.param("location", {"accuracy_m": "12"}, "accuracy_m", id="location-accuracy"),
    pytest.param("location", {"speed_kmh": "4"}, "speed_kmh", id="location-speed"),
    pytest.param("heartbeat", {"location": {"lat": "31.95", "lon": 118.75}}, "location.lat", id="nested"),
    pytest.param("fall", {"confidence": "0.9"}, "confidence", id="fall-confidence"),
]


@pytest.mark.parametrize(("kind", "fields", "mentions"), NUMERIC_STRINGS)
def test_numeric_strings_are_wrong_typed(kind: str, fields: dict[str, Any], mentions: str) -> None:
    envelope = broken(kind, doc(kind, **fields), "invalid_field", mentions)
    if envelope is not None:
        assert envelope.fall == pb.Fall()


@pytest.mark.parametrize("kind", ["alarm", "sos"])
def test_lowercase_z_is_rfc3339(kind: str) -> None:
    envelope = accept(kind, doc(kind, ts="2026-11-22T08:15:00z"))
    assert at(envelope.occurred_at) == TS_UTC


@pytest.mark.parametrize(
    "ts",
    [
        "20261122T081500Z",  # ISO 8601 basic format
        "2026-W47-7T08:15:00Z",  # week date
        "2026-11-22T08:15Z",  # no seconds
        "2026-11-22T08Z",
        "2026-11-22T08:15:00+08",  # offset without minutes
        "2026-11-22",
    ],
)
def test_iso8601_forms_outside_rfc3339_are_refused(ts: str) -> None:
    reject("alarm", doc("alarm", ts=ts), "invalid_field", "ts")


def test_leap_second_is_accepted_as_the_second_before() -> None:
    envelope = accept("alarm", doc("alarm", ts="2016-12-31T23:59:60Z"))
    assert at(envelope.occurred_at) == datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_empty_kind_level_is_a_topic_error() -> None:
    result = parse_device_message("eldercare/v1/devices/dev1/", b"{}", RECEIVED_AT)
    assert isinstance(result, Rejection) and result.reason == "invalid_topic"
