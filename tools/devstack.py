"""`make run`: start the whole system on this machine and supervise it.

The stack runs on infrastructure of its own, with the project's settings and its
data under var/: Mosquitto (infra/mosquitto/dev.conf), one Apache Kafka KRaft node
(the release pinned in infra/kafka/pom.xml) and a PostgreSQL cluster made with
initdb. A broker or database is used from elsewhere only when its address is given
(`MQTT_URL`, `KAFKA_BOOTSTRAP`, `*_DATABASE_URL`); when something foreign already
holds one of our default ports, `make run` refuses and says so rather than adopt a
broker whose limits are not ours. Every process is restarted with backoff if it
dies, and Ctrl-C stops everything, children included.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import getpass
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
from pydantic import AliasChoices, Field

from eldercare.logs import setup_logging
from eldercare.settings import DEV_ALERTMANAGER_TOKEN, DEV_API_TOKENS, REPO_ROOT, BaseProcessSettings, tcp_port_open
from eldercare.tasks import cancel_and_wait
from tools import kafkanode

log = logging.getLogger("devstack")

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a child before exec (Linux): get `sig` when the parent dies, so nothing is orphaned."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)


def _prepare_child(nice: int) -> None:
    die_with_parent()
    if nice:
        # Raising priority (a negative step) needs CAP_SYS_NICE: without it the child keeps
        # the default priority rather than failing to start.
        with contextlib.suppress(PermissionError):
            os.nice(nice)


def mosquitto_binary() -> str:
    """Debian's mosquitto, or a clear instruction to install it."""
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if found is None:
        raise FileNotFoundError("mosquitto is not installed: sudo apt-get install mosquitto mosquitto-clients")
    return found


def write_mosquitto_config(path: Path, *, host: str, port: int, data_dir: Path, autosave_interval: int = 5) -> Path:
    """A runnable config: the project's dev.conf plus this run's listener and storage.

    `autosave_interval`: seconds between saves to disk; production saves every 30 (infra/mosquitto/mosquitto.conf).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    base = (REPO_ROOT / "infra" / "mosquitto" / "dev.conf").read_text()
    path.write_text(
        # Stay the invoking user: started as root, Mosquitto would switch to 'mosquitto',
        # which cannot read the run's files or write its persistence under var/.
        f"user {getpass.getuser()}\n"
        f"listener {port} {host}\nprotocol mqtt\n"
        f"persistence true\npersistence_location {data_dir}/\nautosave_interval {autosave_interval}\n\n{base}"
    )
    return path


def prometheus_binary() -> str | None:
    """Debian's prometheus server, if installed (make installs it)."""
    return shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)


def alertmanager_binary() -> str | None:
    """Debian's Alertmanager (package prometheus-alertmanager), if installed (make installs it)."""
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


# Not Alertmanager's usual 9093: make run's own Kafka controller listens there (and 9094 is
# Alertmanager's cluster port).
ALERTMANAGER_PORT = 9095


def write_alertmanager_config(
    path: Path, *, dispatch_port: int, token: str, timings: Mapping[str, str] | None = None
) -> Path:
    """infra/alertmanager/alertmanager.local.yml with this run's dispatch port and a token file beside it.

    `timings` overrides route settings (group_wait, group_interval, repeat_interval): the tests
    want an alert delivered within seconds.
    """
    text = (REPO_ROOT / "infra" / "alertmanager" / "alertmanager.local.yml").read_text()
    token_file = path.with_suffix(".token")
    path.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(token)
    token_file.chmod(0o600)
    text = text.replace("http://127.0.0.1:8001/", f"http://127.0.0.1:{dispatch_port}/")
    text = text.replace("ALERTMANAGER_TOKEN_FILE", str(token_file))
    for name, value in (timings or {}).items():
        text = re.sub(rf"(?m)^(\s+{name}:) \S+", rf"\1 {value}", text)
    path.write_text(text)
    return path


