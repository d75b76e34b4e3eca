"""Drive a known stream of device events and audit what became of each one.

A scenario publishes SOS and fall alarms (one device each, so every alarm must make
exactly one incident) and telemetry (location, vitals, heartbeat from a few devices)
with unique event ids, like real devices: QoS 1, and a publish the broker did not
acknowledge is retried with the same event id until it is. The audit then reads the
services' databases:

- alarms: dispatch incidents and their timeline (`opened`/`alarm_attached` entries
  name the device event), plus the inboxes of care-record and monitoring;
- telemetry: monitoring's inbox (`processed_events`, written in the transaction that
  applies the event). Monitoring keeps device *state*, not a row per report, so the
  inbox row is the per-event record of the effect.

Kafka itself is read too, to show how many events were *redelivered* (written twice
by a gateway that crashed before acking MQTT): the inboxes are what absorbs those.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from eldercare.envelope import decode_envelope, device_event_id, from_timestamp
from eldercare.topics import ALARMS, TELEMETRY
from gateway.mqtt import MqttSession
from tests.platform import Platform

TELEMETRY_KINDS = ("location", "heartbeat", "vitals")


@dataclass(frozen=True)
class DeviceEvent:
    device_id: str
    kind: str
    event_id: str

    @property
    def is_alarm(self) -> bool:
        return self.kind in ("sos", "fall")

    @property
    def platform_id(self) -> str:
        return device_event_id(self.device_id, self.event_id)

    @property
    def topic(self) -> str:
        return f"eldercare/v1/devices/{self.device_id}/{self.kind}"

    def payload(self, moment: datetime | None = None) -> bytes:
        body: dict[str, Any] = {"event_id": self.event_id, "ts": (moment or datetime.now(UTC)).isoformat()}
        if self.kind == "fall":
            body["confidence"] = 0.93
        elif self.kind == "location":
            body.update(lat=31.95, lon=118.75, accuracy_m=15)
        elif self.kind == "heartbeat":
            body["battery"] = 80
        elif self.kind == "vitals":
            body["heart_rate"] = 72
        return orjson.dumps(body)


def plan_stream(prefix: str, *, alarms: int, telemetry: int, telemetry_devices: int = 10) -> list[DeviceEvent]:
    """Alarms and telemetry interleaved, every event id unique; alarm devices are unique too."""
    alarm_events = [
        DeviceEvent(f"{prefix}A{i:04d}", "sos" if i % 2 == 0 else "fall", f"{prefix}-a{i}") for i in range(alarms)
    ]
    telemetry_events = [
        DeviceEvent(f"{prefix}T{i % telemetry_devices:03d}", TELEMETRY_KINDS[i % 3], f"{prefix}-t{i}")
        for i in range(telemetry)
    ]
    stream: list[DeviceEvent] = []
    ratio = max(telemetry // max(alarms, 1), 1)
    tel = iter(telemetry_events)
    for alarm in alarm_events:
        stream.append(alarm)
        stream.extend(itertools.islice(tel, ratio))
    stream.extend(tel)
    return stream


@dataclass
class StreamResult:
    sent: list[DeviceEvent]
    acked: dict[DeviceEvent, float] = field(default_factory=dict)  # event -> monotonic time of PUBACK
    # event -> epoch time its acknowledged publish began: where a press-to-incident latency starts
    published_at: dict[DeviceEvent, float] = field(default_factory=dict)
    attempts: int = 0
    # With receipts (DeviceFleet(until_receipt=True)): when each alarm's first acknowledged copy was
    # made (its `ts`: the audit finds it on Kafka or not), and how often each was resent for want of one.
    first_acked_ts: dict[DeviceEvent, datetime] = field(default_factory=dict)
    receipted: dict[DeviceEvent, float] = field(default_factory=dict)  # epoch time the receipt came
    receipt_resends: Counter[DeviceEvent] = field(default_factory=Counter)


class DeviceFleet:
    """Publishes as the devices do: QoS 1, retrying with the same event id until the broker acknowledges.

    With `until_receipt`, also as the device contract has them treat alarms: each is resent with its
    event id, with backoff, until the platform's receipt for it arrives on the device's commands topic.
    """

    # The contract's backoff (5 s, doubling, at most 60 s), shortened so that a scenario ends in minutes.
    RECEIPT_WAIT_S = 2.0
    RECEIPT_WAIT_MAX_S = 8.0

    def __init__(self, mqtt_url: str, name: str, *, until_receipt: bool = False) -> None:
        self.until_receipt = until_receipt
        self.session = MqttSession(
            url=mqtt_url,
            client_id=f"fault-fleet-{name}",
            persistent=False,
            manual_ack=False,
            subscriptions=["eldercare/v1/devices/+/commands"] if until_receipt else None,
            on_message=self._command if until_receipt else None,
        )
        self.planned: list[DeviceEvent] = []
        self._receipts: dict[tuple[str, str], asyncio.Event] = {}

    def _receipt_of(self, device_id: str, event_id: str) -> asyncio.Event:
        return self._receipts.setdefault((device_id, event_id), asyncio.Event())

    def _command(self, message: Any) -> None:
        try:
            document = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            return
        if isinstance(document, dict) and document.get("type") == "receipt":
            self._receipt_of(message.topic.split("/")[3], str(document.get("event_id"))).set()

    async def __aenter__(self) -> DeviceFleet:
        await self.session.start()
        await self.session.wait_ready(timeout=20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.stop()

    async def _deliver(self, event: DeviceEvent, result: StreamResult, give_up_at: float) -> None:
        if not (self.until_receipt and event.is_alarm):
            await self._until_acked(event, result, give_up_at)
            return
        receipt = self._receipt_of(event.device_id, event.event_id)
        wait = self.RECEIPT_WAIT_S
        while time.monotonic() < give_up_at:
            if not await self._until_acked(event, result, give_up_at):
                return
            try:
                await asyncio.wait_for(receipt.wait(), wait)
            except TimeoutError:
                result.receipt_resends[event] += 1
                wait = min(wait * 2, self.RECEIPT_WAIT_MAX_S)
                continue
            result.receipted[event] = time.time()
            return

    async def _until_acked(self, event: DeviceEvent, result: StreamResult, give_up_at: float) -> bool:
        """Publish until the broker acknowledges a copy (True) or it is time to give up."""
        while time.monotonic() < give_up_at:
            result.attempts += 1
            started = time.time()
            moment = datetime.now(UTC)
            try:
                await self.session.publish(event.topic, event.payload(moment), qos=1, timeout=3.0)
            except (ConnectionError, TimeoutError):
                await asyncio.sleep(0.5)
                continue
            if event not in result.acked:
                result.acked[event] = time.monotonic()
                result.published_at[event] = started
                result.first_acked_ts[event] = moment
            return True
        return False

    async def run(
        self, events: list[DeviceEvent], *, duration: float, give_up_after: float = 90.0, concurrency: int = 50
    ) -> StreamResult:
        """Send `events` evenly over `duration` seconds; returns once each is acked or given up on."""
        self.planned = list(events)
        result = StreamResult(sent=list(events))
        started = time.monotonic()
        give_up_at = started + duration + give_up_after
        slots = asyncio.Semaphore(concurrency)
        tasks = []

        async def one(event: DeviceEvent) -> None:
            async with slots:
                await self._deliver(event, result, give_up_at)

        for index, event in enumerate(events):
            due = started + duration * index / max(len(events), 1)
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(event)))
        await asyncio.gather(*tasks)
        return result


@dataclass
class AuditRow:
    scenario: str
    sent: int
    acknowledged: int
    applied: int
    duplicated: int
    lost: int
    redelivered: int
    notes: str = ""
    # Where the lost events died, so one failing run is enough to know where to look.
    lost_detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class Observed:
    """What the databases show for one stream."""

    incidents_per_device: Counter[str]
    alarm_entries: Counter[str]  # device event id -> timeline entries naming it
    care_record_alarms: set[str]  # platform ids
    monitoring_alarms: set[str]
    monitoring_telemetry: set[str]


class Auditor:
    """Reads the services' own databases (the test knows their names) and Kafka."""

    def __init__(self, platform: Platform, database_urls: dict[str, str]) -> None:
        self.platform = platform
        self.database_urls = database_urls

    @contextlib.asynccontextmanager
    async def _connect(self, service: str) -> Any:
        connection = await asyncpg.connect(self.database_urls[service], timeout=5)
        try:
            yield connection
        finally:
            await connection.close()

    async def entered_at(self, events: list[DeviceEvent]) -> dict[str, float]:
        """When dispatch put each alarm on an incident's timeline (its own clock, epoch seconds).

        Read from the entry itself, so a latency computed from it carries no polling error.
        """
        alarms = [e for e in events if e.is_alarm]
        found: dict[str, float] = {}
        async with self._connect("dispatch") as db:
            for row in await db.fetch(
                "SELECT e.detail, e.at FROM incident_entries e JOIN incidents i ON i.id = e.incident_id "
                "WHERE i.device_id = ANY($1) AND e.action IN ('opened', 'alarm_attached')",
                [e.device_id for e in alarms],
            ):
                at = row["at"] if row["at"].tzinfo else row["at"].replace(tzinfo=UTC)
                event_id = json.loads(row["detail"]).get("device_event_id", "?")
                found[event_id] = min(found.get(event_id, at.timestamp()), at.timestamp())
        return found

    async def observe(self, events: list[DeviceEvent]) -> Observed:
        alarms = [e for e in events if e.is_alarm]
        telemetry = [e for e in events if not e.is_alarm]
        alarm_devices = [e.device_id for e in alarms]
        alarm_ids = [e.platform_id for e in alarms]
        async with self._connect("dispatch") as db:
            incidents = Counter(
                {
                    row["device_id"]: row["n"]
                    for row in await db.fetch(
                        "SELECT device_id, count(*) AS n FROM incidents WHERE device_id = ANY($1) GROUP BY device_id",
                        alarm_devices,
                    )
                }
            )
            entries: Counter[str] = Counter()
            for row in await db.fetch(
                "SELECT e.detail FROM incident_entries e JOIN incidents i ON i.id = e.incident_id "
                "WHERE i.device_id = ANY($1) AND e.action IN ('opened', 'alarm_attached')",
                alarm_devices,
            ):
                entries[json.loads(row["detail"]).get("device_event_id", "?")] += 1
        async with self._connect("care_record") as db:
            care = {
                r["event_id"]
                for r in await db.fetch("SELECT event_id FROM observed_alarms WHERE event_id = ANY($1)", alarm_ids)
            }
        async with self._connect("monitoring") as db:
            inbox = await db.fetch(
                "SELECT consumer, event_id FROM processed_events WHERE event_id = ANY($1)",
                alarm_ids + [e.platform_id for e in telemetry],
            )
        return Observed(
            incidents_per_device=incidents,
            alarm_entries=entries,
            care_record_alarms=care,
            monitoring_alarms={r["event_id"] for r in inbox if r["consumer"] == "monitoring-alarms"},
            monitoring_telemetry={r["event_id"] for r in inbox if r["consumer"] == "monitoring-telemetry"},
        )

    @staticmethod
    def missing(observed: Observed, events: list[DeviceEvent]) -> list[DeviceEvent]:
        """Events with an effect missing in at least one consumer."""
        gone = []
        for event in events:
            if event.is_alarm:
                present = (
                    observed.alarm_entries.get(event.event_id, 0) >= 1
                    and event.platform_id in observed.care_record_alarms
                    and event.platform_id in observed.monitoring_alarms
                )
            else:
                present = event.platform_id in observed.monitoring_telemetry
            if not present:
                gone.append(event)
        return gone

    async def wait_applied(self, events: list[DeviceEvent], *, timeout: float = 120.0) -> Observed:
        """Poll until every given event is applied everywhere (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                observed = await self.observe(events)
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.5)
                continue
            if not self.missing(observed, events) or time.monotonic() > deadline:
                return observed
            await asyncio.sleep(0.5)

    async def kafka_copies(self, events: list[DeviceEvent]) -> Counter[str]:
        """How many times each event was written to Kafka (more than once = redelivered by the gateway)."""
        wanted = {e.platform_id for e in events}
        copies: Counter[str] = Counter()
        for topic in (ALARMS, TELEMETRY):
            for record in await self.platform.read_topic(topic):
                envelope = decode_envelope(record.value)
                if envelope.event_id in wanted:
                    copies[envelope.event_id] += 1
        return copies

    async def saved_by_resends(self, result: StreamResult) -> list[DeviceEvent]:
        """Alarms that reached Kafka only through a copy sent after the first one the broker acknowledged.

        Without resends for want of a receipt, the device would have stopped at that PUBACK: these
        are the alarms that would have been lost. Copies are told apart by their `ts` (occurred_at).
        """
        first_on_kafka: dict[str, datetime] = {}
        for record in await self.platform.read_topic(ALARMS):
            envelope = decode_envelope(record.value)
            occurred = from_timestamp(envelope.occurred_at)
            if envelope.event_id not in first_on_kafka or occurred < first_on_kafka[envelope.event_id]:
                first_on_kafka[envelope.event_id] = occurred
        saved = []
        for event, acked_ts in result.first_acked_ts.items():
            on_kafka = first_on_kafka.get(event.platform_id)
            # Millisecond resolution: a device's copies are at least half a second apart.
            if on_kafka is not None and on_kafka - acked_ts > timedelta(milliseconds=1):
                saved.append(event)
        return saved

    async def gateway_samples(self, metric: str) -> dict[str, dict[str, float]]:
        """`metric`'s samples in every gateway process: {process: {labels: value}}."""
        gateways = [name for name in self.platform.stack.processes if name.startswith("gateway")]
        return await self.samples(metric, gateways)

    async def samples(self, metric: str, names: list[str]) -> dict[str, dict[str, float]]:
        """`metric`'s samples in the named processes: {process: {labels: value}}."""
        samples: dict[str, dict[str, float]] = {}
        for name in names:
            process = self.platform.stack.processes[name]
            if process.health_url is None:
                continue
            response = await self.platform.http.get(process.health_url + "/metrics", timeout=5)
            own = samples.setdefault(name, {})
            for line in response.text.splitlines():
                if line.startswith(metric + "{"):
                    labels, value = line[len(metric) :].rsplit(" ", 1)
                    own[labels] = float(value)
        return samples

    async def gateway_in_flight(self) -> float:
        """Messages the gateways hold unacknowledged (both lanes, every process): 0 means nothing is in limbo there."""
        held = await self.gateway_samples("gateway_in_flight_messages")
        return sum(value for per_process in held.values() for value in per_process.values())

    async def audit(self, scenario: str, result: StreamResult, *, notes: str = "") -> tuple[AuditRow, Observed]:
        """Wait for the acknowledged events to be applied, then count applied, doubled and lost."""
        acked = [e for e in result.sent if e in result.acked]
        await self.wait_applied(acked)
        observed = await self.observe(result.sent)
        applied = [e for e in result.sent if e not in self.missing(observed, [e])]
        duplicated = sum(max(observed.alarm_entries.get(e.event_id, 0) - 1, 0) for e in result.sent if e.is_alarm)
        duplicated += sum(
            max(n - 1, 0) for d, n in observed.incidents_per_device.items() if d in {e.device_id for e in acked}
        )
        lost = [e for e in acked if e not in set(applied)]
        copies = await self.kafka_copies(result.sent)
        redelivered = sum(n - 1 for n in copies.values() if n > 1)
        lost_detail = ""
        if lost:
            lost_detail = self.describe_lost(lost, observed, copies, result)
        row = AuditRow(
            scenario=scenario,
            sent=len(result.sent),
            acknowledged=len(acked),
            applied=len(applied),
            duplicated=duplicated,
            lost=len(lost),
            redelivered=redelivered,
            notes=notes,
            lost_detail=lost_detail,
        )
        return row, observed

    @staticmethod
    def describe_lost(lost: list[DeviceEvent], observed: Observed, copies: Counter[str], result: StreamResult) -> str:
        """Lost events by kind, whether Kafka holds them (a consumer's loss) or not (MQTT or
        the gateway's), which consumers miss the alarms, and when the devices were acked."""
        alarms = [e for e in lost if e.is_alarm]
        on_kafka = [e for e in lost if copies.get(e.platform_id, 0) > 0]
        missing_in: Counter[str] = Counter()
        for e in alarms:
            if observed.alarm_entries.get(e.event_id, 0) < 1:
                missing_in["dispatch"] += 1
            if e.platform_id not in observed.care_record_alarms:
                missing_in["care-record"] += 1
            if e.platform_id not in observed.monitoring_alarms:
                missing_in["monitoring"] += 1
        acked_at = sorted(result.acked[e] for e in lost if e in result.acked)
        first = min(result.acked.values(), default=0.0)
        span = f"acked {acked_at[0] - first:.1f}-{acked_at[-1] - first:.1f} s into the stream" if acked_at else ""
        devices = len({e.device_id for e in lost})
        return (
            f"{len(alarms)} alarms, {len(lost) - len(alarms)} telemetry from {devices} devices; "
            f"{len(on_kafka)} of them on Kafka; alarms missing in {dict(missing_in)}; {span}"
        )


def render_table(rows: list[AuditRow]) -> str:
    """The per-scenario audit as a Markdown table."""
    lines = [
        "| scenario | sent | acknowledged | applied | duplicated | lost | redelivered (absorbed) | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.scenario} | {r.sent} | {r.acknowledged} | {r.applied} | {r.duplicated} | {r.lost} | "
        f"{r.redelivered} | {r.notes} |"
        for r in rows
    ]
    return "\n".join(lines)
