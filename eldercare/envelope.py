"""Building, encoding and decoding the canonical event envelope (proto/eldercare/v1)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from eldercare.v1 import events_pb2 as pb

# Fixed namespace so that (device_id, device_event_id) always maps to the same event_id.
_DEVICE_EVENT_NAMESPACE = uuid.UUID("6f1c3f5e-3b0a-4f7e-9d43-2b7f0e6c9a11")


def device_event_id(device_id: str, device_event: str) -> str:
    """The platform-wide idempotency key of a device event; a resend yields the same key."""
    return str(uuid.uuid5(_DEVICE_EVENT_NAMESPACE, f"{device_id}\x1f{device_event}"))


def new_event_id() -> str:
    """A fresh idempotency key for an event the platform itself originates."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def from_timestamp(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


class EnvelopeDecodeError(ValueError):
    """The bytes on the topic are not a valid Envelope."""


def decode_envelope(raw: bytes | None) -> pb.Envelope:
    """Parse and sanity-check an Envelope; raise EnvelopeDecodeError with a reason otherwise."""
    if not raw:
        raise EnvelopeDecodeError("empty message value")
    envelope = pb.Envelope()
    try:
        envelope.ParseFromString(raw)
    except DecodeError as exc:
        raise EnvelopeDecodeError(f"not an Envelope protobuf: {exc}") from exc
    if not envelope.event_id:
        raise EnvelopeDecodeError("envelope has no event_id")
    if envelope.kind == pb.EVENT_KIND_UNSPECIFIED:
        raise EnvelopeDecodeError("envelope has no kind")
    return envelope


def kind_name(kind: int) -> str:
    """`EVENT_KIND_SOS` -> `sos`."""
    return pb.EventKind.Name(kind).removeprefix("EVENT_KIND_").lower()