def write_prometheus_config(
    path: Path,
    *,
    ports: Mapping[str, int],
    scrape_interval: str = "15s",
    extra_gateway_ports: Sequence[int] = (),
    alertmanager_port: int = ALERTMANAGER_PORT,
    rules_file: Path | None = None,
) -> Path:
    """infra/prometheus/prometheus.local.yml with this run's ports and an absolute rules path.

    `rules_file` replaces infra/prometheus/alerts.yml (the tests' copy with short `for:`).
    """
    source = REPO_ROOT / "infra" / "prometheus" / "prometheus.local.yml"
    text = source.read_text()
    text = text.replace(f'"127.0.0.1:{ALERTMANAGER_PORT}"', f'"127.0.0.1:{alertmanager_port}"')
    for name, port in ports.items():
        text = text.replace(f'"127.0.0.1:{DEFAULT_PORTS[name]}"', f'"127.0.0.1:{port}"')
    if extra_gateway_ports:
        # Bulk gateways beyond the first (GATEWAY_PROCESSES > 1) join the gateway job.
        first = f'"127.0.0.1:{ports["gateway"]}"'
        text = text.replace(first + "]", ", ".join([first, *(f'"127.0.0.1:{p}"' for p in extra_gateway_ports)]) + "]")
    text = text.replace("- alerts.yml", f"- {rules_file or source.parent / 'alerts.yml'}")
    text = text.replace("scrape_interval: 15s", f"scrape_interval: {scrape_interval}")
    text = text.replace("evaluation_interval: 15s", f"evaluation_interval: {scrape_interval}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@dataclass
class ManagedProcess:
    """A child process that is restarted with backoff when it dies."""

    name: str
    argv: list[str]
    env: Mapping[str, str]
    health_url: str | None = None
    log_file: Path | None = None
    restart: bool = True
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    nice: int = 0  # added to the child's CPU niceness: the bulk path yields the CPU to the alarm path
    stop_timeout: float = 10.0  # SIGTERM, then this long before SIGKILL (a broker's clean shutdown takes longer)
    _watcher: asyncio.Task[None] | None = None
    _stopping: bool = False
    _started_at: float = 0.0

    async def start(self) -> None:
        await self._spawn()
        self._watcher = asyncio.create_task(self._watch(), name=f"watch-{self.name}")

    async def _spawn(self) -> None:
        output = open(self.log_file, "ab") if self.log_file else None  # noqa: SIM115, ASYNC230 - owned by the child
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            env=dict(self.env),
            stdout=output,
            stderr=output if output else None,
            stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=functools.partial(_prepare_child, self.nice),
            cwd=str(REPO_ROOT),
        )
        if output:
            output.close()
        self._started_at = time.monotonic()

    async def _watch(self) -> None:
        delay = 1.0
        while True:
            assert self.process is not None
            code = await self.process.wait()
            if self._stopping or not self.restart:
                return
            self.restarts += 1
            if time.monotonic() - self._started_at > 30:
                delay = 1.0  # it ran for a while: a fresh failure, not a crash loop
            log.warning("%s exited with %s; restart #%d in %.0fs", self.name, code, self.restarts, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
            if self._stopping:
                return
            await self._spawn()

    async def stop(self, timeout: float | None = None) -> None:
        self._stopping = True
        timeout = self.stop_timeout if timeout is None else timeout
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        await cancel_and_wait(self._watcher)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the current process (fault tests); the watcher restarts it."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the process's log, to put in an error: test runs delete their logs afterwards."""
        if self.log_file is None or not self.log_file.exists():
            return ""
        with self.log_file.open("rb") as log_output:
            log_output.seek(max(0, log_output.seek(0, os.SEEK_END) - 16384))
            tail = log_output.read().decode(errors="replace").splitlines()[-lines:]
        return f"; last lines of {self.log_file.name}:\n" + "\n".join(tail)

    async def wait_healthy(self, timeout: float = 60.0, path: str = "/readyz") -> None:
        """Poll the process's HTTP endpoint until it answers 200."""
        assert self.health_url is not None
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                try:
                    response = await client.get(self.health_url + path)
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{self.name} not ready at {self.health_url}{path} after {timeout:.0f}s"
                        f" ({self.restarts} restarts){self.log_tail()}"
                    )
                if self.process is not None and self.process.returncode is not None and not self.restart:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}{self.log_tail()}")
                await asyncio.sleep(0.2)


