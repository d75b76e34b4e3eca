"""The deployment files are valid and stay in step with the settings the code reads."""

from __future__ import annotations

import os
import re
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

from gateway.config import GatewaySettings
from gateway.watch.config import WatchSettings
from services.care_record.config import CareRecordSettings
from services.dispatch.config import DispatchSettings
from services.monitoring.config import MonitoringSettings
from tools.devstack import ALARM_GATEWAY, ALERTMANAGER_PORT, DEFAULT_PORTS

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
    "DISPATCH_CONSOLE_SECRET": "deploy-test-console-secret-0123456789",
    "DISPATCH_ALERTMANAGER_TOKEN": "deploy-test-alertmanager-token",
    "KAFKA_BROKER_PASSWORD": "deploy-test-broker-secret",
    "KAFKA_CLIENT_PASSWORD": "deploy-test-client-secret",
}

SETTINGS_BY_SERVICE: dict[str, type[BaseSettings]] = {
    "gateway-alarms": GatewaySettings,
    "gateway": GatewaySettings,
    "dispatch": DispatchSettings,
    "care-record": CareRecordSettings,
    "monitoring": MonitoringSettings,
    "watch": WatchSettings,
}
# Prometheus job per process (compose service, or devstack process name): both gateway lanes are one job.
SCRAPE_JOB = {name: "gateway" if name.startswith("gateway") else name for name in SETTINGS_BY_SERVICE}

# One-shot jobs (none yet) would be listed here; everything else must come back by itself.
ONE_SHOT_SERVICES: frozenset[str] = frozenset()


