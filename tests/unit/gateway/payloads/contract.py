"""The device → platform MQTT contract (docs/device-contract.md) as the tests of gateway/payloads.py see it.

What the tests of every payload kind share: a valid payload per kind, and accept / reject /
salvage, each asserting what every outcome of its sort must carry. Table-driven: every rule is
exercised for every kind it applies to, with concrete expected values (reason codes, envelope
fields), so that a behaviour change makes a test fail.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from eldercare.envelope import device_event_id
from eldercare.v1 import events_pb2 as pb
from gateway.payloads import DeviceMessage, Ignored, Rejection, parse_device_message

# The reason codes a rejection may carry: one list for these tests and the fuzzers.
from tests.fuzz.invariants import REASONS as REASONS

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


def mapped(kind: str, fields: dict[str, Any]) -> Any:
    """The kind's body of the envelope built from a valid payload with `fields`."""
    return getattr(accept(kind, doc(kind, **fields)), BODY[kind])


LIMIT = 16 * 1024


def padded(kind: str, size: int) -> bytes:
    """A valid JSON payload for `kind` of exactly `size` bytes."""
    head = encode(doc(kind, pad=""))
    payload = head.replace(b'"pad": ""', b'"pad": "' + b"p" * (size - len(head)) + b'"')
    assert len(payload) == size
    return payload


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