SERVICES: dict[str, tuple[str, str]] = {
    # name: (module, port setting)
    "gateway": ("gateway", "GATEWAY_PORT"),
    "dispatch": ("services.dispatch", "DISPATCH_PORT"),
    "care-record": ("services.care_record", "CARE_RECORD_PORT"),
    "monitoring": ("services.monitoring", "MONITORING_PORT"),
    # The TCP adapter for "3G*" watches (WATCH_LISTEN, default 0.0.0.0:5093); HTTP for health and metrics.
    "watch": ("gateway.watch", "WATCH_PORT"),
}
# The "gateway" service is one alarm-lane process (GATEWAY_LANES=alarms) beside the bulk-lane ones
# (GATEWAY_LANES=bulk): "gateway", "gateway-2", ... A bulk lane acks and drops the alarm topics, so
# bulk-lane gateways never run without the alarm-lane one.
ALARM_GATEWAY_INSTANCE = "alarms"
ALARM_GATEWAY = f"gateway-{ALARM_GATEWAY_INSTANCE}"
DEFAULT_PORTS = {
    "dispatch": 8001,
    "care-record": 8002,
    "monitoring": 8003,
    "gateway": 8004,
    ALARM_GATEWAY: 8005,
    # Clear of the bulk gateways' 8006 ... 8004 + GATEWAY_PROCESSES.
    "watch": 8030,
}


@dataclass
class StackConfig:
    """Where everything listens and how it is started."""

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Set when the user named a broker of their own (MQTT_URL / KAFKA_BOOTSTRAP): then it is used
    # as it is; otherwise the stack starts its own there and refuses a port something else holds.
    external_mqtt: bool = False
    external_kafka: bool = False
    # The stack's own PostgreSQL cluster (var/postgres) on this port, unless every service's
    # *_DATABASE_URL is given; None: no cluster (services fall back to SQLite under var/).
    postgres_port: int | None = None
    # Service name -> HTTP port, and ALARM_GATEWAY -> the alarm-lane gateway's port when "gateway" runs.
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    env: dict[str, str] = field(default_factory=dict)  # passed to every service
    var_dir: Path = REPO_ROOT / "var"
    log_dir: Path | None = None  # None: children write to our terminal
    services: tuple[str, ...] = tuple(SERVICES)
    restart: bool = True
    # Bulk-lane gateways on the shared subscription, beside the one alarm-lane gateway; the n-th
    # (n >= 2, "gateway-n") serves HTTP on the gateway port + n.
    gateway_processes: int = 1
    # Niceness of the bulk path (bulk-lane gateways, monitoring): when the CPU is short, the
    # scheduler serves the alarm path (alarm-lane gateway, dispatch) first. 0 turns it off.
    bulk_nice: int = 5
    # Niceness of the alarm path (alarm-lane gateway, dispatch): ahead of everything else on the
    # box, the load generator and the other services included. Negative values need root or
    # CAP_SYS_NICE; without them the processes run at the default. 0 turns it off.
    alarm_nice: int = -5


