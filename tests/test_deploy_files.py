"""The deployment files are valid and stay in step with the settings the code reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from eldercare.devstack import DEFAULT_PORTS
from gateway.config import GatewaySettings
from services.care_record.config import CareRecordSettings
from services.dispatch.config import DispatchSettings
from services.monitoring.config import MonitoringSettings

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
PROMETHEUS_DIR = REPO / "infra" / "prometheus"

# What docker-compose.yml demands from the operator (`${VAR:?...}`).
OPERATOR_ENV = {
    "ELDERCARE_API_TOKENS": "deploy-test-dispatcher:dispatcher,deploy-test-admin:admin",
    "GATEWAY_MQTT_USERNAME": "gateway",
    "GATEWAY_MQTT_PASSWORD": "gateway-secret",
    "DISPATCH_DB_PASSWORD": "dispatch-secret",
    "CARE_RECORD_DB_PASSWORD": "care-record-secret",
    "MONITORING_DB_PASSWORD": "monitoring-secret",
    "GRAFANA_ADMIN_PASSWORD": "grafana-secret",
}

SETTINGS_BY_SERVICE: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "dispatch": DispatchSettings,
    "care-record": CareRecordSettings,
    "monitoring": MonitoringSettings,
}

# One-shot jobs (none yet) would be listed here; everything else must come back by itself.
ONE_SHOT_SERVICES: frozenset[str] = frozenset()


def _tool(name: str, debian_package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: sudo apt-get install {debian_package} (or `make test`)")
    return found


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # An empty --env-file: an operator's .env next to the compose file must not
    # fill in what the test leaves out (docker-compose rejects /dev/null).
    clean = {k: v for k, v in os.environ.items() if k not in OPERATOR_ENV and not k.startswith("COMPOSE_")}
    with tempfile.NamedTemporaryFile(suffix=".env") as empty_env:
        return subprocess.run(
            [_tool("docker-compose", "docker-compose"), "--env-file", empty_env.name, "-f", str(COMPOSE), *args],
            cwd=REPO,
            env={**clean, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _load_yaml(text: str) -> Any:
    return yaml.safe_load(text)


@cache
def resolved_compose() -> dict[str, Any]:
    """docker-compose.yml as docker-compose sees it: anchors merged, variables filled in."""
    result = _compose("config", env=OPERATOR_ENV)
    assert result.returncode == 0, result.stderr
    return _load_yaml(result.stdout)


def accepted_env_names(settings_cls: type[BaseSettings]) -> set[str]:
    names: set[str] = set()
    for field in settings_cls.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias)
    return names


def test_compose_file_is_valid() -> None:
    result = _compose("config", "-q", env=OPERATOR_ENV)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(OPERATOR_ENV))
def test_compose_refuses_to_start_without_operator_secrets(missing: str) -> None:
    env = {k: v for k, v in OPERATOR_ENV.items() if k != missing}
    result = _compose("config", "-q", env=env)
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


def test_every_long_running_service_restarts() -> None:
    services = resolved_compose()["services"]
    careless = {
        name: spec.get("restart")
        for name, spec in services.items()
        if name not in ONE_SHOT_SERVICES and spec.get("restart") not in ("unless-stopped", "always")
    }
    assert not careless, f"services without a restart policy: {careless}"


def test_platform_processes_are_built_from_the_dockerfile() -> None:
    built = {name for name, spec in resolved_compose()["services"].items() if "build" in spec}
    assert built == set(SETTINGS_BY_SERVICE)


@pytest.mark.parametrize("service", sorted(SETTINGS_BY_SERVICE))
def test_compose_environment_matches_settings(service: str) -> None:
    settings_cls = SETTINGS_BY_SERVICE[service]
    environment = resolved_compose()["services"][service]["environment"]
    unknown = set(environment) - accepted_env_names(settings_cls)
    # The settings ignore unknown names, so a renamed variable would silently fall back to a default.
    assert not unknown, f"{service}: {settings_cls.__name__} does not read {sorted(unknown)}"
    settings: Any = settings_cls(**environment)
    assert settings.env == "production"
    assert settings.http_host == "0.0.0.0"
    healthcheck = " ".join(resolved_compose()["services"][service]["healthcheck"]["test"])
    assert f"127.0.0.1:{settings.http_port}/healthz" in healthcheck


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.local.yml"])
def test_prometheus_config_is_valid(config: str) -> None:
    promtool = _tool("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_DIR / config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_every_process_where_it_listens() -> None:
    services = resolved_compose()["services"]
    scrape = _load_yaml((PROMETHEUS_DIR / "prometheus.yml").read_text())["scrape_configs"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape}
    assert set(targets) == set(SETTINGS_BY_SERVICE)
    for name, settings_cls in SETTINGS_BY_SERVICE.items():
        port = settings_cls(**services[name]["environment"]).http_port  # type: ignore[attr-defined]
        assert targets[name] == [f"{name}:{port}"]
    local = _load_yaml((PROMETHEUS_DIR / "prometheus.local.yml").read_text())["scrape_configs"]
    local_targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in local}
    assert local_targets == {name: [f"127.0.0.1:{port}"] for name, port in DEFAULT_PORTS.items()}
