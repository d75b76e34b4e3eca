"""Real infrastructure for the tests: Mosquitto, Apache Kafka and PostgreSQL, each on a free port.

Brokers are always our own (started with the project's config), so tests never
depend on what a machine happens to run. PostgreSQL: the server named by
TEST_POSTGRES_URL, else a throwaway cluster made with Debian's initdb; never the
machine's own server, which on Debian wants a password.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg

from eldercare.settings import REPO_ROOT, tcp_port_open
from tools import kafkanode
from tools.devstack import (
    mosquitto_binary,
    postgres_bindir,
    postgres_command,
    postgres_initdb,
    write_mosquitto_config,
)


def free_port() -> int:
    """A free loopback port outside the ephemeral range (see kafkanode.free_port)."""
    return kafkanode.free_port()


def wait_for_port(port: int, name: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not tcp_port_open("127.0.0.1", port):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before listening")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} did not listen on {port}")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate, and kill if it is still there after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class BrokerProcess:
    """A broker we started; `pause`/`resume` make it unreachable without losing its memory."""

    def __init__(self, name: str, argv: list[str], port: int, log_path: Path) -> None:
        self.name, self.argv, self.port, self.log_path = name, argv, port, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        wait_for_port(self.port, self.name, self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Iterator[BrokerProcess]:
    """Mosquitto with infra/mosquitto/dev.conf on a free port."""
    port = free_port()
    conf = write_mosquitto_config(
        workdir / "mosquitto.conf", host="127.0.0.1", port=port, data_dir=workdir / "mqtt-data"
    )
    with _running(
        BrokerProcess("mosquitto", [mosquitto_binary(), "-c", str(conf)], port, workdir / "mosquitto.log")
    ) as broker:
        yield broker


@contextlib.contextmanager
def _running(broker: BrokerProcess) -> Iterator[BrokerProcess]:
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextlib.contextmanager
def production_mosquitto(workdir: Path, *, passwd: Path, certs: Path) -> Iterator[BrokerProcess]:
    """Mosquitto with the production config (TLS listener, password file, ACL) on a free port.

    `certs` holds ca.crt, server.crt and server.key (tools.certs) for 127.0.0.1.
    """
    port = free_port()
    production = (REPO_ROOT / "infra" / "mosquitto" / "mosquitto.conf").read_text()
    conf = f"user {getpass.getuser()}\n" + (
        production.replace("listener 8883", f"listener {port} 127.0.0.1")
        .replace("/mosquitto/certs/", f"{certs}/")
        .replace("/mosquitto/config/passwd", str(passwd))
        .replace("/mosquitto/config/acl", str(REPO_ROOT / "infra" / "mosquitto" / "acl"))
        .replace("/mosquitto/data/", f"{workdir}/")
        .replace("log_dest stdout", f"log_dest file {workdir}/mosquitto.log")
    )
    (workdir / "mosquitto.conf").write_text(conf)
    argv = [mosquitto_binary(), "-c", str(workdir / "mosquitto.conf")]
    with _running(BrokerProcess("mosquitto", argv, port, workdir / "out.log")) as broker:
        yield broker


@contextlib.contextmanager
def kafka(
    workdir: Path, *, overrides: dict[str, str] | None = None, sasl_ssl: kafkanode.SaslSslListener | None = None
) -> Iterator[kafkanode.KafkaNode]:
    """One Apache Kafka KRaft node (the pinned release) on a free port, its data under `workdir`;
    with `sasl_ssl`, a SASL_SSL listener beside the plaintext one."""
    [node] = kafkanode.make_cluster(
        Path(tempfile.mkdtemp(prefix="kafka-", dir=workdir)), size=1, heap="384m", overrides=overrides
    )
    node.sasl_ssl = sasl_ssl
    node.start()
    try:
        yield node
    finally:
        node.stop()


@contextlib.contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[str]:
    """A PostgreSQL server URL (postgresql://user@host:port) for the tests to create databases on.

    The tests' own cluster runs with fsync off (nothing in it needs to survive a crash, and the
    suite is faster); `durable` keeps fsync and synchronous_commit on, as in production, for the
    benchmark, whose commit latencies would otherwise be flattering.
    """
    configured = os.environ.get("TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    datadir = Path(tempfile.mkdtemp(prefix="eldercare-pg-"))
    port = free_port()
    postgres_initdb(datadir)
    durability = ("fsync=on", "synchronous_commit=on", "full_page_writes=on") if durable else ("fsync=off",)
    server = subprocess.Popen(
        postgres_command(datadir, port, *durability, "max_connections=300"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, "postgres", server, timeout=30)
        _wait_accepting(port, server)
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        stop_process(server)
        shutil.rmtree(datadir, ignore_errors=True)


def _wait_accepting(port: int, server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until the server takes connections: it listens while still replaying or starting up."""
    deadline = time.monotonic() + timeout
    ready = [str(postgres_bindir() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
    while subprocess.run(ready, check=False).returncode != 0:
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"postgres on {port} does not accept connections")
        time.sleep(0.1)


class DatabaseFactory:
    """Creates uniquely named databases for one test run and drops them afterwards."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.run_id = uuid.uuid4().hex[:8]
        self.created: list[str] = []

    def url(self, name: str) -> str:
        """An asyncpg SQLAlchemy URL for a fresh database `name` of this run (created on first use by the service)."""
        database = f"eldercare_test_{self.run_id}_{name}"
        self.created.append(database)
        return f"{self.server_url.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{database}"

    async def drop_all(self) -> None:
        connection = await asyncpg.connect(f"{self.server_url}/postgres")
        try:
            for database in self.created:
                await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await connection.close()


async def tables_on_postgres(
    databases: DatabaseFactory, metadata: Any, *, prefix: str, inbox: bool = False
) -> AsyncIterator[Any]:
    """A fresh PostgreSQL database with `metadata`'s tables (the inbox's too, with `inbox`); yields sessions."""
    from eldercare import db

    url = databases.url(f"{prefix}_{uuid.uuid4().hex[:6]}")
    await db.ensure_database(url)
    engine = db.create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        if inbox:
            await connection.run_sync(db.ProcessedEvent.__table__.create)  # type: ignore[attr-defined]
    yield db.session_factory(engine)
    await engine.dispose()
