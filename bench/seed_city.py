"""`python -m bench.seed_city`: a city's year of data, so the bench measures a platform that holds one.

By default 100,000 elders with devices, contacts and assessments in care-record's database,
dispatch's elder read model for them (snapshots, device and phone indexes), 1,000,000 closed
incidents of the past year with their timelines in dispatch's, and monitoring's read model
with the vitals and alerts of the retention window in monitoring's. Elder i wears device
CITY{i:06d}, the id the fleet simulator gives its i-th device with `--id-prefix CITY`, so the
bench's fleet and probes are devices of seeded elders: dispatch's elder lookup and priority
run as in production.

The services' migrations create the schemas first; rows are built from the services' own
models (and, where the services have them, their own row builders) and written with
PostgreSQL's COPY. The data comes from a fixed seed: the same city every time.

    python -m bench.seed_city --server postgresql://postgres@127.0.0.1:5432 [--smoke] [--elders N] ...

writes into databases named `<prefix>_care_record`, `_dispatch` and `_monitoring` on that server
(created; refused if they hold elders already). The bench seeds its own (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import JSON
from sqlmodel import SQLModel

import services.monitoring
from eldercare import db
from eldercare.envelope import utcnow
from services.care_record.app import MIGRATIONS as CARE_RECORD_MIGRATIONS
from services.care_record.assessment.models import Assessment
from services.care_record.device.models import DeviceBinding as CareRecordBinding
from services.care_record.elder.models import Contact, ContactIn, Elder, ElderCreate, make_id_number
from services.care_record.elder.service import contact_rows, new_elder
from services.care_record.seed import REGIONS, SEED_ACTOR, _person, _phone, _sub_scores
from services.care_record.snapshot import snapshot_of
from services.dispatch.app import MIGRATIONS as DISPATCH_MIGRATIONS
from services.dispatch.elder.models import DeviceElder, ElderPhone, ElderSnapshotRow
from services.dispatch.elder.service import facts_of, phone_rows
from services.dispatch.incident import priority
from services.dispatch.incident.models import Incident, IncidentEntry, IncidentStatus, Outcome
from services.dispatch.incident.service import SYSTEM_ACTOR

# Monitoring's models cannot be imported beside care-record's (both name a table device_bindings in
# SQLModel's one metadata), so its tables' columns come from the catalog its migrations wrote.
MONITORING_MIGRATIONS = Path(services.monitoring.__file__).parent / "migrations"

CITY_PREFIX = "CITY"
SERVICES = {
    "care_record": CARE_RECORD_MIGRATIONS,
    "dispatch": DISPATCH_MIGRATIONS,
    "monitoring": MONITORING_MIGRATIONS,
}
CHUNK = 20_000  # rows per COPY: big enough to stream, small enough to show progress


def city_device_id(index: int) -> str:
    """The device elder `index` wears: what `tools.sim --id-prefix CITY` calls its device `index`."""
    return f"{CITY_PREFIX}{index:06d}"


@dataclass(frozen=True)
class CitySize:
    """How big a city. Monitoring prunes nothing yet, so the retention window is the assumption here:
    a month of vitals (two readings per elder a day, what a watch that measures on demand sends)."""

    elders: int = 100_000
    incidents: int = 1_000_000
    retention_days: int = 30
    vitals_per_elder_day: int = 2
    alerts_per_elder_day: float = 0.05
    history_days: int = 365

    @classmethod
    def smoke(cls) -> CitySize:
        return cls(elders=300, incidents=1_000, retention_days=2, vitals_per_elder_day=2, alerts_per_elder_day=0.5)


# ---- progress -----------------------------------------------------------------------------------------------


@dataclass
class Progress:
    """`seed city: incidents 420,000/1,000,000 (42 %), 85,000 rows/s, 12 s`, at most every `every_s` seconds."""

    what: str
    total: int
    say: Callable[[str], None]
    every_s: float = 2.0
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    _last: float = 0.0

    def advance(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if now - self._last >= self.every_s or self.done >= self.total:
            self._last = now
            elapsed = max(now - self.started, 1e-6)
            self.say(
                f"seed city: {self.what} {self.done:,}/{self.total:,} ({100 * self.done / max(self.total, 1):.0f} %), "
                f"{self.done / elapsed:,.0f} rows/s, {elapsed:.0f} s"
            )


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ---- COPY ---------------------------------------------------------------------------------------------------


class Table:
    """Rows for one of a service's tables, in its column order, COPYed in chunks."""

    def __init__(self, connection: asyncpg.Connection, name: str, columns: list[str], json: set[str]) -> None:
        self.connection, self.name, self.columns, self.json = connection, name, columns, json
        self.rows: list[tuple[Any, ...]] = []

    @classmethod
    def of_model(
        cls, connection: asyncpg.Connection, model: type[SQLModel], *, generated: Sequence[str] = ()
    ) -> Table:
        """The service's own table definition, less the columns the database fills in (an autoincrement id)."""
        table = model.__table__  # type: ignore[attr-defined]
        columns = [c.name for c in table.columns if c.name not in generated]
        # asyncpg sends json columns as text.
        return cls(connection, table.name, columns, {c.name for c in table.columns if isinstance(c.type, JSON)})

    @classmethod
    async def of_catalog(
        cls, connection: asyncpg.Connection, name: str, *, generated: Sequence[str] = ()
    ) -> Table:
        """The table as the service's migrations created it."""
        rows = await connection.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            name,
        )
        if not rows:
            raise RuntimeError(f"no table {name}: have the service's migrations run?")
        columns = [r["column_name"] for r in rows if r["column_name"] not in generated]
        return cls(connection, name, columns, {r["column_name"] for r in rows if r["data_type"] in ("json", "jsonb")})

    def add(self, row: SQLModel | dict[str, Any]) -> None:
        values = row if isinstance(row, dict) else {name: getattr(row, name) for name in self.columns}
        if len(values) != len(self.columns):
            raise ValueError(f"{self.name}: columns {sorted(values)} are not {sorted(self.columns)}")
        self.rows.append(
            tuple(orjson.dumps(values[c]).decode() if c in self.json else values[c] for c in self.columns)
        )

    async def flush(self) -> int:
        if not self.rows:
            return 0
        count = len(self.rows)
        await self.connection.copy_records_to_table(self.name, records=self.rows, columns=self.columns)
        self.rows = []
        return count


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


