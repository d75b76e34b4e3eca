"""A platform of its own for the monitoring tests: own brokers (one is restarted), short timeouts, Prometheus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import pytest_asyncio
import yaml

from tests import infra
from tests.platform import CORE_SERVICES, Platform, own_platform
from tests.proxy import ProxyThread

REPO = Path(__file__).resolve().parents[2]
# Alertmanager delivers within a second or two instead of after its production group_wait.
FAST_ALERTMANAGER = {"group_wait": "0s", "group_interval": "1s", "repeat_interval": "1m"}


def fast_rules(path: Path) -> Path:
    """infra/prometheus/alerts.yml with every `for:` at 1 s: the expressions (and their thresholds) stay as they are."""
    rules = yaml.safe_load((REPO / "infra" / "prometheus" / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


# Seconds instead of minutes, so that time-based rules run within a test.
FAST_RULES = {
    "MONITORING_OFFLINE_FLOOR_SECONDS": "2",
    "MONITORING_HEARTBEAT_SECONDS": "0.5",
    "MONITORING_SWEEP_INTERVAL_SECONDS": "0.3",
    "MONITORING_OFFLINE_STORM_MIN_DEVICES": "15",
    "MONITORING_OFFLINE_ALERT_DELAY_SECONDS": "2",
    "MONITORING_GEOFENCE_CONFIRM_FIXES": "3",
    "MONITORING_GEOFENCE_DWELL_SECONDS": "0",
    "MONITORING_VITALS_SUSTAINED_READINGS": "3",
    "MONITORING_VITALS_SUSTAINED_SECONDS": "0",
    "MONITORING_INACTIVITY_SECONDS": "3600",
    "MONITORING_DAY_START": "00:00",
    "MONITORING_DAY_END": "00:00",
}


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def mplatform(workdir: Path, databases: infra.DatabaseFactory) -> AsyncIterator[Platform]:
    """Every process on brokers no other test shares, with a Prometheus scraping them every second.

    Prometheus (rules with 1 s `for:`) sends to an Alertmanager of the platform's own, which delivers
    to dispatch's webhook; dispatch reaches its database through a proxy a test may cut.
    """
    # Own database names: the shared platform's fixture may be running in the same session.
    own_databases = infra.DatabaseFactory(databases.server_url)
    server = urlparse(own_databases.server_url)
    assert server.port is not None
    database_link = ProxyThread(listen_port=infra.free_port(), target_port=server.port)
    database_link.start()
    dispatch_url = own_databases.url("dispatch").replace(f":{server.port}/", f":{database_link.listen_port}/")
    path = workdir / "monitoring"
    try:
        async with own_platform(
            path,
            own_databases,
            services=(*CORE_SERVICES, "watch"),
            env={**FAST_RULES, "DISPATCH_DATABASE_URL": dispatch_url},
        ) as platform:
            alertmanager_port = infra.free_port()
            alertmanager = await platform.stack.start_alertmanager(port=alertmanager_port, timings=FAST_ALERTMANAGER)
            assert alertmanager is not None, platform.stack.notes
            url = await platform.stack.start_prometheus(
                port=infra.free_port(),
                scrape_interval="1s",
                alertmanager_port=alertmanager_port,
                rules_file=fast_rules(path / "alerts-fast.yml"),
            )
            assert url is not None, platform.stack.notes
            platform.prometheus_url = url  # type: ignore[attr-defined]
            platform.alertmanager_url = alertmanager  # type: ignore[attr-defined]
            platform.dispatch_database_link = database_link  # type: ignore[attr-defined]
            yield platform
    finally:
        database_link.stop()
        await own_databases.drop_all()
