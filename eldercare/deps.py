"""FastAPI dependencies every service shares: database sessions from the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
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


@dataclass(frozen=True)
class Page:
    """Which slice of a list a client asked for (?limit= and ?offset=)."""

    limit: int
    offset: int


def paging(*, default: int = 100, most: int = 1000) -> Any:
    """Depends on a list view's ?limit= (1 to `most`; `default` when absent) and ?offset= (0 when absent)."""

    # Query() as the default, not in an Annotated hint: the hint would be a string here (postponed
    # annotations) that FastAPI resolves in the module's globals, where `most` is not.
    def page(limit: int = Query(default, ge=1, le=most), offset: int = Query(0, ge=0)) -> Page:
        return Page(limit=limit, offset=offset)

    return Depends(page)


Row = TypeVar("Row")
Out = TypeVar("Out")


async def committed(session: AsyncSession, change: Awaitable[Row], read: Callable[[Row], Out]) -> Out:
    """Make the change, commit it, and answer with `read` of what it returned: a write view in one line."""
    row = await change
    await session.commit()
    return read(row)
