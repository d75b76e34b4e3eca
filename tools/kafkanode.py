"""Apache Kafka on this machine: the pinned release from infra/kafka/pom.xml, run as KRaft nodes.

`make run`, the tests, the fault suite and the bench all start their brokers through this
module, so they run the same release with the same settings. The jars come from Maven
Central once (`mvn dependency:copy-dependencies` into var/kafka/lib, keyed by the pom's
hash); after that nothing is downloaded. A node runs broker and controller in one JVM
with a capped heap; a cluster is several such nodes voting in one static quorum.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eldercare.settings import REPO_ROOT

POM = REPO_ROOT / "infra" / "kafka" / "pom.xml"
DEFAULT_CACHE = REPO_ROOT / "var" / "kafka"
LOG4J_CONFIG = REPO_ROOT / "infra" / "kafka" / "log4j2.yaml"


def pinned_version(pom: Path = POM) -> str:
    """The Kafka release the pom pins (docker-compose.yml must name the same one)."""
    text = pom.read_text()
    start = text.index("<kafka.version>") + len("<kafka.version>")
    return text[start : text.index("</kafka.version>", start)].strip()


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()[:16]


def ensure_jars(
    cache: Path = DEFAULT_CACHE, *, pom: Path = POM, quiet: bool = True, maven_repo: Path | None = None
) -> Path:
    """The folder holding the pinned broker's jars, resolving them with Maven the first time.

    Keyed by the pom's hash, so editing the pom (a new release) resolves again and an
    interrupted resolve is retried. A file lock keeps two processes from resolving at once.
    `maven_repo` replaces Maven's local repository (~/.m2): the bench measures a cold start with an empty one.
    """
    lib = cache / f"lib-{_pom_digest(pom)}"
    stamp = lib / ".complete"
    if stamp.exists():
        return lib
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".resolve.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists():
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise FileNotFoundError("Maven is not installed: sudo apt-get install maven")
        shutil.rmtree(lib, ignore_errors=True)
        argv = [
            mvn,
            "-B",
            *(["-q"] if quiet else []),
            "-f",
            str(pom),
            *([f"-Dmaven.repo.local={maven_repo}"] if maven_repo else []),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={lib}",
        ]
        result = subprocess.run(argv, capture_output=quiet, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"resolving Kafka with Maven failed:\n{(result.stdout or '')[-3000:]}")
        stamp.write_text(pinned_version(pom) + "\n")
    return lib


def java_binary() -> str:
    found = shutil.which("java")
    if found is None:
        raise FileNotFoundError("no Java runtime: sudo apt-get install openjdk-17-jre-headless")
    return found


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    A port the kernel hands out for bind(0) comes from the ephemeral range, which outgoing
    connections draw from too: between choosing a port and the JVM binding it, one broker's
    connection to another could take it (seen: a third node failing with "Address already in use").
    """
    low, _ = _ephemeral_range()
    for _ in range(200):
        port = random.randrange(max(1024, low - 12_000), low)
        if port in _HANDED_OUT:  # free now, but promised to a listener not started yet
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port below the ephemeral range")


