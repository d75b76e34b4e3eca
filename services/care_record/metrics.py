"""Care-record metrics (bounded labels only: never an elder, a device or personal data)."""

from __future__ import annotations

from prometheus_client import Counter

REMINDERS_FIRED = Counter("care_record_reminders_fired_total", "Due reminders handled by the scheduler", ["outcome"])
SNAPSHOTS_QUEUED = Counter("care_record_snapshots_queued_total", "Elder snapshots written to the outbox")
RECORD_CHANGES = Counter("care_record_changes_total", "Committed changes to the record", ["entity"])
TIMELINE_EVENTS = Counter(
    "care_record_timeline_events_total", "Events from other services kept for the care timeline", ["source"]
)
