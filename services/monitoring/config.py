"""Monitoring service settings."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field

from eldercare.settings import ServiceSettings, TimeZoneName, env_prefixed


class MonitoringSettings(ServiceSettings):
    # Every field reads MONITORING_<FIELD NAME> unless it names its variable itself (env_prefixed).
    model_config = env_prefixed("MONITORING_")
    service_name: str = "monitoring"
    http_port: int = Field(8003, validation_alias=AliasChoices("MONITORING_PORT", "http_port"))

    # Offline detection
    heartbeat_seconds: float = Field(300, gt=0, le=86400)
    offline_floor_seconds: float = Field(900, gt=0, le=7 * 86400)
    sweep_interval_seconds: float = Field(30, gt=0, le=3600)
    offline_alerts_per_minute: int = Field(60, ge=1)
    offline_storm_ratio: float = Field(0.2, gt=0, le=1)
    offline_alert_delay_seconds: float = Field(60, ge=0)
    offline_storm_min_devices: int = Field(10, ge=1)
    gateway_port: int = Field(8004, validation_alias=AliasChoices("GATEWAY_PORT", "gateway_port"))
    gateway_urls: str | None = Field(None)

    # Battery
    low_battery_percent: int = Field(20, ge=1, le=99)
    battery_rearm_percent: int = Field(10, ge=1, le=99)

    # Geofences
    geofence_confirm_fixes: int = Field(3, ge=1, le=100)
    geofence_dwell_seconds: float = Field(120, ge=0)
    geofence_margin_m: float = Field(10, ge=0, le=1000)
    timezone: TimeZoneName = Field("Asia/Shanghai")

    # Vitals
    vitals_sustained_readings: int = Field(3, ge=1, le=100)
    vitals_sustained_seconds: float = Field(300, ge=0)

    # Retention: older rows are deleted in the hourly prune rounds (MONITORING_VITALS_RETENTION_DAYS …).
    # Vitals readings (and abnormal streaks begun that long ago) by the reading's time; alerts by when
    # raised: dispatch keeps its incidents, and an alert's detail is in the incident's timeline.
    vitals_retention_days: float = Field(90, ge=1, le=3650)
    alerts_retention_days: float = Field(365, ge=1, le=3650)

    # Inactivity check-in
    inactivity_seconds: float = Field(4 * 3600, gt=0)
    day_start: time = Field(time(8, 0))
    day_end: time = Field(time(20, 0))
    movement_m: float = Field(50, gt=0)

    telemetry_max_batch: int = Field(2000, ge=1, le=5000)
    telemetry_fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=5000,
        description="how long the broker may hold a telemetry fetch to fill it (fewer, fuller rounds)",
    )
    telemetry_fetch_min_bytes: int = Field(
        65536,
        ge=1,
        le=16 * 1024 * 1024,
        description="the broker answers a telemetry fetch once it has this much, or at the fetch wait",
    )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def gateway_health_urls(self) -> list[str]:
        """Where the gateways report their broker connection (their /readyz)."""
        if self.gateway_urls:
            return [url.strip().rstrip("/") for url in self.gateway_urls.split(",") if url.strip()]
        return [f"http://127.0.0.1:{self.gateway_port}"]
