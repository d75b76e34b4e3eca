"""The monitoring service. Its rules arrive with the monitoring issue; today it runs the shared kit."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from eldercare.runtime import ServiceRuntime, build_app
from services.monitoring.config import MonitoringSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: MonitoringSettings | None = None) -> FastAPI:
    """Build the monitoring app."""
    settings = settings or MonitoringSettings()
    runtime = ServiceRuntime(settings, migrations_dir=MIGRATIONS)
    return build_app(title="Eldercare monitoring", settings=settings, runtime=runtime)
