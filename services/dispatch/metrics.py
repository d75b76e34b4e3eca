"""Dispatch metrics (bounded labels: kind, priority, outcome)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from eldercare.envelope import from_timestamp
from eldercare.metrics import LATENCY_BUCKETS
from eldercare.v1 import events_pb2 as pb

INCIDENTS_OPENED = Counter("dispatch_incidents_opened_total", "Incidents opened", ["kind", "priority"])
ALARMS_ATTACHED = Counter("dispatch_alarms_attached_total", "Alarms attached to an already open incident", ["kind"])
ALARMS_DUPLICATE = Counter("dispatch_alarms_duplicate_total", "Alarm deliveries already applied (inbox hit)")
ALARM_TO_INCIDENT_SECONDS = Histogram(
    "dispatch_alarm_to_incident_seconds",
    "From gateway ingest to the incident committed in the dispatch database",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)


def observe_alarm(envelope: pb.Envelope, *, opened: bool, incident_kind: str, priority: str) -> None:
    """Count an applied alarm and how long it took from the gateway to the database."""
    if opened:
        INCIDENTS_OPENED.labels(incident_kind, priority).inc()
    else:
        ALARMS_ATTACHED.labels(incident_kind).inc()
    received = from_timestamp(envelope.received_at).timestamp()
    ALARM_TO_INCIDENT_SECONDS.labels(incident_kind).observe(max(time.time() - received, 0.0))


# ---- dispatch operations ----
ESCALATIONS = Counter("dispatch_escalations_total", "Incidents escalated for want of acknowledgement", ["priority"])
ASSIGNMENTS = Counter("dispatch_assignment_transitions_total", "Assignment state changes", ["state"])
CASCADES = Counter("dispatch_cascades_total", "Moves to the next candidate", ["reason"])
COMMANDS_SENT = Counter("dispatch_device_commands_sent_total", "Device command sends (retries included)", ["type"])
COMMAND_ACKS = Counter("dispatch_device_command_acks_total", "Device command acks", ["outcome"])
STREAM_CLIENTS = Gauge("dispatch_stream_clients", "Open live-stream connections")
TIMER_SECONDS = Histogram(
    "dispatch_timer_tick_seconds", "One pass over due escalations, timeouts and retries", buckets=LATENCY_BUCKETS
)
