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


# ---- incident SLA (monitoring/observability issue) ----
SLA_BUCKETS = (5, 10, 15, 30, 45, 60, 90, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
INCIDENTS_OPEN = Gauge("dispatch_incidents_open", "Active incidents by priority and state", ["priority", "status"])
OLDEST_UNACKNOWLEDGED_SECONDS = Gauge(
    "dispatch_oldest_unacknowledged_incident_seconds",
    "Age of the oldest incident still open (not acknowledged), by priority; 0 when there is none",
    ["priority"],
)
TIME_TO_ACK_SECONDS = Histogram(
    "dispatch_time_to_acknowledge_seconds", "Incident opened to acknowledged", ["priority"], buckets=SLA_BUCKETS
)
TIME_TO_RESOLVE_SECONDS = Histogram(
    "dispatch_time_to_resolve_seconds",
    "Incident opened to resolved or cancelled",
    ["priority", "status"],
    buckets=SLA_BUCKETS,
)
ALERTS_RECEIVED = Counter("dispatch_alerts_received_total", "Monitoring alerts consumed", ["type", "outcome"])
DEVICE_CANCELS = Counter("dispatch_device_cancels_total", "Device 'I'm OK' cancels of a fall", ["outcome"])


def observe_transition(incident: object, status: str, at: object) -> None:
    """Time-to-acknowledge and time-to-close, by priority (called by incident.service.transition)."""
    opened_at = getattr(incident, "opened_at", None)
    priority = f"P{getattr(incident, 'priority', 0)}"
    if opened_at is None:
        return
    elapsed = max((at - opened_at).total_seconds(), 0.0)  # type: ignore[operator]
    if status == "acknowledged":
        TIME_TO_ACK_SECONDS.labels(priority).observe(elapsed)
    elif status in ("resolved", "cancelled"):
        TIME_TO_RESOLVE_SECONDS.labels(priority, status).observe(elapsed)
