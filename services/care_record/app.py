"""The care-record service: elder registry and care history, shared as snapshots over Kafka."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from eldercare.runtime import ServiceRuntime, build_app
from eldercare.topics import ALARMS, INCIDENTS
from services.care_record.assessment.views import router as assessment_router
from services.care_record.config import CareRecordSettings
from services.care_record.device.views import router as device_router
from services.care_record.elder.views import router as elder_router
from services.care_record.reminder.service import ReminderScheduler
from services.care_record.reminder.views import router as reminder_router
from services.care_record.timeline import handlers as timeline_handlers
from services.care_record.timeline.views import router as timeline_router
from services.care_record.visit.views import router as visit_router

MIGRATIONS = Path(__file__).parent / "migrations"


class CareRecordRuntime(ServiceRuntime):
    """The shared runtime plus the reminder scheduler."""

    def __init__(self, settings: CareRecordSettings) -> None:
        super().__init__(settings, migrations_dir=MIGRATIONS)
        self.reminders = ReminderScheduler(sessions=self.sessions, interval=settings.reminder_poll_seconds)

    async def start(self) -> None:
        await super().start()
        await self.reminders.start()

    async def stop(self) -> None:
        await self.reminders.stop()
        await super().stop()


def create_app(settings: CareRecordSettings | None = None) -> FastAPI:
    """Build the care-record app, its consumers and its reminder scheduler."""
    settings = settings or CareRecordSettings()
    runtime = CareRecordRuntime(settings)
    runtime.add_consumer(
        name=timeline_handlers.ALARM_CONSUMER,
        topics=[ALARMS],
        handler=timeline_handlers.alarm_handler(runtime),
    )
    runtime.add_consumer(
        name=timeline_handlers.INCIDENT_CONSUMER,
        topics=[INCIDENTS],
        handler=timeline_handlers.incident_handler(runtime),
    )
    app = build_app(
        title="Eldercare care record",
        description="Elder registry, devices, contacts, health archive, assessments, visits, reminders, timeline.",
        settings=settings,
        runtime=runtime,
    )
    app.state.visit_policy = settings.visit_policy
    for router in (elder_router, device_router, assessment_router, visit_router, reminder_router, timeline_router):
        app.include_router(router)

    return app
