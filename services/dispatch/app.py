"""The dispatch service: alarms in, prioritised incidents out, dispatcher API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException
from fastapi.staticfiles import StaticFiles

from eldercare.runtime import ServiceRuntime, build_app
from eldercare.topics import ALARMS, ALERTS, COMMAND_ACKS, ELDERS
from services.dispatch.alert import handlers as alert_handlers
from services.dispatch.assignment.service import Policy
from services.dispatch.assignment.views import router as assignment_router
from services.dispatch.call.views import router as call_router
from services.dispatch.command import handlers as command_handlers
from services.dispatch.command.views import router as command_router
from services.dispatch.config import DispatchSettings
from services.dispatch.console.session import CookieAuth, SessionSigner
from services.dispatch.console.views import STATIC
from services.dispatch.console.views import router as console_router
from services.dispatch.elder.handlers import ELDER_CONSUMER, ElderReadModelConsumer, snapshot_handler
from services.dispatch.elder.views import router as elder_router
from services.dispatch.escalation.ticker import operations_timer
from services.dispatch.incident import handlers as incident_handlers
from services.dispatch.incident.gauges import incident_gauges
from services.dispatch.incident.views import router as incident_router
from services.dispatch.platform_alert.service import PlatformAlertBoard
from services.dispatch.platform_alert.views import router as platform_alert_router
from services.dispatch.report.views import router as report_router
from services.dispatch.responder.views import router as responder_router
from services.dispatch.stream.views import router as stream_router

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    """Build the dispatch app and its consumers."""
    settings = settings or DispatchSettings()
    runtime = ServiceRuntime(settings, migrations_dir=MIGRATIONS)
    # The elder read model positions itself from its own table, so an empty one rebuilds from the topic.
    runtime.consumers.append(
        ElderReadModelConsumer(
            runtime=runtime,
            name=ELDER_CONSUMER,
            topics=[ELDERS],
            handler=snapshot_handler(runtime),
        )
    )
    alarms = incident_handlers.alarm_handlers(runtime, attach_window=timedelta(seconds=settings.attach_window_seconds))
    runtime.add_consumer(
        name=incident_handlers.ALARM_CONSUMER,
        topics=[ALARMS],
        handler=alarms.record,
        # Devices apply side by side, each in its own order: one device's burst is not everyone's queue.
        key_concurrency=settings.alarm_key_concurrency,
        key_batch_handler=alarms.batch,
    )
    runtime.add_consumer(
        name=alert_handlers.ALERT_CONSUMER,
        topics=[ALERTS],
        handler=alert_handlers.alert_handler(runtime, attach_window=timedelta(seconds=settings.attach_window_seconds)),
    )
    runtime.add_consumer(
        name=incident_handlers.CANCEL_CONSUMER,
        topics=[ALARMS],
        handler=incident_handlers.cancel_handler(runtime, give_up_after=timedelta(minutes=2)),
        # A cancel is not in a hurry (the fall's incident is already open), so this consumer keeps
        # the plain defaults: no per-device concurrency, one record after another.
    )
    runtime.background.append(incident_gauges(runtime))
    runtime.add_consumer(
        name=command_handlers.ACK_CONSUMER, topics=[COMMAND_ACKS], handler=command_handlers.ack_handler(runtime)
    )
    policy = Policy(
        contact_close_km=settings.contact_close_km,
        zone=ZoneInfo(settings.local_timezone),
        assignment_timeout=timedelta(seconds=settings.assignment_timeout_seconds),
        command_retry_seconds=settings.command_retry_seconds,
    )
    runtime.background.append(operations_timer(runtime, settings, policy))
    app = build_app(
        title="Eldercare dispatch",
        description="Incidents from wearable alarms, prioritised for call-centre dispatchers.",
        settings=settings,
        runtime=runtime,
    )
    app.state.settings, app.state.dispatch_policy = settings, policy
    # The console's session cookie is accepted beside the bearer header (console/session.py).
    app.state.session_auth = CookieAuth(signer=SessionSigner(settings.console_secret), principals=settings.principals)
    app.state.platform_alerts = PlatformAlertBoard()
    app.include_router(stream_router)  # before /incidents/{incident_id}, which would swallow /stream
    app.include_router(incident_router)
    for router in (
        assignment_router,
        command_router,
        responder_router,
        report_router,
        elder_router,
        call_router,
        platform_alert_router,
    ):
        app.include_router(router)
    app.include_router(console_router)
    app.mount("/console/assets", StaticFiles(directory=STATIC), name="console-assets")

    return app


__all__ = ["HTTPException", "create_app"]
