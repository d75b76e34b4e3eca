"""FastAPI dependencies every service shares: database sessions from the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

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


Row = TypeVar("Row")
Out = TypeVar("Out")


async def committed(session: AsyncSession, change: Awaitable[Row], read: Callable[[Row], Out]) -> Out:
    """Make the change, commit it, and answer with `read` of what it returned: a write view in one line."""
    row = await change
    await session.commit()
    return read(row)
