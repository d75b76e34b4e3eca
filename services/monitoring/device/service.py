"""Device state rules: last seen, battery, offline/online, inactivity check-in; shared by handlers and views."""

from __future__ import annotations

import logging
import time as monotonic
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import claim_due, fetch
from eldercare.envelope import from_timestamp
from eldercare.v1 import events_pb2 as pb
from services.monitoring import metrics
from services.monitoring.alert.service import Fix, raise_alert
from services.monitoring.config import MonitoringSettings
from services.monitoring.device.models import Device, DeviceRead, DeviceStatus, LocationRead
from services.monitoring.elder.models import ElderProfile
from services.monitoring.errors import DeviceNotFound
from services.monitoring.geofence.service import distance_m
from services.monitoring.rows import DeviceState, EventRows

log = logging.getLogger(__name__)

_SOURCES = {pb.LOCATION_SOURCE_GPS: "gps", pb.LOCATION_SOURCE_LBS: "lbs", pb.LOCATION_SOURCE_WIFI: "wifi"}


def offline_timeout(device: Device | DeviceState, settings: MonitoringSettings) -> float:
    """Seconds of silence before the device counts as offline."""
    if device.offline_timeout_override_s is not None:
        return device.offline_timeout_override_s
    interval = device.heartbeat_interval_s or settings.heartbeat_seconds
    return max(3 * interval, settings.offline_floor_seconds)


def fix_of(envelope: pb.Envelope) -> Fix | None:
    if not envelope.HasField("location"):
        return None
    location = envelope.location
    return Fix(
        lat=location.lat,
        lon=location.lon,
        accuracy_m=location.accuracy_m if location.HasField("accuracy_m") else None,
        source=_SOURCES.get(location.source),
    )


def last_fix(device: Device) -> Fix | None:
    """Where the device was last known to be (a silence alert's position), if anywhere."""
    if device.lat is None or device.lon is None:
        return None
    return Fix(device.lat, device.lon, device.accuracy_m, device.location_source)


async def touch(
    session: AsyncSession,
    *,
    envelope: pb.Envelope,
    elder_id: str | None,
    now: datetime,
    settings: MonitoringSettings,
    rows: EventRows,
) -> DeviceState:
    """Apply what any device event says about the device: seen, battery, position, heartbeat, back online."""
    device = rows.devices.get(envelope.device_id)
    occurred = from_timestamp(envelope.occurred_at)
    if device is None:
        device = DeviceState(
            device_id=envelope.device_id,
            first_seen=now,
            last_seen=now,
            offline_due_at=now,
            last_activity_at=now,
            is_new=True,
        )
        rows.devices[device.device_id] = device
    if device.elder_id != elder_id:
        device.elder_id = elder_id
    device.last_seen = max(device.last_seen, now)
    newest = device.device_last_event_at is None or occurred >= device.device_last_event_at
    if newest:
        device.device_last_event_at = occurred
    if envelope.HasField("battery") and newest and device.battery != envelope.battery:
        device.battery = envelope.battery
    fix = fix_of(envelope)
    if fix is not None and (device.location_at is None or occurred >= device.location_at):
        device.lat, device.lon, device.accuracy_m, device.location_source = fix.lat, fix.lon, fix.accuracy_m, fix.source
        device.location_at = occurred
    if envelope.WhichOneof("body") == "heartbeat":
        if envelope.heartbeat.HasField("signal"):
            device.signal = envelope.heartbeat.signal
        if device.last_heartbeat_at is not None:
            gap = (occurred - device.last_heartbeat_at).total_seconds()
            if 0 < gap < 86400:
                # Smoothed, so one late heartbeat does not double the device's timeout.
                previous = device.heartbeat_interval_s
                device.heartbeat_interval_s = gap if previous is None else 0.7 * previous + 0.3 * gap
        if device.last_heartbeat_at is None or occurred > device.last_heartbeat_at:
            device.last_heartbeat_at = occurred
    device.offline_due_at = now + timedelta(seconds=offline_timeout(device, settings))
    if device.status == DeviceStatus.OFFLINE.value:
        device.status = DeviceStatus.ONLINE.value
        if device.offline_alert_id is not None:
            await raise_alert(
                session,
                type="device_online",
                severity="info",
                device_id=device.device_id,
                elder_id=elder_id,
                now=now,
                detail={"offline_since": device.offline_since.isoformat() if device.offline_since else None},
                source_event_ids=[envelope.event_id],
                resolves_alert_id=device.offline_alert_id,
            )
        device.offline_since, device.offline_alert_id, device.offline_alert_pending = None, None, False
    return device


