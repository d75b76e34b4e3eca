"""Prometheus rules pass their promtool unit tests, and every dashboard and rule names only real metrics."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "infra" / "prometheus"
DASHBOARDS = sorted((REPO / "infra" / "grafana" / "provisioning" / "dashboards" / "json").glob("*.json"))
# Every module that defines metrics a process exports.
METRIC_MODULES = (
    "eldercare.metrics",
    "gateway.metrics",
    "gateway.watch.metrics",
    "services.dispatch.metrics",
    "services.monitoring.metrics",
)
# Series Prometheus itself adds to every target.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "rate", "irate", "increase", "deriv", "delta",
    "histogram_quantile", "clamp_min", "clamp_max", "and", "or", "unless", "offset", "on", "ignoring",
    "group_left", "group_right", "abs", "time", "vector", "le", "bool", "label_replace", "last_over_time",
    "absent",
}  # fmt: skip


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not installed: sudo apt-get install prometheus (or `make test`, which installs it)")
    return found


def exported_metric_names() -> set[str]:
    """Every sample name the platform's processes expose (counters' _total, histograms' _bucket/_sum/_count)."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(sample.name for sample in family.samples)
        names.add(family.name)
        # Labelled metrics have no samples until first used: name them from their type.
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, strings and durations removed)."""
    stripped = re.sub(r"\{[^}]*\}", "", expr)
    stripped = re.sub(r'"[^"]*"', "", stripped)
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)
    stripped = re.sub(r"(?<![a-zA-Z_:])\d+(\.\d+)?(e[-+]?\d+)?[smhdwy]?(?![a-zA-Z0-9_:])", "", stripped)
    stripped = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", stripped)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhdw]", w)}


def dashboard_expressions() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']}", target["expr"]))
    return found


def rule_expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return [(rule["alert"], rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


def test_alert_rules_pass_their_promtool_unit_tests() -> None:
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests, "no promtool rule tests found"
    result = subprocess.run(
        [promtool(), "test", "rules", *map(str, tests)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_file_is_valid() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(PROMETHEUS_DIR / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_required_rules_exist() -> None:
    names = {name for name, _ in rule_expressions()}
    assert {
        "SosNotAcknowledged",
        "ConsumerLagGrowing",
        "GatewayDisconnectedFromBroker",
        "DeadLettersRising",
        "DeviceOfflineRatioJump",
        "WatchAdapterDown",
        "NoWatchAdapter",
        "AlarmNotOpenedAsIncident",
        "ConsumerHandlerRetrying",
        "GatewayNotSubscribed",
        "TargetDown",
        "ScrapeJobMissing",
    } <= names


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.local.yml"])
def test_every_scrape_job_pages_when_absent_and_alerts_reach_alertmanager(config: str) -> None:
    """`up == 0` cannot fire for a job with no target: each job needs its own `absent` in ScrapeJobMissing."""
    loaded = yaml.safe_load((PROMETHEUS_DIR / config).read_text())
    jobs = {job["job_name"] for job in loaded["scrape_configs"]}
    [missing_rule] = [expr for name, expr in rule_expressions() if name == "ScrapeJobMissing"]
    assert set(re.findall(r'absent\(up\{job="([^"]+)"\}\)', missing_rule)) == jobs
    targets = [t for am in loaded["alerting"]["alertmanagers"] for sc in am["static_configs"] for t in sc["targets"]]
    # Compose's Alertmanager has a host of its own; make run's shares 127.0.0.1 with Kafka's controller (9093).
    port = {"prometheus.yml": ":9093", "prometheus.local.yml": ":9095"}[config]
    assert len(targets) == 1 and targets[0].endswith(port), targets


def test_the_watch_adapter_has_a_dashboard_row_with_what_operators_need() -> None:
    panels = [panel for path in DASHBOARDS for panel in json.loads(path.read_text())["panels"]]
    assert any(panel["type"] == "row" and "watch adapter" in panel["title"].lower() for panel in panels)
    shown = {
        name for panel in panels for target in panel.get("targets", []) for name in metric_names_in(target["expr"])
    }
    assert {
        "watch_connections",
        "watch_frames_total",
        "watch_bad_frames_total",
        "watch_replies_total",
        "watch_commands_total",
    } <= shown


def test_the_four_dashboards_are_provisioned() -> None:
    titles = {json.loads(path.read_text())["title"] for path in DASHBOARDS}
    assert len(titles) == 4
    for word in ("fleet health", "alarm flow", "incident SLA", "pipeline"):
        assert any(word.lower() in title.lower() for title in titles), (word, titles)
    provider = yaml.safe_load((REPO / "infra/grafana/provisioning/dashboards/eldercare.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/provisioning/dashboards/json"


@pytest.mark.parametrize(("where", "expr"), dashboard_expressions() + rule_expressions())
def test_every_expression_names_only_metrics_the_platform_exports(where: str, expr: str) -> None:
    names = metric_names_in(expr)
    assert names, f"{where}: no metric found in {expr!r}"
    unknown = names - exported_metric_names() - PROMETHEUS_SERIES
    assert not unknown, f"{where}: {sorted(unknown)} are not exported by any process"


def test_the_cross_check_catches_a_misspelt_metric() -> None:
    assert metric_names_in('sum by (state) (rate(monitoring_alert_total{type="x"}[5m]))') == {"monitoring_alert_total"}
    assert "monitoring_alert_total" not in exported_metric_names()
    assert "monitoring_alerts_total" in exported_metric_names()
