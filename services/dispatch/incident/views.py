"""Dispatcher API for incidents."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from eldercare.deps import Page, SessionDep, TransactionDep, paging
from eldercare.envelope import utcnow
from eldercare.settings import ApiPrincipal, Role
from services.dispatch import flows
from services.dispatch.deps import Dispatcher, Reader, SettingsDep, Supervisor
from services.dispatch.elder import service as elders
from services.dispatch.incident import service
from services.dispatch.incident.models import (
    ACTIVE_STATUSES,
    AcknowledgeRequest,
    CancelRequest,
    Incident,
    IncidentDetail,
    IncidentRead,
    IncidentStatus,
    LocationRead,
    NoteCreate,
    ResolveRequest,
    TimelineEntryRead,
)

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


def to_read(incident: Incident) -> IncidentRead:
    """The API shape of an incident row."""
    return IncidentRead(
        id=incident.id,
        status=IncidentStatus(incident.status),
        priority=service.priority_label(incident.priority),
        kind=incident.kind,
        device_id=incident.device_id,
        elder_id=incident.elder_id,
        occurred_at=incident.occurred_at,
        opened_at=incident.opened_at,
        updated_at=incident.updated_at,
        alarm_count=incident.alarm_count,
        location=_location(incident),
        battery=incident.battery,
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by,
        closed_at=incident.closed_at,
        closed_by=incident.closed_by,
        outcome=incident.outcome,  # type: ignore[arg-type]
        priority_reasons=orjson.loads(incident.priority_reasons) if incident.priority_reasons else [],
    )


def _location(incident: Incident) -> LocationRead | None:
    if incident.lat is None or incident.lon is None:
        return None
    return LocationRead(
        lat=incident.lat, lon=incident.lon, accuracy_m=incident.accuracy_m, source=incident.location_source
    )


async def _detail(session: AsyncSession, incident: Incident, *, reader: ApiPrincipal) -> IncidentDetail:
    """The incident as `reader` may see it; a read of the elder's record is audited (commit after)."""
    entries = await service.get_timeline(session, incident_id=incident.id)
    # Ops see no personal data, so they get the incident without the elder's record.
    elder = await _elder(session, incident) if reader.role is not Role.OPS else None
    if elder is not None and incident.elder_id is not None:
        elders.record_read(
            session, elder_id=incident.elder_id, principal=reader, via="incident", incident_id=incident.id
        )
    return IncidentDetail(
        **to_read(incident).model_dump(),
        timeline=[
            TimelineEntryRead(
                at=e.at,
                action=e.action,
                actor=e.actor,
                from_status=e.from_status,
                to_status=e.to_status,
                # Ops see who called and what was noted only as withheld, as everywhere else.
                detail=_detail_for(reader, orjson.loads(e.detail)),
            )
            for e in entries
        ],
        last_location=_location(incident),
        elder=elder,
    )


def _detail_for(reader: ApiPrincipal, detail: dict[str, Any]) -> dict[str, Any]:
    return service.without_personal_detail(detail) if reader.role is Role.OPS else detail


async def _elder(session: AsyncSession, incident: Incident) -> dict[str, Any] | None:
    """The elder's current snapshot from the read model (None for an unbound device)."""
    if incident.elder_id is None:
        return None
    snapshot = await elders.snapshot_of_elder(session, elder_id=incident.elder_id)
    return elders.snapshot_view(snapshot, today=utcnow().date()) if snapshot else None


def parse_statuses(raw: list[str] | None) -> set[IncidentStatus]:
    if not raw:
        return set(ACTIVE_STATUSES)
    wanted: set[IncidentStatus] = set()
    for value in (part.strip() for item in raw for part in item.split(",")):
        if not value:
            continue
        if value == "all":
            return set(IncidentStatus)
        if value == "active":
            wanted |= ACTIVE_STATUSES
            continue
        try:
            wanted.add(IncidentStatus(value))
        except ValueError:
            allowed = ", ".join(["active", "all", *(s.value for s in IncidentStatus)])
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY, f"unknown status {value!r} (allowed: {allowed})"
            ) from None
    return wanted