class Stack:
    """Infrastructure plus the platform's processes, started and stopped as one."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.infra: dict[str, ManagedProcess] = {}
        self.processes: dict[str, ManagedProcess] = {}
        self.notes: list[str] = []

    def _log_file(self, name: str) -> Path | None:
        if self.config.log_dir is None:
            return None
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        return self.config.log_dir / f"{name}.log"

    async def start_infra(self) -> None:
        """Start our own Mosquitto, Kafka and PostgreSQL; use others only where the user named them."""
        self.config.var_dir.mkdir(parents=True, exist_ok=True)
        mqtt = urlparse(self.config.mqtt_url)
        mqtt_host, mqtt_port = mqtt.hostname or "127.0.0.1", mqtt.port or 1883
        if self.config.external_mqtt:
            self.notes.append(f"MQTT broker: using {mqtt_host}:{mqtt_port} (MQTT_URL)")
        else:
            _refuse_foreign("MQTT", mqtt_host, mqtt_port, "MQTT_URL")
            conf = write_mosquitto_config(
                self.config.var_dir / f"mosquitto-{mqtt_port}.conf",
                host=mqtt_host,
                port=mqtt_port,
                data_dir=self.config.var_dir / f"mosquitto-{mqtt_port}",
            )
            process = ManagedProcess(
                "mosquitto",
                [mosquitto_binary(), "-c", str(conf)],
                os.environ,
                log_file=self._log_file("mosquitto"),
                restart=self.config.restart,
            )
            await process.start()
            self.infra["mosquitto"] = process
            await _wait_port(mqtt_host, mqtt_port, "mosquitto")
            self.notes.append(
                f"MQTT broker: started Mosquitto on {mqtt_host}:{mqtt_port} "
                "(anonymous devices allowed: development only)"
            )
        kafka_host, _, kafka_port_text = self.config.kafka_bootstrap.split(",")[0].rpartition(":")
        kafka_port = int(kafka_port_text)
        if self.config.external_kafka:
            self.notes.append(f"Kafka: using {self.config.kafka_bootstrap} (KAFKA_BOOTSTRAP)")
        else:
            _refuse_foreign("Kafka", kafka_host, kafka_port, "KAFKA_BOOTSTRAP")
            await self._start_kafka(kafka_host, kafka_port)
        if self.config.postgres_port is not None:
            await self._start_postgres(self.config.postgres_port)

    async def _start_kafka(self, host: str, port: int) -> None:
        """One KRaft node whose data lives in var/kafka/dev and survives restarts of `make run`."""
        lib = await asyncio.to_thread(kafkanode.ensure_jars, self.config.var_dir / "kafka")
        data_dir = self.config.var_dir / "kafka" / "dev"
        node = kafkanode.KafkaNode(
            node_id=1,
            host=host,
            port=port,
            controller_port=port + 1,
            data_dir=data_dir,
            cluster_id=_stable_cluster_id(data_dir),
            lib=lib,
        )
        _refuse_foreign("Kafka controller", host, port + 1, "KAFKA_BOOTSTRAP")
        await asyncio.to_thread(node.format)
        # The broker's log is long and of interest only when investigating: beside its data, not in the terminal.
        process = ManagedProcess(
            "kafka",
            node.argv(),
            os.environ,
            log_file=self._log_file("kafka") or node.log_path,
            restart=self.config.restart,
            stop_timeout=30.0,
        )
        await process.start()
        self.infra["kafka"] = process
        await _wait_port(host, port, "kafka", timeout=90)
        self.notes.append(
            f"Kafka: started Apache Kafka {kafkanode.pinned_version()} on {host}:{port} "
            f"(KRaft, data and log in {data_dir}; `make wipe` deletes the dev data)"
        )

    async def _start_postgres(self, port: int) -> None:
        """The stack's own PostgreSQL cluster in var/postgres (trust auth on loopback only)."""
        _refuse_foreign("PostgreSQL", "127.0.0.1", port, "the *_DATABASE_URL settings")
        datadir = self.config.var_dir / "postgres"
        if not (datadir / "PG_VERSION").exists():
            await asyncio.to_thread(postgres_initdb, datadir)
        process = ManagedProcess(
            "postgres",
            postgres_command(datadir, port, "max_connections=200"),
            os.environ,
            log_file=self._log_file("postgres"),
            restart=self.config.restart,
        )
        await process.start()
        self.infra["postgres"] = process
        await _wait_port("127.0.0.1", port, "postgres", timeout=30)
        self.notes.append(f"PostgreSQL: started on 127.0.0.1:{port} (data in {datadir})")

    def _daemon_binary(self, label: str, port: int, find: Callable[[], str | None], package: str) -> str | None:
        """A Prometheus-family daemon's binary when its port is free and it is installed; else None and a note why."""
        if tcp_port_open("127.0.0.1", port):
            self.notes.append(f"{label}: something already listens on http://127.0.0.1:{port}; not starting one")
            return None
        binary = find()
        if binary is None:
            self.notes.append(f"{label}: not installed (sudo apt-get install {package})")
        return binary

    async def _start_daemon(self, name: str, port: int, command: list[str]) -> str:
        """Start the daemon listening on 127.0.0.1:port and wait for its /-/ready; its URL."""
        url = f"http://127.0.0.1:{port}"
        process = ManagedProcess(
            name,
            [*command, f"--web.listen-address=127.0.0.1:{port}"],
            os.environ,
            health_url=url,
            log_file=self._log_file(name),
            restart=self.config.restart,
        )
        await process.start()
        self.infra[name] = process
        await process.wait_healthy(30, path="/-/ready")
        return url

    async def start_alertmanager(
        self, *, port: int = ALERTMANAGER_PORT, timings: Mapping[str, str] | None = None
    ) -> str | None:
        """Start Debian's Alertmanager routing to dispatch's webhook (unless the port is taken); its URL or None."""
        binary = self._daemon_binary("Alertmanager", port, alertmanager_binary, "prometheus-alertmanager")
        if binary is None:
            return None
        token = self.service_env("dispatch").get("DISPATCH_ALERTMANAGER_TOKEN", DEV_ALERTMANAGER_TOKEN)
        config = write_alertmanager_config(
            self.config.var_dir / f"alertmanager-{port}.yml",
            dispatch_port=self.config.ports["dispatch"],
            token=token,
            timings=timings,
        )
        url = await self._start_daemon(
            "alertmanager",
            port,
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={self.config.var_dir / f'alertmanager-{port}'}",
                # No gossip: one Alertmanager per stack, and its default 0.0.0.0:9094 would clash with another's.
                "--cluster.listen-address=",
            ],
        )
        self.notes.append(f"Alertmanager: {url} (alerts go to dispatch's webhook: GET /api/v1/platform-alerts)")
        return url

    async def start_prometheus(
        self,
        *,
        port: int = 9090,
        scrape_interval: str = "15s",
        alertmanager_port: int = ALERTMANAGER_PORT,
        rules_file: Path | None = None,
    ) -> str | None:
        """Start Debian's Prometheus scraping this stack (unless something listens on the port); its URL or None."""
        binary = self._daemon_binary("Prometheus", port, prometheus_binary, "prometheus")
        if binary is None:
            return None
        config = write_prometheus_config(
            self.config.var_dir / f"prometheus-{port}.yml",
            ports=self.config.ports,
            scrape_interval=scrape_interval,
            extra_gateway_ports=self.extra_gateway_ports(),
            alertmanager_port=alertmanager_port,
            rules_file=rules_file,
        )
        storage = [
            f"--storage.tsdb.path={self.config.var_dir / f'prometheus-{port}'}",
            "--storage.tsdb.retention.time=7d",
        ]
        url = await self._start_daemon("prometheus", port, [binary, f"--config.file={config}", *storage])
        self.notes.append(f"Prometheus: {url} (scraping every process, alert rules from infra/prometheus/alerts.yml)")
        return url

    def bulk_gateway_port(self, number: int) -> int:
        """HTTP port of the n-th bulk gateway: `gateway` on the gateway port, `gateway-n` on it + n."""
        return self.config.ports["gateway"] + (number if number > 1 else 0)

    def extra_gateway_ports(self) -> list[int]:
        """HTTP ports of the bulk gateways after the first (gateway-2, gateway-3, ...)."""
        return [self.bulk_gateway_port(number) for number in range(2, self.config.gateway_processes + 1)]

    def gateway_urls(self) -> list[str]:
        """Every gateway process's base URL, the alarm lane first."""
        ports = [self.config.ports[ALARM_GATEWAY], self.config.ports["gateway"], *self.extra_gateway_ports()]
        return [f"http://127.0.0.1:{port}" for port in ports]

    def service_env(self, name: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "MQTT_URL": self.config.mqtt_url,
                "KAFKA_BOOTSTRAP": self.config.kafka_bootstrap,
                "ELDERCARE_VAR_DIR": str(self.config.var_dir),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.setdefault("ELDERCARE_API_TOKENS", DEV_API_TOKENS)
        # The token the stack's Alertmanager sends to dispatch's webhook (start_alertmanager reads it here).
        env.setdefault("DISPATCH_ALERTMANAGER_TOKEN", DEV_ALERTMANAGER_TOKEN)
        if self.config.postgres_port is not None:
            for variable, database in DATABASE_SETTINGS.items():
                env.setdefault(
                    variable, f"postgresql+asyncpg://postgres@127.0.0.1:{self.config.postgres_port}/{database}"
                )
        env.update({SERVICES[other][1]: str(port) for other, port in self.config.ports.items() if other in SERVICES})
        if name == "monitoring" and "gateway" in self.config.services and ALARM_GATEWAY in self.config.ports:
            # Offline detection holds while any gateway has lost the broker, so it must ask all of them.
            env.setdefault("MONITORING_GATEWAY_URLS", ",".join(self.gateway_urls()))
        env.update(self.config.env)
        return env

    def make_process(self, name: str, *, instance: str = "", port: int | None = None) -> ManagedProcess:
        """A service's process; for "gateway", instance ALARM_GATEWAY_INSTANCE is the alarm-lane one, any other bulk."""
        module, port_variable = SERVICES[name]
        env = self.service_env(name)
        label = name + (f"-{instance}" if instance else "")
        if name == "gateway":
            alarm_lane = instance == ALARM_GATEWAY_INSTANCE
            if not alarm_lane and ALARM_GATEWAY not in self.processes:
                raise RuntimeError(
                    f"start {ALARM_GATEWAY} before {label}: a bulk-lane gateway acks and drops SOS, fall and alarms"
                )
            # Set, not defaulted from the environment: each process needs its own instance id (it names the
            # persistent MQTT sessions), and the lanes are what keeps alarms covered.
            env["GATEWAY_INSTANCE_ID"] = f"local-{label}"
            env["GATEWAY_LANES"] = "alarms" if alarm_lane else "bulk"
            # Bulk gateways split the telemetry only when there are several (decision 36).
            env.setdefault("GATEWAY_BULK_SHARED", "true" if self.config.gateway_processes > 1 else "false")
            if alarm_lane and port is None:
                if ALARM_GATEWAY not in self.config.ports:
                    raise ValueError(f"StackConfig.ports names no port for {ALARM_GATEWAY}")
                port = self.config.ports[ALARM_GATEWAY]
        if port is not None:
            env[port_variable] = str(port)
        bulk_path = name == "monitoring" or (name == "gateway" and instance != ALARM_GATEWAY_INSTANCE)
        alarm_path = name == "dispatch" or (name == "gateway" and instance == ALARM_GATEWAY_INSTANCE)
        return ManagedProcess(
            label,
            [sys.executable, "-m", module],
            env,
            health_url=f"http://127.0.0.1:{port or self.config.ports[name]}",
            log_file=self._log_file(label),
            restart=self.config.restart,
            nice=self.config.bulk_nice if bulk_path else self.config.alarm_nice if alarm_path else 0,
        )

    async def start_services(self, timeout: float = 90.0) -> None:
        gateways = "gateway" in self.config.services
        if gateways:
            alarms = self.make_process("gateway", instance=ALARM_GATEWAY_INSTANCE)
            await alarms.start()
            self.processes[alarms.name] = alarms
        for name in self.config.services:
            if name != "gateway":
                process = self.make_process(name)
                await process.start()
                self.processes[name] = process
        if gateways:
            # The bulk lanes only once the alarm lane has subscribed: on a broker that has never seen
            # its session, an SOS would otherwise reach only a bulk lane, which acks and drops it.
            await alarms.wait_healthy(timeout)
            for number in range(1, self.config.gateway_processes + 1):
                instance, port = ("", None) if number == 1 else (str(number), self.bulk_gateway_port(number))
                bulk = self.make_process("gateway", instance=instance, port=port)
                await bulk.start()
                self.processes[bulk.name] = bulk
        await asyncio.gather(*(p.wait_healthy(timeout) for p in self.processes.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.processes.values()))
        await asyncio.gather(*(p.stop() for p in self.infra.values()))


# The database each service gets on the stack's own PostgreSQL, by the setting that names it.
DATABASE_SETTINGS = {
    "DISPATCH_DATABASE_URL": "eldercare_dispatch",
    "CARE_RECORD_DATABASE_URL": "eldercare_care_record",
    "MONITORING_DATABASE_URL": "eldercare_monitoring",
}
DEV_POSTGRES_PORT = 55432


def postgres_bindir() -> Path:
    """Debian's PostgreSQL server binaries (initdb, postgres), newest major first."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise FileNotFoundError("PostgreSQL is not installed: sudo apt-get install postgresql")
    return found[-1].parent


def _as_postgres_user() -> tuple[list[str], list[str]]:
    """Prefixes that run initdb and postgres as the postgres user when we are root (both refuse root).

    The server gets setpriv, which execs it in place; runuser would stay its parent and talk on shutdown.
    """
    if os.geteuid() != 0:
        return [], []
    return ["runuser", "-u", "postgres", "--"], ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]


def postgres_initdb(datadir: Path) -> None:
    """A new cluster in `datadir` with trust authentication (it listens on loopback only)."""
    datadir.mkdir(parents=True, exist_ok=True)
    initdb_prefix, _ = _as_postgres_user()
    if initdb_prefix:
        shutil.chown(datadir, "postgres", "postgres")
        datadir.chmod(0o700)
    initdb = [str(postgres_bindir() / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    result = subprocess.run(
        [*initdb_prefix, *initdb],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {(result.stdout + result.stderr)[-2000:]}")


def postgres_command(datadir: Path, port: int, *settings: str) -> list[str]:
    """The server on 127.0.0.1:`port` for the cluster in `datadir`, with extra `name=value` settings."""
    _, server_prefix = _as_postgres_user()
    argv = [*server_prefix, str(postgres_bindir() / "postgres"), "-D", str(datadir), "-p", str(port)]
    argv += ["-h", "127.0.0.1", "-k", str(datadir)]
    for setting in settings:
        argv += ["-c", setting]
    return argv


def _refuse_foreign(what: str, host: str, port: int, setting: str) -> None:
    if tcp_port_open(host, port):
        raise SystemExit(
            f"{what}: something else already listens on {host}:{port}. make run starts its own with the "
            f"project's settings (limits, persistence) and will not adopt another one silently: stop it, or "
            f"name it in {setting} to use it on purpose."
        )


def _stable_cluster_id(data_dir: Path) -> str:
    """The dev node's cluster id, made once and kept beside its data (format needs it on first start)."""
    path = data_dir / "cluster-id"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(kafkanode.new_cluster_id())
    return path.read_text().strip()


async def _wait_port(host: str, port: int, name: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not tcp_port_open(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} did not start listening on {host}:{port}")
        await asyncio.sleep(0.1)


class DevStackSettings(BaseProcessSettings):
    api_tokens: str | None = Field(None, validation_alias=AliasChoices("ELDERCARE_API_TOKENS", "api_tokens"))
    # Bulk-lane gateways; the alarm-lane gateway always runs beside them.
    gateway_processes: int = Field(
        1, ge=1, le=16, validation_alias=AliasChoices("GATEWAY_PROCESSES", "gateway_processes")
    )
    bulk_nice: int = Field(5, ge=0, le=19, validation_alias=AliasChoices("ELDERCARE_BULK_NICE", "bulk_nice"))
    alarm_nice: int = Field(-5, ge=-20, le=0, validation_alias=AliasChoices("ELDERCARE_ALARM_NICE", "alarm_nice"))
    # Given all three, the stack uses those databases and starts no PostgreSQL of its own.
    dispatch_database_url: str | None = Field(None, validation_alias=AliasChoices("DISPATCH_DATABASE_URL"))
    care_record_database_url: str | None = Field(None, validation_alias=AliasChoices("CARE_RECORD_DATABASE_URL"))
    monitoring_database_url: str | None = Field(None, validation_alias=AliasChoices("MONITORING_DATABASE_URL"))
    postgres_port: int = Field(
        DEV_POSTGRES_PORT, ge=1, le=65535, validation_alias=AliasChoices("DEV_POSTGRES_PORT", "postgres_port")
    )


def _gateway_lines(stack: Stack) -> list[str]:
    """One line per gateway process, the alarm lane first."""
    lines: list[str] = []
    for name, process in stack.processes.items():
        if name == ALARM_GATEWAY:
            lines.insert(0, f"  {name:<15}{process.health_url}/metrics   (alarm lane: sos, fall, alarm)")
        elif name == "gateway" or name.startswith("gateway-"):
            lines.append(f"  {name:<15}{process.health_url}/metrics   (bulk lane: telemetry, command acks)")
    return lines


def _watch_lines(stack: Stack) -> list[str]:
    """The watch adapter's line, with where watches connect."""
    if "watch" not in stack.processes:
        return []
    listen = stack.service_env("watch").get("WATCH_LISTEN", "0.0.0.0:5093")
    return [f"  {'watch':<15}{stack.processes['watch'].health_url}/metrics   (3G* watches: TCP {listen})"]


def _banner(stack: Stack, settings: DevStackSettings) -> str:
    ports = stack.config.ports
    token_line = (
        "API tokens: from ELDERCARE_API_TOKENS"
        if settings.api_tokens
        else "API tokens (development only): dispatcher=dev-dispatcher-token  supervisor=dev-supervisor-token  "
        "admin=dev-admin-token  ops=dev-ops-token  telephony=dev-telephony-token"
    )
    lines = [
        "",
        "Eldercare is running. Ctrl-C stops everything.",
        *(f"  {note}" for note in stack.notes),
        f"  dispatch       http://127.0.0.1:{ports['dispatch']}/docs   (dispatcher API)",
        f"  care-record    http://127.0.0.1:{ports['care-record']}/docs",
        f"  monitoring     http://127.0.0.1:{ports['monitoring']}/docs",
        *_gateway_lines(stack),
        *_watch_lines(stack),
        f"  {token_line}",
        "Send a test SOS:",
        f"  mosquitto_pub -h {urlparse(stack.config.mqtt_url).hostname} -p {urlparse(stack.config.mqtt_url).port} -q 1 "
        "-t eldercare/v1/devices/860000000000001/sos "
        '-m \'{"event_id":"e1","ts":"2026-11-22T08:15:00Z","battery":64,"location":{"lat":31.95,"lon":118.75}}\'',
        f"  curl -s -H 'Authorization: Bearer dev-dispatcher-token' http://127.0.0.1:{ports['dispatch']}/api/v1/incidents",
        "",
    ]
    return "\n".join(lines)


async def _main() -> None:
    settings = DevStackSettings()
    setup_logging(settings.log_level, "devstack")
    if settings.env == "production":
        raise SystemExit("make run is the development stack; production runs docker-compose.yml")
    given = set(settings.model_fields_set)
    own_postgres = not all(
        (settings.dispatch_database_url, settings.care_record_database_url, settings.monitoring_database_url)
    )
    stack = Stack(
        StackConfig(
            mqtt_url=settings.mqtt_url,
            kafka_bootstrap=settings.kafka_bootstrap,
            external_mqtt="mqtt_url" in given,
            external_kafka="kafka_bootstrap" in given,
            postgres_port=settings.postgres_port if own_postgres else None,
            gateway_processes=settings.gateway_processes,
            bulk_nice=settings.bulk_nice,
            alarm_nice=settings.alarm_nice,
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stack.start_infra()
        await stack.start_alertmanager()
        await stack.start_prometheus()
        log.info("starting %s", ", ".join(stack.config.services))
        starting = asyncio.create_task(stack.start_services())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            print(_banner(stack, settings), flush=True)
            await stop.wait()
        else:
            starting.cancel()
    finally:
        log.info("stopping everything")
        await stack.stop()
        log.info("stopped")


def main() -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