# ---- the city -----------------------------------------------------------------------------------------------


@dataclass
class ElderFactsForIncidents:
    device_id: str
    elder_id: str
    area: str | None
    priority: int
    reasons: str  # JSON, as the incident row keeps them
    opened_detail: str  # the "opened" timeline entry's detail
    lat: float
    lon: float


async def migrate(urls: dict[str, str]) -> None:
    """Each service's schema, by its own migrations (what the service runs when it starts)."""
    for service, url in urls.items():
        await db.ensure_database(url)
        engine = db.create_engine(url)
        try:
            await db.run_migrations(engine, SERVICES[service])
        finally:
            await engine.dispose()


async def seed_city(
    urls: dict[str, str], size: CitySize, *, say: Callable[[str], None] = to_stderr, now: datetime | None = None
) -> dict[str, Any]:
    """Seed the three databases (service name -> SQLAlchemy URL); returns the counts read back."""
    now = now or utcnow()
    started = time.monotonic()
    await migrate(urls)
    connections = {service: await asyncpg.connect(asyncpg_dsn(url)) for service, url in urls.items()}
    try:
        if await connections["care_record"].fetchval("SELECT count(*) FROM elders"):
            raise RuntimeError("care-record's database holds elders already: seed an empty one")
        rng = random.Random(19)
        elders = await _elders(connections, size, rng, now, say)
        await _incidents(connections["dispatch"], elders, size, rng, now, say)
        await _vitals_and_alerts(connections["monitoring"], elders, size, rng, now, say)
        for connection in connections.values():
            await connection.execute("ANALYZE")  # as autovacuum would have by now in production
        counts = await count_city(connections)
    finally:
        for connection in connections.values():
            await connection.close()
    counts["seed_seconds"] = round(time.monotonic() - started, 1)
    say(f"seed city: done in {counts['seed_seconds']} s: {counts}")
    return counts


