"""FastAPI dependencies every service shares: database sessions from the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

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


def from_app_state(attribute: str) -> Any:
    """Depends on what the app's start-up put in `app.state.<attribute>`; the Annotated type it stands
    in says what that is. Views take it as a parameter, never `request.app.state`, so each view's needs
    are in its signature and a test can override one of them."""

    def read(request: Request) -> Any:
        return getattr(request.app.state, attribute)

    return Depends(read)


Row = TypeVar("Row")
Out = TypeVar("Out")


async def committed(session: AsyncSession, change: Awaitable[Row], read: Callable[[Row], Out]) -> Out:
    """Make the change, commit it, and answer with `read` of what it returned: a write view in one line."""
    row = await change
    await session.commit()
    return read(row)
