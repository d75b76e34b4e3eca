"""Care-record service settings."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from eldercare.settings import ServiceSettings


class CareRecordSettings(ServiceSettings):
    service_name: str = "care_record"
    http_port: int = Field(8002, validation_alias=AliasChoices("CARE_RECORD_PORT", "http_port"))
    database_url: str | None = Field(None, validation_alias=AliasChoices("CARE_RECORD_DATABASE_URL", "database_url"))
