"""The monitoring service: device events and elder snapshots in, alerts out, device/fence/vitals API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from eldercare.runtime import ServiceRuntime, build_app
from eldercare.topics import ALARMS, ELDERS, TELEMETRY
from services.monitoring.alert.models import AlertRecord
from services.monitoring.alert.views import router as alert_router
from services.monitoring.config import MonitoringSettings
from services.monitoring.device import handlers
from services.monitoring.device.views import router as device_router
from services.monitoring.geofence.views import router as geofence_router
from services.monitoring.sweeper import Sweeper
from services.monitoring.vitals.models import VitalsReading, VitalsStreak
from services.monitoring.vitals.views import router as vitals_router

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: MonitoringSettings | None = None) -> FastAPI:
    """Build the monitoring app, its consumers and its sweeper."""
    settings = settings or MonitoringSettings()
    runtime = ServiceRuntime(settings, migrations_dir=MIGRATIONS)
    telemetry = handlers.device_handlers(runtime, settings, handlers.TELEMETRY_CONSUMER)
    runtime.add_consumer(
        name=handlers.TELEMETRY_CONSUMER,
        topics=[TELEMETRY],
        handler=telemetry.record,
        batch_handler=telemetry.batch,
        max_records=settings.telemetry_max_batch,
        fetch_max_wait_ms=settings.telemetry_fetch_max_wait_ms,
        fetch_min_bytes=settings.telemetry_fetch_min_bytes,
    )
    runtime.add_consumer(
        name=handlers.ALARM_CONSUMER,
        topics=[ALARMS],
        handler=handlers.device_handlers(runtime, settings, handlers.ALARM_CONSUMER).record,
    )
    runtime.add_consumer(name=handlers.ELDER_CONSUMER, topics=[ELDERS], handler=handlers.elder_handler(runtime))
    runtime.background.append(Sweeper(runtime, settings).run)
    vitals, alerts = timedelta(days=settings.vitals_retention_days), timedelta(days=settings.alerts_retention_days)
    runtime.keep_for(VitalsReading.__table__, column="at", keep=vitals)  # type: ignore[attr-defined]
    runtime.keep_for(VitalsStreak.__table__, column="first_abnormal_at", keep=vitals)  # type: ignore[attr-defined]
    runtime.keep_for(AlertRecord.__table__, column="raised_at", keep=alerts)  # type: ignore[attr-defined]
    app = build_app(
        title="Eldercare monitoring",
        description="Device state, geofences, vitals, offline and inactivity detection; alerts to dispatch.",
        settings=settings,
        runtime=runtime,
    )
    for router in (device_router, geofence_router, vitals_router, alert_router):
        app.include_router(router)

    return app