async def count_city(connections: dict[str, asyncpg.Connection]) -> dict[str, Any]:
    care, dispatch, monitoring = connections["care_record"], connections["dispatch"], connections["monitoring"]
    return {
        "elders_in_db": await care.fetchval("SELECT count(*) FROM elders"),
        "bound_devices": await care.fetchval("SELECT count(*) FROM device_bindings WHERE unbound_at IS NULL"),
        "contacts": await care.fetchval("SELECT count(*) FROM elder_contacts"),
        "assessments": await care.fetchval("SELECT count(*) FROM assessments"),
        "dispatch_elder_snapshots": await dispatch.fetchval("SELECT count(*) FROM elder_snapshots"),
        "dispatch_device_index": await dispatch.fetchval("SELECT count(*) FROM device_elder_index"),
        "incidents_in_db": await dispatch.fetchval("SELECT count(*) FROM incidents"),
        "incident_entries": await dispatch.fetchval("SELECT count(*) FROM incident_entries"),
        "monitoring_elder_profiles": await monitoring.fetchval("SELECT count(*) FROM elder_profiles"),
        "vitals_readings": await monitoring.fetchval("SELECT count(*) FROM vitals_readings"),
        "alerts": await monitoring.fetchval("SELECT count(*) FROM alerts"),
    }


async def _elders(
    connections: dict[str, asyncpg.Connection],
    size: CitySize,
    rng: random.Random,
    now: datetime,
    say: Callable[[str], None],
) -> list[ElderFactsForIncidents]:
    """Elders, contacts, bindings, assessments; dispatch's and monitoring's read models of them."""
    care, dispatch, monitoring = connections["care_record"], connections["dispatch"], connections["monitoring"]
    tables = [
        Table.of_model(care, Elder),
        Table.of_model(care, Contact, generated=("id",)),
        Table.of_model(care, CareRecordBinding),  # its id is the binding sequence the snapshots carry
        Table.of_model(care, Assessment, generated=("id",)),
        Table.of_model(dispatch, ElderSnapshotRow),
        Table.of_model(dispatch, DeviceElder),
        Table.of_model(dispatch, ElderPhone, generated=("id",)),
        await Table.of_catalog(monitoring, "elder_profiles"),
        await Table.of_catalog(monitoring, "device_bindings"),
    ]
    elder_t, contact_t, binding_t, assessment_t, snapshot_t, device_t, phone_t, profile_t, mbinding_t = tables
    progress = Progress("elders", size.elders, say)
    facts: list[ElderFactsForIncidents] = []
    for index in range(size.elders):
        region = REGIONS[index % len(REGIONS)]
        person = _person(rng, index, region, now.date())
        # Unique across a city of any size: the demo seed's serial repeats every 500 elders.
        person = person.model_copy(update={"id_number": _id_number(person, index)})
        elder_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        elder = new_elder(person, elder_id=elder_id, now=now - timedelta(days=rng.randint(30, 3000)))
        elder.snapshot_version = 1
        level = rng.choices([0, 1, 2, 3, 4], weights=[30, 30, 20, 13, 7])[0]
        elder.ability_level = level
        binding = CareRecordBinding(
            id=index + 1,
            device_id=city_device_id(index),
            elder_id=elder_id,
            bound_at=elder.created_at,
            bound_by=SEED_ACTOR,
            sim_number=f"1440{index + 1:07d}",
        )
        contacts = contact_rows(
            elder_id,
            [
                ContactIn(name=f"联系人{n}", relation="女儿", phone=_phone(rng), has_key=rng.random() < 0.5)
                for n in range(rng.randint(1, 3))
            ],
        )
        snapshot = snapshot_of(elder, contacts=contacts, bindings=[binding])
        elder_t.add(elder)
        for contact in contacts:
            contact_t.add(contact)
        binding_t.add(binding)
        for months_ago, assessed in ((14, max(0, level - 1)), (2, level)):
            assessment_t.add(
                Assessment(
                    elder_id=elder_id,
                    assessed_on=(now - timedelta(days=30 * months_ago)).date(),
                    assessor=f"{region.district}评估中心",
                    level=assessed,
                    sub_scores=_sub_scores(rng, assessed).model_dump(exclude_none=True),
                    notes="",
                    recorded_at=now - timedelta(days=30 * months_ago),
                    recorded_by=SEED_ACTOR,
                )
            )
        snapshot_t.add(
            ElderSnapshotRow(
                elder_id=elder_id, version=1, deleted=False, snapshot=snapshot.SerializeToString(), received_at=now
            )
        )
        device_t.add(DeviceElder(device_id=binding.device_id, elder_id=elder_id, binding_seq=index + 1))
        for phone in phone_rows(snapshot):
            phone_t.add(phone)
        # As monitoring's elder/service.py apply_snapshot derives them.
        profile_t.add(
            {
                "elder_id": elder_id,
                "version": 1,
                "lives_alone": snapshot.living_situation == "alone",
                "has_dementia": "dementia" in snapshot.categories,
                "updated_at": now,
            }
        )
        mbinding_t.add({"device_id": binding.device_id, "elder_id": elder_id, "binding_seq": index + 1})
        decision = priority.score("sos", facts_of(snapshot), today=now.date())
        facts.append(
            ElderFactsForIncidents(
                device_id=binding.device_id,
                elder_id=elder_id,
                area=snapshot.area.street[:64] or None,
                priority=decision.priority,
                reasons=orjson.dumps(decision.reasons).decode(),
                opened_detail=orjson.dumps({"priority_reasons": decision.reasons}).decode(),
                lat=elder.home_lat or region.centre[0],
                lon=elder.home_lon or region.centre[1],
            )
        )
        if len(elder_t.rows) >= CHUNK // 10 or index == size.elders - 1:
            written = len(elder_t.rows)
            for table in tables:
                await table.flush()
            progress.advance(written)
    # The binding ids were given, not drawn: the next bind must not reuse one.
    await care.execute("SELECT setval(pg_get_serial_sequence('device_bindings', 'id'), $1)", max(size.elders, 1))
    return facts


