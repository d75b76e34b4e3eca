"""The benchmark harness: own brokers and databases, the platform as separate processes, the fleet simulator.

Phases (each optional, sized by `BenchPlan`): gateway ceiling next to the raw
mosquitto_sub -> librdkafka pipeline, end-to-end ingest steps with SOS latency
probes, connection scale, the soak with a per-device sequence audit, and (opt-in)
the "3G*" watch adapter: connections held, frames/s of one process, SOS over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import platform as platform_info
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.charts import write_charts
from bench.seed_city import CITY_PREFIX, CitySize, city_device_id, seed_city
from bench.stats import median_range, percentiles
from bench.summarise import by_rate, report_summary
from eldercare.topics import ALARMS, INCIDENTS, TELEMETRY
from eldercare.v1 import events_pb2 as pb
from tests import infra
from tests.platform import DISPATCHER, Platform, start_platform
from tools import kafkanode
from tools.devstack import die_with_parent, mosquitto_binary
from tools.sim import watch3g
from tools.sim.fleet import raise_fd_limit
from tools.sim.protocol import DeviceConnection, open_device

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
PARTITIONS = 3
RAW_TOPIC = "bench.raw.v1"


@dataclass
class BenchPlan:
    """How much of each phase to run; `smoke()` is the seconds-long version for the test suite."""

    # Enough that two gateways (~40,000 msg/s) drain for seconds, not one: 60,000 drained in ~1.5 s.
    ceiling_messages: int = 200_000
    # At least this many devices, and one per 100 messages: the gateway lets each device burst
    # 200 reports (GATEWAY_DEVICE_BURST) and dead-letters the rest as rate-limited.
    ceiling_devices: int = 2_000
    e2e_rates: tuple[int, ...] = (0, 1_000, 2_000, 3_000, 4_000, 5_000)
    # Issue 19's method: steps of at least 60 s, each with at least 1,000 SOS probes (a p99 with a
    # confidence interval needs 368 or more; see bench/stats.py), the whole configuration repeated.
    e2e_step_s: float = 60.0
    probes_per_step: int = 1_000
    repetitions: int = 3
    # At least one device per msg/s of the step: the gateway caps telemetry per device (2/s by default).
    e2e_devices: int = 2_000
    # How often the e2e samples consumer lag, CPU and RSS during a step (the charts over time).
    sample_interval_s: float = 2.0
    # The watch phase's SOS pace (the e2e probes are paced by `probe_interval_s`).
    sos_probe_interval_s: float = 0.25
    connection_devices: int = 19_900
    connection_hold_s: float = 30.0
    soak_s: float = 0.0
    soak_rate: int = 1_000
    soak_devices: int = 2_000
    # The ceiling is measured with each of these gateway counts; the other phases use `gateway_processes`.
    ceiling_gateway_counts: tuple[int, ...] = (1, 2)
    # Bulk-lane gateways beside the alarm-lane one: one paho client tops out near 3k msg/s here.
    gateway_processes: int = 2
    # The watch phase: connections held with heartbeats, split over simulator and adapter processes
    # (one process may hold at most the hard fd limit, 20,000 here, of sockets and files together).
    watch_connections: int = 20_000
    watch_sim_processes: int = 2
    watch_adapter_processes: int = 2
    watch_hold_s: float = 60.0
    watch_heartbeat_s: float = 60.0
    # Frames/s of one adapter process: this many UD frames written as fast as the sockets take them.
    watch_ceiling_frames: int = 200_000
    watch_ceiling_connections: int = 50
    # The flood phase: one device's 20,000 broken SOS against others' SOS pressed meanwhile, repeated.
    flood_repetitions: int = 5
    flood_presses: int = 20_000
    flood_others: int = 20
    flood_interval_s: float = 0.1
    # The e2e runs against a city's year of data (bench/seed_city.py), its fleet and probes the
    # city's devices; None measures empty databases and unbound devices (as before issue 19).
    city: CitySize | None = field(default_factory=CitySize)
    label: str = "bench"

    @property
    def ceiling_fleet(self) -> int:
        """Devices sending the ceiling backlog: enough that none goes over the gateway's per-device burst."""
        return max(self.ceiling_devices, -(-self.ceiling_messages // 100))

    @property
    def e2e_fleet(self) -> int:
        """Devices sending the busiest step's telemetry: the gateway caps each one's rate."""
        return max([self.e2e_devices, *self.e2e_rates])

    def check_city(self) -> None:
        """The city must have a device for every fleet member and every probe of a run."""
        if self.city is None:
            return
        needed = self.e2e_fleet + len(self.e2e_rates) * self.probes_per_step
        if self.city.elders < needed:
            raise ValueError(f"a city of {self.city.elders} elders is too small: the e2e needs {needed} devices")

    @property
    def probe_interval_s(self) -> float:
        """The e2e probes' pace: `probes_per_step` spread evenly over the step."""
        return self.e2e_step_s / max(self.probes_per_step, 1)

    @classmethod
    def smoke(cls) -> BenchPlan:
        return cls(
            ceiling_messages=300,
            ceiling_devices=20,
            ceiling_gateway_counts=(1,),
            gateway_processes=1,
            e2e_rates=(0, 100),
            e2e_step_s=2.0,
            probes_per_step=8,
            repetitions=2,
            sample_interval_s=0.5,
            e2e_devices=50,
            sos_probe_interval_s=0.5,
            connection_devices=100,
            connection_hold_s=2.0,
            soak_s=4.0,
            soak_rate=100,
            soak_devices=30,
            watch_connections=40,
            watch_hold_s=3.0,
            watch_heartbeat_s=2.0,
            watch_ceiling_frames=600,
            watch_ceiling_connections=3,
            flood_repetitions=1,
            flood_presses=300,
            flood_others=2,
            city=CitySize.smoke(),
            label="smoke",
        )


# ---- progress --------------------------------------------------------------------------------------------


class Progress:
    """Lines on stderr as a long run goes: what it is doing, and how long since the run began."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def restart(self) -> None:
        self.started = time.monotonic()

    def __call__(self, line: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f} s] {line}", file=sys.stderr, flush=True)


progress = Progress()


# ---- process facts ---------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def alive_rss(pids: dict[str, int]) -> dict[str, float]:
    """RSS of each process that is still running."""
    return {name: rss_mb(pid) for name, pid in pids.items() if os.path.exists(f"/proc/{pid}")}


class ProcessMeter:
    """CPU % and RSS per named process between two samples."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self._t0 = time.monotonic()

    def read(self) -> dict[str, dict[str, float]]:
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        out = {}
        for name, pid in self.pids.items():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                out[name] = {
                    "cpu_pct": round(100 * (cpu_seconds(pid) - self._start[name]) / elapsed, 1),
                    "rss_mb": rss_mb(pid),
                }
        return out


class Sampler:
    """Consumer lag and each process's CPU and RSS every `interval_s` while a step runs (for the charts).

    The step's figures are its start and end; these show what happened in between: a lag that
    climbs and recovers, a process whose memory grows.
    """

    def __init__(self, env: Environment, stack: Platform, pids: dict[str, int], interval_s: float) -> None:
        self.env, self.stack, self.pids, self.interval_s = env, stack, pids, interval_s
        self.samples: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        started = last_at = time.monotonic()
        last = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        while True:
            await asyncio.sleep(self.interval_s)  # the sampling period, not a wait for a condition
            lag = await consumer_lag(self.env, self.stack)
            now = time.monotonic()
            processes = {}
            for name, pid in self.pids.items():
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    cpu = cpu_seconds(pid)
                    processes[name] = {
                        "cpu_pct": round(100 * (cpu - last[name]) / max(now - last_at, 1e-6), 1),
                        "rss_mb": rss_mb(pid),
                    }
                    last[name] = cpu
            last_at = now
            self.samples.append({"t_s": round(now - started, 2), "lag": lag, "processes": processes})


def machine_facts() -> dict[str, Any]:
    """What the figures were measured on."""
    mosquitto_version = subprocess.run(
        [mosquitto_binary(), "-h"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    import aiokafka
    import confluent_kafka
    import paho.mqtt

    return {
        "cores": os.cpu_count(),
        "cpu_model": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform_info.processor(),
        ),
        "memory_mb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20,
        "kernel": platform_info.release(),
        "python": sys.version.split()[0],
        "mosquitto": mosquitto_version,
        "kafka_broker": f"apache kafka {kafkanode.pinned_version()} (KRaft, one node)",
        "paho_mqtt": paho.mqtt.__version__,
        "aiokafka": aiokafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
        "fd_limit": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE),
        "load_avg_at_start": os.getloadavg(),
    }


async def postgres_facts(server_url: str) -> dict[str, Any]:
    """Which PostgreSQL the figures were measured against, and whether it commits durably."""
    connection = await asyncpg.connect(f"{server_url}/postgres")
    try:
        facts = {name: await connection.fetchval(f"SHOW {name}") for name in POSTGRES_SETTINGS}
    finally:
        await connection.close()
    host = server_url.rsplit("@", 1)[-1]
    managed = "TEST_POSTGRES_URL" if os.environ.get("TEST_POSTGRES_URL") else "the bench's own cluster (initdb)"
    return {"server": f"{host}, {managed}", **facts}


# What a reader needs to judge commit latencies: the release, and that every commit waits for the disk.
POSTGRES_SETTINGS = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method")


def metric_sum(text: str, name: str, label: str = "") -> float:
    """Sum of every sample of one metric (those carrying `label`, e.g. 'operation="x"') in exposition text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


# ---- the environment -------------------------------------------------------------------------------------


@dataclass
class Environment:
    workdir: Path
    mqtt: infra.BrokerProcess
    kafka: kafkanode.KafkaNode
    databases: infra.DatabaseFactory
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=10.0))
    # Service -> the seeded city's database, each run's databases are copies of (see fresh_databases).
    city_templates: dict[str, str] | None = None

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt.port}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka.port}"


@contextlib.asynccontextmanager
async def environment() -> AsyncIterator[Environment]:
    """Our own Mosquitto, Kafka and databases, removed afterwards."""
    raise_fd_limit(1 << 20)  # children (Mosquitto) inherit it
    workdir = Path(tempfile.mkdtemp(prefix="eldercare-bench-"))
    try:
        with (
            infra.mosquitto(workdir) as mqtt,
            infra.kafka(workdir) as kafka,
            infra.postgres_server(durable=True) as postgres,
        ):
            databases = infra.DatabaseFactory(postgres)
            env = Environment(workdir, mqtt, kafka, databases)
            try:
                yield env
            finally:
                await env.http.aclose()
                await databases.drop_all()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def start_stack(env: Environment, services: tuple[str, ...], gateway_processes: int = 1) -> Platform:
    """The platform's processes against this run's brokers (fresh databases each time)."""
    stack = await start_platform(
        workdir=env.workdir / f"platform-{uuid.uuid4().hex[:6]}",
        mqtt_port=env.mqtt.port,
        kafka_bootstrap=env.bootstrap,
        databases=env.databases,
        services=services,
        # Several bulk gateways split the telemetry on the shared subscription, as with GATEWAY_PROCESSES.
        env={"ELDERCARE_LOG_LEVEL": "WARNING", "GATEWAY_BULK_SHARED": str(gateway_processes > 1).lower()},
    )
    # More gateways on the same shared subscription, as GATEWAY_PROCESSES does for make run.
    for number in range(2, gateway_processes + 1):
        extra = stack.stack.make_process("gateway", instance=str(number), port=infra.free_port())
        await extra.start()
        stack.stack.processes[extra.name] = extra
        await extra.wait_healthy(90)
    return stack


def stack_pids(env: Environment, stack: Platform) -> dict[str, int]:
    pids = {name: p.process.pid for name, p in stack.stack.processes.items() if p.process is not None}
    assert env.mqtt.process is not None and env.kafka.process is not None
    pids["mosquitto"] = env.mqtt.process.pid
    pids["kafka"] = env.kafka.process.pid
    return pids


PRODUCED = "gateway_messages_produced_total"
REJECTED = "gateway_messages_rejected_total"


async def gateway_counters(env: Environment, stack: Platform, *metrics: str) -> list[float]:
    """Each counter summed over the gateway processes, from one /metrics scrape per process."""
    return await process_counters(env, stack, "gateway", *((metric, "") for metric in metrics))


async def process_counters(env: Environment, stack: Platform, prefix: str, *metrics: tuple[str, str]) -> list[float]:
    """Each (metric, label) summed over the processes whose name starts with `prefix`, one scrape each."""
    totals = [0.0] * len(metrics)
    for name, process in stack.stack.processes.items():
        if name.startswith(prefix) and process.health_url:
            text = (await env.http.get(process.health_url + "/metrics", timeout=60)).text
            totals = [total + metric_sum(text, *metric) for total, metric in zip(totals, metrics, strict=True)]
    return totals


# Dispatch's own view of an SOS after its handler starts: the alarm transaction, then the outbox
# relay (row written → Kafka ack). Means over a step, from the histograms' sums and counts.
DISPATCH_TIMINGS = (
    ("eldercare_db_transaction_seconds_sum", 'operation="record_alarm"'),
    ("eldercare_db_transaction_seconds_count", 'operation="record_alarm"'),
    ("eldercare_outbox_delay_seconds_sum", ""),
    ("eldercare_outbox_delay_seconds_count", ""),
)


def dispatch_means_ms(before: list[float], after: list[float]) -> dict[str, float | None]:
    """Mean alarm transaction and outbox delay in ms between two DISPATCH_TIMINGS scrapes."""
    delta = [b - a for a, b in zip(before, after, strict=True)]

    def mean(total: float, count: float) -> float | None:
        return round(1000 * total / count, 2) if count else None

    return {"alarm_transaction_mean_ms": mean(delta[0], delta[1]), "outbox_delay_mean_ms": mean(delta[2], delta[3])}


async def gateway_produced(env: Environment, stack: Platform) -> float:
    """Events the gateway(s) had acknowledged by Kafka, from their /metrics."""
    (produced,) = await gateway_counters(env, stack, PRODUCED)
    return produced


async def consumer_lag(env: Environment, stack: Platform) -> dict[str, float]:
    lags = {}
    for name, process in stack.stack.processes.items():
        if name.startswith("gateway") or not process.health_url:
            continue
        with contextlib.suppress(httpx.HTTPError):
            response = await env.http.get(process.health_url + "/metrics")
            lags[name] = metric_sum(response.text, "eldercare_kafka_consumer_lag_records")
    return lags


# ---- the simulator as a child process --------------------------------------------------------------------


class SimProcess:
    """`python -m tools.sim` in its own process, so its CPU is its own and measurable."""

    def __init__(self, env: Environment, *args: str) -> None:
        self.argv = [sys.executable, "-m", "tools.sim", "--mqtt-url", env.mqtt_url, "--stats-interval-s", "1"]
        self.argv += args
        self.process: asyncio.subprocess.Process | None = None
        self.last: dict[str, Any] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> SimProcess:
        # SIGKILL if the harness dies: a load generator left behind skews every later measurement.
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdout=asyncio.subprocess.PIPE,
            cwd=str(REPO),
            preexec_fn=functools.partial(die_with_parent, signal.SIGKILL),
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            with contextlib.suppress(orjson.JSONDecodeError):
                self.last = orjson.loads(line)

    async def wait_connected(self, devices: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.last.get("connected", 0) < devices:
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulator connected {self.last.get('connected')} of {devices}")
            assert self.process is not None
            if self.process.returncode is not None:
                raise RuntimeError(f"simulator exited with {self.process.returncode}")
            await asyncio.sleep(0.2)

    async def wait(self, timeout: float = 600) -> dict[str, Any]:
        assert self.process is not None
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            raise
        if self._reader is not None:
            await self._reader
        return self.last

    async def stop(self) -> dict[str, Any]:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
        return await self.wait(120)


# ---- phase 1: gateway ceiling vs the raw pipeline --------------------------------------------------------


async def _create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if name not in await admin.list_topics():
            await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        await admin.close()


async def _preload(env: Environment, plan: BenchPlan, prefix: str) -> dict[str, Any]:
    """Queue `ceiling_messages` QoS 1 location reports at the broker for an offline subscriber."""
    sim = await SimProcess(
        env, "--devices", str(plan.ceiling_fleet), "--burst", str(plan.ceiling_messages), "--id-prefix", prefix
    ).start()
    return await sim.wait()


async def measure_raw(env: Environment, plan: BenchPlan) -> dict[str, Any]:
    """mosquitto_sub | librdkafka producer draining a preloaded backlog."""
    await _create_topic(env.bootstrap, RAW_TOPIC)
    subscribe = [
        "mosquitto_sub",
        "-h",
        "127.0.0.1",
        "-p",
        str(env.mqtt.port),
        "-q",
        "1",
        "-c",
        "-i",
        "bench-raw",
        "-t",
        "$share/raw/eldercare/v1/devices/#",
        "-v",
    ]
    # Create the persistent session and its subscription, then leave so the backlog queues for it.
    await asyncio.to_thread(subprocess.run, [*subscribe, "-W", "1"], capture_output=True, check=False)
    await _preload(env, plan, "RAW")
    started = time.time()
    sub = subprocess.Popen(  # noqa: ASYNC220 - a pipe between two children is simplest with Popen
        [*subscribe, "-C", str(plan.ceiling_messages)], stdout=subprocess.PIPE
    )
    producer = subprocess.Popen(  # noqa: ASYNC220
        [
            sys.executable,
            "-m",
            "bench.raw_pipeline",
            "--bootstrap",
            env.bootstrap,
            "--topic",
            RAW_TOPIC,
            "--expect",
            str(plan.ceiling_messages),
        ],
        stdin=sub.stdout,
        stdout=subprocess.PIPE,
        cwd=str(REPO),
    )
    assert sub.stdout is not None
    sub.stdout.close()
    meter = ProcessMeter({"mosquitto_sub": sub.pid, "raw_producer": producer.pid})
    out, _ = await asyncio.to_thread(producer.communicate, timeout=600)
    usage = meter.read()
    sub.wait(30)
    result = orjson.loads(out.splitlines()[-1])
    # Leave with a clean session so this subscription stops collecting the next phases' messages.
    await asyncio.to_thread(
        subprocess.run,
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(env.mqtt.port), "-i", "bench-raw", "-t", "x", "-E"],
        capture_output=True,
        check=False,
    )
    span = max(result["last"] - result["first"], 1e-6)
    return {
        "messages": result["acked"],
        "failed": result["failed"],
        "msg_per_s": round(result["acked"] / span, 1),
        "wall_s": round(result["last"] - started, 2),
        "processes": usage,
    }


async def measure_gateway_ceiling(env: Environment, plan: BenchPlan, processes: int) -> dict[str, Any]:
    """The gateway draining the same preloaded backlog: receipt, validation, envelope, Kafka ack, PUBACK."""
    stack = await start_stack(env, ("gateway",), processes)
    try:
        gateways = [p for name, p in stack.stack.processes.items() if name.startswith("gateway")]
        # Their persistent sessions stay subscribed at the broker while the processes are down.
        for gateway in gateways:
            gateway.restart = False
            await gateway.stop()
        await _preload(env, plan, f"GW{processes}")
        restarted_at = time.monotonic()
        for gateway in gateways:
            gateway._stopping = False
            await gateway.start()
        pids = {p.name: p.process.pid for p in gateways if p.process is not None}
        meter = ProcessMeter(pids)
        first_at: float | None = None
        produced = rejected = 0.0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                produced, rejected = await gateway_counters(env, stack, PRODUCED, REJECTED)
            now = time.monotonic()
            if produced and first_at is None:
                first_at, first_count = now, produced
            # A dead-lettered message is done too: waiting for it to be produced would only run into the deadline.
            if produced + rejected >= plan.ceiling_messages:
                break
            await asyncio.sleep(0.1)
        done_at = time.monotonic()
        usage = meter.read()
        assert first_at is not None, "the gateway produced nothing"
        if produced == first_count:  # a backlog so small it drained between two polls
            first_at, first_count = restarted_at, 0.0
        rate = (produced - first_count) / max(done_at - first_at, 1e-6)
        return {
            "messages": int(produced),
            "rejected": int(rejected),
            "msg_per_s": round(rate, 1),
            "gateway_processes": processes,
            "processes": usage,
        }
    finally:
        await stack.stop()


# ---- phases 2 and 3: end-to-end ingest with SOS probes ---------------------------------------------------


class IncidentWatcher:
    """Consumes eldercare.incidents.v1 and notes when each probe device's incident was opened."""

    def __init__(self, bootstrap: str) -> None:
        self.opened: dict[str, float] = {}
        self.incident_of: dict[str, str] = {}
        # When dispatch began applying the alarm: the opened event's occurred_at (its clock, this machine's).
        self.handling_started: dict[str, float] = {}
        # Repetitions share the broker and reuse probe device ids: an earlier run's events are not this one's.
        self._since_ms = int(time.time() * 1000)
        self._consumer = AIOKafkaConsumer(
            INCIDENTS,
            bootstrap_servers=bootstrap,
            group_id=f"bench-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batches.values():
                for record in records:
                    if record.timestamp < self._since_ms:
                        continue
                    envelope = pb.Envelope()
                    envelope.ParseFromString(record.value)
                    if envelope.incident.action == "opened":
                        self.opened.setdefault(envelope.incident.device_id, now)
                        stamp = envelope.occurred_at
                        self.handling_started.setdefault(envelope.incident.device_id, stamp.seconds + stamp.nanos / 1e9)
                        self.incident_of.setdefault(envelope.incident.device_id, envelope.incident.incident_id)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


class StreamWatcher:
    """Reads the dispatcher live stream (GET /api/v1/incidents/stream); notes when each 'opened' arrived."""

    def __init__(self, env: Environment, stack: Platform) -> None:
        self.url = stack.url("dispatch", "/api/v1/incidents/stream")
        self.http = env.http
        self.seen: dict[str, float] = {}
        self.available: bool | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 5)

    async def _run(self) -> None:
        # The server ends a stream after DISPATCH_STREAM_MAX_SECONDS (300 s); like a console, the
        # watcher then reconnects with Last-Event-ID, or a long bench would stop seeing incidents.
        last_event_id: str | None = None
        while True:
            headers = dict(DISPATCHER) | ({"Last-Event-ID": last_event_id} if last_event_id else {})
            try:
                async with self.http.stream("GET", self.url, headers=headers, timeout=None) as response:
                    self.available = response.status_code == 200
                    self._ready.set()
                    if not self.available:
                        return
                    async for line in response.aiter_lines():
                        if line.startswith("id:"):
                            last_event_id = line[3:].strip()
                        elif line.startswith("data:") and '"opened"' in line:
                            now = time.time()
                            with contextlib.suppress(orjson.JSONDecodeError):
                                data = orjson.loads(line[5:])
                                if data.get("action") == "opened":
                                    self.seen.setdefault(str(data.get("incident_id")), now)
                await asyncio.sleep(0.1)  # the server ended this stream: reconnect, without spinning
            except httpx.HTTPError:
                if not self._ready.is_set():
                    self.available = False
                    self._ready.set()
                    return
                await asyncio.sleep(0.5)  # dropped mid-run: reconnect

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class ProbeFleet:
    """Probe devices connected before a step, so that pressing SOS costs one publish, not a connection.

    At 1,000 probes a minute (17/s) a fresh MQTT connection per probe would be load of its own
    on the broker and the gateway, and its handshake would sit inside the measured latency.
    """

    def __init__(self, port: int, device_ids: list[str]) -> None:
        self.port = port
        self.device_ids = device_ids
        self.connections: dict[str, DeviceConnection] = {}

    async def open(self, parallel: int = 50) -> ProbeFleet:
        gate = asyncio.Semaphore(parallel)

        async def connect(device_id: str) -> None:
            async with gate:
                self.connections[device_id] = await open_device(
                    "127.0.0.1", self.port, f"probe-{device_id}", clean_session=True
                )

        await asyncio.gather(*(connect(device_id) for device_id in self.device_ids))
        return self

    async def press_paced(self, duration_s: float) -> dict[str, float]:
        """One SOS per device, evenly spread over `duration_s`; device id -> publish time (wall clock).

        Each press is due at a fixed offset from the start (monotonic clock) and does not wait
        for the previous PUBACK: a slow broker then shows as latency, not as fewer probes
        (no coordinated omission).
        """
        sent: dict[str, float] = {}
        acks: list[asyncio.Future[None]] = []
        interval = duration_s / max(len(self.device_ids), 1)
        started = time.monotonic()
        for number, device_id in enumerate(self.device_ids):
            delay = started + number * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[device_id] = time.time()
            payload = orjson.dumps({"event_id": "sos-1", "ts": int(sent[device_id] * 1000)})
            acks.append(
                self.connections[device_id].publish(f"eldercare/v1/devices/{device_id}/sos", payload, time.monotonic())
            )
        await asyncio.gather(*acks)
        rest = started + duration_s - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)  # the step lasts its length even when the last press came early
        return sent

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()


def probe_device_ids(plan: BenchPlan, *, step: int) -> list[str]:
    """The probe devices of one step: never one that pressed before in this run (each SOS opens its own incident).

    In a city they are its last devices, counted down, clear of the fleet's (its first ones).
    """
    numbers = range(step * plan.probes_per_step, (step + 1) * plan.probes_per_step)
    if plan.city is None:
        return [f"PROBE{n:07d}" for n in numbers]
    return [city_device_id(plan.city.elders - 1 - n) for n in numbers]


@contextlib.asynccontextmanager
async def watching(env: Environment, stack: Platform) -> AsyncIterator[tuple[IncidentWatcher, StreamWatcher]]:
    """Incidents as Kafka and the dispatcher's live stream show them, for a phase on `stack`; the
    stack stops with them."""
    watcher = IncidentWatcher(env.bootstrap)
    stream = StreamWatcher(env, stack)
    try:
        await watcher.start()
        await stream.start()
        yield watcher, stream
    finally:
        await stream.stop()
        await watcher.stop()
        await stack.stop()


async def measure_end_to_end(env: Environment, plan: BenchPlan) -> dict[str, Any]:
    """Telemetry at each rate through the whole platform, SOS probes riding on top."""
    stack = await start_stack(env, ("gateway", "dispatch", "care-record", "monitoring"), plan.gateway_processes)
    steps = []
    async with watching(env, stack) as (watcher, stream):
        for step_number, rate in enumerate(plan.e2e_rates):
            progress(f"e2e step {step_number + 1}/{len(plan.e2e_rates)}: {rate} msg/s for {plan.e2e_step_s:g} s")
            # Each step starts with nothing left over: not the previous step's backlog, nor what an
            # earlier phase left on the shared broker's topics for these consumers.
            backlog = await wait_drained(env, stack, timeout=180)
            sim = None
            if rate:
                sim = await SimProcess(
                    env,
                    "--devices",
                    str(max(plan.e2e_devices, rate)),
                    "--rate",
                    str(rate),
                    "--id-prefix",
                    CITY_PREFIX if plan.city is not None else f"E{rate}",
                    "--sos-per-device-day",
                    "0",
                    "--fall-per-device-day",
                    "0",
                    "--duration-s",
                    str(plan.e2e_step_s + 60),
                ).start()
                await sim.wait_connected(max(plan.e2e_devices, rate))
                await asyncio.sleep(min(3.0, plan.e2e_step_s / 3))  # reach steady state
            probes = await ProbeFleet(env.mqtt.port, probe_device_ids(plan, step=step_number)).open()
            pids = stack_pids(env, stack)
            if sim is not None and sim.process is not None:
                pids["simulator"] = sim.process.pid
            meter = ProcessMeter(pids)
            produced_before, rejected_before = await gateway_counters(env, stack, PRODUCED, REJECTED)
            dispatch_before = await process_counters(env, stack, "dispatch", *DISPATCH_TIMINGS)
            lag_at_start = await consumer_lag(env, stack)
            published_before = sim.last.get("acked", 0) if sim else 0
            started = time.monotonic()
            try:
                async with Sampler(env, stack, pids, plan.sample_interval_s) as sampler:
                    sent = await probes.press_paced(plan.e2e_step_s)
            finally:
                probes.close()
            elapsed = time.monotonic() - started
            produced_after, rejected_after = await gateway_counters(env, stack, PRODUCED, REJECTED)
            dispatch_after = await process_counters(env, stack, "dispatch", *DISPATCH_TIMINGS)
            rejected = rejected_after - rejected_before
            lag = await consumer_lag(env, stack)
            usage = meter.read()
            published_after = sim.last.get("acked", 0) if sim else 0
            if sim is not None:
                await sim.stop()
            # Let the last probes land before reading their latency.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_until(lambda sent=sent: all(d in watcher.opened for d in sent)), 15)
            incident_latency = [watcher.opened[d] - t for d, t in sent.items() if d in watcher.opened]
            # Where the time goes: up to dispatch's handler (MQTT, gateway, Kafka, its fetch), and the rest
            # (its transaction and commit, the outbox relay, Kafka again and the watcher's fetch).
            to_handler = [watcher.handling_started[d] - t for d, t in sent.items() if d in watcher.handling_started]
            await asyncio.sleep(1.0 if stream.available else 0)  # the stream polls its database
            stream_latency = [
                stream.seen[watcher.incident_of[d]] - t
                for d, t in sent.items()
                if watcher.incident_of.get(d) in stream.seen
            ]
            committed_latency = committed_bounds(
                sent, opened=watcher.opened, incident_of=watcher.incident_of, streamed=stream.seen
            )
            committed = percentiles(committed_latency)
            progress(
                f"e2e step {step_number + 1}/{len(plan.e2e_rates)} done: {len(sent)} probes, SOS committed p99 "
                f"{committed['p99_ms']} ms (95 % CI {committed['p99_ci95_ms']}), missing "
                f"{len(sent) - len(incident_latency)}, lag growth/s {lag_growth(lag_at_start, lag, elapsed)}"
            )
            steps.append(
                {
                    "offered_msg_per_s": rate,
                    "device_acked_msg_per_s": round((published_after - published_before) / elapsed, 1),
                    "gateway_produced_msg_per_s": round((produced_after - produced_before) / elapsed, 1),
                    "gateway_rejected": rejected,
                    "backlog_before_step": backlog,
                    "consumer_lag_records_at_start": lag_at_start,
                    "consumer_lag_records_at_end": lag,
                    # Sustained means this stays near 0: the consumers keep up with the offered rate.
                    "consumer_lag_growth_per_s": lag_growth(lag_at_start, lag, elapsed),
                    "sos_probes": len(sent),
                    # Both observations follow the commit, so the earlier one bounds it from above.
                    "sos_to_incident_committed_at_most": committed,
                    # Every probe's figure, so runs can be pooled (summary) and drawn.
                    "sos_committed_ms": sorted(round(1000 * v, 1) for v in committed_latency),
                    "sos_to_incident_opened": percentiles(incident_latency),
                    "sos_to_dispatch_handler": percentiles(to_handler),
                    "dispatch": dispatch_means_ms(dispatch_before, dispatch_after),
                    "sos_missing": len(sent) - len(incident_latency),
                    "sos_to_stream": percentiles(stream_latency) if stream.available else "endpoint not available",
                    "processes": usage,
                    "samples": sampler.samples,
                }
            )
    return {"steps": steps}


def lag_growth(before: dict[str, float], after: dict[str, float], elapsed: float) -> dict[str, float]:
    """Records of lag each consumer gained per second over a step."""
    return {name: round((after.get(name, 0) - before.get(name, 0)) / elapsed, 1) for name in after}


def committed_bounds(
    sent: dict[str, float], *, opened: dict[str, float], incident_of: dict[str, str], streamed: dict[str, float]
) -> list[float]:
    """Per probe, SOS publish → whichever came first of its 'opened' event on Kafka and on the SSE stream.

    The incident's commit precedes both: the Kafka event is relayed from the outbox after the
    transaction commits, and the stream reads committed rows. So each value is an upper bound of
    SOS → incident committed.
    """
    bounds = []
    for device, published in sent.items():
        seen = [opened.get(device), streamed.get(incident_of.get(device, ""))]
        observed = [at for at in seen if at is not None]
        if observed:
            bounds.append(min(observed) - published)
    return bounds


async def wait_drained(env: Environment, stack: Platform, *, timeout: float) -> dict[str, float]:
    """Wait until no consumer has a backlog (or the timeout); returns the lag seen last."""
    deadline = time.monotonic() + timeout
    while True:
        lag = await consumer_lag(env, stack)
        if not any(lag.values()) or time.monotonic() > deadline:
            return lag
        await asyncio.sleep(1.0)


async def _until(condition: Any) -> None:
    while not condition():  # noqa: ASYNC110 - polling a plain dict another task fills
        await asyncio.sleep(0.05)


# ---- phase 4: connections --------------------------------------------------------------------------------


async def measure_connections(env: Environment, plan: BenchPlan) -> dict[str, Any]:
    """Hold `connection_devices` sessions with heartbeats flowing through the gateway, on a Mosquitto of its own.

    The shared broker keeps the memory the earlier phases' queues made it allocate, which hid
    the sessions' own cost (the per-1,000-devices figure came out as 0.0).
    """
    workdir = env.workdir / "connections"
    workdir.mkdir(exist_ok=True)
    with infra.mosquitto(workdir) as mqtt:
        return await _hold_connections(replace(env, mqtt=mqtt), plan)


async def _hold_connections(env: Environment, plan: BenchPlan) -> dict[str, Any]:
    stack = await start_stack(env, ("gateway",), plan.gateway_processes)
    try:
        pids = stack_pids(env, stack)
        before = {name: rss_mb(pid) for name, pid in pids.items()}
        started = time.monotonic()
        sim = await SimProcess(
            env,
            "--devices",
            str(plan.connection_devices),
            "--id-prefix",
            "CONN",
            "--heartbeat-s",
            "60",
            "--sos-per-device-day",
            "0",
            "--fall-per-device-day",
            "0",
        ).start()
        await sim.wait_connected(plan.connection_devices)
        connect_s = time.monotonic() - started
        produced_before = await gateway_produced(env, stack)
        assert sim.process is not None
        pids["simulator"] = sim.process.pid
        meter = ProcessMeter(pids)
        await asyncio.sleep(plan.connection_hold_s)
        produced = await gateway_produced(env, stack) - produced_before
        usage = meter.read()
        held = sim.last.get("connected", 0)
        final = await sim.stop()
        per_thousand = 1000 / max(plan.connection_devices, 1)
        return {
            "devices": plan.connection_devices,
            "held_connected": held,
            "connect_all_s": round(connect_s, 1),
            "heartbeat_msg_per_s_through_gateway": round(produced / plan.connection_hold_s, 1),
            "disconnects": final.get("disconnects"),
            "mosquitto_mb_per_1000_devices": round(
                (usage["mosquitto"]["rss_mb"] - before["mosquitto"]) * per_thousand, 2
            ),
            # The whole simulator process (about 30 MB of it is the interpreter and libraries).
            "simulator_mb_per_1000_devices": round(usage["simulator"]["rss_mb"] * per_thousand, 2),
            "processes": usage,
        }
    finally:
        await stack.stop()


# ---- phase 5: soak ---------------------------------------------------------------------------------------


async def read_device_sequences(bootstrap: str, topics: list[str], prefix: str) -> dict[str, set[int]]:
    """Every event on the topics from devices whose id starts with `prefix`: device id -> sequence numbers."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50, max_partition_fetch_bytes=4 * 2**20
    )
    await consumer.start()
    sequences: dict[str, set[int]] = {}
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        # Read until every partition's position reaches the end offset taken before reading.
        # Stopping after a few empty fetches instead ended a 600,000-event read early and
        # reported events as missing.
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300, max_records=5000)
            if not batches:
                positions = [await consumer.position(tp) for tp in partitions]
                if all(position >= ends[tp] for tp, position in zip(partitions, positions, strict=True)):
                    break
            for records in batches.values():
                for record in records:
                    envelope = pb.Envelope()
                    envelope.ParseFromString(record.value)
                    if envelope.device_id.startswith(prefix):
                        seq = int(envelope.device_event_id.rsplit("-", 1)[1])
                        sequences.setdefault(envelope.device_id, set()).add(seq)
    finally:
        await consumer.stop()
    return sequences


async def measure_soak(env: Environment, plan: BenchPlan) -> dict[str, Any]:
    """Steady telemetry for `soak_s`: RSS per process over time, lag, then a per-device gap audit."""
    stack = await start_stack(env, ("gateway", "dispatch", "care-record", "monitoring"), plan.gateway_processes)
    audit_file = env.workdir / "soak-audit.json"
    try:
        sim = await SimProcess(
            env,
            "--devices",
            str(plan.soak_devices),
            "--rate",
            str(plan.soak_rate),
            "--id-prefix",
            "SOAK",
            "--duration-s",
            str(plan.soak_s),
            "--audit-file",
            str(audit_file),
        ).start()
        await sim.wait_connected(plan.soak_devices)
        assert sim.process is not None
        pids = {**stack_pids(env, stack), "simulator": sim.process.pid}
        samples = []
        interval = max(min(30.0, plan.soak_s / 10), 1.0)
        started = time.monotonic()
        while sim.process.returncode is None:
            samples.append(
                {
                    "t_s": round(time.monotonic() - started, 1),
                    "rss_mb": alive_rss(pids),
                    "lag": await consumer_lag(env, stack),
                    "device_acked": sim.last.get("acked", 0),
                }
            )
            progress(
                f"soak {samples[-1]['t_s']:.0f}/{plan.soak_s:g} s: {samples[-1]['device_acked']} acked, "
                f"lag {samples[-1]['lag']}"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sim.process.wait(), interval)
        final = await sim.wait()
        # The broker acked the devices; the gateway may still be draining what it queued for it.
        drain_deadline = time.monotonic() + 180
        while time.monotonic() < drain_deadline:
            forwarded = sum(await gateway_counters(env, stack, PRODUCED, REJECTED))
            if forwarded >= (final.get("acked") or 0):
                break
            await asyncio.sleep(1)
        drain_s = round(180 - max(drain_deadline - time.monotonic(), 0), 1)
        audit = orjson.loads(audit_file.read_bytes())
        seen = await read_device_sequences(env.bootstrap, [TELEMETRY, ALARMS], "SOAK")
        missing = 0
        devices_with_gaps = 0
        for device_id, record in audit["devices"].items():
            expected = set(range(1, record["last_seq"] + 1)) - set(record["unacked"])
            gap = expected - seen.get(device_id, set())
            missing += len(gap)
            devices_with_gaps += bool(gap)
        steady = [s for s in samples if s["t_s"] >= min(60.0, plan.soak_s / 5)] or samples
        growth = {
            name: round(steady[-1]["rss_mb"].get(name, 0) - steady[0]["rss_mb"].get(name, 0), 1)
            for name in steady[0]["rss_mb"]
        }
        return {
            "duration_s": plan.soak_s,
            "rate": plan.soak_rate,
            "devices": plan.soak_devices,
            "events_acked_by_broker": final.get("acked"),
            "events_unacked_at_exit": sum(len(r["unacked"]) for r in audit["devices"].values()),
            "gateway_drain_after_run_s": drain_s,
            "audit_events_read_back_from_kafka": sum(len(sequences) for sequences in seen.values()),
            "audit_missing_events": missing,
            "audit_devices_with_gaps": devices_with_gaps,
            "rss_growth_mb_after_warmup": growth,
            "samples": samples,
        }
    finally:
        await stack.stop()


# ---- phase 6 (opt-in): the "3G*" watch adapter ---------------------------------------------------------

WATCH_FRAMES = "watch_frames_total"
WATCH_CONNECTIONS = "watch_connections"


async def start_watch_stack(env: Environment, adapters: int) -> tuple[Platform, list[int]]:
    """Dispatch and `adapters` watch adapter processes; returns the stack and each adapter's TCP port."""
    stack = await start_stack(env, ("dispatch", "watch"))
    assert stack.watch_port is not None
    ports = [stack.watch_port]
    for number in range(2, adapters + 1):
        extra = stack.stack.make_process("watch", instance=str(number), port=infra.free_port())
        # Its own listener, and its own instance id: that names its downlink consumer group.
        ports.append(infra.free_port())
        extra.env = {**extra.env, "WATCH_LISTEN": f"127.0.0.1:{ports[-1]}", "WATCH_INSTANCE_ID": f"bench-{number}"}
        await extra.start()
        stack.stack.processes[extra.name] = extra
        await extra.wait_healthy(90)
    return stack, ports


def adapter_pids(stack: Platform) -> dict[str, int]:
    return {
        name: process.process.pid
        for name, process in stack.stack.processes.items()
        if name.startswith("watch") and process.process is not None
    }


async def probe_watch_sos(port: int, *, duration_s: float, interval_s: float, tag: str) -> dict[str, Any]:
    """Press SOS on fresh watches over TCP at a steady pace: device id -> send time, and the AL reply times."""
    sent: dict[str, float] = {}
    replied: list[float] = []
    end = time.monotonic() + duration_s
    number = 0
    while time.monotonic() < end:
        number += 1
        device_id = f"WPROBE{tag}{number:05d}"
        conn = await watch3g.open_watch("127.0.0.1", port, device_id)
        body = "AL," + watch3g.position(31.95, 118.75, battery=80, status=watch3g.SOS_BIT)
        pressed = time.time()
        await conn.publish("AL*0001", watch3g.frame("3G", device_id, body, "0001"), time.monotonic())
        replied.append(time.time() - pressed)  # the adapter answers AL only once Kafka has the alarm
        sent[device_id] = pressed
        conn.close()
        await asyncio.sleep(interval_s)
    return {"sent": sent, "al_reply_s": replied}


def ud_frames(device_id: str, count: int) -> bytes:
    """`count` position reports from one watch, each a second apart on its clock (so each is its own event)."""
    start = time.time()
    frames = []
    for number in range(count):
        stamp = time.strftime("%d%m%y,%H%M%S", time.gmtime(start + number))
        body = f"UD,{stamp},A,31.950000,N,118.750000,E,0.5,90.0,30,8,80,64,1200,0,00000000,1,1,460,0,9360,4082,131,0"
        frames.append(watch3g.frame("3G", device_id, body))
    return b"".join(frames)


async def _blast(port: int, device_id: str, frames: bytes) -> None:
    conn = await watch3g.open_watch("127.0.0.1", port, device_id)
    assert conn.transport is not None
    for offset in range(0, len(frames), 256 * 1024):
        conn.transport.write(frames[offset : offset + 256 * 1024])
        while conn.transport.get_write_buffer_size() > 1024 * 1024 and not conn.closed:  # noqa: ASYNC110
            await asyncio.sleep(0.005)  # the adapter reads at its own pace: its ceiling is what we measure
    while conn.transport.get_write_buffer_size() and not conn.closed:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    conn.close()


async def measure_watch_ceiling(env: Environment, stack: Platform, port: int, plan: BenchPlan) -> dict[str, Any]:
    """UD frames into one adapter process as fast as its sockets take them: frames/s it reads, decodes and queues."""
    [(name, pid)] = [(n, p) for n, p in adapter_pids(stack).items() if n == "watch"]
    url = stack.stack.processes[name].health_url

    baseline: list[float] = []

    async def counters() -> list[float]:
        """UD frames read, location events Kafka took, telemetry dropped: each since the ceiling began."""
        text = (await env.http.get(f"{url}/metrics", timeout=60)).text
        now = [
            metric_sum(text, WATCH_FRAMES, 'type="UD"'),
            metric_sum(text, "watch_events_produced_total", 'kind="location"'),
            metric_sum(text, "watch_telemetry_dropped_total"),
        ]
        return [value - before for value, before in zip(now, baseline or [0.0] * 3, strict=True)]

    per_connection = -(-plan.watch_ceiling_frames // plan.watch_ceiling_connections)
    blobs = [ud_frames(f"WCEIL{n:05d}", per_connection) for n in range(plan.watch_ceiling_connections)]
    total = per_connection * len(blobs)
    baseline.extend(await counters())
    assert env.kafka.process is not None
    # The frames are written by this harness process (its CPU is not in these figures) from prepared bytes.
    meter = ProcessMeter({name: pid, "kafka": env.kafka.process.pid})
    started = time.monotonic()
    sending = asyncio.gather(*(_blast(port, f"WCEIL{n:05d}", blob) for n, blob in enumerate(blobs)))
    first_at: float | None = None
    frames = produced = dropped = first_frames = 0.0
    deadline = started + 600
    while time.monotonic() < deadline:
        frames, produced, dropped = await counters()
        now = time.monotonic()
        if frames and first_at is None:
            first_at, first_frames = now, frames
        if frames >= total:
            break
        await asyncio.sleep(0.1)
    read_at = time.monotonic()
    usage = meter.read()
    await sending
    # Kafka may still be taking the queued telemetry; how far it got is its own figure.
    while time.monotonic() < deadline:
        _, produced, dropped = await counters()
        if produced + dropped >= frames:
            break
        await asyncio.sleep(0.2)
    produced_at = time.monotonic()
    assert first_at is not None, "the adapter read no frame"
    if frames == first_frames:  # so few frames they were all read between two polls
        first_at, first_frames = started, 0.0
    return {
        "frames": int(frames),
        "connections": len(blobs),
        "frames_per_s": round((frames - first_frames) / max(read_at - first_at, 1e-6), 1),
        "read_s": round(read_at - started, 2),
        "location_events_produced": int(produced),
        "telemetry_dropped": int(dropped),
        "events_produced_per_s": round(produced / max(produced_at - started, 1e-6), 1),
        "processes": usage,
    }


async def measure_watch(env: Environment, plan: BenchPlan) -> dict[str, Any]:
    """Watches held with heartbeats, SOS over TCP among them, then one adapter's frames/s ceiling."""
    stack, ports = await start_watch_stack(env, plan.watch_adapter_processes)
    sims: list[SimProcess] = []
    async with watching(env, stack) as (watcher, stream):
        try:
            pids = adapter_pids(stack)
            before = {name: rss_mb(pid) for name, pid in pids.items()}
            per_sim = -(-plan.watch_connections // plan.watch_sim_processes)
            counts = [min(per_sim, plan.watch_connections - n * per_sim) for n in range(plan.watch_sim_processes)]
            counts = [count for count in counts if count > 0]
            started = time.monotonic()
            for number, devices in enumerate(counts):
                sim = SimProcess(
                    env,
                    "--protocol",
                    "watch3g",
                    "--watch-addr",
                    f"127.0.0.1:{ports[number % len(ports)]}",
                    "--devices",
                    str(devices),
                    "--id-prefix",
                    f"W{number}",
                    "--heartbeat-s",
                    str(plan.watch_heartbeat_s),
                    "--sos-per-device-day",
                    "0",
                    "--fall-per-device-day",
                    "0",
                )
                sims.append(await sim.start())
            for sim, devices in zip(sims, counts, strict=True):
                await sim.wait_connected(devices)
            connect_s = time.monotonic() - started
            held_by_adapters = sum(await process_counters(env, stack, "watch", (WATCH_CONNECTIONS, "")))
            pids.update({f"simulator-{n}": sim.process.pid for n, sim in enumerate(sims) if sim.process is not None})
            assert env.kafka.process is not None
            pids["kafka"] = env.kafka.process.pid
            (frames_before,) = await process_counters(env, stack, "watch", (WATCH_FRAMES, 'type="LK"'))
            meter = ProcessMeter(pids)
            probes = await probe_watch_sos(
                ports[0], duration_s=plan.watch_hold_s, interval_s=plan.sos_probe_interval_s, tag="H"
            )
            usage = meter.read()
            (frames_after,) = await process_counters(env, stack, "watch", (WATCH_FRAMES, 'type="LK"'))
            held = sum(sim.last.get("connected", 0) for sim in sims)
            finals = [await sim.stop() for sim in sims]
            sims = []
            sent = probes["sent"]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_until(lambda: all(d in watcher.opened for d in sent)), 15)
            await asyncio.sleep(1.0 if stream.available else 0)  # the stream polls its database
            committed = committed_bounds(
                sent, opened=watcher.opened, incident_of=watcher.incident_of, streamed=stream.seen
            )
            per_thousand = 1000 / max(plan.watch_connections, 1)
            adapters = {name: usage[name] for name in pids if name.startswith("watch") and name in usage}
            connections = {
                "watches": plan.watch_connections,
                "simulator_processes": len(counts),
                "adapter_processes": len(ports),
                "held_connected": held,
                "held_by_adapters": int(held_by_adapters),
                "connect_all_s": round(connect_s, 1),
                "heartbeat_s": plan.watch_heartbeat_s,
                "hold_s": plan.watch_hold_s,
                "lk_frames_per_s": round((frames_after - frames_before) / plan.watch_hold_s, 1),
                "disconnects": sum(final.get("disconnects") or 0 for final in finals),
                "adapter_rss_mb": {name: value["rss_mb"] for name, value in adapters.items()},
                "adapter_cpu_pct": {name: value["cpu_pct"] for name, value in adapters.items()},
                "adapter_mb_per_1000_watches": round(
                    sum(value["rss_mb"] - before[name] for name, value in adapters.items()) * per_thousand, 2
                ),
                "processes": usage,
            }
            sos = {
                "probes": len(sent),
                "sos_missing": len(sent) - sum(d in watcher.opened for d in sent),
                "sos_to_al_reply": percentiles(probes["al_reply_s"]),
                # Both observations follow the commit, so the earlier one bounds it from above.
                "sos_to_incident_committed_at_most": percentiles(committed),
                "sos_to_incident_opened": percentiles(
                    [watcher.opened[d] - t for d, t in sent.items() if d in watcher.opened]
                ),
            }
            ceiling = await measure_watch_ceiling(env, stack, ports[0], plan)
            return {"connections": connections, "sos_over_tcp": sos, "ceiling": ceiling}
        finally:
            for sim in sims:
                with contextlib.suppress(Exception):
                    await sim.stop()


# ---- the run ---------------------------------------------------------------------------------------------


# Measured `repetitions` times, each on a fresh platform; the other phases have their own repeats or none.
REPEATED_PHASES = ("ceiling", "e2e")


@contextlib.asynccontextmanager
async def fresh_databases(env: Environment) -> AsyncIterator[Environment]:
    """The environment with databases of its own, dropped afterwards (the brokers stay).

    With a city, each service's database starts as a copy of the seeded one: every run measures
    the same state, and the city is seeded once, not once per run.
    """
    databases = infra.DatabaseFactory(env.databases.server_url)
    try:
        if env.city_templates:
            await copy_databases(databases, env.city_templates)
        yield replace(env, databases=databases)
    finally:
        await databases.drop_all()


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def copy_databases(databases: infra.DatabaseFactory, templates: dict[str, str]) -> None:
    connection = await asyncpg.connect(f"{databases.server_url}/postgres")
    try:
        # FILE_COPY (PostgreSQL 15+) copies the files after one checkpoint instead of writing every
        # block through the WAL: minutes less for a city's gigabytes, and the same result.
        modern = int(await connection.fetchval("SHOW server_version_num")) >= 150000
        strategy = " STRATEGY = FILE_COPY" if modern else ""
        for service, template in templates.items():
            name = database_name(databases.url(service))
            await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}')
    finally:
        await connection.close()


async def seed_city_templates(env: Environment, size: CitySize) -> dict[str, Any]:
    """Seed the city once into databases of its own; the runs copy them (fresh_databases)."""
    urls = {service: env.databases.url(f"city_{service}") for service in ("care_record", "dispatch", "monitoring")}
    counts = await seed_city(urls, size, say=progress)
    env.city_templates = {service: database_name(url) for service, url in urls.items()}
    return {"size": size, **counts}


async def measure_ceiling(env: Environment, plan: BenchPlan) -> dict[str, Any]:
    """The raw pipeline, then the gateway with each process count, draining the same backlog."""
    progress(f"ceiling: raw pipeline draining {plan.ceiling_messages:,} messages")
    raw = await measure_raw(env, plan)
    gateways = []
    for count in plan.ceiling_gateway_counts:
        progress(f"ceiling: {count} gateway process(es)")
        gateways.append(await measure_gateway_ceiling(env, plan, count))
    progress(f"ceiling done: raw {raw['msg_per_s']:.0f} msg/s, gateways {[g['msg_per_s'] for g in gateways]} msg/s")
    return {
        "raw_pipeline": raw,
        "gateways": gateways,
        "gateway_to_raw_ratio": {
            f"{g['gateway_processes']}_process": round(g["msg_per_s"] / max(raw["msg_per_s"], 1e-6), 3)
            for g in gateways
        },
    }


async def run(plan: BenchPlan, phases: tuple[str, ...]) -> dict[str, Any]:
    """Run the phases in order and return the report (also written to bench/results/)."""
    report: dict[str, Any] = {
        "label": plan.label,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_facts(),
        "plan": plan.__dict__.copy(),
    }
    progress.restart()
    async with environment() as env:
        report["machine"]["postgres"] = await postgres_facts(env.databases.server_url)
        if plan.city is not None and "e2e" in phases:
            plan.check_city()
            progress(f"seeding a city of {plan.city.elders:,} elders and {plan.city.incidents:,} incidents")
            report["city"] = await seed_city_templates(env, plan.city)
        repeated = [phase for phase in REPEATED_PHASES if phase in phases]
        runs: list[dict[str, Any]] = []
        for number in range(plan.repetitions if repeated else 0):
            progress(f"repetition {number + 1}/{plan.repetitions}: {', '.join(repeated)} on a fresh platform")
            # A fresh platform each time: new processes and new databases, only the brokers are shared.
            async with fresh_databases(env) as run_env:
                one: dict[str, Any] = {}
                if "ceiling" in phases:
                    one["ceiling"] = await measure_ceiling(run_env, plan)
                if "e2e" in phases:
                    one["end_to_end"] = await measure_end_to_end(run_env, plan)
                runs.append(one)
        if "ceiling" in phases:
            ceilings = [one["ceiling"] for one in runs]
            report["ceiling"] = {
                "runs": ceilings,
                "gateway_to_raw_ratio": {
                    key: median_range([c["gateway_to_raw_ratio"][key] for c in ceilings])
                    for key in ceilings[0]["gateway_to_raw_ratio"]
                },
            }
        if "e2e" in phases:
            e2e_runs = [one["end_to_end"] for one in runs]
            report["end_to_end"] = {"runs": e2e_runs, "by_rate": by_rate([r["steps"] for r in e2e_runs])}
        if "connections" in phases:
            progress("connections phase")
            report["connections"] = await measure_connections(env, plan)
        if "soak" in phases:
            progress(f"soak phase: {plan.soak_s:g} s at {plan.soak_rate} msg/s")
            report["soak"] = await measure_soak(env, plan)
        if "watch" in phases:
            progress("watch phase")
            report["watch"] = await measure_watch(env, plan)
        if "flood" in phases:
            from bench.flood import measure_flood

            progress(f"flood phase: {plan.flood_repetitions} floods")
            report["flood"] = await measure_flood(env, plan)
        progress("done")
    report["machine"]["load_avg_at_end"] = os.getloadavg()
    # First in the file: what the docs quote, with the facts that qualify it.
    return {"summary": report_summary(report), **report}


def write_report(report: dict[str, Any], directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report['label']}-{report['started_at'].replace(':', '')}.json"
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    write_charts(report, path)
    return path


def table(report: dict[str, Any]) -> Iterator[str]:
    """The human-readable summary `make bench` prints."""
    m = report["machine"]
    yield f"{m['cores']} cores, {m['cpu_model']}, Python {m['python']}, {m['mosquitto']}, {m['kafka_broker']}"
    yield f"load average at start {m['load_avg_at_start']}, at end {m.get('load_avg_at_end')}"
    if "postgres" in m:
        pg = m["postgres"]
        yield (
            f"PostgreSQL {pg['server_version']} ({pg['server']}): fsync {pg['fsync']}, "
            f"synchronous_commit {pg['synchronous_commit']}"
        )
    for number, ceiling in enumerate(report.get("ceiling", {}).get("runs", []), 1):
        raw = ceiling["raw_pipeline"]["msg_per_s"]
        yield f"run {number}: ceiling: raw mosquitto_sub|librdkafka {raw:.0f} msg/s"
        for g in ceiling["gateways"]:
            yield (
                f"run {number}: ceiling: gateway x{g['gateway_processes']} {g['msg_per_s']:.0f} msg/s "
                f"= {100 * g['msg_per_s'] / max(raw, 1e-6):.0f} % of raw"
                + (f" ({g['rejected']} dead-lettered: not comparable)" if g.get("rejected") else "")
            )
    for number, e2e_run in enumerate(report.get("end_to_end", {}).get("runs", []), 1):
        for step in e2e_run["steps"]:
            yield from _step_lines(f"run {number}: ", step)
    yield from _phase_lines(report)


def _step_lines(prefix: str, step: dict[str, Any]) -> Iterator[str]:
    s = step["sos_to_incident_opened"]
    c = step.get("sos_to_incident_committed_at_most", s)
    sse = step["sos_to_stream"]
    sse_text = sse if isinstance(sse, str) else f"p50 {sse['p50_ms']} p99 {sse['p99_ms']} ms"
    yield (
        f"{prefix}e2e offered {step['offered_msg_per_s']:>5}/s: gateway {step['gateway_produced_msg_per_s']:>7.0f}/s, "
        f"lag {step['consumer_lag_records_at_end']} (growth/s {step['consumer_lag_growth_per_s']}); "
        f"SOS->incident committed (at most) p50 {c['p50_ms']} p95 {c['p95_ms']} p99 {c['p99_ms']} "
        f"(95 % CI {c.get('p99_ci95_ms')}) max {c['max_ms']} ms (n={c['n']}, missing {step['sos_missing']}); "
        f"SOS->incident event on Kafka p50 {s['p50_ms']} p99 {s['p99_ms']} ms; SOS->SSE {sse_text}"
    )
    if "sos_to_dispatch_handler" in step:
        h = step["sos_to_dispatch_handler"]
        d = step.get("dispatch", {})
        yield (
            f"    of which SOS->dispatch handler p50 {h['p50_ms']} p99 {h['p99_ms']} ms; then alarm transaction "
            f"mean {d.get('alarm_transaction_mean_ms')} ms, outbox row->Kafka ack mean "
            f"{d.get('outbox_delay_mean_ms')} ms"
        )


def _phase_lines(report: dict[str, Any]) -> Iterator[str]:
    if "connections" in report:
        c = report["connections"]
        yield (
            f"connections: {c['held_connected']}/{c['devices']} held, connect-all {c['connect_all_s']} s, "
            f"Mosquitto {c['mosquitto_mb_per_1000_devices']} MB and simulator "
            f"{c['simulator_mb_per_1000_devices']} MB per 1,000 devices"
        )
    if "watch" in report:
        w = report["watch"]
        c, p, x = w["connections"], w["sos_over_tcp"], w["ceiling"]
        committed = p["sos_to_incident_committed_at_most"]
        yield (
            f"watch: {c['held_connected']}/{c['watches']} held over {c['adapter_processes']} adapter(s), "
            f"connect-all {c['connect_all_s']} s, adapter RSS {c['adapter_rss_mb']} MB, CPU {c['adapter_cpu_pct']} %"
        )
        yield (
            f"watch: SOS over TCP -> incident committed (at most) p50 {committed['p50_ms']} p99 {committed['p99_ms']} "
            f"max {committed['max_ms']} ms (n={committed['n']}, missing {p['sos_missing']}); "
            f"one adapter reads {x['frames_per_s']:.0f} UD frames/s"
        )
    if "flood" in report:
        f = report["flood"]["summary"]
        yield (
            f"flood: {f['other_sos']} other SOS over {f['repetitions']} floods, lost {f['other_sos_lost']}; "
            f"-> incident committed p50 {f['commit_p50_s']} s, max {f['commit_max_s']} s; per-flood max median "
            f"{f['per_run_max_s']['median']} s (range {f['per_run_max_s']['min']}-{f['per_run_max_s']['max']}); "
            f"{f['runs_within_target']}/{f['repetitions']} floods within {f['target_s']} s; flooding device one "
            f"incident counting every press: {f['flooding_device_one_incident_every_press']}"
        )
    if "soak" in report:
        s = report["soak"]
        yield (
            f"soak {s['duration_s']:.0f} s at {s['rate']}/s: audit missing {s['audit_missing_events']} events; "
            f"RSS growth after warm-up {s['rss_growth_mb_after_warmup']}"
        )
