"""The rows a batch of device events reads, loaded (and locked) in a handful of queries up front.

Applying telemetry one query at a time cost four to nine database round trips per event;
at a thousand events a second the consumer spent its time waiting on the socket. Loading
every row a batch can touch first, in key order, makes a batch of hundreds of events cost
about seven round trips plus the flush at commit. The rules then work on these objects
only, so the per-record path (alarms, poison isolation) and the batch path share one
implementation.

Device rows, the one table every event writes, are plain `DeviceState` objects rather
than ORM instances: the profile at 3,000 events/s showed a third of the consumer's time in
SQLModel attribute events, ORM loading and reading attributes back for the UPDATE. They
are read and written with Core statements, as are the vitals readings (insert-only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import ArrayWrite
from eldercare.v1 import events_pb2 as pb
from services.monitoring.device.models import Device
from services.monitoring.elder.models import DeviceBinding, ElderProfile
from services.monitoring.geofence.models import Geofence, GeofenceDeviceState
from services.monitoring.vitals.models import VitalsReading, VitalsStreak, VitalsThreshold


@dataclass(slots=True)
class DeviceState:
    """One `devices` row as the event rules change it (the columns of `Device`; checked at import below)."""

    device_id: str
    first_seen: datetime
    last_seen: datetime
    offline_due_at: datetime
    elder_id: str | None = None
    status: str = "online"
    device_last_event_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    location_source: str | None = None
    location_at: datetime | None = None
    battery: int | None = None
    signal: int | None = None
    firmware: str | None = None
    last_heartbeat_at: datetime | None = None
    heartbeat_interval_s: float | None = None
    offline_timeout_override_s: float | None = None
    offline_since: datetime | None = None
    offline_alert_id: str | None = None
    offline_alert_pending: bool = False
    low_battery_alerted: bool = False
    last_alarm: str | None = None
    last_steps: int | None = None
    activity_lat: float | None = None
    activity_lon: float | None = None
    last_activity_at: datetime | None = None
    inactivity_alerted_at: datetime | None = None
    is_new: bool = False  # not a column: inserted, not updated, by `write_rows`


_DEVICES = Device.__table__  # type: ignore[attr-defined]
DEVICE_COLUMNS = tuple(f.name for f in fields(DeviceState) if f.name != "is_new")
if set(DEVICE_COLUMNS) != {column.name for column in _DEVICES.columns}:
    # Checked at import, so a column added to Device without DeviceState stops the service and every test.
    raise RuntimeError(f"DeviceState and the devices table differ: {sorted(DEVICE_COLUMNS)}")
# Plain SQL, columns in DeviceState's order: asyncpg's values go straight into DeviceState (timestamptz
# already comes back as aware UTC), and one array parameter keeps the statement the same for any batch.
_SELECT_DEVICES = text(
    f"SELECT {', '.join(DEVICE_COLUMNS)} FROM {_DEVICES.name} "
    "WHERE device_id = ANY(CAST(:device_ids AS VARCHAR(64)[])) ORDER BY device_id FOR UPDATE"
)


@dataclass
class EventRows:
    """Rows by key; a rule that creates a row adds it here too, so later events in the batch see it."""

    devices: dict[str, DeviceState] = field(default_factory=dict)
    elders: dict[str, ElderProfile] = field(default_factory=dict)  # by device id; bound devices only
    fences: dict[str, list[Geofence]] = field(default_factory=dict)  # by elder id; enabled fences only
    fence_states: dict[tuple[str, str], GeofenceDeviceState] = field(default_factory=dict)  # (fence, device)
    thresholds: dict[str, VitalsThreshold] = field(default_factory=dict)  # by elder id
    streaks: dict[tuple[str, str], VitalsStreak] = field(default_factory=dict)  # (device, measure)
    readings: list[dict[str, Any]] = field(default_factory=list)  # vitals_readings to insert


async def load_rows(session: AsyncSession, *, envelopes: Sequence[pb.Envelope]) -> EventRows:
    """Read what the envelopes' rules need; device, fence-state and streak rows are locked, in key order."""
    rows = EventRows()
    device_ids = sorted({envelope.device_id for envelope in envelopes})
    if not device_ids:
        return rows
    # Key order, so two transactions over overlapping devices cannot deadlock.
    devices = await session.execute(_SELECT_DEVICES, {"device_ids": device_ids})
    rows.devices = {row[0]: DeviceState(*row) for row in devices}
    bound = await session.execute(
        select(col(DeviceBinding.device_id), ElderProfile)
        .join(ElderProfile, col(ElderProfile.elder_id) == col(DeviceBinding.elder_id))
        .where(col(DeviceBinding.device_id) == any_(bindparam("device_ids", device_ids, type_=ARRAY(String))))
    )
    rows.elders = {device_id: elder for device_id, elder in bound}
    located = sorted({e.device_id for e in envelopes if e.HasField("location") and e.device_id in rows.elders})
    fenced_elders = sorted({rows.elders[device_id].elder_id for device_id in located})
    if fenced_elders:
        fences = await session.scalars(
            select(Geofence).where(col(Geofence.elder_id).in_(fenced_elders), col(Geofence.enabled).is_(True))
        )
        for fence in fences:
            rows.fences.setdefault(fence.elder_id, []).append(fence)
        fence_ids = sorted(fence.id for fences_of in rows.fences.values() for fence in fences_of)
        if fence_ids:
            states = await session.scalars(
                select(GeofenceDeviceState)
                .where(
                    col(GeofenceDeviceState.geofence_id).in_(fence_ids),
                    col(GeofenceDeviceState.device_id).in_(located),
                )
                .order_by(col(GeofenceDeviceState.geofence_id), col(GeofenceDeviceState.device_id))
                .with_for_update()
            )
            rows.fence_states = {(state.geofence_id, state.device_id): state for state in states}
    measured = sorted({e.device_id for e in envelopes if e.WhichOneof("body") == "vitals"})
    if measured:
        measured_elders = sorted({rows.elders[d].elder_id for d in measured if d in rows.elders})
        if measured_elders:
            thresholds = await session.scalars(
                select(VitalsThreshold).where(col(VitalsThreshold.elder_id).in_(measured_elders))
            )
            rows.thresholds = {row.elder_id: row for row in thresholds}
        streaks = await session.scalars(
            select(VitalsStreak)
            .where(col(VitalsStreak.device_id).in_(measured))
            .order_by(col(VitalsStreak.device_id), col(VitalsStreak.measure))
            .with_for_update()
        )
        rows.streaks = {(streak.device_id, streak.measure): streak for streak in streaks}
    return rows