def _id_number(person: ElderCreate, index: int) -> str:
    """A well-formed ID number unique per index: the serial covers index mod 500, the region digits the rest."""
    return make_id_number(f"{person.id_number[:2]}{index // 500:04d}", person.birth_date, index, person.sex)


async def _incidents(
    dispatch: asyncpg.Connection,
    elders: list[ElderFactsForIncidents],
    size: CitySize,
    rng: random.Random,
    now: datetime,
    say: Callable[[str], None],
) -> None:
    """Closed incidents of the past year, each with its timeline: opened, acknowledged, resolved or cancelled."""
    if not elders:
        return
    incidents = Table.of_model(dispatch, Incident)
    entries = Table.of_model(dispatch, IncidentEntry, generated=("id",))
    progress = Progress("incidents", size.incidents, say)
    outcomes = [o.value for o in Outcome]
    for number in range(size.incidents):
        elder = elders[rng.randrange(len(elders))]
        opened = now - timedelta(seconds=rng.uniform(86_400, size.history_days * 86_400))
        acknowledged = opened + timedelta(seconds=rng.uniform(10, 120))
        closed = acknowledged + timedelta(seconds=rng.uniform(300, 3600))
        cancelled = rng.random() < 0.15
        status = IncidentStatus.CANCELLED if cancelled else IncidentStatus.RESOLVED
        dispatcher = f"dispatcher-{rng.randint(1, 40)}"
        incident_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        incidents.add(
            {
                "id": incident_id,
                "status": status.value,
                "priority": elder.priority,
                "kind": "sos" if rng.random() < 0.7 else "fall",
                "device_id": elder.device_id,
                "elder_id": elder.elder_id,
                "source_event_id": f"city-{number}",
                "occurred_at": opened - timedelta(seconds=1),
                "opened_at": opened,
                "updated_at": closed,
                "last_alarm_at": opened,
                "alarm_count": 1,
                "lat": elder.lat + rng.uniform(-0.002, 0.002),
                "lon": elder.lon + rng.uniform(-0.002, 0.002),
                "accuracy_m": rng.uniform(5, 60),
                "location_source": "gps",
                "battery": rng.randint(10, 100),
                "acknowledged_at": acknowledged,
                "acknowledged_by": dispatcher,
                "closed_at": closed,
                "closed_by": dispatcher,
                "outcome": None if cancelled else rng.choice(outcomes),
                "area": elder.area,
                "priority_reasons": elder.reasons,
            }
        )
        for at, action, actor, before, after, detail in (
            (opened, "opened", SYSTEM_ACTOR, None, "open", elder.opened_detail),
            (acknowledged, "acknowledge", dispatcher, "open", "acknowledged", "{}"),
            (closed, "cancel" if cancelled else "resolve", dispatcher, "acknowledged", status.value, "{}"),
        ):
            entries.add(
                {
                    "incident_id": incident_id,
                    "at": at,
                    "action": action,
                    "actor": actor,
                    "from_status": before,
                    "to_status": after,
                    "detail": detail,
                }
            )
        if len(incidents.rows) >= CHUNK or number == size.incidents - 1:
            written = len(incidents.rows)
            await incidents.flush()
            await entries.flush()
            progress.advance(written)


