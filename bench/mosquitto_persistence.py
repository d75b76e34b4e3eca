"""`python -m bench.mosquitto_persistence`: what Mosquitto's save interval costs and what a kill -9 loses.

For each persistence setting (`autosave_on_changes` saving after every change, and a save every
1, 5 and 30 s as `autosave_interval` does by default), on Debian's Mosquitto with the project's
dev.conf (queues unbounded, as in production) and its data on disk under var/:

- throughput: QoS 1 publishes, `--messages` of them with up to 1,000 awaiting PUBACK, to a topic
  whose only subscriber is a persistent session that is offline, so every message is queued in
  the broker (and in what it saves). Messages per second from the first publish to the last PUBACK.
- loss window: the same offline subscriber; one publisher at `--rate` messages/s for a random
  moment within a save period (after at least one full period), then `kill -9` of the broker,
  a restart on its data, and the subscriber's session drained: acknowledged messages that never
  arrive are lost. Also in seconds: the kill's time minus the earliest lost message's PUBACK.

Each `--repetitions` times; the median and the range go into
bench/results/persistence-<time>.json, with the load average at the start and the end
(the machine may be shared: the numbers are only comparable within one file).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import platform as platform_info
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from tests.infra import free_port, wait_for_port
from tools.devstack import REPO_ROOT, mosquitto_binary

RESULTS = Path(__file__).resolve().parent / "results"
TOPIC = "bench/persistence"


@dataclass(frozen=True)
class Setting:
    name: str
    interval: int  # autosave_interval: seconds, or changes with `on_changes`
    on_changes: bool = False

    @property
    def period_s(self) -> float:
        """How long a save can be due at most (every change: a loop iteration, well under a second)."""
        return 0.5 if self.on_changes else float(self.interval)

    def config(self, *, port: int, data_dir: Path) -> str:
        base = (REPO_ROOT / "infra" / "mosquitto" / "dev.conf").read_text()
        lines = [
            f"user {getpass.getuser()}",
            f"listener {port} 127.0.0.1",
            "persistence true",
            f"persistence_location {data_dir}/",
            f"autosave_interval {self.interval}",
            f"autosave_on_changes {'true' if self.on_changes else 'false'}",
        ]
        return "\n".join(lines) + "\n\n" + base


SETTINGS = (
    Setting("every change (autosave_on_changes, interval 1)", 1, on_changes=True),
    Setting("autosave_interval 1", 1),
    Setting("autosave_interval 5", 5),
    Setting("autosave_interval 30 (production)", 30),
)


class Broker:
    """One Mosquitto on its own data directory; restartable on that data."""

    def __init__(self, setting: Setting, workdir: Path) -> None:
        self.port = free_port()
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(setting.config(port=self.port, data_dir=self.data_dir))
        self.log = workdir / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [mosquitto_binary(), "-c", str(self.conf)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        wait_for_port(self.port, "mosquitto (bench)", self.process)

    def stop(self) -> None:
        """SIGTERM: Mosquitto saves everything on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def kill(self) -> float:
        """SIGKILL: nothing saved since the last autosave survives. Returns when it died (monotonic)."""
        assert self.process is not None
        self.process.kill()
        killed = time.monotonic()
        self.process.wait(30)
        return killed


