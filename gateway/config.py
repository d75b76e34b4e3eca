"""Gateway settings."""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import AliasChoices, Field

from eldercare.settings import BaseProcessSettings, env_prefixed

# Which MQTT sessions a gateway process runs: both (one process), or one of them, so that the
# alarm lane has a process (an event loop and a GIL) of its own beside N bulk-lane processes.
GatewayLanes = Literal["all", "alarms", "bulk"]


class DeadLetterCapSettings(BaseProcessSettings):
    """The per-device dead-letter cap, one setting for every ingress process (MQTT gateway, watch adapter)."""

    # Per-device cap on dead letters: a device sending garbage gets its first rejections written
    # and the rest counted, so one faulty firmware cannot turn into a write per message. 0: off.
    deadletter_rate_per_s: float = Field(
        1.0, ge=0, le=10_000, validation_alias=AliasChoices("GATEWAY_DEADLETTER_RATE_PER_S", "deadletter_rate_per_s")
    )
    deadletter_burst: int = Field(
        20, ge=1, le=1_000_000, validation_alias=AliasChoices("GATEWAY_DEADLETTER_BURST", "deadletter_burst")
    )


class GatewaySettings(DeadLetterCapSettings):
    # Every field reads GATEWAY_<FIELD NAME> unless it names its variable itself (env_prefixed).
    model_config = env_prefixed("GATEWAY_")
    http_port: int = Field(8004, validation_alias=AliasChoices("GATEWAY_PORT", "http_port"))
    # Unique per gateway process: it names the persistent MQTT sessions.
    instance_id: str = Field(
        default_factory=lambda: socket.gethostname().split(".")[0],
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
    )
    # `bulk` acks and drops the alarm topics (the alarm lane gets its own copy): never run it
    # without an `alarms` (or `all`) gateway on the same broker.
    lanes: GatewayLanes = Field("all")
    share_group: str = Field("gateway")
    # Several bulk-lane gateways on one broker split the telemetry through `$share/<group>`; one
    # subscribes plainly, because Mosquitto restores a plain subscription after it restarts and
    # a shared one only once the gateway subscribes again (what arrives in between is acked and
    # lost; docs/decisions.md 36).
    bulk_shared: bool = Field(False)
    # The longest wait between reconnect attempts to the broker (attempts start at 1 s and double).
    mqtt_max_reconnect_delay_s: float = Field(
        1.0,
        gt=0,
        le=60,
        validation_alias=AliasChoices("GATEWAY_MQTT_MAX_RECONNECT_DELAY_SECONDS", "mqtt_max_reconnect_delay_s"),
    )
    mqtt_username: str | None = Field(None)
    mqtt_password: str | None = Field(None)
    # How many unacknowledged messages the broker may have in flight to each session.
    alarm_receive_maximum: int = Field(200, ge=1, le=65535)
    telemetry_receive_maximum: int = Field(
        2000,
        ge=1,
        le=65535,
    )
    # How long the bulk lane's Kafka producer waits to fill a batch: each produce request costs the
    # broker and the producer far more than a record in it, and telemetry can wait this long.
    telemetry_linger_ms: int = Field(20, ge=0, le=1000)
    # Per-device cap on telemetry (location, vitals, heartbeat); SOS and fall are never capped.
    # 0 turns it off. The burst absorbs a backlog the broker kept during an outage.
    device_rate_per_s: float = Field(2.0, ge=0, le=10_000)
    device_burst: int = Field(200, ge=1, le=1_000_000)

    # A device's repeats of one alarm within this window become one event carrying their count
    # (gateway/coalesce.py); the first alarm of a window is never delayed. 0 turns it off.
    alarm_coalesce_seconds: float = Field(10.0, ge=0, le=600)

    @property
    def runs_alarm_lane(self) -> bool:
        return self.lanes in ("all", "alarms")

    @property
    def runs_bulk_lane(self) -> bool:
        return self.lanes in ("all", "bulk")
