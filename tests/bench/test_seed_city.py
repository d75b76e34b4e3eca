"""Seeding a city at smoke size on real PostgreSQL: every table counted, and an SOS from a seeded device
goes through dispatch's elder lookup to the elder's own priority."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from bench.seed_city import CitySize, asyncpg_dsn, city_device_id, seed_city
from eldercare.envelope import utcnow
from services.dispatch.elder.service import decode_snapshot, facts_of
from services.dispatch.incident import priority
from tests import infra
from tests.platform import eventually, start_platform
from tools import kafkanode

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.mark.timeout(300)
async def test_a_smoke_city_is_counted_and_its_devices_sos_get_their_elders_priority(
    workdir: Path, mqtt_broker: infra.BrokerProcess, kafka_broker: kafkanode.KafkaNode, postgres_url: str
) -> None:
    size = CitySize.smoke()
    databases = infra.DatabaseFactory(postgres_url)
    lines: list[str] = []
    try:
        urls = {service: databases.url(service) for service in ("care_record", "dispatch", "monitoring")}
        counts = await seed_city(urls, size, say=lines.append)
        elders = size.elders
        assert counts["elders_in_db"] == counts["bound_devices"] == elders
        assert counts["dispatch_elder_snapshots"] == counts["dispatch_device_index"] == elders
        assert counts["monitoring_elder_profiles"] == elders
        assert elders <= counts["contacts"] <= 3 * elders and counts["assessments"] == 2 * elders
        assert counts["incidents_in_db"] == size.incidents and counts["incident_entries"] == 3 * size.incidents
        assert counts["vitals_readings"] == elders * size.retention_days * size.vitals_per_elder_day
        assert counts["alerts"] == round(elders * size.retention_days * size.alerts_per_elder_day)
        # Progress as it went, ending at 100 % of each part.
        assert any("elders 300/300 (100 %)" in line for line in lines), lines
        assert any(line.startswith("seed city: incidents") and "rows/s" in line for line in lines), lines

        # An elder whose priority is the SOS base (P2): an unbound device would be raised to P1.
        dispatch = await asyncpg.connect(asyncpg_dsn(urls["dispatch"]))
        try:
            rows = await dispatch.fetch(
                "SELECT d.device_id, s.snapshot FROM device_elder_index d "
                "JOIN elder_snapshots s USING (elder_id) ORDER BY d.device_id"
            )
            # Seeded history is all closed: none of it may absorb the new SOS.
            assert await dispatch.fetchval("SELECT count(*) FROM incidents WHERE closed_at IS NULL") == 0
        finally:
            await dispatch.close()
        today = utcnow().date()
        device_id, snapshot = next(
            (row["device_id"], decode_snapshot(row["snapshot"]))
            for row in rows
            if priority.score("sos", facts_of(decode_snapshot(row["snapshot"])), today=today).priority == 2
        )
        assert device_id.startswith("CITY") and device_id in {city_device_id(n) for n in range(elders)}

        platform = await start_platform(
            workdir=workdir / "seeded-city",
            mqtt_port=mqtt_broker.port,
            kafka_bootstrap=kafka_broker.bootstrap,
            databases=databases,
            services=("gateway", "dispatch"),
        )
        try:
            await platform.publish(device_id, "sos", {"event_id": "city-sos", "ts": "2026-12-07T23:00:00Z"})

            async def opened() -> list[dict[str, object]]:
                return await platform.incidents_for(device_id, status="open")

            [incident] = await eventually(opened, timeout=60)
            assert incident["elder_id"] == snapshot.elder_id
            assert incident["priority"] == "P2"
        finally:
            await platform.stop()
    finally:
        await databases.drop_all()
