"""A database error carries no values out: not in its text, not in an HTTP answer (real PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import Column, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from eldercare import db
from eldercare.http import install_error_handlers
from tests.infra import DatabaseFactory, tables_on_postgres

metadata = MetaData()
people = Table("people", metadata, Column("phone", String(32), primary_key=True), Column("name", String(64)))
PHONE, NAME = "13912345678", "王秀英"


@pytest_asyncio.fixture(loop_scope="session")
async def sessions(databases: DatabaseFactory) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async for factory in tables_on_postgres(databases, metadata, prefix="err"):
        async with factory() as session, session.begin():
            await session.execute(insert(people).values(phone=PHONE, name="someone"))
        yield factory


async def _insert_again(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(insert(people).values(phone=PHONE, name=NAME))


@pytest.mark.asyncio(loop_scope="session")
async def test_the_error_text_names_the_statement_but_not_its_values(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(IntegrityError) as error:
        await _insert_again(sessions)
    text = str(error.value)
    assert "INSERT INTO people" in text and "parameters hidden" in text
    assert NAME not in text and PHONE not in text
    # What goes to logs and a consumer's last error: the kind, SQLSTATE and constraint only.
    described = db.describe_error(error.value)
    assert described == "IntegrityError (SQLSTATE 23505, constraint people_pkey; values withheld)"


@pytest.mark.asyncio(loop_scope="session")
async def test_a_constraint_refusal_is_a_generic_409_without_the_row(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="eldercare.http")
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/api/v1/people")
    async def create() -> None:
        await _insert_again(sessions)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/api/v1/people")
    assert response.status_code == 409
    assert response.json() == {"detail": "conflicts with data already stored"}
    # The server's log says what happened, without the values either.
    assert "IntegrityError" in caplog.text and NAME not in caplog.text and PHONE not in caplog.text
