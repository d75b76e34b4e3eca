"""Retention on real PostgreSQL: vitals, abnormal streaks and alerts past their settings are deleted, with
the inbox past the dedup window, in the service's own prune round; younger rows stay."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from eldercare import db
from eldercare.envelope import utcnow
from eldercare.runtime import ServiceRuntime
from services.monitoring.alert.models import AlertRecord
from services.monitoring.app import MIGRATIONS, create_app
from services.monitoring.config import MonitoringSettings
from services.monitoring.vitals.models import VitalsReading, VitalsStreak
from tests.infra import DatabaseFactory

pytestmark = pytest.mark.integration
async_test = pytest.mark.asyncio(loop_scope="session")


def test_the_retention_settings_read_their_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MONITORING_VITALS_RETENTION_DAYS", "30")
    monkeypatch.setenv("MONITORING_ALERTS_RETENTION_DAYS", "180")
    settings = MonitoringSettings(var_dir=tmp_path)  # type: ignore[call-arg]
    assert (settings.vitals_retention_days, settings.alerts_retention_days) == (30, 180)
    monkeypatch.setenv("MONITORING_VITALS_RETENTION_DAYS", "0")
    with pytest.raises(ValueError, match="MONITORING_VITALS_RETENTION_DAYS"):
        MonitoringSettings(var_dir=tmp_path)  # type: ignore[call-arg]


@async_test
async def test_old_rows_go_and_young_ones_stay(databases: DatabaseFactory, tmp_path: Path) -> None:
    settings = MonitoringSettings(  # type: ignore[call-arg]
        database_url=databases.url(f"ret_{uuid.uuid4().hex[:6]}"),
        var_dir=tmp_path,
        vitals_retention_days=30,
        alerts_retention_days=180,
    )
    runtime: ServiceRuntime = create_app(settings).state.runtime
    await db.ensure_database(runtime.database_url)
    await db.run_migrations(runtime.engine, MIGRATIONS)
    now = utcnow()
    try:
        async with runtime.sessions() as session, session.begin():
            for n, age in enumerate((31, 29, 400)):
                at = now - timedelta(days=age)
                session.add(VitalsReading(device_id=f"D{n}", at=at, heart_rate=70))
                session.add(VitalsStreak(device_id=f"D{n}", measure="hr", abnormal_readings=1, first_abnormal_at=at))
            session.add(VitalsStreak(device_id="D9", measure="hr", abnormal_readings=0, first_abnormal_at=None))
            for age in (181, 179):
                alert = AlertRecord(
                    id=str(uuid.uuid4()),
                    type="low_battery",
                    severity="low",
                    device_id="D0",
                    raised_at=now - timedelta(days=age),
                )
                session.add(alert)
            for consumer in ("old", "young"):
                await db.claim_event(session, consumer=consumer, event_id="e1")
        async with runtime.sessions() as session, session.begin():
            # Claimed now; aged by hand, as a week of running would.
            await session.execute(
                db.ProcessedEvent.__table__.update()  # type: ignore[attr-defined]
                .where(db.ProcessedEvent.consumer == "old")  # type: ignore[arg-type]
                .values(processed_at=now - timedelta(days=8))
            )

        pruned = await runtime.prune_once()

        assert pruned == {"processed_events": 1, "vitals_readings": 2, "vitals_streaks": 2, "alerts": 1}
        async with runtime.sessions() as session:
            readings = (await session.scalars(select(VitalsReading.device_id))).all()
            streaks = (await session.scalars(select(VitalsStreak.device_id))).all()
            raised = (await session.scalars(select(AlertRecord.raised_at))).all()
            inbox = (await session.scalars(select(db.ProcessedEvent.consumer))).all()
        assert readings == ["D1"] and sorted(streaks) == ["D1", "D9"]
        assert len(raised) == 1 and now - raised[0] < timedelta(days=180)
        assert inbox == ["young"]
        assert await runtime.prune_once() == dict.fromkeys(pruned, 0)  # nothing left to do
    finally:
        await runtime.engine.dispose()


@async_test
async def test_a_large_backlog_is_deleted_in_batches(databases: DatabaseFactory, tmp_path: Path) -> None:
    settings = MonitoringSettings(  # type: ignore[call-arg]
        database_url=databases.url(f"ret_{uuid.uuid4().hex[:6]}"), var_dir=tmp_path, vitals_retention_days=30
    )
    runtime: ServiceRuntime = create_app(settings).state.runtime
    await db.ensure_database(runtime.database_url)
    await db.run_migrations(runtime.engine, MIGRATIONS)
    old = utcnow() - timedelta(days=60)
    try:
        async with runtime.sessions() as session, session.begin():
            await session.execute(
                VitalsReading.__table__.insert(),  # type: ignore[attr-defined]
                [{"device_id": "D", "at": old + timedelta(seconds=n), "heart_rate": 70} for n in range(25_000)],
            )
        assert (await runtime.prune_once())["vitals_readings"] == 25_000
        async with runtime.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(VitalsReading)) == 0
    finally:
        await runtime.engine.dispose()
