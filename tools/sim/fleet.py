"""A fleet of simulated wearables: each its own persistent QoS 1 MQTT session, all on one event loop.

Scheduling is one heap for the whole fleet (no task or timer per device), so the
cost of a device is its socket and a few hundred bytes of state. Every event a
device sends carries `event_id = "{run}-{seq}"`, a per-device sequence, which is
what the soak's gap audit checks on Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import logging
import math
import random
import resource
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.mqtt import parse_mqtt_url
from tools.sim import watch3g
from tools.sim.protocol import DeviceConnection, open_device

log = logging.getLogger(__name__)

HEARTBEAT, LOCATION, VITALS, SOS, FALL = "heartbeat", "location", "vitals", "sos", "fall"
# What the platform receipts (the gateway's alarm lane); the watch adapter's AL reply is the watch's receipt.
ALARM_KINDS = frozenset({SOS, FALL, "alarm"})
DAY = 86400.0


@dataclass
class FleetConfig:
    """What the fleet does; the defaults are a realistic day for a wearable."""

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    # mqtts:// verifies the broker against this CA (default: the system's trust store).
    ca_file: str | None = None
    # With the production broker (per-device accounts): every device logs in as its id with this password.
    device_password: str | None = None
    # "mqtt": the platform's JSON contract over MQTT; "watch3g": "3G*" frames over TCP to the watch adapter.
    protocol: str = "mqtt"
    watch_addr: str = "127.0.0.1:5093"
    devices: int = 100
    id_prefix: str = "SIM"
    # Total messages/s for the whole fleet; None keeps each device's natural schedule.
    rate: float | None = None
    heartbeat_s: float = 180.0
    location_min_s: float = 60.0
    location_max_s: float = 600.0
    vitals_s: float = 600.0
    sos_per_device_day: float = 0.01
    fall_per_device_day: float = 0.005
    fence_exit_per_device_day: float = 0.05
    keepalive_s: int = 300
    connect_concurrency: int = 400
    # Fleet-wide cap on publishes awaiting PUBACK: back-pressure instead of an unbounded queue.
    max_inflight: int = 5000
    # Publish exactly this many telemetry messages as fast as the window allows, then stop.
    burst: int | None = None
    duration_s: float | None = None
    storm: str | None = None  # "reconnect" or "sos"
    storm_at_s: float = 30.0
    storm_size: int = 1000
    center: tuple[float, float] = (31.95, 118.75)
    seed: int | None = None
    # An MQTT alarm (sos, fall, alarm) is resent with its event_id until its receipt arrives:
    # first after this long, then doubling (jittered) up to receipt_backoff_max_s (docs/device-contract.md).
    receipt_timeout_s: float = 5.0
    receipt_backoff_max_s: float = 60.0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def natural_rate_per_device(self) -> float:
        mean_location = (self.location_min_s + self.location_max_s) / 2
        return 1 / self.heartbeat_s + 1 / mean_location + 1 / self.vitals_s


class SimDevice:
    """One wearable's state: where it is, its battery, and its sequence numbers."""

    __slots__ = (
        "awaiting_receipt",
        "away_until",
        "battery",
        "conn",
        "connecting",
        "device_id",
        "home",
        "lat",
        "lon",
        "low_battery_sent",
        "pending",
        "seq",
        "unacked",
    )

    def __init__(self, device_id: str, home: tuple[float, float], battery: int) -> None:
        self.device_id = device_id
        self.home = home
        self.lat, self.lon = home
        self.battery = battery
        self.low_battery_sent = False
        self.away_until = 0.0
        self.seq = 0
        self.conn: DeviceConnection | watch3g.WatchConnection | None = None
        self.connecting = False
        # Messages to send again after a reconnect (their PUBACK never came).
        self.pending: list[tuple[str, bytes, int]] = []
        self.unacked: set[int] = set()
        # Alarms sent and not yet receipted: event_id -> (topic, payload, seq, resends so far).
        self.awaiting_receipt: dict[str, tuple[str, bytes, int, int]] = {}


