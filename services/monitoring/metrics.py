"""Monitoring metrics (labels: alert type, severity, reason, state — never a device or elder id)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from eldercare.metrics import LATENCY_BUCKETS

ALERTS = Counter("monitoring_alerts_total", "Alerts raised and published", ["type", "severity"])
ALERTS_SUPPRESSED = Counter(
    "monitoring_alerts_suppressed_total",
    "Alerts deliberately not raised (rate limit, fleet-wide silence)",
    ["type", "reason"],
)
EVENTS_APPLIED = Counter("monitoring_events_applied_total", "Device events applied to device state", ["kind"])
DEVICES = Gauge("monitoring_devices", "Known devices by connectivity state", ["state"])
DEVICES_LOW_BATTERY = Gauge("monitoring_devices_low_battery", "Devices at or below the low-battery threshold")
OFFLINE_DETECTION_HELD = Gauge(
    "monitoring_offline_detection_held",
    "1 while offline detection is held because a gateway reports no broker connection (or just got it back)",
)
SWEEP_SECONDS = Histogram(
    "monitoring_sweep_seconds", "One offline + inactivity sweep, database included", buckets=LATENCY_BUCKETS
)
TELEMETRY_BATCH_RECORDS = Histogram(
    "monitoring_telemetry_batch_records",
    "Telemetry records applied per database transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
