"""Monitoring service settings."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, field_validator

from eldercare.settings import ServiceSettings


def _env(name: str, field_name: str) -> AliasChoices:
    return AliasChoices(name, field_name)


class MonitoringSettings(ServiceSettings):
    service_name: str = "monitoring"
    http_port: int = Field(8003, validation_alias=_env("MONITORING_PORT", "http_port"))
    database_url: str | None = Field(None, validation_alias=_env("MONITORING_DATABASE_URL", "database_url"))

    # Offline detection
    heartbeat_seconds: float = Field(
        300, gt=0, le=86400, validation_alias=_env("MONITORING_HEARTBEAT_SECONDS", "heartbeat_seconds")
    )
    offline_floor_seconds: float = Field(
        900, gt=0, le=7 * 86400, validation_alias=_env("MONITORING_OFFLINE_FLOOR_SECONDS", "offline_floor_seconds")
    )
    sweep_interval_seconds: float = Field(
        30, gt=0, le=3600, validation_alias=_env("MONITORING_SWEEP_INTERVAL_SECONDS", "sweep_interval_seconds")
    )
    offline_alerts_per_minute: int = Field(
        60, ge=1, validation_alias=_env("MONITORING_OFFLINE_ALERTS_PER_MINUTE", "offline_alerts_per_minute")
    )
    offline_storm_ratio: float = Field(
        0.2, gt=0, le=1, validation_alias=_env("MONITORING_OFFLINE_STORM_RATIO", "offline_storm_ratio")
    )
    offline_alert_delay_seconds: float = Field(
        60, ge=0, validation_alias=_env("MONITORING_OFFLINE_ALERT_DELAY_SECONDS", "offline_alert_delay_seconds")
    )
    offline_storm_min_devices: int = Field(
        10, ge=1, validation_alias=_env("MONITORING_OFFLINE_STORM_MIN_DEVICES", "offline_storm_min_devices")
    )
    gateway_port: int = Field(8004, validation_alias=_env("GATEWAY_PORT", "gateway_port"))
    gateway_urls: str | None = Field(None, validation_alias=_env("MONITORING_GATEWAY_URLS", "gateway_urls"))

    # Battery
    low_battery_percent: int = Field(
        20, ge=1, le=99, validation_alias=_env("MONITORING_LOW_BATTERY_PERCENT", "low_battery_percent")
    )
    battery_rearm_percent: int = Field(
        10, ge=1, le=99, validation_alias=_env("MONITORING_BATTERY_REARM_PERCENT", "battery_rearm_percent")
    )

    # Geofences
    geofence_confirm_fixes: int = Field(
        3, ge=1, le=100, validation_alias=_env("MONITORING_GEOFENCE_CONFIRM_FIXES", "geofence_confirm_fixes")
    )
    geofence_dwell_seconds: float = Field(
        120, ge=0, validation_alias=_env("MONITORING_GEOFENCE_DWELL_SECONDS", "geofence_dwell_seconds")
    )
    geofence_margin_m: float = Field(
        10, ge=0, le=1000, validation_alias=_env("MONITORING_GEOFENCE_MARGIN_M", "geofence_margin_m")
    )
    timezone: str = Field("Asia/Shanghai", validation_alias=_env("MONITORING_TIMEZONE", "timezone"))

    # Vitals
    vitals_sustained_readings: int = Field(
        3, ge=1, le=100, validation_alias=_env("MONITORING_VITALS_SUSTAINED_READINGS", "vitals_sustained_readings")
    )
    vitals_sustained_seconds: float = Field(
        300, ge=0, validation_alias=_env("MONITORING_VITALS_SUSTAINED_SECONDS", "vitals_sustained_seconds")
    )

    # Inactivity check-in
    inactivity_seconds: float = Field(
        4 * 3600, gt=0, validation_alias=_env("MONITORING_INACTIVITY_SECONDS", "inactivity_seconds")
    )
    day_start: time = Field(time(8, 0), validation_alias=_env("MONITORING_DAY_START", "day_start"))
    day_end: time = Field(time(20, 0), validation_alias=_env("MONITORING_DAY_END", "day_end"))
    movement_m: float = Field(50, gt=0, validation_alias=_env("MONITORING_MOVEMENT_M", "movement_m"))

    telemetry_max_batch: int = Field(
        2000, ge=1, le=5000, validation_alias=_env("MONITORING_TELEMETRY_MAX_BATCH", "telemetry_max_batch")
    )
    telemetry_fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=5000,
        validation_alias=_env("MONITORING_TELEMETRY_FETCH_MAX_WAIT_MS", "telemetry_fetch_max_wait_ms"),
        description="how long the broker may hold a telemetry fetch to fill it (fewer, fuller rounds)",
    )
    telemetry_fetch_min_bytes: int = Field(
        65536,
        ge=1,
        le=16 * 1024 * 1024,
        validation_alias=_env("MONITORING_TELEMETRY_FETCH_MIN_BYTES", "telemetry_fetch_min_bytes"),
        description="the broker answers a telemetry fetch once it has this much, or at the fetch wait",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def gateway_health_urls(self) -> list[str]:
        """Where the gateways report their broker connection (their /readyz)."""
        if self.gateway_urls:
            return [url.strip().rstrip("/") for url in self.gateway_urls.split(",") if url.strip()]
        return [f"http://127.0.0.1:{self.gateway_port}"]
