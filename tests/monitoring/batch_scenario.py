"""A whole telemetry batch applied in one transaction against real PostgreSQL: the same rules as one by one.

Run by tests/monitoring/test_batch_apply.py in an interpreter of its own (`python -m
tests.monitoring.batch_scenario DATABASE_URL`): the services' table models share SQLModel's
metadata, and monitoring's `device_bindings` would clash with care-record's in the test process.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eldercare import db
from eldercare.envelope import device_event_id, to_timestamp, utcnow
from eldercare.v1 import events_pb2 as pb
from services.monitoring.alert.models import AlertRecord
from services.monitoring.app import MIGRATIONS
from services.monitoring.config import MonitoringSettings
from services.monitoring.device.handlers import apply_device_batch
from services.monitoring.device.models import Device
from services.monitoring.elder.models import DeviceBinding, ElderProfile
from services.monitoring.geofence.models import Geofence
from services.monitoring.vitals.models import VitalsReading

HOME = (39.9042, 116.4074)
# About 1.1 km north of home: well outside a 200 m fence.
AWAY = (39.9142, 116.4074)
SETTINGS = MonitoringSettings(
    geofence_confirm_fixes=3,
    geofence_dwell_seconds=0,
    vitals_sustained_readings=3,
    vitals_sustained_seconds=0,
)


async def prepare(url: str) -> async_sessionmaker[AsyncSession]:
    """A migrated database with one elder wearing B1 and a 200 m fence around home."""
    await db.ensure_database(url)
    engine = db.create_engine(url)
    await db.run_migrations(engine, MIGRATIONS)
    factory = db.session_factory(engine)
    now = utcnow()
    async with factory() as session, session.begin():
        session.add(ElderProfile(elder_id="E1", has_dementia=True, updated_at=now))
        session.add(DeviceBinding(device_id="B1", elder_id="E1"))
        session.add(
            Geofence(
                id=str(uuid.uuid4()),
                elder_id="E1",
                name="home",
                shape="circle",
                center_lat=HOME[0],
                center_lon=HOME[1],
                radius_m=200,
                created_at=now,
                updated_at=now,
            )
        )
    return factory


def event(device: str, number: int, body: str, **fields: float) -> pb.Envelope:
    at = utcnow() - timedelta(minutes=10) + timedelta(seconds=number)
    envelope = pb.Envelope(
        event_id=device_event_id(device, f"e{number}"),
        device_id=device,
        device_event_id=f"e{number}",
        kind=f"EVENT_KIND_{body.removesuffix('_report').upper()}",
        occurred_at=to_timestamp(at),
        received_at=to_timestamp(at),
        producer="test",
    )
    getattr(envelope, body).SetInParent()
    if body == "location_report":
        envelope.location.lat, envelope.location.lon = fields["lat"], fields["lon"]
        envelope.location.accuracy_m = 10
    for name, value in fields.items():
        if body == "vitals":
            setattr(envelope.vitals, name, value)
    return envelope


def fix(device: str, number: int, where: tuple[float, float]) -> pb.Envelope:
    return event(device, number, "location_report", lat=where[0], lon=where[1])


async def apply(sessions: async_sessionmaker[AsyncSession], envelopes: list[pb.Envelope]) -> int:
    async with sessions() as session, session.begin():
        return await apply_device_batch(session, envelopes=envelopes, consumer="test", settings=SETTINGS)


async def count(sessions: async_sessionmaker[AsyncSession], what: object, *where: object) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(what).where(*where)) or 0)  # type: ignore[arg-type]


async def scenario(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Rows created and continued within one batch, redelivery, and the next batch building on them."""
    low_heart_rate = [event("B1", 10 + i, "vitals", heart_rate=38) for i in range(3)]
    batch = [
        *(fix("B1", i, HOME) for i in range(3)),  # settles the fence state at "inside" (no alert)
        *(fix("B1", 3 + i, AWAY) for i in range(3)),  # three confident fixes outside: one exit alert
        *low_heart_rate,  # a streak of three, started and finished within the batch: one alert
        low_heart_rate[0],  # a producer retry inside the same batch is applied once
        event("N1", 1, "heartbeat"),  # a device never seen before, unbound
    ]
    assert await apply(sessions, batch) == len(batch) - 1

    assert await count(sessions, AlertRecord, AlertRecord.type == "geofence_exit") == 1  # type: ignore[arg-type]
    assert await count(sessions, AlertRecord, AlertRecord.type == "vitals_abnormal") == 1  # type: ignore[arg-type]
    assert await count(sessions, AlertRecord) == 2
    assert await count(sessions, VitalsReading) == 3
    async with sessions() as session:
        wearer = await session.get(Device, "B1")
        stranger = await session.get(Device, "N1")
    assert wearer is not None and wearer.elder_id == "E1" and (wearer.lat, wearer.lon) == AWAY
    assert stranger is not None and stranger.elder_id is None and stranger.last_heartbeat_at is not None

    # The whole batch redelivered after a crash before the offset commit: nothing new.
    assert await apply(sessions, batch) == 0
    assert await count(sessions, AlertRecord) == 2
    assert await count(sessions, VitalsReading) == 3

    # The next batch continues from the stored state: back home resolves the exit, no new exit.
    assert await apply(sessions, [fix("B1", 20 + i, HOME) for i in range(3)]) == 3
    assert await count(sessions, AlertRecord, AlertRecord.type == "geofence_enter") == 1  # type: ignore[arg-type]
    assert await count(sessions, AlertRecord, AlertRecord.type == "geofence_exit") == 1  # type: ignore[arg-type]
    async with sessions() as session:
        wearer = await session.get(Device, "B1")
    # An existing device's row is written by the batch's single UPDATE: the newest fix is stored.
    assert wearer is not None and (wearer.lat, wearer.lon) == HOME and wearer.elder_id == "E1"
    assert wearer.first_seen < wearer.last_seen


async def main(url: str) -> None:
    sessions = await prepare(url)
    try:
        await scenario(sessions)
    finally:
        await sessions.kw["bind"].dispose()
    print("batch scenario passed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
