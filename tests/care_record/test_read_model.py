"""Dispatch's elder read model on PostgreSQL and SQLite: newest version wins, newest binding owns the device."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eldercare import db
from eldercare.v1 import elders_pb2
from services.care_record.elder.visit_policy import DEFAULT_VISIT_POLICY
from services.care_record.seed import seed
from services.care_record.visit.service import visit_compliance
from services.dispatch.app import MIGRATIONS as DISPATCH_MIGRATIONS
from services.dispatch.elder import service
from tests.infra import DatabaseFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(scope="module", params=["postgresql", "sqlite"], loop_scope="session")
async def dispatch_db(
    request: pytest.FixtureRequest, databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = (
        databases.url(f"rm_{uuid.uuid4().hex[:6]}")
        if request.param == "postgresql"
        else f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('rm')}/dispatch.db"
    )
    await db.ensure_database(url)
    engine = db.create_engine(url)
    await db.run_migrations(engine, DISPATCH_MIGRATIONS)
    yield db.session_factory(engine)
    await engine.dispose()


def snapshot(elder: str, version: int, bindings: dict[str, int], **fields: object) -> elders_pb2.ElderSnapshot:
    return elders_pb2.ElderSnapshot(
        elder_id=elder,
        version=version,
        device_ids=list(bindings),
        bindings=[elders_pb2.DeviceBinding(device_id=d, binding_seq=s) for d, s in bindings.items()],
        **fields,  # type: ignore[arg-type]
    )


# Device D moves from elder A (binding 1) to elder B (binding 2). A's and B's snapshots
# live on different partitions, so a replay may interleave them in any order.
ORDERS = [p for p in itertools.permutations(["A1", "A2", "B1"]) if p.index("A1") < p.index("A2")]


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
async def test_any_replay_order_ends_in_the_same_state(
    dispatch_db: async_sessionmaker[AsyncSession], order: tuple[str, ...]
) -> None:
    run = uuid.uuid4().hex[:8]
    a, b, device = f"A{run}", f"B{run}", f"D{run}"
    snapshots = {
        "A1": snapshot(a, 1, {device: 1}, name="first"),
        "A2": snapshot(a, 2, {}, name="second"),
        "B1": snapshot(b, 1, {device: 2, f"E{run}": 3}),
    }
    for name in [*order, "A1", "B1"]:  # then a redelivery of old snapshots
        async with dispatch_db() as session, session.begin():
            await service.apply_snapshot(session, snapshot=snapshots[name])
    async with dispatch_db() as session:
        wearer = await service.elder_for_device(session, device_id=device)
        assert wearer is not None and wearer.elder_id == b
        first = await service.snapshot_of_elder(session, elder_id=a)
        assert first is not None and first.version == 2 and first.name == "second"
        assert await service.elder_for_device(session, device_id="nobody") is None


async def test_a_tombstone_removes_the_elder_and_the_devices(dispatch_db: async_sessionmaker[AsyncSession]) -> None:
    async with dispatch_db() as session, session.begin():
        assert await service.apply_snapshot(session, snapshot=snapshot("C", 1, {"F": 9}))
        assert await service.apply_snapshot(
            session, snapshot=elders_pb2.ElderSnapshot(elder_id="C", version=2, deleted=True)
        )
        assert not await service.apply_snapshot(session, snapshot=snapshot("C", 1, {"F": 9}))
    async with dispatch_db() as session:
        assert await service.elder_for_device(session, device_id="F") is None
        assert await service.snapshot_of_elder(session, elder_id="C") is None


async def test_seed_and_report_work_on_the_sqlite_fallback(tmp_path: Path) -> None:
    from services.care_record.app import MIGRATIONS

    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path}/care.db")
    await db.run_migrations(engine, MIGRATIONS)
    sessions = db.session_factory(engine)
    assert (await seed(sessions, count=9)).created == 9
    assert (await seed(sessions, count=9)).skipped == 9
    async with sessions() as session:
        report = await visit_compliance(session, policy=DEFAULT_VISIT_POLICY, period="2026-10")
    assert report.required == sum(a.required for a in report.areas) and report.required > 0
    await engine.dispose()