async def _vitals_and_alerts(
    monitoring: asyncpg.Connection,
    elders: list[ElderFactsForIncidents],
    size: CitySize,
    rng: random.Random,
    now: datetime,
    say: Callable[[str], None],
) -> None:
    """The retention window's vitals readings and alerts, spread over every elder's device."""
    vitals = await Table.of_catalog(monitoring, "vitals_readings", generated=("id",))
    total = len(elders) * size.retention_days * size.vitals_per_elder_day
    progress = Progress("vitals readings", total, say)
    window_s = size.retention_days * 86_400
    for rows in _chunks(_vitals_rows(elders, size, rng, now, window_s), CHUNK):
        for row in rows:
            vitals.add(row)
        progress.advance(await vitals.flush())
    alerts = await Table.of_catalog(monitoring, "alerts")
    count = round(len(elders) * size.retention_days * size.alerts_per_elder_day)
    progress = Progress("alerts", count, say)
    kinds = [("low_battery", "info"), ("device_offline", "low"), ("vitals_abnormal", "high"), ("inactivity", "medium")]
    for number in range(count):
        elder = elders[rng.randrange(len(elders))]
        kind, severity = kinds[rng.randrange(len(kinds))]
        alerts.add(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "type": kind,
                "severity": severity,
                "device_id": elder.device_id,
                "elder_id": elder.elder_id,
                "geofence_id": None,
                "resolves_alert_id": None,
                "raised_at": now - timedelta(seconds=rng.uniform(0, window_s)),
                "detail": "{}",
            }
        )
        if len(alerts.rows) >= CHUNK or number == count - 1:
            progress.advance(await alerts.flush())


def _vitals_rows(
    elders: list[ElderFactsForIncidents], size: CitySize, rng: random.Random, now: datetime, window_s: int
) -> Iterator[dict[str, Any]]:
    per_elder = size.retention_days * size.vitals_per_elder_day
    for elder in elders:
        for n in range(per_elder):
            yield {
                "device_id": elder.device_id,
                "elder_id": elder.elder_id,
                "at": now - timedelta(seconds=window_s * (n + rng.random()) / per_elder),
                "heart_rate": float(rng.randint(55, 105)),
                "spo2": float(rng.randint(93, 99)),
                "systolic": float(rng.randint(105, 160)),
                "diastolic": float(rng.randint(65, 95)),
                "body_temp": round(rng.uniform(36.1, 37.3), 1),
                "steps": rng.randint(0, 9000),
            }


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---- the command --------------------------------------------------------------------------------------------


def database_urls(server_url: str, prefix: str) -> dict[str, str]:
    """SQLAlchemy URLs of the three databases `<prefix>_<service>` on a server (postgresql://user@host:port)."""
    base = server_url.rstrip("/").replace("postgresql://", "postgresql+asyncpg://", 1)
    return {service: f"{base}/{prefix}_{service}" for service in SERVICES}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.seed_city", description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="postgresql://user@host:port (the databases are created)")
    parser.add_argument("--prefix", default="eldercare_city", help="database names: PREFIX_care_record, ...")
    parser.add_argument("--smoke", action="store_true", help="a few hundred elders: a seconds-long check")
    parser.add_argument("--elders", type=int)
    parser.add_argument("--incidents", type=int)
    parser.add_argument("--retention-days", type=int)
    args = parser.parse_args()
    size = CitySize.smoke() if args.smoke else CitySize()
    size = CitySize(
        elders=args.elders if args.elders is not None else size.elders,
        incidents=args.incidents if args.incidents is not None else size.incidents,
        retention_days=args.retention_days if args.retention_days is not None else size.retention_days,
        vitals_per_elder_day=size.vitals_per_elder_day,
        alerts_per_elder_day=size.alerts_per_elder_day,
    )
    counts = asyncio.run(seed_city(database_urls(args.server, args.prefix), size))
    print(orjson.dumps(counts).decode())


if __name__ == "__main__":
    main()
