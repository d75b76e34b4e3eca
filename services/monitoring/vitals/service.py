"""Vitals readings, thresholds with defaults, sustained-abnormal alerts, downsampled history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.envelope import utcnow
from eldercare.v1 import events_pb2 as pb
from services.monitoring.alert.service import raise_alert
from services.monitoring.elder.service import known_elder
from services.monitoring.rows import EventRows
from services.monitoring.vitals.models import (
    Thresholds,
    ThresholdsUpdate,
    VitalsBucket,
    VitalsReading,
    VitalsStreak,
    VitalsThreshold,
)

# measure -> (reading field, test that says "abnormal" against the thresholds, which limit it broke)
_RULES: dict[str, Callable[[float, Thresholds], str | None]] = {
    "heart_rate": lambda v, t: (
        "heart_rate_low" if v < t.heart_rate_low else ("heart_rate_high" if v > t.heart_rate_high else None)
    ),
    "spo2": lambda v, t: "spo2_low" if v < t.spo2_low else None,
    "systolic": lambda v, t: (
        "systolic_low" if v < t.systolic_low else ("systolic_high" if v > t.systolic_high else None)
    ),
    "body_temp": lambda v, t: "body_temp_high" if v > t.body_temp_high else None,
}
_MEASURES = ("heart_rate", "spo2", "systolic", "diastolic", "body_temp", "steps")
_DEFAULT_LIMITS = Thresholds()


async def thresholds_for(session: AsyncSession, *, elder_id: str | None) -> Thresholds:
    """The elder's limits: their overrides on top of the platform defaults."""
    return limits_of(await session.get(VitalsThreshold, elder_id) if elder_id is not None else None)


def limits_of(row: VitalsThreshold | None) -> Thresholds:
    """Platform defaults with an elder's overrides (the row) on top."""
    if row is None:
        return _DEFAULT_LIMITS  # shared: nothing modifies a Thresholds after it is built
    overrides = {name: getattr(row, name) for name in Thresholds.model_fields if getattr(row, name) is not None}
    return _DEFAULT_LIMITS.model_copy(update=overrides)


async def forget_elder(session: AsyncSession, *, elder_id: str) -> None:
    """A removed elder's own vitals limits go (they describe the elder's health)."""
    await session.execute(delete(VitalsThreshold).where(col(VitalsThreshold.elder_id) == elder_id))


async def set_thresholds(session: AsyncSession, *, elder_id: str, body: ThresholdsUpdate) -> Thresholds:
    """Replace an elder's overrides; returns the limits now in force. ElderNotFound for an unknown elder."""
    await known_elder(session, elder_id=elder_id)
    row = await session.get(VitalsThreshold, elder_id, with_for_update=True)
    if row is None:
        row = VitalsThreshold(elder_id=elder_id, updated_at=utcnow())
        session.add(row)
    for name in Thresholds.model_fields:
        setattr(row, name, getattr(body, name))
    row.updated_at = utcnow()
    await session.flush()
    return await thresholds_for(session, elder_id=elder_id)


async def record_vitals(
    session: AsyncSession,
    *,
    envelope: pb.Envelope,
    elder_id: str | None,
    at: datetime,
    now: datetime,
    sustained_readings: int,
    sustained_seconds: float,
    rows: EventRows,
) -> int:
    """Store the reading and advance each measure's abnormal streak; returns how many alerts were raised.

    A measure alerts once when it has been abnormal for `sustained_readings` readings in
    a row, or for at least two readings spanning `sustained_seconds`; one normal reading
    ends the streak (and re-arms the alert).
    """
    vitals = envelope.vitals
    values = {name: getattr(vitals, name) for name in _MEASURES if vitals.HasField(name)}
    rows.readings.append({"device_id": envelope.device_id, "elder_id": elder_id, "at": at, **values})
    limits = limits_of(rows.thresholds.get(elder_id) if elder_id is not None else None)
    raised = 0
    for measure, rule in _RULES.items():
        if measure not in values:
            continue
        broken = rule(float(values[measure]), limits)
        streak = rows.streaks.get((envelope.device_id, measure))
        if broken is None:
            if streak is not None and streak.abnormal_readings:
                streak.abnormal_readings, streak.first_abnormal_at, streak.alerted = 0, None, False
            continue
        if streak is None:
            streak = VitalsStreak(device_id=envelope.device_id, measure=measure)
            session.add(streak)
            rows.streaks[(envelope.device_id, measure)] = streak
        if streak.abnormal_readings == 0:
            streak.first_abnormal_at = at
        streak.abnormal_readings += 1
        spanned = (at - (streak.first_abnormal_at or at)).total_seconds()
        sustained = streak.abnormal_readings >= sustained_readings or (
            sustained_seconds > 0 and streak.abnormal_readings >= 2 and spanned >= sustained_seconds
        )
        if sustained and not streak.alerted:
            streak.alerted = True
            await raise_alert(
                session,
                type="vitals_abnormal",
                severity="high",
                device_id=envelope.device_id,
                elder_id=elder_id,
                now=now,
                detail={
                    "measure": measure,
                    "value": values[measure],
                    "limit": broken,
                    "threshold": getattr(limits, broken),
                    "abnormal_readings": streak.abnormal_readings,
                    "abnormal_since": (streak.first_abnormal_at or at).isoformat(),
                },
                source_event_ids=[envelope.event_id],
            )
            raised += 1
    return raised


async def history(
    session: AsyncSession, *, elder_id: str, start: datetime, end: datetime, bucket_seconds: int, limit: int = 20000
) -> list[VitalsBucket]:
    """The elder's readings between start and end, downsampled into buckets of `bucket_seconds`."""
    rows = await session.scalars(
        select(VitalsReading)
        .where(col(VitalsReading.elder_id) == elder_id, col(VitalsReading.at) >= start, col(VitalsReading.at) < end)
        .order_by(col(VitalsReading.at))
        .limit(limit)
    )
    buckets: dict[int, list[VitalsReading]] = {}
    for row in rows:
        buckets.setdefault(int(row.at.timestamp()) // bucket_seconds, []).append(row)

    def avg(readings: list[VitalsReading], name: str) -> float | None:
        values = [getattr(r, name) for r in readings if getattr(r, name) is not None]
        return round(sum(values) / len(values), 2) if values else None

    result = []
    for index, readings in sorted(buckets.items()):
        heart = [r.heart_rate for r in readings if r.heart_rate is not None]
        steps = [r.steps for r in readings if r.steps is not None]
        result.append(
            VitalsBucket(
                start=datetime.fromtimestamp(index * bucket_seconds, tz=UTC),
                readings=len(readings),
                heart_rate_avg=avg(readings, "heart_rate"),
                heart_rate_min=min(heart) if heart else None,
                heart_rate_max=max(heart) if heart else None,
                spo2_avg=avg(readings, "spo2"),
                systolic_avg=avg(readings, "systolic"),
                diastolic_avg=avg(readings, "diastolic"),
                body_temp_avg=avg(readings, "body_temp"),
                steps_last=steps[-1] if steps else None,
            )
        )
    return result


def default_window(end: datetime | None, start: datetime | None) -> tuple[datetime, datetime]:
    """The last 24 hours unless the caller says otherwise."""
    end = end or utcnow()
    return start or end - timedelta(days=1), end