async def _reported_alert(
    session: AsyncSession,
    device: DeviceState,
    envelope: pb.Envelope,
    *,
    type: str,
    now: datetime,
    detail: dict[str, Any],
) -> None:
    """An informational alert the device's own report raised, where it was when it said so."""
    await raise_alert(
        session,
        type=type,
        severity="info",
        device_id=device.device_id,
        elder_id=device.elder_id,
        now=now,
        detail=detail,
        location=fix_of(envelope),
        source_event_ids=[envelope.event_id],
    )


async def apply_battery(
    session: AsyncSession, *, device: DeviceState, envelope: pb.Envelope, now: datetime, settings: MonitoringSettings
) -> None:
    """Low battery alerts once per discharge cycle; charging above threshold + re-arm margin re-arms it."""
    reported_low = envelope.WhichOneof("body") == "alarm" and envelope.alarm.type == pb.DEVICE_ALARM_TYPE_LOW_BATTERY
    battery = envelope.battery if envelope.HasField("battery") else None
    if battery is not None and battery >= settings.low_battery_percent + settings.battery_rearm_percent:
        if device.low_battery_alerted:
            device.low_battery_alerted = False
        return
    low = reported_low or (battery is not None and battery <= settings.low_battery_percent)
    if low and not device.low_battery_alerted:
        device.low_battery_alerted = True
        # Informational: a flat battery is a reminder to charge, not an incident (offline detection follows).
        detail = {"battery": battery, "reported_by_device": reported_low}
        await _reported_alert(session, device, envelope, type="low_battery", now=now, detail=detail)


async def apply_device_alarm(
    session: AsyncSession, *, device: DeviceState, envelope: pb.Envelope, now: datetime
) -> None:
    """Power-off alerts (informational); removal and tamper are recorded (dispatch opens removal incidents)."""
    alarm_type = pb.DeviceAlarmType.Name(envelope.alarm.type).removeprefix("DEVICE_ALARM_TYPE_").lower()
    device.last_alarm = alarm_type
    if envelope.alarm.type == pb.DEVICE_ALARM_TYPE_POWER_OFF:
        await _reported_alert(session, device, envelope, type="power_off", now=now, detail={"battery": device.battery})


def note_activity(device: DeviceState, *, envelope: pb.Envelope, now: datetime, movement_m: float) -> None:
    """Steps going up, or moving more than `movement_m` from the last active spot, count as activity."""
    active = False
    if envelope.WhichOneof("body") == "vitals" and envelope.vitals.HasField("steps"):
        steps = envelope.vitals.steps
        # A lower count is the daily reset on the device, not activity.
        active = device.last_steps is not None and steps > device.last_steps
        device.last_steps = steps
    fix = fix_of(envelope)
    if fix is not None and (fix.accuracy_m is None or fix.accuracy_m < movement_m):
        if device.activity_lat is None or device.activity_lon is None:
            device.activity_lat, device.activity_lon = fix.lat, fix.lon
        elif distance_m(fix.lat, fix.lon, device.activity_lat, device.activity_lon) > movement_m:
            device.activity_lat, device.activity_lon = fix.lat, fix.lon
            active = True
    if active:
        device.last_activity_at, device.inactivity_alerted_at = now, None


@dataclass
class AlertBudget:
    """A token bucket for offline alerts of one replica, so a fleet-wide outage cannot flood dispatch."""

    per_minute: int
    tokens: float = field(default=-1.0)
    updated: float = field(default_factory=monotonic.monotonic)

    def take(self) -> bool:
        now = monotonic.monotonic()
        if self.tokens < 0:
            self.tokens = float(self.per_minute)
        self.tokens = min(float(self.per_minute), self.tokens + (now - self.updated) * self.per_minute / 60)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