# One statement per table, each column one array (see eldercare.db.ArrayWrite).
_INSERT_DEVICES = ArrayWrite(_DEVICES, DEVICE_COLUMNS)
_UPDATE_DEVICES = ArrayWrite(_DEVICES, DEVICE_COLUMNS, key="device_id")
_READINGS = VitalsReading.__table__  # type: ignore[attr-defined]
# Every column but the generated id; a reading that lacks a measure writes NULL (values=dict.get).
_INSERT_READINGS = ArrayWrite(_READINGS, [column.name for column in _READINGS.columns if column.name != "id"])


async def write_rows(session: AsyncSession, *, rows: EventRows) -> int:
    """Write the batch's device rows (one statement each for new and known devices) and vitals readings.

    Every column of every device the batch touched is written: each event moves at least
    `last_seen` and `offline_due_at`, and `load_rows` locked the known rows, so nothing else
    changed them in between. Returns how many device rows were written.
    """
    new = [device for device in rows.devices.values() if device.is_new]
    known = [device for device in rows.devices.values() if not device.is_new]
    await _INSERT_DEVICES.execute(session, new, values=getattr)
    for device in new:
        device.is_new = False  # a second write of the same rows (the per-record path) updates them
    await _UPDATE_DEVICES.execute(session, known, values=getattr)
    await _INSERT_READINGS.execute(session, rows.readings, values=dict.get)
    rows.readings = []
    return len(new) + len(known)
