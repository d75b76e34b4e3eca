"""An in-process care-record app on the real Kafka-protocol broker and a fresh PostgreSQL database."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI

from services.care_record.app import create_app
from services.care_record.config import CareRecordSettings
from services.care_record.elder.models import Sex, make_id_number
from tests import infra
from tests.platform import read_topic
from tools import kafkanode

ADMIN = {"Authorization": "Bearer dev-admin-token"}
DISPATCHER = {"Authorization": "Bearer dev-dispatcher-token"}
SUPERVISOR = {"Authorization": "Bearer dev-supervisor-token"}
OPS = {"Authorization": "Bearer dev-ops-token"}

_serials = itertools.count(1)


def elder_body(**overrides: Any) -> dict[str, Any]:
    """A valid registration body with a unique, well-formed ID number."""
    birth = overrides.pop("birth_date", date(1941, 5, 17))
    sex = overrides.pop("sex", "female")
    body: dict[str, Any] = {
        "name": "王秀英",
        "sex": sex,
        "birth_date": birth.isoformat(),
        "id_number": make_id_number("320106", birth, next(_serials) % 500, Sex(sex)),
        "phone": "13800001234",
        "address": "鼓楼区宁海路街道北京西路社区12号",
        "home_location": {"lat": 32.06, "lon": 118.77},
        "area": {
            "province": "江苏省",
            "city": "南京市",
            "district": "鼓楼区",
            "street": "宁海路街道",
            "community": "北京西路社区",
            "area_type": "urban",
        },
        "living_situation": "alone",
        "categories": ["special_hardship"],
        "language": "普通话",
        "health": {"conditions": ["高血压"], "medications": ["氨氯地平"], "allergies": ["青霉素"], "blood_type": "A+"},
    }
    body.update(overrides)
    return body


@dataclass
class CareApp:
    app: FastAPI
    http: httpx.AsyncClient
    settings: CareRecordSettings
    kafka_bootstrap: str

    async def create_elder(self, **overrides: Any) -> dict[str, Any]:
        response = await self.http.post("/api/v1/elders", json=elder_body(**overrides), headers=ADMIN)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]


def care_settings(database_url: str, kafka_port: int, **extra: Any) -> CareRecordSettings:
    return CareRecordSettings(
        env="test",
        database_url=database_url,
        kafka_bootstrap=f"127.0.0.1:{kafka_port}",
        kafka_topic_partitions=3,
        reminder_poll_seconds=0.2,
        **extra,
    )


@contextlib.asynccontextmanager
async def running_app(settings: CareRecordSettings) -> AsyncIterator[CareApp]:
    """Run the app's lifespan (migrations, Kafka, outbox relay, scheduler) around a client for it."""
    app = create_app(settings)
    # Its consumer groups are the platform's care-record's: joining them here would steal partitions
    # from that process. Consumption is tested through the platform instead.
    app.state.runtime.consumers.clear()
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://care") as http:
        yield CareApp(app=app, http=http, settings=settings, kafka_bootstrap=settings.kafka_bootstrap)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def care(databases: infra.DatabaseFactory, kafka_broker: kafkanode.KafkaNode) -> AsyncIterator[CareApp]:
    """One care-record app per test module, with its own database."""
    settings = care_settings(databases.url(f"care_{uuid.uuid4().hex[:6]}"), kafka_broker.port)
    async with running_app(settings) as running:
        yield running


async def snapshots_of(bootstrap: str, elder_id: str) -> list[Any]:
    """The ElderSnapshots published for one elder, in topic order."""
    from eldercare.topics import ELDERS
    from eldercare.v1 import events_pb2

    found = []
    for record in await read_topic(bootstrap, ELDERS):
        if record.key == elder_id.encode():
            envelope = events_pb2.Envelope()
            envelope.ParseFromString(record.value)
            found.append(envelope.elder)
    return found
