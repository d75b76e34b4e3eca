"""sos and fall: a life-safety alarm is raised even from a broken payload, with the problem beside it."""

from __future__ import annotations

from typing import Any

import pytest

from eldercare.envelope import device_event_id
from eldercare.v1 import events_pb2 as pb
from gateway.payloads import Rejection
from tests.unit.gateway.payloads.contract import (
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
    at,
    doc,
    encode,
    padded,
    parse,
    payload_hash_id,
    salvage,
    stamp,
)


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