async def sweep_offline(
    session: AsyncSession, *, now: datetime, settings: MonitoringSettings, budget: AlertBudget, limit: int = 5000
) -> int:
    """Mark devices silent past their timeout offline, then decide their alerts; returns how many were raised.

    An offline device's alert waits `offline_alert_delay_seconds`. If by then a large
    share of the fleet went offline within twice that delay, the cause is the pipeline
    or the network, not the wearers: those devices get no alert (and so no recovery
    event later) instead of flooding dispatch. Otherwise alerts go out within a per-replica
    budget. A device heard from during the delay raises nothing at all.
    """
    online = col(Device.status) == DeviceStatus.ONLINE.value
    due = await claim_due(session, Device, where=online, due=Device.offline_due_at, until=now, limit=limit)
    for device in due:
        device.status, device.offline_since = DeviceStatus.OFFLINE.value, now
        device.offline_alert_id, device.offline_alert_pending = None, True
    await session.flush()
    delay = timedelta(seconds=settings.offline_alert_delay_seconds)
    alert_pending = col(Device.offline_alert_pending).is_(True)
    pending = await claim_due(
        session, Device, where=alert_pending, due=Device.offline_since, until=now - delay, limit=limit
    )
    if not pending:
        return 0
    recently_offline = await session.scalar(
        select(func.count())
        .select_from(Device)
        .where(col(Device.status) == DeviceStatus.OFFLINE.value, col(Device.offline_since) >= now - 2 * delay)
    )
    online = await session.scalar(
        select(func.count()).select_from(Device).where(col(Device.status) == DeviceStatus.ONLINE.value)
    )
    recent = max(recently_offline or 0, len(pending))
    mass_silence = recent >= settings.offline_storm_min_devices and recent >= settings.offline_storm_ratio * (
        (online or 0) + recent
    )
    raised = 0
    for device in pending:
        device.offline_alert_pending = False
        if mass_silence:
            metrics.ALERTS_SUPPRESSED.labels("device_offline", "mass_silence").inc()
            continue
        if not budget.take():
            metrics.ALERTS_SUPPRESSED.labels("device_offline", "rate_limited").inc()
            continue
        alert = await raise_alert(
            session,
            type="device_offline",
            severity="low",
            device_id=device.device_id,
            elder_id=device.elder_id,
            now=now,
            detail={
                "last_seen": device.last_seen.isoformat(),
                "timeout_s": offline_timeout(device, settings),
                "battery": device.battery,
                "last_alarm": device.last_alarm,
            },
            location=last_fix(device),
        )
        device.offline_alert_id = alert.id
        raised += 1
    if mass_silence:
        log.warning("%d devices went offline together: treated as an outage, no per-device alerts", len(pending))
    return raised


async def postpone_offline_detection(session: AsyncSession, *, until: datetime) -> None:
    """After a gateway outage, give every online device until `until` to be heard from again."""
    await session.execute(
        update(Device)
        .where(col(Device.status) == DeviceStatus.ONLINE.value, col(Device.offline_due_at) < until)
        .values(offline_due_at=until)
    )


def _day_start(now: datetime, settings: MonitoringSettings) -> datetime | None:
    """Start of today's daytime window (platform time zone), or None when `now` is outside it."""
    local = now.astimezone(settings.zone)
    start, end = settings.day_start, settings.day_end
    today_start = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    if start == end:
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    if start < end:
        return today_start if start <= local.time() < end else None
    # The window wraps midnight.
    if local.time() >= start:
        return today_start
    if local.time() < end:
        return today_start - timedelta(days=1)
    return None


