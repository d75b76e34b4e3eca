"""Dispatcher API: candidates, assignment, and the responders' answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, status

from eldercare.deps import SessionDep, TransactionDep, committed
from services.dispatch.assignment import service
from services.dispatch.assignment.models import (
    AssignmentAction,
    AssignmentRead,
    AssignRequest,
    CandidatesRead,
)
from services.dispatch.deps import Dispatcher, PolicyDep, Reader
from services.dispatch.incident import service as incidents

router = APIRouter(prefix="/api/v1", tags=["assignments"])


@router.get("/incidents/{incident_id}/candidates", response_model=CandidatesRead)
async def candidates(incident_id: str, policy: PolicyDep, session: SessionDep, _: Reader) -> CandidatesRead:
    """Responders for this incident, best first (own close contacts, skills, distance); ambulance for P1."""
    incident = await incidents.get_incident(session, incident_id=incident_id)
    return await service.candidates(session, incident=incident, policy=policy)


@router.post(
    "/incidents/{incident_id}/assign", response_model=list[AssignmentRead], status_code=status.HTTP_201_CREATED
)
async def assign(
    incident_id: str, body: AssignRequest, policy: PolicyDep, session: TransactionDep, principal: Dispatcher
) -> list[AssignmentRead]:
    """Notify one or more responders; each answers on its own assignment."""
    timeout = timedelta(seconds=body.timeout_seconds) if body.timeout_seconds else policy.assignment_timeout
    created = await service.assign(
        session,
        incident_id=incident_id,
        responder_ids=body.responder_ids,
        actor=principal.name,
        cascade=body.cascade,
        timeout=timeout,
    )
    await session.commit()
    return [AssignmentRead.model_validate(a) for a in created]


@router.get("/incidents/{incident_id}/assignments", response_model=list[AssignmentRead])
async def list_assignments(incident_id: str, session: SessionDep, _: Reader) -> list[AssignmentRead]:
    """The incident's assignments, cascade included, in order."""
    await incidents.get_incident(session, incident_id=incident_id)
    return [AssignmentRead.model_validate(a) for a in await service.list_assignments(session, incident_id=incident_id)]


@router.get("/assignments/{assignment_id}", response_model=AssignmentRead)
async def get_assignment(assignment_id: str, session: SessionDep, _: Reader) -> AssignmentRead:
    """One assignment."""
    return AssignmentRead.model_validate(await service.get_assignment(session, assignment_id=assignment_id))


@router.post("/assignments/{assignment_id}/{action}", response_model=AssignmentRead)
async def respond(
    assignment_id: str,
    action: Literal["accept", "decline", "en_route", "on_scene", "done", "withdraw"],
    policy: PolicyDep,
    session: TransactionDep,
    principal: Dispatcher,
    body: AssignmentAction | None = None,
) -> AssignmentRead:
    """Record the responder's answer or progress (a decline cascades to the next candidate)."""
    change = service.respond(
        session,
        assignment_id=assignment_id,
        action=action,
        actor=principal.name,
        policy=policy,
        reason=body.reason if body else None,
    )
    return await committed(session, change, AssignmentRead.model_validate)
