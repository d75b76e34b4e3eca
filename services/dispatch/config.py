"""Dispatch service settings."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from eldercare.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    service_name: str = "dispatch"
    http_port: int = Field(8001, validation_alias=AliasChoices("DISPATCH_PORT", "http_port"))
    database_url: str | None = Field(None, validation_alias=AliasChoices("DISPATCH_DATABASE_URL", "database_url"))
    attach_window_seconds: int = Field(
        600,
        ge=0,
        le=86400,
        validation_alias=AliasChoices("DISPATCH_ATTACH_WINDOW_SECONDS", "attach_window_seconds"),
        description="an alarm joins the device's active incident when that one was alarmed within this window",
    )
    alarm_fetch_max_wait_ms: int = Field(
        10,
        ge=1,
        le=500,
        validation_alias=AliasChoices("DISPATCH_ALARM_FETCH_MAX_WAIT_MS", "alarm_fetch_max_wait_ms"),
    )
