"""What must hold for any MQTT message the gateway can receive, however hostile."""

from __future__ import annotations

from datetime import UTC, datetime

from eldercare.envelope import decode_envelope
from gateway.payloads import (
    DEVICE_ID_PATTERN,
    LIFE_SAFETY_KINDS,
    TOPIC_PREFIX,
    DeviceMessage,
    Ignored,
    Rejection,
    parse_device_message,
)

REASONS = frozenset(
    {
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
)
RECEIVED_AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def check_message(topic: str, payload: bytes) -> object:
    """Parse one message and assert every invariant; returns the outcome."""
    outcome = parse_device_message(topic, payload, RECEIVED_AT)
    if isinstance(outcome, Rejection):
        assert outcome.reason in REASONS, outcome
        assert outcome.detail.strip(), outcome
    elif isinstance(outcome, DeviceMessage):
        decoded = decode_envelope(outcome.envelope.SerializeToString())
        assert decoded.device_id == outcome.device_id
        assert DEVICE_ID_PATTERN.fullmatch(outcome.device_id)
        assert 0 < len(decoded.device_event_id) <= 71  # 64, or "sha256-" + 32 hex when salvaged
        if outcome.salvaged is not None:
            assert outcome.kind in LIFE_SAFETY_KINDS
            assert outcome.salvaged.reason in REASONS and outcome.salvaged.detail.strip()
    else:
        assert isinstance(outcome, Ignored), outcome
    # A life-safety alarm on a well-formed topic is never refused.
    levels = topic[len(TOPIC_PREFIX) :].split("/") if topic.startswith(TOPIC_PREFIX) else []
    if len(levels) == 2 and levels[1] in LIFE_SAFETY_KINDS and DEVICE_ID_PATTERN.fullmatch(levels[0]):
        assert isinstance(outcome, DeviceMessage), outcome
    return outcome
