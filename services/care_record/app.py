"""The care-record service. Its registry arrives with the care-record issue; today it runs the shared kit."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from eldercare.runtime import ServiceRuntime, build_app
from services.care_record.config import CareRecordSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: CareRecordSettings | None = None) -> FastAPI:
    """Build the care-record app."""
    settings = settings or CareRecordSettings()
    runtime = ServiceRuntime(settings, migrations_dir=MIGRATIONS)
    return build_app(title="Eldercare care record", settings=settings, runtime=runtime)
