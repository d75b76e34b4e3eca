"""Watch adapter metrics (labels: frame type, reason, outcome — never a device id)."""

from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram

from eldercare.metrics import LATENCY_BUCKETS, child_of

CONNECTIONS = Gauge("watch_connections", "Watch connections open now")
CONNECTIONS_OPENED = Counter("watch_connections_opened_total", "Watch connections accepted")
CONNECTIONS_CLOSED = Counter("watch_connections_closed_total", "Watch connections ended, by why", ["reason"])
IDENTITIES = Counter(
    "watch_identities_total",
    "Watches identified on a connection: bound to an elder, unknown (served), or refused",
    ["outcome"],
)
FRAMES = Counter("watch_frames_total", "Frames received, by type ('other' for types not decoded)", ["type"])
UNHANDLED = Counter(
    "watch_unhandled_frames_total", "Frames of types the adapter does not decode, by type (bounded)", ["type"]
)
BAD_FRAMES = Counter("watch_bad_frames_total", "Frames that ended their connection, by reason", ["reason"])
DEAD_LETTERS_SUPPRESSED = Counter(
    "watch_deadletters_suppressed_total",
    "Bad frames over a watch's (or peer's) dead-letter cap: counted, not written (the first ones of a flood are)",
    ["reason"],
)
PROBLEMS = Counter("watch_frame_problems_total", "Frames whose body was partly unusable, by problem", ["problem"])
REPLIES = Counter("watch_replies_total", "Replies sent to watches, by type", ["type"])
EVENTS = Counter("watch_events_produced_total", "Events acknowledged by Kafka, by kind", ["kind"])
COALESCED = Counter("watch_alarms_coalesced_total", "Alarm repeats counted into one event", ["kind"])
TELEMETRY_DROPPED = Counter(
    "watch_telemetry_dropped_total", "Telemetry dropped because the buffer waiting for Kafka was full"
)
TELEMETRY_QUEUED = Gauge("watch_telemetry_queued", "Telemetry events waiting for Kafka")
VOICE = Counter("watch_voice_chunks_total", "Voice-message chunks received (answered; audio not kept)", ["type"])
ALARM_SECONDS = Histogram(
    "watch_alarm_reply_seconds", "Alarm frame received to its AL reply (after Kafka has it)", buckets=LATENCY_BUCKETS
)
COMMANDS = Counter(
    "watch_commands_total", "Downlink commands, by outcome (sent, acked, expired, unsupported)", ["outcome"]
)
COMMANDS_PENDING = Gauge("watch_commands_pending", "Commands held for watches, sent or waiting for the watch")

frames_of = child_of(FRAMES)
replies_of = child_of(REPLIES)
events_of = child_of(EVENTS)

_TYPE_LABEL = re.compile(r"[A-Za-z0-9_]{1,16}")
MAX_UNHANDLED_LABELS = 64
_unhandled_seen: set[str] = set()


def count_unhandled(frame_type: str) -> None:
    """By type, as the issue asks, but bounded: a watch sending random types cannot grow the series."""
    label = frame_type if _TYPE_LABEL.fullmatch(frame_type) else "invalid"
    if label not in _unhandled_seen:
        if len(_unhandled_seen) >= MAX_UNHANDLED_LABELS:
            label = "overflow"
        else:
            _unhandled_seen.add(label)
    UNHANDLED.labels(label).inc()