class Client:
    """A paho client driven from the calling thread (`pump`), never from a thread of paho's own."""

    def __init__(self, port: int, client_id: str, *, persistent: bool) -> None:
        self.paho = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent,
            protocol=mqtt.MQTTv311,
        )
        self.paho.max_inflight_messages_set(1000)
        self.paho.max_queued_messages_set(0)
        self.connected = False
        self.subscribed = False
        self.received: set[int] = set()
        self.last_message = time.monotonic()
        self.acked_at: dict[int, float] = {}  # mid -> when its PUBACK came
        self.paho.on_connect = self._on_connect
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_message = self._on_message
        self.paho.on_publish = self._on_publish
        self.paho.connect("127.0.0.1", port, keepalive=60)
        self.pump(lambda: self.connected, timeout=10, what="CONNACK")

    def _on_connect(self, *_args: Any) -> None:
        self.connected = True

    def _on_subscribe(self, *_args: Any) -> None:
        self.subscribed = True

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.received.add(int(message.payload))
        self.last_message = time.monotonic()

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, *_rest: Any) -> None:
        self.acked_at[mid] = time.monotonic()

    def pump(self, done: Callable[[], bool], *, timeout: float, what: str = "") -> bool:
        """Run the network loop until `done()`; False (or TimeoutError with `what`) at the timeout."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                if what:
                    raise TimeoutError(f"no {what} within {timeout} s")
                return False
            self.paho.loop(timeout=0.02)
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.paho.disconnect()
            self.paho.loop(timeout=0.1)


def leave_session_offline(port: int, client_id: str) -> None:
    """A persistent session subscribed at QoS 1, then disconnected: the broker queues for it."""
    subscriber = Client(port, client_id, persistent=True)
    subscriber.paho.subscribe(TOPIC, qos=1)
    subscriber.pump(lambda: subscriber.subscribed, timeout=10, what="SUBACK")
    subscriber.close()


def drain_session(port: int, client_id: str, *, quiet_s: float = 3.0, timeout: float = 120) -> set[int]:
    """Reconnect the persistent session and collect what the broker kept for it."""
    subscriber = Client(port, client_id, persistent=True)
    subscriber.last_message = time.monotonic()
    subscriber.pump(lambda: time.monotonic() - subscriber.last_message > quiet_s, timeout=timeout)
    subscriber.close()
    return subscriber.received


@contextmanager
def fresh_broker(setting: Setting, root: Path) -> Iterator[tuple[Broker, str]]:
    """A broker holding one offline persistent session (saved: it was restarted gracefully since)."""
    workdir = Path(tempfile.mkdtemp(prefix="persist-", dir=root))
    broker = Broker(setting, workdir)
    session = f"bench-sub-{uuid.uuid4().hex[:8]}"
    broker.start()
    try:
        leave_session_offline(broker.port, session)
        broker.stop()
        broker.start()
        yield broker, session
    finally:
        if broker.process is not None and broker.process.poll() is None:
            broker.process.kill()
            broker.process.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)


def measure_throughput(setting: Setting, root: Path, messages: int, timeout: float) -> dict[str, Any]:
    with fresh_broker(setting, root) as (broker, session):
        publisher = Client(broker.port, f"bench-pub-{uuid.uuid4().hex[:8]}", persistent=False)
        started = time.monotonic()
        for seq in range(messages):  # paho keeps 1,000 in flight and queues the rest
            publisher.paho.publish(TOPIC, str(seq).encode(), qos=1)
        publisher.pump(lambda: len(publisher.acked_at) >= messages, timeout=timeout)
        elapsed = time.monotonic() - started
        done = len(publisher.acked_at)
        publisher.close()
        queued = len(drain_session(broker.port, session, quiet_s=2.0)) if done == messages else None
    return {
        "messages": messages,
        "acked": done,
        "seconds": round(elapsed, 3),
        "per_second": round(done / elapsed, 1),
        "finished": done == messages,
        "delivered_to_session": queued,
    }


def measure_loss(setting: Setting, root: Path, rate: float, rng: random.Random) -> dict[str, Any]:
    with fresh_broker(setting, root) as (broker, session):
        publisher = Client(broker.port, f"bench-pub-{uuid.uuid4().hex[:8]}", persistent=False)
        # Past at least one full save period, then anywhere within the next one.
        kill_after = setting.period_s + rng.uniform(0, setting.period_s) + 1.0
        started = time.monotonic()
        seq_of: dict[int, int] = {}  # mid -> sequence number
        seq = 0
        while (now := time.monotonic()) - started < kill_after:
            while seq < (now - started) * rate:
                seq_of[publisher.paho.publish(TOPIC, str(seq).encode(), qos=1).mid] = seq
                seq += 1
            publisher.paho.loop(timeout=0.002)
        killed = broker.kill()
        acked = {seq_of[mid]: at for mid, at in publisher.acked_at.items() if mid in seq_of}
        broker.start()
        received = drain_session(broker.port, session)
    lost = sorted(s for s in acked if s not in received)
    window = killed - min(acked[s] for s in lost) if lost else 0.0
    return {
        "killed_after_s": round(kill_after, 2),
        "published": seq,
        "acked": len(acked),
        "received_after_restart": len(received & set(acked)),
        "acked_lost": len(lost),
        "lost_window_s": round(window, 2),
    }


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--messages", type=int, default=5000, help="throughput: QoS 1 publishes per repetition")
    parser.add_argument("--rate", type=float, default=200.0, help="loss window: publishes per second")
    parser.add_argument("--timeout", type=float, default=180.0, help="throughput: give up after this many seconds")
    parser.add_argument("--settings", default="all", help="comma-separated indexes into the settings, or all")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    chosen = SETTINGS if args.settings == "all" else tuple(SETTINGS[int(i)] for i in args.settings.split(","))
    rng = random.Random(args.seed)
    root = REPO_ROOT / "var" / "bench-mosquitto"  # on disk, as production's volume, never a tmpfs
    root.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    started = datetime.now(UTC)
    results = []
    for setting in chosen:
        throughput = [measure_throughput(setting, root, args.messages, args.timeout) for _ in range(args.repetitions)]
        loss = [measure_loss(setting, root, args.rate, rng) for _ in range(args.repetitions)]
        entry = {
            "setting": setting.name,
            "autosave_interval": setting.interval,
            "autosave_on_changes": setting.on_changes,
            "throughput_runs": throughput,
            "throughput_per_second": spread([r["per_second"] for r in throughput]),
            "loss_runs": loss,
            "acked_lost": spread([r["acked_lost"] for r in loss]),
            "lost_window_s": spread([r["lost_window_s"] for r in loss]),
        }
        results.append(entry)
        print(json.dumps({k: entry[k] for k in ("setting", "throughput_per_second", "acked_lost", "lost_window_s")}))
    document = {
        "benchmark": "mosquitto_persistence",
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "mosquitto": subprocess.run(
            [mosquitto_binary(), "-h"], capture_output=True, text=True, check=False
        ).stdout.splitlines()[0],
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform_info.platform(),
            "shared": "2 cores shared with other agents' test runs while this ran: compare only within this file",
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        },
        "parameters": {
            "repetitions": args.repetitions,
            "messages": args.messages,
            "rate_per_second": args.rate,
            "seed": args.seed,
            "data_on": "var/ (disk)",
        },
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"persistence-{started.strftime('%Y-%m-%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(path)


if __name__ == "__main__":
    main()
