"""Rules for every kind: common fields, event_id and ts, numbers, unknown fields, identity, size, robustness."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eldercare.envelope import decode_envelope, device_event_id
from eldercare.v1 import events_pb2 as pb
from gateway.payloads import DeviceMessage, Ignored, Rejection, parse_device_message
from tests.unit.gateway.payloads.contract import (
    ALL_KINDS,
    BAD_BYTES,
    BODY,
    DEVICE,
    EVENT,
    KIND_ENUM,
    LIFE_SAFETY_KINDS,
    LIMIT,
    MISSING,
    NEVER_SALVAGED_KINDS,
    REASONS,
    RECEIVED_AT,
    TS,
    TS_UTC,
    accept,
    at,
    broken,
    doc,
    encode,
    padded,
    parse,
    payload_hash_id,
    reject,
    salvage,
    stamp,
)

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
# Payload-level problems: size, encoding, JSON, shape
# --------------------------------------------------------------------------------------------


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