async def sweep_inactivity(session: AsyncSession, *, now: datetime, settings: MonitoringSettings) -> int:
    """Check-in alerts for online devices of elders living alone with no activity for the daytime window."""
    window_start = _day_start(now, settings)
    if window_start is None:
        return 0
    candidates = await session.scalars(
        select(Device)
        .join(ElderProfile, col(ElderProfile.elder_id) == col(Device.elder_id))
        .where(
            col(ElderProfile.lives_alone).is_(True),
            col(Device.status) == DeviceStatus.ONLINE.value,
            col(Device.inactivity_alerted_at).is_(None),
            col(Device.last_activity_at) <= now - timedelta(seconds=settings.inactivity_seconds),
        )
        .with_for_update(skip_locked=True)
    )
    raised = 0
    for device in candidates:
        # The night does not count: quiet time starts at the beginning of today's window.
        quiet_since = max(device.last_activity_at or device.first_seen, window_start)
        if (now - quiet_since).total_seconds() < settings.inactivity_seconds:
            continue
        device.inactivity_alerted_at = now
        await raise_alert(
            session,
            type="inactivity",
            severity="low",
            device_id=device.device_id,
            elder_id=device.elder_id,
            now=now,
            detail={"quiet_since": quiet_since.isoformat(), "window_s": settings.inactivity_seconds},
            location=last_fix(device),
        )
        raised += 1
    return raised


async def refresh_gauges(session: AsyncSession, *, settings: MonitoringSettings) -> None:
    """Fleet gauges from the database (every replica reports the same fleet: aggregate with max)."""
    rows = await session.execute(select(col(Device.status), func.count()).group_by(col(Device.status)))
    counts = {status: count for status, count in rows.tuples()}
    for state in DeviceStatus:
        metrics.DEVICES.labels(state.value).set(counts.get(state.value, 0))
    low = await session.scalar(
        select(func.count()).select_from(Device).where(col(Device.battery) <= settings.low_battery_percent)
    )
    metrics.DEVICES_LOW_BATTERY.set(low or 0)


async def get_device(session: AsyncSession, *, device_id: str, for_update: bool = False) -> Device:
    """One device; DeviceNotFound when it has never been seen."""
    return await fetch(session, Device, device_id, missing=DeviceNotFound, for_update=for_update)


async def set_offline_timeout(
    session: AsyncSession, *, device_id: str, override_s: float | None, settings: MonitoringSettings
) -> Device:
    """Set (None: clear) the device's own offline timeout; its offline deadline moves with it."""
    device = await get_device(session, device_id=device_id, for_update=True)
    device.offline_timeout_override_s = override_s
    device.offline_due_at = device.last_seen + timedelta(seconds=offline_timeout(device, settings))
    return device


async def list_devices(
    session: AsyncSession,
    *,
    status: DeviceStatus | None,
    low_battery_at: int | None,
    area: tuple[float, float, float, float] | None,
    elder_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Device], int]:
    """Devices matching the filters, most recently seen first, with the total for paging."""
    conditions = []
    if status is not None:
        conditions.append(col(Device.status) == status.value)
    if low_battery_at is not None:
        conditions.append(col(Device.battery) <= low_battery_at)
    if area is not None:
        min_lat, min_lon, max_lat, max_lon = area
        conditions += [
            col(Device.lat) >= min_lat,
            col(Device.lat) <= max_lat,
            col(Device.lon) >= min_lon,
            col(Device.lon) <= max_lon,
        ]
    if elder_id is not None:
        conditions.append(col(Device.elder_id) == elder_id)
    total = await session.scalar(select(func.count()).select_from(Device).where(*conditions))
    rows = await session.scalars(
        select(Device)
        .where(*conditions)
        .order_by(col(Device.last_seen).desc(), col(Device.device_id))
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


def to_read(device: Device, settings: MonitoringSettings) -> DeviceRead:
    location = (
        LocationRead(
            lat=device.lat,
            lon=device.lon,
            accuracy_m=device.accuracy_m,
            source=device.location_source,
            at=device.location_at,
        )
        if device.lat is not None and device.lon is not None
        else None
    )
    return DeviceRead(
        device_id=device.device_id,
        elder_id=device.elder_id,
        status=DeviceStatus(device.status),
        first_seen=device.first_seen,
        last_seen=device.last_seen,
        location=location,
        battery=device.battery,
        low_battery=device.battery is not None and device.battery <= settings.low_battery_percent,
        signal=device.signal,
        firmware=device.firmware,
        heartbeat_interval_s=device.heartbeat_interval_s,
        offline_timeout_s=offline_timeout(device, settings),
        offline_timeout_override_s=device.offline_timeout_override_s,
        offline_since=device.offline_since,
        last_activity_at=device.last_activity_at,
    )