def _parse_priorities(raw: list[str] | None) -> list[int]:
    labels = [part.strip() for item in raw or () for part in item.split(",") if part.strip()]
    for label in labels:
        if label not in ("P1", "P2", "P3", "P4"):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"unknown priority {label[:8]!r} (P1..P4)")
    return [int(label[1]) for label in labels]


@router.get("", response_model=list[IncidentRead])
async def list_incidents(
    session: SessionDep,
    _: Reader,
    page: Annotated[Page, paging(default=100, most=500)],
    response: Response,
    status_filter: Annotated[
        list[str] | None,
        Query(alias="status", description="repeat or comma-separate; 'active' (default) or 'all'"),
    ] = None,
    area: Annotated[list[str] | None, Query(description="the elder's area; repeat for several")] = None,
    priority: Annotated[list[str] | None, Query(description="P1..P4; repeat for several")] = None,
    dispatcher: Annotated[str | None, Query(max_length=128, description="who acknowledged it")] = None,
) -> list[IncidentRead]:
    """Incidents, most urgent first (priority, then oldest). X-Total-Count gives the total."""
    rows, total = await service.list_incidents(
        session,
        statuses=parse_statuses(status_filter),
        limit=page.limit,
        offset=page.offset,
        areas=area or (),
        priorities=_parse_priorities(priority),
        dispatcher=dispatcher,
    )
    response.headers["X-Total-Count"] = str(total)
    return [to_read(row) for row in rows]


@router.get("/{incident_id}", response_model=IncidentDetail)
async def get_incident(incident_id: str, session: SessionDep, principal: Reader) -> IncidentDetail:
    """One incident with its timeline, the elder's snapshot (not for ops) and last location."""
    return await _show(session, await service.get_incident(session, incident_id=incident_id), principal)


async def _show(session: AsyncSession, incident: Incident, reader: ApiPrincipal) -> IncidentDetail:
    # Showing the elder's record audits the read: the audit commits, with the change if there was one.
    detail = await _detail(session, incident, reader=reader)
    await session.commit()
    return detail


@router.post("/{incident_id}/acknowledge", response_model=IncidentDetail)
async def acknowledge(
    incident_id: str,
    settings: SettingsDep,
    session: TransactionDep,
    principal: Dispatcher,
    body: AcknowledgeRequest | None = None,
) -> IncidentDetail:
    """A dispatcher takes the incident (open → acknowledged); the device is told help is coming."""
    incident = await flows.acknowledge_incident(
        session,
        incident_id=incident_id,
        actor=principal.name,
        note=body.note if body is not None else None,
        first_retry_seconds=settings.command_retry_seconds,
    )
    return await _show(session, incident, principal)


@router.post("/{incident_id}/notes", response_model=IncidentDetail, status_code=status.HTTP_201_CREATED)
async def add_note(
    incident_id: str, body: NoteCreate, session: TransactionDep, principal: Dispatcher
) -> IncidentDetail:
    """Add a note to the incident's timeline."""
    incident = await service.add_note(session, incident_id=incident_id, actor=principal.name, text=body.text)
    return await _show(session, incident, principal)


@router.post("/{incident_id}/resolve", response_model=IncidentDetail)
async def resolve(
    incident_id: str, body: ResolveRequest, session: TransactionDep, principal: Dispatcher
) -> IncidentDetail:
    """Close the incident with an outcome (from acknowledged, dispatched or on_scene)."""
    incident = await service.transition(
        session,
        incident_id=incident_id,
        action="resolve",
        actor=principal.name,
        detail={"note": body.note} if body.note else None,
        outcome=body.outcome,
    )
    return await _show(session, incident, principal)


@router.post("/{incident_id}/cancel", response_model=IncidentDetail)
async def cancel(
    incident_id: str, body: CancelRequest, session: TransactionDep, principal: Supervisor
) -> IncidentDetail:
    """Cancel an active incident with a reason (supervisors); it is kept, never deleted."""
    incident = await service.transition(
        session, incident_id=incident_id, action="cancel", actor=principal.name, detail={"reason": body.reason}
    )
    return await _show(session, incident, principal)