@dataclass
class FleetStats:
    started: float = field(default_factory=time.monotonic)
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    published: int = 0
    acked: int = 0
    resent: int = 0
    receipts: int = 0
    alarm_resends: int = 0  # alarms sent again for want of a receipt
    receipted_after_resend: int = 0  # alarms whose receipt came only after at least one such resend
    by_kind: Counter[str] = field(default_factory=Counter)
    last_full_connect_s: float | None = None
    storm_recovery_s: float | None = None

    def as_dict(self, fleet: Fleet) -> dict[str, Any]:
        return {
            "t": round(time.monotonic() - self.started, 2),
            "devices": len(fleet.devices),
            "connected": fleet.connected,
            "connects": self.connects,
            "connect_failures": self.connect_failures,
            "disconnects": self.disconnects,
            "published": self.published,
            "acked": self.acked,
            "resent": self.resent,
            "receipts": self.receipts,
            "alarm_resends": self.alarm_resends,
            "receipted_after_resend": self.receipted_after_resend,
            "inflight": fleet.inflight,
            "by_kind": dict(self.by_kind),
            "connect_all_s": self.last_full_connect_s,
            "storm_recovery_s": self.storm_recovery_s,
            "rss_mb": round(rss_bytes() / 2**20, 1),
        }


def rss_bytes() -> int:
    """Resident set size of this process (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE towards `wanted` (the hard limit too when we may); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(wanted, soft), max(wanted, hard)))
        return wanted
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def watch_frame(device: SimDevice, kind: str, body: dict[str, Any], seq: int) -> tuple[str, bytes]:
    """One event as a "3G*" frame: (the reply it waits for, or "" when the protocol sends none; the frame).

    The sequence field is the event's sequence number (mod 2^16), so each reply finds its frame.
    """
    field = f"{seq % 0x10000:04X}"
    location = body.get("location") or body
    lat, lon = location.get("lat", device.lat), location.get("lon", device.lon)
    if kind == HEARTBEAT:
        content, reply = f"LK,{device.seq * 7 % 10_000},0,{body['battery']}", "LK"
    elif kind == LOCATION:
        content = "UD," + watch3g.position(lat, lon, battery=device.battery, status=0, speed_kmh=body["speed_kmh"])
        reply = ""
    elif kind == VITALS:
        content, reply = f"bphrt,{body['systolic']},{body['diastolic']},{body['heart_rate']}", ""
    else:  # sos, fall, and the low-battery alarm: AL frames, answered once the adapter has them on Kafka
        bit = {SOS: watch3g.SOS_BIT, FALL: watch3g.FALL_BIT}.get(kind, watch3g.LOW_BATTERY_BIT)
        content, reply = "AL," + watch3g.position(lat, lon, battery=device.battery, status=bit), "AL"
    frame = watch3g.frame("3G", device.device_id, content, field)
    return (f"{reply}*{field}" if reply else ""), frame


class Fleet:
    """N simulated devices publishing on their schedules (or at a fixed total rate) until stopped."""

    def __init__(self, config: FleetConfig, on_stats: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.config = config
        self.tls: ssl.SSLContext | None = None
        self.random = random.Random(config.seed)
        if config.protocol == "watch3g":
            host, _, port = config.watch_addr.rpartition(":")
            self.host, self.port = host.strip("[]"), int(port)
        elif config.protocol == "mqtt":
            endpoint = parse_mqtt_url(config.mqtt_url)
            self.host, self.port = endpoint.host, endpoint.port
            if endpoint.tls:
                self.tls = ssl.create_default_context(cafile=config.ca_file)
        else:
            raise ValueError(f"unknown protocol {config.protocol!r}")
        center_lat, center_lon = config.center
        self.devices = [
            SimDevice(
                f"{config.id_prefix}{index:06d}",
                (center_lat + self.random.uniform(-0.2, 0.2), center_lon + self.random.uniform(-0.2, 0.2)),
                self.random.randint(30, 100),
            )
            for index in range(config.devices)
        ]
        self.stats = FleetStats()
        self.on_stats = on_stats
        self.connected = 0
        self.inflight = 0
        self._window_open = asyncio.Event()
        self._window_open.set()
        self._connect_slots = asyncio.Semaphore(config.connect_concurrency)
        self._stopping = False
        self._schedule: list[tuple[float, int, int, str]] = []
        self._ticket = 0
        self._reconnects: set[asyncio.Task[None]] = set()
        natural = config.natural_rate_per_device() * max(config.devices, 1)
        # Every interval is divided by this, so the fleet's total rate is `rate`.
        self.speedup = (config.rate / natural) if config.rate else 1.0

    # ---- connections -----------------------------------------------------------------------

    async def connect_all(self) -> None:
        """Open every device's session (bounded concurrency); failures retry in the background."""
        started = time.monotonic()
        await asyncio.gather(*(self._connect(device, first=True) for device in self.devices))
        self.stats.last_full_connect_s = round(time.monotonic() - started, 2)

    async def _connect(self, device: SimDevice, *, first: bool = False, delay: float = 0.0) -> None:
        if device.connecting:
            return
        device.connecting = True
        try:
            attempt = 0
            while not self._stopping:
                if delay:
                    await asyncio.sleep(delay)
                async with self._connect_slots:
                    try:
                        conn = await self._open(device)
                    except Exception as exc:  # refused, reset, timed out, CONNACK refused: all retried
                        self.stats.connect_failures += 1
                        attempt += 1
                        delay = min(0.5 * 2**attempt, 10.0) * self.random.uniform(0.5, 1.5)
                        if attempt in (1, 5):
                            log.debug("connect %s failed: %s", device.device_id, exc)
                        continue
                device.conn = conn
                self.connected += 1
                self.stats.connects += 1
                self._resend(device)
                return
        finally:
            device.connecting = False

    async def _open(self, device: SimDevice) -> DeviceConnection | watch3g.WatchConnection:
        on_lost = functools.partial(self._lost, device)
        if self.config.protocol == "watch3g":
            return await watch3g.open_watch(self.host, self.port, device.device_id, on_lost=on_lost)
        return await open_device(
            self.host,
            self.port,
            f"sim-{device.device_id}",
            keepalive=self.config.keepalive_s,
            on_lost=on_lost,
            commands_topic=f"eldercare/v1/devices/{device.device_id}/commands",
            on_command=functools.partial(self._command, device),
            tls=self.tls,
            username=device.device_id if self.config.device_password is not None else None,
            password=self.config.device_password,
        )

    # ---- receipts --------------------------------------------------------------------------

    def _command(self, device: SimDevice, payload: bytes) -> None:
        """A message on the device's commands topic: a receipt ends its alarm's resends."""
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(document, dict) or document.get("type") != "receipt":
            return
        awaiting = device.awaiting_receipt.pop(str(document.get("event_id")), None)
        if awaiting is None:
            return  # a receipt for a resend of one already receipted
        self.stats.receipts += 1
        if awaiting[3]:
            self.stats.receipted_after_resend += 1

    def _await_receipt(self, device: SimDevice, event_id: str, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self._receipt_overdue, device, event_id, delay)

    def _receipt_overdue(self, device: SimDevice, event_id: str, delay: float) -> None:
        awaiting = device.awaiting_receipt.get(event_id)
        if awaiting is None or self._stopping:
            return
        topic, payload, seq, resends = awaiting
        # Disconnected, it is already queued to go again on reconnect (_resend); connected, it goes now.
        if device.conn is not None and not device.conn.closed and (topic, payload, seq) not in device.pending:
            device.awaiting_receipt[event_id] = (topic, payload, seq, resends + 1)
            self.stats.alarm_resends += 1
            self._send(device, topic, payload, seq, kind=None)
        backoff = min(delay * 2, self.config.receipt_backoff_max_s) * self.random.uniform(0.8, 1.2)
        self._await_receipt(device, event_id, backoff)

    def _lost(self, device: SimDevice, conn: DeviceConnection | watch3g.WatchConnection) -> None:
        if device.conn is not conn:
            return
        device.conn = None
        self.connected -= 1
        self.stats.disconnects += 1
        if not self._stopping:
            # Jittered like real firmware, so a broker restart is a storm but not a single instant.
            task = asyncio.create_task(self._connect(device, delay=self.random.uniform(0.1, 3.0)))
            self._reconnects.add(task)
            task.add_done_callback(self._reconnects.discard)

    def _resend(self, device: SimDevice) -> None:
        pending, device.pending = device.pending, []
        for topic, payload, seq in pending:
            self.stats.resent += 1
            self._send(device, topic, payload, seq, kind=None)

    # ---- publishing ------------------------------------------------------------------------

    def _send(self, device: SimDevice, topic: str, payload: bytes, seq: int, *, kind: str | None) -> None:
        conn = device.conn
        if conn is None or conn.closed:
            device.pending.append((topic, payload, seq))
            return
        self.inflight += 1
        if self.inflight >= self.config.max_inflight:
            self._window_open.clear()
        if kind is not None:
            self.stats.published += 1
            self.stats.by_kind[kind] += 1
        future = conn.publish(topic, payload, time.monotonic())
        future.add_done_callback(lambda done: self._acked(done, device, topic, payload, seq))

    def _acked(self, done: asyncio.Future[None], device: SimDevice, topic: str, payload: bytes, seq: int) -> None:
        self.inflight -= 1
        if self.inflight < self.config.max_inflight * 0.9:
            self._window_open.set()
        if done.cancelled() or done.exception() is not None:
            # Lost with the connection: the same event (same event_id) goes again after reconnect.
            if device.conn is not None and not device.conn.closed:
                self._send(device, topic, payload, seq, kind=None)
            else:
                device.pending.append((topic, payload, seq))
            return
        if seq in device.unacked:  # a resend for want of a receipt was acked once already
            device.unacked.discard(seq)
            self.stats.acked += 1

    def publish(self, device: SimDevice, kind: str, body: dict[str, Any]) -> int:
        """Send one event from `device`; returns its sequence number."""
        device.seq += 1
        seq = device.seq
        body["event_id"] = f"{self.config.run_id}-{seq}"
        body["ts"] = int(time.time() * 1000)
        device.unacked.add(seq)
        if self.config.protocol == "watch3g":
            key, frame = watch_frame(device, kind, body, seq)
            self._send(device, key, frame, seq, kind=kind)
        else:
            topic, payload = f"eldercare/v1/devices/{device.device_id}/{kind}", orjson.dumps(body)
            if kind in ALARM_KINDS and self.config.receipt_timeout_s > 0:
                device.awaiting_receipt[body["event_id"]] = (topic, payload, seq, 0)
                self._await_receipt(device, body["event_id"], self.config.receipt_timeout_s)
            self._send(device, topic, payload, seq, kind=kind)
        return seq

    def _body(self, device: SimDevice, kind: str, now: float) -> tuple[str, dict[str, Any]]:
        rnd = self.random
        if kind == HEARTBEAT:
            device.battery -= rnd.random() < 0.3
            if device.battery <= 5:
                device.battery, device.low_battery_sent = 100, False  # put on the charger
            if device.battery < 15 and not device.low_battery_sent:
                device.low_battery_sent = True
                return "alarm", {"type": "low_battery", "battery": device.battery}
            return HEARTBEAT, {"battery": device.battery, "signal": rnd.randint(40, 100)}
        if kind == LOCATION:
            fence_exit_chance = self.config.fence_exit_per_device_day * self.location_interval(rnd) / DAY
            if device.away_until < now and rnd.random() < fence_exit_chance * self.speedup:
                device.away_until = now + 1800 / self.speedup
                device.lat, device.lon = device.home[0] + 0.03, device.home[1] + 0.03  # ~4 km away
            elif device.away_until and device.away_until < now:
                device.away_until = 0.0
                device.lat, device.lon = device.home
            else:
                device.lat += rnd.uniform(-0.0005, 0.0005)
                device.lon += rnd.uniform(-0.0005, 0.0005)
            return LOCATION, {
                "lat": round(device.lat, 6),
                "lon": round(device.lon, 6),
                "accuracy_m": rnd.choice((5, 10, 15, 50, 300)),
                "source": rnd.choice(("gps", "gps", "wifi", "lbs")),
                "speed_kmh": round(rnd.uniform(0, 4), 1),
                "battery": device.battery,
            }
        if kind == VITALS:
            abnormal = rnd.random() < 0.01
            return VITALS, {
                "heart_rate": rnd.randint(130, 160) if abnormal else rnd.randint(58, 95),
                "spo2": rnd.randint(85, 90) if abnormal else rnd.randint(94, 99),
                "systolic": rnd.randint(105, 145),
                "diastolic": rnd.randint(65, 92),
                "steps": rnd.randint(0, 8000),
            }
        location = {"lat": round(device.lat, 6), "lon": round(device.lon, 6), "source": "gps"}
        if kind == FALL:
            return FALL, {"confidence": round(rnd.uniform(0.6, 1.0), 2), "impact_g": 3.5, "location": location}
        return SOS, {"battery": device.battery, "location": location}

    def location_interval(self, rnd: random.Random) -> float:
        return rnd.uniform(self.config.location_min_s, self.config.location_max_s)

    def _interval(self, kind: str) -> float:
        rnd = self.random
        if kind == HEARTBEAT:
            base = self.config.heartbeat_s * rnd.uniform(0.9, 1.1)
        elif kind == LOCATION:
            base = self.location_interval(rnd)
        elif kind == VITALS:
            base = self.config.vitals_s * rnd.uniform(0.9, 1.1)
        else:
            per_day = self.config.sos_per_device_day if kind == SOS else self.config.fall_per_device_day
            return rnd.expovariate(per_day / DAY) / self.speedup if per_day > 0 else math.inf
        return base / self.speedup

    def _push(self, due: float, index: int, kind: str) -> None:
        if due != math.inf:
            self._ticket += 1
            heapq.heappush(self._schedule, (due, self._ticket, index, kind))

    # ---- running ---------------------------------------------------------------------------

    async def run(self) -> FleetStats:
        """Connect everyone, then publish until the duration, the burst or stop() ends it."""
        config = self.config
        stats_task = asyncio.create_task(self._report_stats())
        try:
            await self.connect_all()
            self._emit_stats()
            if config.burst is not None:
                await self._run_burst(config.burst)
            else:
                await self._run_schedule()
            await self.drain()
        finally:
            stats_task.cancel()
            self._emit_stats(final=True)
        return self.stats

    async def _run_burst(self, count: int) -> None:
        devices = self.devices
        for number in range(count):
            if self._stopping:
                return
            if not self._window_open.is_set():
                await self._window_open.wait()
            device = devices[number % len(devices)]
            kind, body = self._body(device, LOCATION, time.monotonic())
            self.publish(device, kind, body)
            if number % 500 == 499:
                await asyncio.sleep(0)  # let acks in

    async def _run_schedule(self) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        start = loop.time()
        # Spread first reports over one interval so a fresh fleet does not start in lock-step.
        for index in range(len(self.devices)):
            for kind in (HEARTBEAT, LOCATION, VITALS, SOS, FALL):
                interval = self._interval(kind)
                first = self.random.uniform(0, interval) if kind in (HEARTBEAT, LOCATION, VITALS) else interval
                self._push(start + first, index, kind)
        end = start + config.duration_s if config.duration_s else math.inf
        storm_due = start + config.storm_at_s if config.storm else math.inf
        last_ping_sweep = start
        while not self._stopping:
            now = loop.time()
            if now >= end:
                return
            if now >= storm_due:
                storm_due = math.inf
                await self._storm(config.storm or "")
            while self._schedule and self._schedule[0][0] <= now:
                if not self._window_open.is_set():
                    break
                _, _, index, kind = heapq.heappop(self._schedule)
                device = self.devices[index]
                event_kind, body = self._body(device, kind, now)
                self.publish(device, event_kind, body)
                self._push(now + self._interval(kind), index, kind)
            if now - last_ping_sweep > 10:
                last_ping_sweep = now
                self._ping_idle(time.monotonic())
            if not self._window_open.is_set():
                await self._window_open.wait()
                continue
            next_due = self._schedule[0][0] if self._schedule else now + 0.1
            await asyncio.sleep(min(max(next_due - loop.time(), 0.0), 0.05, max(end - now, 0.0)))

    def _ping_idle(self, now: float) -> None:
        # Keep sessions alive when a device has been quiet for most of its keepalive.
        idle = self.config.keepalive_s * 0.5
        for device in self.devices:
            conn = device.conn
            if conn is not None and now - conn.last_sent > idle:
                conn.ping(now)

    async def _storm(self, storm: str) -> None:
        log.warning("storm: %s", storm)
        if storm == "reconnect":
            started = time.monotonic()
            for device in self.devices:
                if device.conn is not None:
                    device.conn.close(graceful=False)
            await asyncio.sleep(0.5)
            while self.connected < len(self.devices) and not self._stopping:  # noqa: ASYNC110 - a counter
                await asyncio.sleep(0.1)
            self.stats.storm_recovery_s = round(time.monotonic() - started, 2)
        elif storm == "sos":
            for device in self.random.sample(self.devices, min(self.config.storm_size, len(self.devices))):
                kind, body = self._body(device, SOS, time.monotonic())
                self.publish(device, kind, body)
        else:
            raise ValueError(f"unknown storm {storm!r}")

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait until every published event is acknowledged (or the timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (  # noqa: ASYNC110 - counters, not an event
            self.inflight or any(device.pending for device in self.devices if device.conn is not None)
        ):
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        self._stopping = True
        self._window_open.set()

    async def close(self) -> None:
        """Disconnect every session gracefully (the broker keeps the persistent sessions)."""
        self._stopping = True
        for task in list(self._reconnects):
            task.cancel()
        for device in self.devices:
            if device.conn is not None:
                device.conn.close()
        await asyncio.sleep(0.1)

    def audit_record(self) -> dict[str, Any]:
        """Per device: the last sequence number sent and the ones never acknowledged."""
        return {
            "run_id": self.config.run_id,
            "devices": {d.device_id: {"last_seq": d.seq, "unacked": sorted(d.unacked)} for d in self.devices},
        }

    async def _report_stats(self, interval: float = 5.0) -> None:
        while True:
            await asyncio.sleep(interval)
            self._emit_stats()

    def _emit_stats(self, *, final: bool = False) -> None:
        if self.on_stats is not None:
            record = self.stats.as_dict(self)
            record["final"] = final
            self.on_stats(record)
