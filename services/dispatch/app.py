"""The dispatch service: alarms in, prioritised incidents out, dispatcher API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse

from eldercare.runtime import ServiceRuntime, build_app
from eldercare.topics import ALARMS
from services.dispatch.config import DispatchSettings
from services.dispatch.incident import handlers
from services.dispatch.incident.service import IllegalTransition, IncidentNotFound
from services.dispatch.incident.views import router as incident_router

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    """Build the dispatch app and its consumers."""
    settings = settings or DispatchSettings()
    runtime = ServiceRuntime(settings, migrations_dir=MIGRATIONS)
    runtime.add_consumer(
        name=handlers.ALARM_CONSUMER,
        topics=[ALARMS],
        handler=handlers.alarm_handler(runtime, attach_window=timedelta(seconds=settings.attach_window_seconds)),
        fetch_max_wait_ms=settings.alarm_fetch_max_wait_ms,
    )
    app = build_app(
        title="Eldercare dispatch",
        description="Incidents from wearable alarms, prioritised for call-centre dispatchers.",
        settings=settings,
        runtime=runtime,
    )
    app.include_router(incident_router)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"no incident with id {exc}"}, status_code=status.HTTP_404_NOT_FOUND)

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    app.add_exception_handler(IncidentNotFound, not_found)
    app.add_exception_handler(IllegalTransition, conflict)
    return app


__all__ = ["HTTPException", "create_app"]
