"""Settings of the watch adapter process (`python -m gateway.watch`)."""

from __future__ import annotations

import socket

from pydantic import AliasChoices, Field, field_validator

from eldercare.settings import env_prefixed
from gateway.config import DeadLetterCapSettings
from gateway.watch.framing import DEFAULT_MAX_FRAME_BYTES


# The dead-letter cap is the MQTT gateway's (GATEWAY_DEADLETTER_RATE_PER_S / _BURST): per watch, or
# per peer address for a connection that never said who it is.
class WatchSettings(DeadLetterCapSettings):
    # Every field reads WATCH_<FIELD NAME> unless it names its variable itself (env_prefixed).
    model_config = env_prefixed("WATCH_")
    # Its own HTTP port: /healthz, /readyz, /metrics (the gateway lanes use 8004 and up).
    http_port: int = Field(8030, validation_alias=AliasChoices("WATCH_PORT", "http_port"))
    # Where watches connect: host:port of the TCP listener.
    listen: str = Field("0.0.0.0:5093")
    # Unique per adapter process: it names the downlink consumer group, so that every process
    # sees every command and delivers those of the watches it holds.
    instance_id: str = Field(
        default_factory=lambda: socket.gethostname().split(".")[0],
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
    )
    # Unknown watches (bound to no elder in care-record) are served and counted by default; a
    # deployment that provisions every watch first can refuse the others.
    refuse_unknown: bool = Field(False)
    max_frame_bytes: int = Field(
        DEFAULT_MAX_FRAME_BYTES,
        ge=1024,
        le=1024 * 1024,
    )
    max_connections: int = Field(50_000, ge=1, le=1_000_000)
    # A frame begun and not ended within this long ends the connection (a watch mid-frame sends the
    # rest at once; a half frame that never ends would otherwise hold its buffer forever).
    frame_timeout_s: float = Field(
        30.0, gt=0, le=600, validation_alias=AliasChoices("WATCH_FRAME_TIMEOUT_SECONDS", "frame_timeout_s")
    )
    # Silence this long ends the connection: watches send LK every few minutes and reconnect on their own.
    idle_timeout_s: float = Field(
        900.0, gt=0, le=86_400, validation_alias=AliasChoices("WATCH_IDLE_TIMEOUT_SECONDS", "idle_timeout_s")
    )
    # A command for a watch that is not connected waits this long (from its issue time) for it.
    command_ttl_s: float = Field(
        600.0, gt=0, le=7 * 86_400, validation_alias=AliasChoices("WATCH_COMMAND_TTL_SECONDS", "command_ttl_s")
    )
    # Telemetry waiting for Kafka (an outage); beyond it the oldest is dropped and counted. Alarms never are.
    telemetry_buffer: int = Field(200_000, ge=100, le=10_000_000)
    telemetry_linger_ms: int = Field(20, ge=0, le=1000)
    # As GATEWAY_ALARM_COALESCE_SECONDS: a watch's repeats of one alarm within the window become one event.
    alarm_coalesce_seconds: float = Field(10.0, ge=0, le=600)

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("WATCH_LISTEN must be host:port, e.g. 0.0.0.0:5093")
        return value

    @property
    def listen_address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)
