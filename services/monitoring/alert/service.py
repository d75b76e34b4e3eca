"""Raising alerts: a local row plus an outbox event to eldercare.alerts.v1, in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import queue_event
from eldercare.envelope import platform_event, to_timestamp
from eldercare.http import from_row
from eldercare.topics import ALERTS
from eldercare.v1 import alerts_pb2
from services.monitoring import metrics
from services.monitoring.alert.models import AlertRead, AlertRecord

# Monitoring's suggestion; dispatch decides. P1 stays reserved for SOS and falls.
SUGGESTED_PRIORITY = {"high": "P2", "medium": "P3", "low": "P4", "info": None}
_SEVERITY_ENUM = {
    "high": alerts_pb2.ALERT_SEVERITY_HIGH,
    "medium": alerts_pb2.ALERT_SEVERITY_MEDIUM,
    "low": alerts_pb2.ALERT_SEVERITY_LOW,
    "info": alerts_pb2.ALERT_SEVERITY_INFO,
}
_PENDING_KEY = "monitoring_alerts_pending"


@dataclass(frozen=True)
class Fix:
    """A position with its quality."""

    lat: float
    lon: float
    accuracy_m: float | None = None
    source: str | None = None


async def raise_alert(
    session: AsyncSession,
    *,
    type: str,
    severity: str,
    device_id: str,
    elder_id: str | None,
    now: datetime,
    detail: dict[str, Any] | None = None,
    location: Fix | None = None,
    source_event_ids: Sequence[str] = (),
    resolves_alert_id: str | None = None,
    geofence_id: str | None = None,
) -> AlertRecord:
    """Record an alert and queue it for eldercare.alerts.v1; the envelope's event_id is the alert id."""
    alert_id = str(uuid.uuid4())
    detail_json = orjson.dumps(detail or {}).decode()
    record = AlertRecord(
        id=alert_id,
        type=type,
        severity=severity,
        device_id=device_id,
        elder_id=elder_id,
        geofence_id=geofence_id,
        resolves_alert_id=resolves_alert_id,
        raised_at=now,
        detail=detail_json,
    )
    session.add(record)
    alert = alerts_pb2.Alert(
        alert_id=alert_id,
        type=type,
        severity=_SEVERITY_ENUM[severity],
        suggested_priority=SUGGESTED_PRIORITY[severity] or "",
        device_id=device_id,
        elder_id=elder_id or "",
        detail_json=detail_json,
        raised_at=to_timestamp(now),
        source_event_ids=list(source_event_ids),
        resolves_alert_id=resolves_alert_id or "",
        geofence_id=geofence_id or "",
    )
    if location is not None:
        alert.location.CopyFrom(
            alerts_pb2.AlertLocation(lat=location.lat, lon=location.lon, source=location.source or "")
        )
        if location.accuracy_m is not None:
            alert.location.accuracy_m = location.accuracy_m
    envelope = platform_event(
        producer="monitoring", occurred_at=now, event_id=alert_id, device_id=device_id, alert=alert
    )
    queue_event(session, topic=ALERTS, key=device_id, envelope=envelope)
    session.info.setdefault(_PENDING_KEY, []).append((type, severity))
    return record


def count_committed(session: AsyncSession) -> int:
    """Count the alerts of a committed transaction (not before: a rolled-back batch is retried)."""
    pending = session.info.pop(_PENDING_KEY, [])
    for type_, severity in pending:
        metrics.ALERTS.labels(type_, severity).inc()
    return len(pending)


def to_read(record: AlertRecord) -> AlertRead:
    return from_row(
        AlertRead,
        record,
        suggested_priority=SUGGESTED_PRIORITY.get(record.severity),
        detail=orjson.loads(record.detail),
    )


async def list_alerts(
    session: AsyncSession, *, device_id: str | None, elder_id: str | None, type: str | None, limit: int, offset: int
) -> list[AlertRecord]:
    """Alerts, newest first."""
    statement = select(AlertRecord)
    if device_id:
        statement = statement.where(col(AlertRecord.device_id) == device_id)
    if elder_id:
        statement = statement.where(col(AlertRecord.elder_id) == elder_id)
    if type:
        statement = statement.where(col(AlertRecord.type) == type)
    rows = await session.scalars(
        statement.order_by(col(AlertRecord.raised_at).desc(), col(AlertRecord.id)).limit(limit).offset(offset)
    )
    return list(rows)
