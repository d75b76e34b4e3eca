"""What `make run` hands Prometheus and monitoring when it runs several gateway processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.devstack import (
    ALARM_GATEWAY,
    DEFAULT_PORTS,
    REPO_ROOT,
    ManagedProcess,
    Stack,
    StackConfig,
    write_prometheus_config,
)


def gateway_targets(config_path: Path) -> list[str]:
    config = yaml.safe_load(config_path.read_text())
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "gateway")
    return [target for group in job["static_configs"] for target in group["targets"]]


def test_prometheus_scrapes_every_gateway_process(tmp_path: Path) -> None:
    stack = Stack(StackConfig(gateway_processes=3, var_dir=tmp_path))
    path = write_prometheus_config(
        tmp_path / "prometheus.yml", ports=stack.config.ports, extra_gateway_ports=stack.extra_gateway_ports()
    )
    assert gateway_targets(path) == ["127.0.0.1:8005", "127.0.0.1:8004", "127.0.0.1:8006", "127.0.0.1:8007"]
    promtool = shutil.which("promtool")
    assert promtool is not None, "make test installs Debian's prometheus package, which ships promtool"
    subprocess.run([promtool, "check", "config", str(path)], check=True, capture_output=True)


def test_one_bulk_gateway_keeps_the_file_as_it_is(tmp_path: Path) -> None:
    ports = dict(DEFAULT_PORTS, gateway=9104, **{ALARM_GATEWAY: 9105})
    path = write_prometheus_config(tmp_path / "prometheus.yml", ports=ports)
    assert gateway_targets(path) == ["127.0.0.1:9105", "127.0.0.1:9104"]


def test_monitoring_asks_every_gateway_whether_it_has_the_broker(tmp_path: Path) -> None:
    stack = Stack(StackConfig(gateway_processes=2, var_dir=tmp_path))
    urls = stack.service_env("monitoring")["MONITORING_GATEWAY_URLS"].split(",")
    assert urls == ["http://127.0.0.1:8005", "http://127.0.0.1:8004", "http://127.0.0.1:8006"]


def test_the_bulk_path_runs_below_and_the_alarm_path_above_the_default_cpu_priority(tmp_path: Path) -> None:
    stack = Stack(StackConfig(gateway_processes=2, var_dir=tmp_path))
    alarms = stack.make_process("gateway", instance=ALARM_GATEWAY.removeprefix("gateway-"))
    stack.processes[alarms.name] = alarms
    niceness = {
        "gateway-alarms": alarms.nice,
        "gateway": stack.make_process("gateway").nice,
        "gateway-2": stack.make_process("gateway", instance="2", port=8006).nice,
        "monitoring": stack.make_process("monitoring").nice,
        "dispatch": stack.make_process("dispatch").nice,
        "care-record": stack.make_process("care-record").nice,
    }
    assert niceness == {
        "gateway-alarms": -5,
        "gateway": 5,
        "gateway-2": 5,
        "monitoring": 5,
        "dispatch": -5,
        "care-record": 0,
    }


@pytest.mark.asyncio
async def test_a_managed_process_starts_at_its_niceness(tmp_path: Path) -> None:
    log_file = tmp_path / "child.log"
    script = "import os; print(os.nice(0))"
    parent = os.nice(0)
    child = ManagedProcess("child", [sys.executable, "-c", script], dict(os.environ), log_file=log_file, nice=3)
    child.restart = False
    await child.start()
    assert child.process is not None
    await child.process.wait()
    await child.stop()
    assert int(log_file.read_text().strip()) == min(parent + 3, 19)


def test_a_raised_priority_the_process_may_not_take_leaves_it_at_the_default() -> None:
    # Unprivileged (root drops to nobody first): asking for -5 must not stop the child from starting.
    check = (
        "import os; from tools.devstack import _prepare_child;"
        " os.geteuid() == 0 and os.setuid(65534);"
        " before = os.nice(0); _prepare_child(-5); print(before, os.nice(0))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    assert after == before


@pytest.mark.asyncio
async def test_a_process_that_never_gets_ready_reports_its_last_log_lines(tmp_path: Path) -> None:
    # Test runs delete their service logs, so the error itself has to carry the cause of a failed start.
    log_file = tmp_path / "service.log"
    script = (
        "import sys; print('\\n'.join(f'line {n}' for n in range(100)));"
        " print('startup failed: no database'); sys.exit(3)"
    )
    child = ManagedProcess(
        "service", [sys.executable, "-c", script], dict(os.environ), health_url="http://127.0.0.1:9", log_file=log_file
    )
    child.restart = False
    await child.start()
    assert child.process is not None
    await child.process.wait()
    with pytest.raises(RuntimeError) as failure:
        await child.wait_healthy(timeout=5)
    await child.stop()
    message = str(failure.value)
    assert "exited with 3" in message
    assert message.rstrip().endswith("startup failed: no database")
    assert "line 99" in message and "line 50" not in message
