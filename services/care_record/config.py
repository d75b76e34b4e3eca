"""Care-record service settings."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator

from eldercare.settings import ServiceSettings, env_prefixed
from services.care_record.elder.visit_policy import DEFAULT_VISIT_POLICY, VisitPolicy


class CareRecordSettings(ServiceSettings):
    # Every field reads CARE_RECORD_<FIELD NAME> unless it names its variable itself (env_prefixed).
    model_config = env_prefixed("CARE_RECORD_")
    service_name: str = "care_record"
    http_port: int = Field(8002, validation_alias=AliasChoices("CARE_RECORD_PORT", "http_port"))
    reminder_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="how often the scheduler looks for due reminders (the worst-case lateness)",
    )
    visit_policy: VisitPolicy = Field(
        DEFAULT_VISIT_POLICY,
        description="JSON: {'rules': [{'frequency': 'weekly'|'monthly', 'all_of': [[category, ...], ...]}, ...]}",
    )

    @field_validator("visit_policy", mode="before")
    @classmethod
    def _policy_from_json(cls, value: object) -> object:
        if isinstance(value, str):
            return VisitPolicy.model_validate_json(value)
        return value
