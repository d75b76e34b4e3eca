"""Typed settings shared by every process; each service subclasses `ServiceSettings`.

Nothing else in the code base reads `os.environ`: processes build their settings
once at start-up, and a bad value stops the process with a clear message.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AliasChoices, AliasGenerator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

# Documented in the README; `make run` uses it when ELDERCARE_API_TOKENS is unset.
# What `make run` gives dispatch and its Alertmanager when DISPATCH_ALERTMANAGER_TOKEN is not set.
DEV_ALERTMANAGER_TOKEN = "dev-alertmanager-webhook-token"
DEV_API_TOKENS = (
    "dev-dispatcher-token:dispatcher,dev-supervisor-token:supervisor,dev-admin-token:admin,dev-ops-token:ops,"
    "dev-telephony-token:telephony"
)


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    OPS = "ops"
    # The call centre's telephony system: it posts call events to dispatch and reads nothing.
    TELEPHONY = "telephony"


@dataclass(frozen=True)
class ApiPrincipal:
    """Who is calling the API: the role from the token and a name for the audit trail."""

    role: Role
    name: str


def parse_api_tokens(spec: str) -> dict[str, ApiPrincipal]:
    """Parse `token:role[:name],...` into a token -> principal map."""
    principals: dict[str, ApiPrincipal] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        parts = item.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ValueError(f"API token entry must be token:role[:name], got {item.split(':')[0][:4]}…")
        token, role_name = parts[0], parts[1]
        try:
            role = Role(role_name)
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise ValueError(f"unknown role {role_name!r} (allowed: {allowed})") from None
        if len(token) < 8:
            raise ValueError("API tokens must be at least 8 characters")
        name = parts[2] if len(parts) == 3 else f"{role.value}-{hashlib.sha256(token.encode()).hexdigest()[:6]}"
        principals[token] = ApiPrincipal(role=role, name=name)
    if not principals:
        raise ValueError("ELDERCARE_API_TOKENS holds no token")
    return principals


def tcp_port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def env_prefixed(prefix: str) -> SettingsConfigDict:
    """A settings class whose fields read PREFIX + FIELD_NAME from the environment.

    (Or the field's own name, for constructors and tests.) A field that names its variable
    itself (`validation_alias=`) keeps it. An alias generator rather than pydantic-settings'
    `env_prefix`, so that a bad value's error names the variable the operator set.
    """
    return SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=lambda name: AliasChoices(prefix + name.upper(), name))
    )


def _known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    # Not found, a malformed key ("../x"), or a folder of zones ("Asia": IsADirectoryError).
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
    return value


# A setting that names a time zone: refused at start-up, not at the first schedule it meets.
TimeZoneName = Annotated[str, AfterValidator(_known_time_zone)]


class BaseProcessSettings(BaseSettings):
    """Settings every process has: environment, brokers, logging, HTTP listener."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    env: Literal["dev", "test", "production"] = Field("dev", validation_alias=AliasChoices("ELDERCARE_ENV", "env"))
    log_level: str = Field("INFO", validation_alias=AliasChoices("ELDERCARE_LOG_LEVEL", "log_level"))
    kafka_bootstrap: str = Field("127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP", "kafka_bootstrap"))
    # Idempotence stops a retried produce from writing an alarm twice (with acks=all, every producer).
    kafka_enable_idempotence: bool = Field(
        True, validation_alias=AliasChoices("KAFKA_ENABLE_IDEMPOTENCE", "kafka_enable_idempotence")
    )
    # How long a request may wait on a silent broker (paused, or its host gone without a reset) before
    # the client drops that connection and asks the rest of the cluster: a frozen leader or group
    # coordinator held every alarm for the whole pause with aiokafka's 40 s consumer default.
    kafka_request_timeout_ms: int = Field(
        5000, ge=1000, le=120_000, validation_alias=AliasChoices("KAFKA_REQUEST_TIMEOUT_MS", "kafka_request_timeout_ms")
    )
    kafka_topic_partitions: int = Field(
        6, ge=1, le=256, validation_alias=AliasChoices("KAFKA_TOPIC_PARTITIONS", "kafka_topic_partitions")
    )
    kafka_replication_factor: int = Field(
        1, ge=1, validation_alias=AliasChoices("KAFKA_REPLICATION_FACTOR", "kafka_replication_factor")
    )
    # Transport security to Kafka. PLAINTEXT (the local stack) or SASL_SSL (docker-compose.yml): TLS
    # verified against KAFKA_SSL_CA_FILE (default: the system's trust store) and the host name, and
    # an account checked by SCRAM or PLAIN. SSL alone is TLS without an account.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL", "kafka_security_protocol")
    )
    kafka_ssl_ca_file: Path | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SSL_CA_FILE", "kafka_ssl_ca_file")
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", validation_alias=AliasChoices("KAFKA_SASL_MECHANISM", "kafka_sasl_mechanism")
    )
    kafka_sasl_username: str | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SASL_USERNAME", "kafka_sasl_username")
    )
    kafka_sasl_password: str | None = Field(
        None, validation_alias=AliasChoices("KAFKA_SASL_PASSWORD", "kafka_sasl_password"), repr=False
    )
    mqtt_url: str = Field("mqtt://127.0.0.1:1883", validation_alias=AliasChoices("MQTT_URL", "mqtt_url"))
    http_host: str = Field("127.0.0.1", validation_alias=AliasChoices("HTTP_HOST", "http_host"))
    # HTTPS: both set, uvicorn serves TLS with them (paths to PEM files).
    http_tls_cert: Path | None = Field(None, validation_alias=AliasChoices("HTTP_TLS_CERT", "http_tls_cert"))
    http_tls_key: Path | None = Field(None, validation_alias=AliasChoices("HTTP_TLS_KEY", "http_tls_key"))
    # The CA that signed the platform's own HTTPS certificates, for calls between its processes
    # (monitoring asking the gateways' /readyz); default: the system's trust store.
    http_ca_file: Path | None = Field(None, validation_alias=AliasChoices("HTTP_CA_FILE", "http_ca_file"))
    # mqtts:// only: the CA bundle that signed the broker's certificate (default: the system's trust store).
    mqtt_ca_file: Path | None = Field(None, validation_alias=AliasChoices("MQTT_CA_FILE", "mqtt_ca_file"))
    # mqtts:// only, for a broker that wants client certificates (`require_certificate true`): PEM files.
    mqtt_client_cert: Path | None = Field(None, validation_alias=AliasChoices("MQTT_CLIENT_CERT", "mqtt_client_cert"))
    mqtt_client_key: Path | None = Field(None, validation_alias=AliasChoices("MQTT_CLIENT_KEY", "mqtt_client_key"))

    def http_verify(self) -> ssl.SSLContext | bool:
        """What an HTTP client calling another platform process verifies with: HTTP_CA_FILE, else the system store."""
        return ssl.create_default_context(cafile=str(self.http_ca_file)) if self.http_ca_file else True

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise ValueError("MQTT_URL must look like mqtt://host:port or mqtts://host:port")
        return value

    @model_validator(mode="after")
    def _check_kafka_account(self) -> BaseProcessSettings:
        has_account = bool(self.kafka_sasl_username and self.kafka_sasl_password)
        if self.kafka_security_protocol == "SASL_SSL" and not has_account:
            raise ValueError("KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        return self

    @model_validator(mode="after")
    def _check_tls_pair(self) -> BaseProcessSettings:
        for first, second, pair in (
            ("HTTP_TLS_CERT", "HTTP_TLS_KEY", (self.http_tls_cert, self.http_tls_key)),
            ("MQTT_CLIENT_CERT", "MQTT_CLIENT_KEY", (self.mqtt_client_cert, self.mqtt_client_key)),
        ):
            if (pair[0] is None) != (pair[1] is None):
                raise ValueError(f"{first} and {second} go together: set both or neither")
        for name, path in (
            ("HTTP_TLS_CERT", self.http_tls_cert),
            ("HTTP_TLS_KEY", self.http_tls_key),
            ("HTTP_CA_FILE", self.http_ca_file),
            ("MQTT_CA_FILE", self.mqtt_ca_file),
            ("MQTT_CLIENT_CERT", self.mqtt_client_cert),
            ("MQTT_CLIENT_KEY", self.mqtt_client_key),
            ("KAFKA_SSL_CA_FILE", self.kafka_ssl_ca_file),
        ):
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: no such file {path}")
        return self


def _positive_seconds(name: str, default: float, *, le: float) -> Any:
    """A duration setting read from ELDERCARE_<NAME> (or its field name), above 0 and at most `le`."""
    return Field(default, gt=0, le=le, validation_alias=AliasChoices(f"ELDERCARE_{name.upper()}", name))


class ServiceSettings(BaseProcessSettings):
    """Settings of a process with an API, a database and Kafka."""

    service_name: str = "service"
    http_port: int = 8000
    api_tokens: str = Field(DEV_API_TOKENS, validation_alias=AliasChoices("ELDERCARE_API_TOKENS", "api_tokens"))
    # Per-token request cap (429 + Retry-After past it); generous so dispatch consoles never meet it. 0: off.
    api_rate_per_s: float = Field(
        50.0, ge=0, le=100_000, validation_alias=AliasChoices("ELDERCARE_API_RATE_PER_S", "api_rate_per_s")
    )
    api_burst: int = Field(300, ge=1, le=1_000_000, validation_alias=AliasChoices("ELDERCARE_API_BURST", "api_burst"))
    # A request body past this is a 413 before a handler reads it (the largest real body, an
    # elder's record with its archive, is a few KiB).
    http_max_body_bytes: int = Field(
        1 << 20,
        ge=1024,
        le=1 << 30,
        validation_alias=AliasChoices("ELDERCARE_HTTP_MAX_BODY_BYTES", "http_max_body_bytes"),
    )
    # Failed sign-ins (unknown tokens) one client address may make per window before a 429. 0: off.
    auth_failures_allowed: int = Field(
        10, ge=0, le=10_000, validation_alias=AliasChoices("ELDERCARE_AUTH_FAILURES_ALLOWED", "auth_failures_allowed")
    )
    auth_failure_window_seconds: float = Field(
        300,
        gt=0,
        le=86400,
        validation_alias=AliasChoices("ELDERCARE_AUTH_FAILURE_WINDOW_SECONDS", "auth_failure_window_seconds"),
    )
    database_url: str | None = None
    # A device event id counts once within this window: the inbox forgets older ones, so a device
    # that reuses an id later (firmware counters restart) raises a new alarm instead of silence.
    dedup_window_seconds: float = Field(
        7 * 86400,
        ge=3600,
        le=365 * 86400,
        validation_alias=AliasChoices("ELDERCARE_DEDUP_WINDOW_SECONDS", "dedup_window_seconds"),
    )
    inbox_prune_interval_seconds: float = _positive_seconds("inbox_prune_interval_seconds", 3600, le=86400)
    # How long one statement, and one connect, may wait for PostgreSQL before the caller's
    # transaction fails and is retried: a link that silently drops packets answers nothing.
    database_command_timeout_seconds: float = _positive_seconds("database_command_timeout_seconds", 10.0, le=3600)
    database_connect_timeout_seconds: float = _positive_seconds("database_connect_timeout_seconds", 5.0, le=600)
    var_dir: Path = Field(REPO_ROOT / "var", validation_alias=AliasChoices("ELDERCARE_VAR_DIR", "var_dir"))

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> ServiceSettings:
        principals = parse_api_tokens(self.api_tokens)
        dev_tokens = set(parse_api_tokens(DEV_API_TOKENS))
        if self.env == "production" and dev_tokens & set(principals):
            raise ValueError(
                "ELDERCARE_ENV=production refuses the development API tokens; "
                "set ELDERCARE_API_TOKENS to secrets of your own"
            )
        return self

    @cached_property
    def principals(self) -> dict[str, ApiPrincipal]:
        return parse_api_tokens(self.api_tokens)

    def resolved_database_url(self) -> str:
        """The configured URL, else a SQLite file under var/ (`make run` always configures its own PostgreSQL).

        Never a server that merely answers on 5432: the machine's own PostgreSQL wants a password.
        """
        if self.database_url:
            return self.database_url
        database = f"eldercare_{self.service_name}"
        self.var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{self.var_dir / (database + '.db')}"
