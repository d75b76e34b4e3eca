"""FastAPI dependencies every service shares: database sessions from the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.runtime.sessions() as session:
        yield session


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    # Views commit explicitly once the change is made; an exception rolls back.
    async with request.app.state.runtime.sessions() as session:
        await session.begin()
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session)]
TransactionDep = Annotated[AsyncSession, Depends(_transaction)]
