"""Settings are validated at start-up; production refuses development secrets."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from eldercare.kafka import kafka_security
from eldercare.settings import DEV_API_TOKENS, BaseProcessSettings, Role, parse_api_tokens
from gateway.config import GatewaySettings
from gateway.mqtt import mqtt_tls
from services.dispatch.config import DispatchSettings
from services.monitoring.config import MonitoringSettings
from tools import certs


def test_tokens_parse_into_roles_and_audit_names() -> None:
    principals = parse_api_tokens("secret-one-123:dispatcher:alice, secret-two-456:ops")
    assert principals["secret-one-123"].role is Role.DISPATCHER
    assert principals["secret-one-123"].name == "alice"
    assert principals["secret-two-456"].role is Role.OPS
    assert principals["secret-two-456"].name.startswith("ops-")
    assert "secret" not in principals["secret-two-456"].name  # the token never becomes an audit name


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no token"),
        ("abcdefgh123", "token:role"),
        ("abcdefgh123:janitor", "unknown role"),
        ("short:admin", "at least 8"),
    ],
)
def test_bad_token_specs_are_refused_with_a_reason(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_api_tokens(spec)


def test_production_refuses_the_development_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELDERCARE_ENV", "production")
    monkeypatch.setenv("DISPATCH_CONSOLE_SECRET", "a-real-console-secret-0123456789abcdef")
    monkeypatch.delenv("ELDERCARE_API_TOKENS", raising=False)
    with pytest.raises(ValidationError, match="refuses the development API tokens"):
        DispatchSettings()
    monkeypatch.setenv("ELDERCARE_API_TOKENS", DEV_API_TOKENS.split(",")[0] + ",a-real-secret-42:admin")
    with pytest.raises(ValidationError, match="refuses the development API tokens"):
        DispatchSettings()
    monkeypatch.setenv("ELDERCARE_API_TOKENS", "a-real-secret-42:admin")
    assert DispatchSettings().env == "production"


def test_production_refuses_the_development_console_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELDERCARE_ENV", "production")
    monkeypatch.setenv("ELDERCARE_API_TOKENS", "a-real-secret-42:admin")
    monkeypatch.delenv("DISPATCH_CONSOLE_SECRET", raising=False)
    with pytest.raises(ValidationError, match="DISPATCH_CONSOLE_SECRET"):
        DispatchSettings()
    monkeypatch.setenv("DISPATCH_CONSOLE_SECRET", "too-short")
    with pytest.raises(ValidationError, match="at least 32"):
        DispatchSettings()
    monkeypatch.setenv("DISPATCH_CONSOLE_SECRET", "a-real-console-secret-0123456789abcdef")
    assert DispatchSettings().cookie_secure() is True  # production: cookies over HTTPS only


def test_development_uses_the_documented_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELDERCARE_ENV", raising=False)
    monkeypatch.delenv("ELDERCARE_API_TOKENS", raising=False)
    settings = DispatchSettings()
    assert settings.principals["dev-dispatcher-token"].role is Role.DISPATCHER
    assert settings.http_port == 8001


def test_addresses_come_from_the_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQTT_URL", "mqtts://broker.example:8883")
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("DISPATCH_DATABASE_URL", "postgresql+asyncpg://u@db/dispatch")
    settings = DispatchSettings()
    assert settings.mqtt_url == "mqtts://broker.example:8883"
    assert settings.kafka_bootstrap == "k1:9092,k2:9092"
    assert settings.resolved_database_url() == "postgresql+asyncpg://u@db/dispatch"
    monkeypatch.setenv("MQTT_URL", "http://nope")
    with pytest.raises(ValidationError, match="MQTT_URL"):
        GatewaySettings()


def test_gateway_instance_id_must_be_a_safe_client_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_INSTANCE_ID", "gw/1#")
    with pytest.raises(ValidationError):
        GatewaySettings()


def test_kafka_sasl_ssl_needs_an_account_and_verifies_the_broker(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        BaseProcessSettings(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_USERNAME="dispatch")
    with pytest.raises(ValidationError, match="KAFKA_SSL_CA_FILE: no such file"):
        BaseProcessSettings(KAFKA_SSL_CA_FILE=str(tmp_path / "missing.pem"))
    assert kafka_security(BaseProcessSettings()) == {"security_protocol": "PLAINTEXT"}
    settings = BaseProcessSettings(
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_MECHANISM="PLAIN",
        KAFKA_SASL_USERNAME="dispatch",
        KAFKA_SASL_PASSWORD="secret-secret",
    )
    options = kafka_security(settings)
    assert options["sasl_mechanism"] == "PLAIN" and options["sasl_plain_username"] == "dispatch"
    context = options["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert "secret-secret" not in repr(settings)


def test_an_mqtt_client_certificate_comes_with_its_key(tmp_path: Path) -> None:
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    cert.write_text("x")
    key.write_text("x")
    with pytest.raises(ValidationError, match="MQTT_CLIENT_CERT and MQTT_CLIENT_KEY go together"):
        BaseProcessSettings(MQTT_CLIENT_CERT=str(cert))
    settings = BaseProcessSettings(MQTT_CLIENT_CERT=str(cert), MQTT_CLIENT_KEY=str(key))
    assert mqtt_tls(settings) == {"ca_file": None, "client_cert": (str(cert), str(key))}


def test_calls_between_processes_verify_against_http_ca_file(tmp_path: Path) -> None:
    assert BaseProcessSettings().http_verify() is True  # the system's trust store
    ca = certs.make_ca(tmp_path, name="platform-test-ca")
    context = BaseProcessSettings(HTTP_CA_FILE=str(ca.cert)).http_verify()
    assert isinstance(context, ssl.SSLContext) and context.check_hostname
    assert [dict(entry[0] for entry in cert["subject"])["commonName"] for cert in context.get_ca_certs()] == [
        "platform-test-ca"
    ]


def test_services_bound_every_wait_for_the_database_by_default() -> None:
    # A silent database link must cost a retry, not a hung consumer (fault scenario 14).
    settings = DispatchSettings()
    assert 0 < settings.database_command_timeout_seconds <= 30
    assert 0 < settings.database_connect_timeout_seconds <= 30


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Asia", "../etc/passwd", ""])
def test_both_time_zone_settings_refuse_a_zone_this_machine_cannot_load(zone: str) -> None:
    # "Asia" is a folder of zones: loading it raises IsADirectoryError, which must be a refusal too.
    with pytest.raises(ValidationError, match="unknown time zone"):
        DispatchSettings(local_timezone=zone)
    with pytest.raises(ValidationError, match="unknown time zone"):
        MonitoringSettings(timezone=zone)
    assert DispatchSettings(local_timezone="Europe/Berlin").local_timezone == "Europe/Berlin"
