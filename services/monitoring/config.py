"""Monitoring service settings."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from eldercare.settings import ServiceSettings


class MonitoringSettings(ServiceSettings):
    service_name: str = "monitoring"
    http_port: int = Field(8003, validation_alias=AliasChoices("MONITORING_PORT", "http_port"))
    database_url: str | None = Field(None, validation_alias=AliasChoices("MONITORING_DATABASE_URL", "database_url"))