def _tool(name: str, debian_package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: sudo apt-get install {debian_package} (or `make test`)")
    return found


def _compose(*args: str, env: dict[str, str], file: Path = COMPOSE) -> subprocess.CompletedProcess[str]:
    # An empty --env-file: an operator's .env next to the compose file must not
    # fill in what the test leaves out (docker-compose rejects /dev/null).
    clean = {k: v for k, v in os.environ.items() if k not in OPERATOR_ENV and not k.startswith("COMPOSE_")}
    with tempfile.NamedTemporaryFile(suffix=".env") as empty_env:
        return subprocess.run(
            [_tool("docker-compose", "docker-compose"), "--env-file", empty_env.name, "-f", str(file), *args],
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
def resolved_compose(file: Path = COMPOSE) -> dict[str, Any]:
    """A compose file as docker-compose sees it: anchors merged, variables filled in."""
    result = _compose("config", env=OPERATOR_ENV, file=file)
    assert result.returncode == 0, result.stderr
    return _load_yaml(result.stdout)


@cache
def _local_certs() -> Path:
    """What `python -m tools.certs` writes, made once for the settings checks below."""
    from tools.certs import stack_certificates

    out = Path(tempfile.mkdtemp(prefix="deploy-certs-"))
    stack_certificates(out)
    return out


def local_environment(environment: dict[str, Any]) -> dict[str, Any]:
    """A container's environment with its mounted certificate paths (/certs/...) pointing at real files
    here: the settings refuse a file that does not exist."""
    return {
        name: str(_local_certs() / "app" / value.removeprefix("/certs/"))
        if isinstance(value, str) and value.startswith("/certs/")
        else value
        for name, value in environment.items()
    }


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
    settings: Any = settings_cls(**local_environment(environment))
    assert settings.env == "production"
    assert settings.http_host == "0.0.0.0"
    healthcheck = " ".join(resolved_compose()["services"][service]["healthcheck"]["test"])
    assert f"https://127.0.0.1:{settings.http_port}/healthz" in healthcheck
    assert "cafile='/certs/ca.crt'" in healthcheck


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


def _scrape_targets(config: str) -> dict[str, list[str]]:
    scrape = _load_yaml((PROMETHEUS_DIR / config).read_text())["scrape_configs"]
    return {job["job_name"]: sorted(t for static in job["static_configs"] for t in static["targets"]) for job in scrape}


def _by_job(addresses: dict[str, str]) -> dict[str, list[str]]:
    jobs: dict[str, list[str]] = {}
    for name, address in addresses.items():
        jobs.setdefault(SCRAPE_JOB[name], []).append(address)
    return {job: sorted(targets) for job, targets in jobs.items()}


def test_prometheus_scrapes_every_process_where_it_listens() -> None:
    services = resolved_compose()["services"]
    ports = {
        name: settings_cls(**local_environment(services[name]["environment"])).http_port  # type: ignore[attr-defined]
        for name, settings_cls in SETTINGS_BY_SERVICE.items()
    }
    # Alertmanager too: a down one delivers nothing, and TargetDown shows it in Prometheus.
    assert "alertmanager" in services
    expected = _by_job({name: f"{name}:{port}" for name, port in ports.items()}) | {
        "alertmanager": ["alertmanager:9093"]
    }
    assert _scrape_targets("prometheus.yml") == expected
    # make run: every process of tools/devstack.py on its default port.
    assert set(DEFAULT_PORTS) == set(SETTINGS_BY_SERVICE)
    local = _by_job({name: f"127.0.0.1:{port}" for name, port in DEFAULT_PORTS.items()}) | {
        "alertmanager": [f"127.0.0.1:{ALERTMANAGER_PORT}"]
    }
    assert _scrape_targets("prometheus.local.yml") == local


def _gateways(services: dict[str, Any]) -> dict[str, GatewaySettings]:
    """The compose services that run a gateway process, with the settings it would read."""
    return {
        name: GatewaySettings(**local_environment(spec.get("environment", {})))
        for name, spec in services.items()
        if spec.get("command") == ["python", "-m", "gateway"]
    }


def test_compose_runs_an_alarm_lane_gateway_beside_the_bulk_lane_one() -> None:
    gateways = _gateways(resolved_compose()["services"])
    lanes = {name: settings.lanes for name, settings in gateways.items()}
    assert lanes == {ALARM_GATEWAY: "alarms", "gateway": "bulk"}
    instance_ids = [settings.instance_id for settings in gateways.values()]
    assert len(set(instance_ids)) == len(instance_ids), f"gateway instance ids must differ: {instance_ids}"
    # The bulk lane starts once the alarm lane is up: on a fresh broker, an SOS before that would be dropped.
    depends_on = resolved_compose()["services"]["gateway"]["depends_on"]
    assert depends_on[ALARM_GATEWAY] == {"condition": "service_healthy"}


def test_monitoring_asks_every_compose_gateway_whether_it_has_the_broker() -> None:
    services = resolved_compose()["services"]
    monitoring = MonitoringSettings(**local_environment(services["monitoring"]["environment"]))
    expected = {f"https://{name}:{settings.http_port}" for name, settings in _gateways(services).items()}
    assert set(monitoring.gateway_health_urls()) == expected


def test_the_bulk_path_has_less_and_the_alarm_path_more_cpu_weight_than_the_rest() -> None:
    services = resolved_compose()["services"]
    weight = {name: int(services[name].get("cpu_shares", 1024)) for name in services}
    bulk, alarm = max(weight["gateway"], weight["monitoring"]), min(weight[ALARM_GATEWAY], weight["dispatch"])
    assert bulk < weight["care-record"] < alarm


def bulk_lanes_without_alarm_lane(services: dict[str, Any]) -> list[str]:
    """Bulk-lane gateways with no started alarm-lane gateway on their broker."""
    gateways = _gateways(services)
    alarm_lanes = {
        settings.mqtt_url
        for name, settings in gateways.items()
        if settings.runs_alarm_lane
        and not services[name].get("profiles")  # a service in a profile is not started by default
        and services[name].get("deploy", {}).get("replicas", 1) != 0
    }
    return [
        name for name, settings in gateways.items() if settings.lanes == "bulk" and settings.mqtt_url not in alarm_lanes
    ]


COMPOSE_FILES = sorted({*REPO.glob("*compose*.yml"), *REPO.glob("*compose*.yaml"), COMPOSE})


@pytest.mark.parametrize("file", COMPOSE_FILES, ids=lambda path: path.name)
def test_no_compose_file_runs_a_bulk_lane_without_an_alarm_lane(file: Path) -> None:
    """A GATEWAY_LANES=bulk gateway acks and drops SOS: an alarm-lane one must run with it, on its broker and group."""
    assert bulk_lanes_without_alarm_lane(resolved_compose(file)["services"]) == []


def test_the_lane_check_catches_a_bulk_lane_left_alone() -> None:
    gateway: dict[str, Any] = {"command": ["python", "-m", "gateway"]}
    bulk: dict[str, Any] = {**gateway, "environment": {"GATEWAY_LANES": "bulk", "GATEWAY_INSTANCE_ID": "b"}}
    alarms: dict[str, Any] = {**gateway, "environment": {"GATEWAY_LANES": "alarms", "GATEWAY_INSTANCE_ID": "a"}}
    assert bulk_lanes_without_alarm_lane({"gateway": bulk}) == ["gateway"]
    assert bulk_lanes_without_alarm_lane({"gateway": bulk, "gateway-alarms": {**alarms, "profiles": ["x"]}}) == [
        "gateway"
    ]
    other_broker = {**alarms, "environment": {**alarms["environment"], "MQTT_URL": "mqtt://elsewhere:1883"}}
    assert bulk_lanes_without_alarm_lane({"gateway": bulk, "gateway-alarms": other_broker}) == ["gateway"]
    # The alarm lane subscribes without the share group, so a different group does not matter.
    other_group = {**alarms, "environment": {**alarms["environment"], "GATEWAY_SHARE_GROUP": "other"}}
    assert bulk_lanes_without_alarm_lane({"gateway": bulk, "gateway-alarms": other_group}) == []
    assert bulk_lanes_without_alarm_lane({"gateway": bulk, "gateway-alarms": alarms}) == []
    both = {**gateway, "environment": {"GATEWAY_INSTANCE_ID": "c"}}  # GATEWAY_LANES=all, the default
    assert bulk_lanes_without_alarm_lane({"gateway": bulk, "gateway-all": both}) == []


# ---- Kafka: compose's brokers are the fault suite's cluster ---------------------------------------


def _kafka_brokers(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in services.items() if str(spec.get("image", "")).startswith("apache/kafka:")}


def _as_properties(environment: dict[str, Any]) -> dict[str, str]:
    """The apache/kafka image's KAFKA_FOO_BAR variables as the server properties foo.bar they set
    (its rule: `___` is `-`, `__` is `_`, `_` is `.`)."""
    return {
        name[len("KAFKA_") :]
        .lower()
        .replace("___", "\0")
        .replace("__", "\1")
        .replace("_", ".")
        .replace("\0", "-")
        .replace("\1", "_"): str(value)
        for name, value in environment.items()
        if name.startswith("KAFKA_") and name not in ("KAFKA_HEAP_OPTS", "KAFKA_OPTS")
    }


def test_compose_runs_three_brokers_at_the_pinned_kafka_release() -> None:
    from tools.kafkanode import pinned_version

    brokers = _kafka_brokers(resolved_compose()["services"])
    assert sorted(brokers) == ["kafka-1", "kafka-2", "kafka-3"]
    assert {spec["image"] for spec in brokers.values()} == {f"apache/kafka:{pinned_version()}"}
    node_ids = sorted(int(spec["environment"]["KAFKA_NODE_ID"]) for spec in brokers.values())
    assert node_ids == [1, 2, 3]


def test_compose_brokers_are_configured_like_the_fault_suites_cluster(tmp_path: Path) -> None:
    from tests.e2e.faults.conftest import CLUSTER_OVERRIDES
    from tools.kafkanode import make_cluster

    suite = make_cluster(tmp_path, size=3, overrides=CLUSTER_OVERRIDES)[0].properties()
    # The guarantees and timings that decide what survives a broker's death; addresses and paths differ.
    compared = [
        "default.replication.factor",
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "auto.create.topics.enable",
        "group.initial.rebalance.delay.ms",
        *CLUSTER_OVERRIDES,
    ]
    for name, spec in _kafka_brokers(resolved_compose()["services"]).items():
        compose = _as_properties(spec["environment"])
        assert {key: compose.get(key) for key in compared} == {key: suite[key] for key in compared}, name
        assert compose["process.roles"] == suite["process.roles"]
        assert len(compose["controller.quorum.voters"].split(",")) == 3


def test_compose_services_write_three_copies_to_all_brokers() -> None:
    services = resolved_compose()["services"]
    for name in SETTINGS_BY_SERVICE:
        env = services[name]["environment"]
        assert env["KAFKA_REPLICATION_FACTOR"] == "3", name
        assert sorted(env["KAFKA_BOOTSTRAP"].split(",")) == [f"kafka-{n}:9092" for n in (1, 2, 3)], name


# ---- Transport security: every link of the compose stack is encrypted and authenticated ------------


def _mounts(spec: dict[str, Any]) -> dict[str, str]:
    """A service's bind mounts, container path -> host path (docker-compose prints either syntax)."""
    mounts = {}
    for volume in spec.get("volumes", []):
        if isinstance(volume, str):
            source, target, *_ = volume.split(":")
            mounts[target] = source
        elif volume.get("type") == "bind":
            mounts[volume["target"]] = volume["source"]
    return mounts


def test_compose_mounts_the_certificates_tools_certs_lays_out() -> None:
    services = resolved_compose()["services"]
    layout = _local_certs()
    certs_dir = REPO / "certs"  # ELDERCARE_CERTS_DIR's default
    wanted = {
        "mosquitto": ("/mosquitto/certs", "mosquitto"),
        **{f"kafka-{n}": ("/etc/kafka/secrets", "kafka") for n in (1, 2, 3)},
        **{name: ("/certs", "app") for name in SETTINGS_BY_SERVICE},
        "prometheus": ("/certs/ca.crt", "ca.crt"),
        "alertmanager": ("/certs/ca.crt", "ca.crt"),
    }
    for service, (target, folder) in wanted.items():
        assert _mounts(services[service]).get(target) == str(certs_dir / folder), service
        assert (layout / folder).exists(), folder
    # Every file a container is told to read is one tools.certs writes.
    mosquitto_conf = (REPO / "infra" / "mosquitto" / "mosquitto.conf").read_text()
    for line in mosquitto_conf.splitlines():
        if line.split(" ")[0] in ("cafile", "certfile", "keyfile"):
            assert (layout / "mosquitto" / line.split(" ")[1].removeprefix("/mosquitto/certs/")).is_file(), line
    kafka_env = services["kafka-1"]["environment"]
    for name in ("KAFKA_SSL_KEYSTORE_FILENAME", "KAFKA_SSL_KEYSTORE_CREDENTIALS", "KAFKA_SSL_KEY_CREDENTIALS"):
        assert (layout / "kafka" / kafka_env[name]).is_file(), name
    assert (layout / "kafka" / kafka_env["KAFKA_SSL_TRUSTSTORE_LOCATION"].removeprefix("/etc/kafka/secrets/")).is_file()


def test_the_production_broker_listens_only_with_tls() -> None:
    services = resolved_compose()["services"]
    assert [port["target"] for port in services["mosquitto"]["ports"]] == [8883]
    conf = [line.split() for line in (REPO / "infra" / "mosquitto" / "mosquitto.conf").read_text().splitlines()]
    listeners = [words for words in conf if words and words[0] == "listener"]
    assert listeners == [["listener", "8883"]]
    assert {"cafile", "certfile", "keyfile"} <= {words[0] for words in conf if words}
    for name, settings in _gateways(services).items():
        assert settings.mqtt_url == "mqtts://mosquitto:8883", name
        assert settings.mqtt_ca_file is not None, name


def test_kafka_serves_clients_and_replication_only_over_sasl_ssl() -> None:
    for name, spec in _kafka_brokers(resolved_compose()["services"]).items():
        props = _as_properties(spec["environment"])
        protocols = dict(entry.split(":") for entry in props["listener.security.protocol.map"].split(","))
        listeners = [entry.split("://")[0] for entry in props["listeners"].split(",")]
        # Only the controller quorum, which compose publishes nowhere, is plaintext.
        assert {listener: protocols[listener] for listener in listeners} == {
            "SASL_SSL": "SASL_SSL",
            "CONTROLLER": "PLAINTEXT",
        }, name
        assert props["advertised.listeners"] == f"SASL_SSL://{name}:9092"
        assert props["inter.broker.listener.name"] == "SASL_SSL"
        assert props.get("ssl.endpoint.identification.algorithm", "https") == "https", name
        assert "9093" not in str(spec.get("ports", "")), name


def test_every_process_logs_in_to_kafka_with_an_account_the_brokers_know() -> None:
    services = resolved_compose()["services"]
    jaas = _as_properties(services["kafka-1"]["environment"])["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    accounts = dict(re.findall(r'user_([A-Za-z0-9_-]+)="([^"]*)"', jaas))
    assert accounts["broker"] == OPERATOR_ENV["KAFKA_BROKER_PASSWORD"]
    for name, settings_cls in SETTINGS_BY_SERVICE.items():
        settings: Any = settings_cls(**local_environment(services[name]["environment"]))
        assert settings.kafka_security_protocol == "SASL_SSL", name
        assert settings.kafka_sasl_mechanism == "PLAIN", name  # what the brokers enable
        assert accounts.get(settings.kafka_sasl_username) == settings.kafka_sasl_password, name
        assert settings.kafka_ssl_ca_file is not None, name
        # And their APIs are HTTPS.
        assert settings.http_tls_cert is not None and settings.http_tls_key is not None, name


def test_prometheus_and_alertmanager_call_the_platform_over_https() -> None:
    scrape = _load_yaml((PROMETHEUS_DIR / "prometheus.yml").read_text())["scrape_configs"]
    for job in scrape:
        if job["job_name"] in SCRAPE_JOB.values():
            assert job.get("scheme") == "https", job["job_name"]
            assert job["tls_config"]["ca_file"] == "/certs/ca.crt", job["job_name"]
    alertmanager = _load_yaml((REPO / "infra" / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in alertmanager["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            assert webhook["url"].startswith("https://"), webhook["url"]
            assert webhook["http_config"]["tls_config"]["ca_file"] == "/certs/ca.crt"
