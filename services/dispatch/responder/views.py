"""Responder registry API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status

from eldercare.db import fetch
from eldercare.deps import Page, SessionDep, TransactionDep, committed, paging
from services.dispatch.deps import Dispatcher, Reader
from services.dispatch.errors import ResponderNotFound
from services.dispatch.responder import service
from services.dispatch.responder.models import Responder, ResponderCreate, ResponderKind, ResponderRead, ResponderUpdate

router = APIRouter(prefix="/api/v1/responders", tags=["responders"])


@router.get("", response_model=list[ResponderRead])
async def list_responders(
    session: SessionDep,
    _: Reader,
    page: Annotated[Page, paging(default=500, most=1000)],
    kind: ResponderKind | None = None,
    area: str | None = None,
    available: bool | None = None,
) -> list[ResponderRead]:
    """Registered responders, optionally by kind, area and availability."""
    rows = await service.list_responders(
        session, kind=kind, area=area, available=available, limit=page.limit, offset=page.offset
    )
    return [service.to_read(row) for row in rows]


@router.post("", response_model=ResponderRead, status_code=status.HTTP_201_CREATED)
async def create_responder(body: ResponderCreate, session: TransactionDep, _: Dispatcher) -> ResponderRead:
    """Register a responder."""
    return await committed(session, service.create_responder(session, data=body), service.to_read)


@router.get("/{responder_id}", response_model=ResponderRead)
async def get_responder(responder_id: str, session: SessionDep, _: Reader) -> ResponderRead:
    """One responder."""
    return service.to_read(await fetch(session, Responder, responder_id, missing=ResponderNotFound))


@router.patch("/{responder_id}", response_model=ResponderRead)
async def update_responder(
    responder_id: str, body: ResponderUpdate, session: TransactionDep, _: Dispatcher
) -> ResponderRead:
    """Change details, availability or the live position."""
    change = service.update_responder(session, responder_id=responder_id, data=body)
    return await committed(session, change, service.to_read)
