"""Dispatch service settings."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator, model_validator

from eldercare.settings import DEV_ALERTMANAGER_TOKEN, ServiceSettings, TimeZoneName, env_prefixed

__all__ = ["DEV_ALERTMANAGER_TOKEN", "DispatchSettings"]

# Development only, like the development API tokens: production refuses it.
DEV_CONSOLE_SECRET = "dev-console-secret-not-for-production-use"


class DispatchSettings(ServiceSettings):
    # Every field reads DISPATCH_<FIELD NAME> unless it names its variable itself (env_prefixed).
    model_config = env_prefixed("DISPATCH_")
    service_name: str = "dispatch"
    http_port: int = Field(8001, validation_alias=AliasChoices("DISPATCH_PORT", "http_port"))
    attach_window_seconds: int = Field(
        600,
        ge=0,
        le=86400,
        description="an alarm joins the device's active incident when that one was alarmed within this window",
    )

    alarm_key_concurrency: int = Field(
        8,
        ge=1,
        le=64,
        description="devices whose alarms are applied at once (each device's own alarms stay in order)",
    )

    # ---- dispatch operations: deadlines, assignment, commands, live stream ----
    ack_deadline_p1_seconds: float = Field(30, gt=0)
    ack_deadline_p2_seconds: float = Field(60, gt=0)
    ack_deadline_p3_seconds: float = Field(300, gt=0)
    ack_deadline_p4_seconds: float = Field(900, gt=0)
    assignment_timeout_seconds: float = Field(
        120,
        gt=0,
        description="a notified responder who neither accepts nor declines within this is skipped (the cascade)",
    )
    timer_interval_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="how often each replica looks for due escalations, assignment timeouts and command retries",
    )
    command_retry_seconds: float = Field(
        10,
        gt=0,
        description="first retry delay of an unacknowledged device command; doubles per attempt",
    )
    command_max_attempts: int = Field(5, ge=1, le=50)
    stream_poll_seconds: float = Field(0.5, gt=0, le=10)
    stream_heartbeat_seconds: float = Field(15, gt=0, le=300)
    stream_max_seconds: float = Field(
        300,
        gt=0,
        description="a stream ends after this long and the console reconnects with Last-Event-ID",
    )
    contact_close_km: float = Field(
        3.0,
        ge=0,
        description="the elder's own contacts rank first when at most this far away",
    )
    local_timezone: TimeZoneName = Field(
        "Asia/Shanghai",
        validation_alias=AliasChoices("DISPATCH_TIMEZONE", "local_timezone"),
        description="the call centre's time zone: responders' on-duty schedules and every time the console shows",
    )

    # ---- the dispatcher console ----
    console_secret: str = Field(
        DEV_CONSOLE_SECRET,
        min_length=32,
        description="HMAC key of the console's session cookies; every replica needs the same one",
    )
    console_session_hours: float = Field(
        12,
        gt=0,
        le=24 * 7,
        description="a console sign-in lasts this long (a shift), then the dispatcher signs in again",
    )
    console_cookie_secure: bool | None = Field(
        None,
        description="send the session cookie over HTTPS only; unset: when serving TLS or in production",
    )
    console_tile_url: str = Field(
        "",
        max_length=500,
        description="map tiles for the console, {z}/{x}/{y} in the URL; empty: a plain background",
    )
    console_mute_seconds: float = Field(
        120,
        gt=0,
        le=3600,
        description="how long the console's mute silences the P1 alarm before it sounds again",
    )

    @field_validator("console_tile_url")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        if value and not (
            value.startswith(("https://", "http://", "/")) and all(p in value for p in ["{z}", "{x}", "{y}"])
        ):
            raise ValueError("DISPATCH_CONSOLE_TILE_URL must be an http(s) URL (or a path) with {z}, {x} and {y}")
        return value

    @model_validator(mode="after")
    def _refuse_dev_console_secret(self) -> DispatchSettings:
        if self.env == "production" and self.console_secret == DEV_CONSOLE_SECRET:
            raise ValueError(
                "ELDERCARE_ENV=production refuses the development DISPATCH_CONSOLE_SECRET; set one of your own"
            )
        return self

    def cookie_secure(self) -> bool:
        """Whether the console's cookies carry Secure (HTTPS only)."""
        if self.console_cookie_secure is not None:
            return self.console_cookie_secure
        return self.http_tls_cert is not None or self.env == "production"

    alertmanager_token: str | None = Field(
        None,
        min_length=16,
        description="bearer token Alertmanager's webhook must send; unset: the webhook refuses every call",
    )

    @model_validator(mode="after")
    def _refuse_dev_webhook_token_in_production(self) -> DispatchSettings:
        if self.env == "production" and self.alertmanager_token == DEV_ALERTMANAGER_TOKEN:
            raise ValueError("ELDERCARE_ENV=production refuses the development DISPATCH_ALERTMANAGER_TOKEN")
        return self

    def ack_deadline_seconds(self, priority: int) -> float:
        """How long an incident of this priority may wait for a dispatcher before it escalates."""
        deadlines = {
            1: self.ack_deadline_p1_seconds,
            2: self.ack_deadline_p2_seconds,
            3: self.ack_deadline_p3_seconds,
        }
        return deadlines.get(priority, self.ack_deadline_p4_seconds)
