"""A throwaway PostgreSQL cluster the fault suite may stop and start (never the machine's shared server)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from eldercare.settings import tcp_port_open
from tests.infra import free_port, wait_for_port
from tools.devstack import postgres_bindir, postgres_command, postgres_initdb


class PostgresCluster:
    """initdb into a temporary directory; `stop()`/`start()` make a real outage on the same port and data."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()  # the same server `make run` and the tests start
        self.datadir = Path(tempfile.mkdtemp(prefix="eldercare-faults-pg-"))
        self.port = free_port()
        # pg_ctl refuses to run as root, as initdb and postgres do (their helpers handle it).
        self.run_as: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.datadir.parent / f"{self.datadir.name}.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def init(self) -> None:
        postgres_initdb(self.datadir)

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                postgres_command(self.datadir, self.port, "max_connections=200"),
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        wait_for_port(self.port, "postgres (faults)", self.process, timeout=30)
        deadline = time.monotonic() + 30
        while subprocess.run(
            [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False
        ).returncode:
            if time.monotonic() > deadline:
                raise TimeoutError("postgres (faults) did not accept connections")
            time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as in a server crash or failover."""
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        deadline = time.monotonic() + 10
        while tcp_port_open("127.0.0.1", self.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)