# Ports this process has handed out: a port chosen for one listener and not yet bound would
# otherwise pass the bind check again (a node with two listeners on one port refuses to format).
_HANDED_OUT: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class SaslSslListener:
    """A SASL_SSL listener: the broker's PKCS12 keystore (tools.certs.keystore) and its accounts.

    Every account can log in by SCRAM-SHA-512 and SCRAM-SHA-256 (credentials stored in the
    cluster metadata when the node is formatted, so only a fresh node gets them) and by PLAIN
    (checked against the broker's JAAS config).
    """

    port: int
    keystore: Path
    keystore_password: str
    accounts: Mapping[str, str] = field(default_factory=dict)

    def properties(self) -> dict[str, str]:
        prefix = "listener.name.sasl_ssl."
        plain_users = " ".join(f'user_{name}="{password}"' for name, password in sorted(self.accounts.items()))
        props = {
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.keystore),
            "ssl.keystore.password": self.keystore_password,
            "ssl.key.password": self.keystore_password,
            f"{prefix}sasl.enabled.mechanisms": ",".join(("PLAIN", *SCRAM_MECHANISMS)),
            f"{prefix}plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
            ),
        }
        for mechanism in SCRAM_MECHANISMS:
            props[f"{prefix}{mechanism.lower()}.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
        return props

    def scram_arguments(self) -> list[str]:
        return [
            argument
            for mechanism in SCRAM_MECHANISMS
            for name, password in sorted(self.accounts.items())
            for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
        ]


@dataclass
class KafkaNode:
    """One KRaft node (broker + controller in one JVM) with its data under `data_dir`.

    `voters` maps node id -> controller port of every node of the cluster (this one
    included); a single node votes alone. `advertised_port` lets clients come back
    through a proxy. `overrides` are extra server properties (the tests' cleaner settings).
    """

    node_id: int
    port: int
    controller_port: int
    data_dir: Path
    cluster_id: str
    voters: Mapping[int, int] = field(default_factory=dict)
    host: str = "127.0.0.1"
    advertised_port: int | None = None
    # Replication between brokers on a listener of its own, so a proxy in front of the client
    # listener (the fault suite's cut link) cuts clients off without cutting the brokers apart.
    internal_port: int | None = None
    heap: str = "512m"
    overrides: Mapping[str, str] = field(default_factory=dict)
    lib: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    # A SASL_SSL client listener beside the plaintext one (the plaintext one stays for replication
    # and the tests' own tools): TLS with this keystore, accounts checked by SCRAM or PLAIN.
    sasl_ssl: SaslSslListener | None = None

    @property
    def sasl_ssl_bootstrap(self) -> str:
        assert self.sasl_ssl is not None, "no SASL_SSL listener"
        return f"{self.host}:{self.sasl_ssl.port}"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.advertised_port or self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def properties(self) -> dict[str, str]:
        voters = self.voters or {self.node_id: self.controller_port}
        replicas = len(voters)
        listeners = [f"PLAINTEXT://{self.host}:{self.port}", f"CONTROLLER://{self.host}:{self.controller_port}"]
        advertised = [f"PLAINTEXT://{self.host}:{self.advertised_port or self.port}"]
        if self.internal_port is not None:
            listeners.append(f"INTERNAL://{self.host}:{self.internal_port}")
            advertised.append(f"INTERNAL://{self.host}:{self.internal_port}")
        if self.sasl_ssl is not None:
            listeners.append(f"SASL_SSL://{self.host}:{self.sasl_ssl.port}")
            advertised.append(f"SASL_SSL://{self.host}:{self.sasl_ssl.port}")
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": ",".join(f"{n}@{self.host}:{p}" for n, p in sorted(voters.items())),
            "listeners": ",".join(listeners),
            "advertised.listeners": ",".join(advertised),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "INTERNAL" if self.internal_port is not None else "PLAINTEXT",
            "listener.security.protocol.map": (
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL"
            ),
            "log.dirs": str(self.data_dir / "log"),
            # A single node cannot replicate; a cluster keeps three copies and refuses a write
            # that fewer than two hold, and never elects a leader that missed acknowledged writes.
            "offsets.topic.replication.factor": str(min(replicas, 3)),
            "transaction.state.log.replication.factor": str(min(replicas, 3)),
            "transaction.state.log.min.isr": str(min(replicas, 2)),
            "default.replication.factor": str(min(replicas, 3)),
            "min.insync.replicas": str(min(replicas, 2)),
            "unclean.leader.election.enable": "false",
            "auto.create.topics.enable": "false",
            # The platform's consumers join their groups at start-up; waiting for more members
            # only delays the first fetch (the broker's default is 3 s).
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "6",
            "log.retention.hours": "168",
            "log.segment.bytes": str(64 * 1024 * 1024),
            "num.network.threads": "2",
            "num.io.threads": "4",
            "log.cleaner.threads": "1",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            "message.max.bytes": str(1024 * 1024 + 1024),
        }
        if self.sasl_ssl is not None:
            props.update(self.sasl_ssl.properties())
        props.update(self.overrides)
        return props

    def write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in self.properties().items()))
        return path

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        assert self.lib is not None
        return [
            java_binary(),
            f"-Xmx{heap}",
            f"-Xms{heap}" if main == "kafka.Kafka" else "-Xms32m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp",
            f"{self.lib}/*",
            main,
            *args,
        ]

    def formatted(self) -> bool:
        return (self.data_dir / "log" / "meta.properties").exists()

    def format(self) -> None:
        """Format the storage on first start; data that is already there is kept."""
        if self.formatted():
            return
        config = self.write_config()
        # SCRAM credentials live in the cluster metadata: KRaft takes the first ones at format time.
        scram = self.sasl_ssl.scram_arguments() if self.sasl_ssl is not None else []
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool", "format", f"--cluster-id={self.cluster_id}", "-c", str(config), "-g", *scram
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-3000:]
            raise RuntimeError(f"formatting Kafka storage in {self.data_dir} failed:\n{output}")

    def argv(self) -> list[str]:
        return self._java("kafka.Kafka", str(self.write_config()), heap=self.heap)

    def start(self, *, wait: bool = True, timeout: float = 90) -> None:
        if self.lib is None:
            self.lib = ensure_jars()
        self.format()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv(), stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        if wait:
            try:
                self.wait_listening(timeout)
            except BaseException:
                self.stop()  # a node that never listened must not outlive the caller
                raise

    def wait_listening(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        ports = [self.port] + ([self.sasl_ssl.port] if self.sasl_ssl is not None else [])
        while not all(port_open(port, self.host) for port in ports):
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"kafka node {self.node_id} exited with {self.process.returncode}{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"kafka node {self.node_id} did not listen on {self.port}{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "; last lines of its log:\n" + "\n".join(tail)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(sig)

    def kill(self) -> None:
        """kill -9: no clean shutdown, the data stays as the crash left it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGCONT)  # a paused node cannot shut down
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def rss_bytes(self) -> int | None:
        if not self.running:
            return None
        assert self.process is not None
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return None


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes in URL-safe base64 without padding.

    One id in 64 would start with "-", which the storage tool's argument parser
    reads as an option ("--cluster-id: expected one argument"); Kafka's own
    Uuid.randomUuid() draws again in that case, and so do we.
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def make_cluster(
    base_dir: Path,
    *,
    size: int = 1,
    ports: Sequence[int] | None = None,
    heap: str = "512m",
    overrides: Mapping[str, str] | None = None,
    advertised_ports: Sequence[int] | None = None,
) -> list[KafkaNode]:
    """`size` nodes on free (or given) ports sharing one quorum and cluster id, not yet started.

    With `advertised_ports` (a proxy per node), clients are sent there and the brokers
    replicate over an internal listener of their own.
    """
    lib = ensure_jars()
    cluster_id = new_cluster_id()
    client_ports = list(ports) if ports else [free_port() for _ in range(size)]
    controller_ports = [free_port() for _ in range(size)]
    internal_ports = [free_port() for _ in range(size)] if advertised_ports else [None] * size
    voters = {index + 1: controller_ports[index] for index in range(size)}
    return [
        KafkaNode(
            node_id=index + 1,
            port=client_ports[index],
            controller_port=controller_ports[index],
            data_dir=base_dir / f"node-{index + 1}",
            cluster_id=cluster_id,
            voters=voters,
            heap=heap,
            overrides=dict(overrides or {}),
            lib=lib,
            advertised_port=advertised_ports[index] if advertised_ports else None,
            internal_port=internal_ports[index],
        )
        for index in range(size)
    ]


def start_cluster(nodes: Sequence[KafkaNode], timeout: float = 90) -> None:
    """Start every node, then wait for all: a multi-node quorum needs its voters up together."""
    try:
        for node in nodes:
            node.start(wait=False)
        for node in nodes:
            node.wait_listening(timeout)
    except BaseException:
        for node in nodes:
            node.stop()
        raise


def bootstrap_of(nodes: Sequence[KafkaNode]) -> str:
    return ",".join(node.bootstrap for node in nodes)
