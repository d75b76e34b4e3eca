"""Candidates, assignments and the cascade, shared by the views and the timer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.db import claim_due, fetch
from eldercare.envelope import utcnow
from services.dispatch import metrics
from services.dispatch.assignment import ranking
from services.dispatch.assignment.models import (
    ENGAGED_STATES,
    Assignment,
    AssignmentState,
    CandidateRead,
    CandidatesRead,
)
from services.dispatch.command import service as commands
from services.dispatch.command.models import CommandType
from services.dispatch.elder import service as elders
from services.dispatch.errors import AssignmentConflict, AssignmentNotFound, IllegalTransition, ResponderNotFound
from services.dispatch.incident import service as incidents
from services.dispatch.incident.models import ACTIVE_STATUSES, Incident, IncidentStatus
from services.dispatch.responder import service as responders
from services.dispatch.responder.models import Position, Responder, ResponderKind, Skill

CASCADE_ACTOR = "system:cascade"
AMBULANCE_NUMBER = "120"
# Incident states in which responders may be sent.
ASSIGNABLE = frozenset({IncidentStatus.ACKNOWLEDGED, IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE})

# action: (states it may start from, state it leads to)
ASSIGNMENT_TRANSITIONS: dict[str, tuple[frozenset[AssignmentState], AssignmentState]] = {
    "accept": (frozenset({AssignmentState.NOTIFIED}), AssignmentState.ACCEPTED),
    "decline": (frozenset({AssignmentState.NOTIFIED, AssignmentState.ACCEPTED}), AssignmentState.DECLINED),
    "en_route": (frozenset({AssignmentState.NOTIFIED, AssignmentState.ACCEPTED}), AssignmentState.EN_ROUTE),
    "on_scene": (
        frozenset({AssignmentState.NOTIFIED, AssignmentState.ACCEPTED, AssignmentState.EN_ROUTE}),
        AssignmentState.ON_SCENE,
    ),
    "done": (frozenset({AssignmentState.ON_SCENE}), AssignmentState.DONE),
    "withdraw": (
        frozenset({AssignmentState.NOTIFIED, AssignmentState.ACCEPTED, AssignmentState.EN_ROUTE}),
        AssignmentState.WITHDRAWN,
    ),
}


@dataclass(frozen=True)
class Policy:
    """The settings the ranking and the cascade follow."""

    contact_close_km: float
    zone: ZoneInfo
    assignment_timeout: timedelta
    command_retry_seconds: float


@dataclass
class ElderContext:
    """What the ranking knows about the elder: home, living alone, own contacts."""

    home: tuple[float, float] | None = None
    lives_alone: bool = False
    contact_phones: set[str] = field(default_factory=set)


async def load_elder_context(session: AsyncSession, incident: Incident) -> ElderContext:
    """The elder's context from the elder read model; empty for a device bound to no known elder."""
    snapshot = await elders.snapshot_of_elder(session, elder_id=incident.elder_id) if incident.elder_id else None
    if snapshot is None:
        return ElderContext()
    home = (
        (snapshot.home_lat, snapshot.home_lon)
        if snapshot.HasField("home_lat") and snapshot.HasField("home_lon")
        else None
    )
    return ElderContext(
        home=home,
        lives_alone=snapshot.living_situation == "alone",
        contact_phones={contact.phone for contact in snapshot.contacts if contact.phone},
    )


def needed_skills(incident: Incident, elder: ElderContext) -> set[Skill]:
    """A fall needs first aid; an elder living alone needs someone with a key."""
    needed: set[Skill] = set()
    if incident.kind == "fall":
        needed.add(Skill.FIRST_AID)
    if elder.lives_alone:
        needed.add(Skill.HAS_KEY)
    return needed


async def _engaged_responders(session: AsyncSession, *, except_incident: str) -> set[str]:
    rows = await session.scalars(
        select(col(Assignment.responder_id)).where(
            col(Assignment.state).in_([s.value for s in ENGAGED_STATES]),
            col(Assignment.incident_id) != except_incident,
        )
    )
    return set(rows)


def _is_own_contact(responder: Responder, incident: Incident, elder: ElderContext) -> bool:
    if incident.elder_id is not None and incident.elder_id in responders.elders_of(responder):
        return True
    return responder.phone in elder.contact_phones


def _reasons(option: ranking.Option, responder: Responder) -> list[str]:
    reasons: list[str] = []
    if option.close_contact:
        reasons.append("the elder's own contact, close by")
    elif option.own_contact:
        reasons.append("the elder's own contact")
    if option.distance_km is not None:
        reasons.append(f"{option.distance_km:.1f} km away")
    else:
        reasons.append("distance unknown")
    if option.missing_skills:
        reasons.append("lacks " + ", ".join(s.value for s in option.missing_skills))
    if responder.live_at is not None:
        reasons.append("live position")
    return reasons


def _candidate(rank: int, responder: Responder, option: ranking.Option) -> CandidateRead:
    return CandidateRead(
        rank=rank,
        responder_id=responder.id,
        kind=ResponderKind(responder.kind),
        name=responder.name,
        phone=responder.phone,
        distance_km=option.distance_km,
        on_duty=True,
        own_contact=option.own_contact,
        skills=sorted(option.skills),
        missing_skills=option.missing_skills,
        reasons=_reasons(option, responder),
    )


async def candidates(
    session: AsyncSession, *, incident: Incident, policy: Policy, exclude: set[str] | None = None
) -> CandidatesRead:
    """Available, on-duty responders for this incident, best first; plus the ambulance option for P1."""
    elder = await load_elder_context(session, incident)
    if incident.lat is not None and incident.lon is not None:
        origin: tuple[float, float] | None = (incident.lat, incident.lon)
        origin_source: str | None = "last_location"
    else:
        origin, origin_source = elder.home, ("home" if elder.home else None)
    needed = needed_skills(incident, elder)
    busy = await _engaged_responders(session, except_incident=incident.id) | (exclude or set())
    now = utcnow()
    pool = [
        r
        for r in await responders.list_responders(session, available=True, limit=10_000)
        if r.id not in busy and responders.on_duty(responders.schedule_of(r), now, policy.zone)
    ]
    by_id = {r.id: r for r in pool}
    options = [
        ranking.Option(
            responder_id=r.id,
            position=responders.position_of(r),
            skills=responders.skills_of(r),
            own_contact=_is_own_contact(r, incident, elder),
            coverage_radius_km=r.coverage_radius_km,
        )
        for r in pool
    ]
    ranked = ranking.rank(options, origin=origin, needed=needed, contact_close_km=policy.contact_close_km)
    people = [o for o in ranked if by_id[o.responder_id].kind != ResponderKind.AMBULANCE.value]
    listed = [_candidate(i + 1, by_id[o.responder_id], o) for i, o in enumerate(people)]
    ambulance: CandidateRead | None = None
    if incident.priority == 1:
        crews = [o for o in ranked if by_id[o.responder_id].kind == ResponderKind.AMBULANCE.value]
        if crews:
            ambulance = _candidate(0, by_id[crews[0].responder_id], crews[0])
            ambulance.reasons.insert(0, "P1: ambulance always offered")
        else:
            ambulance = CandidateRead(
                rank=0,
                responder_id=None,
                kind=ResponderKind.AMBULANCE,
                name="120 emergency medical service",
                phone=AMBULANCE_NUMBER,
                distance_km=None,
                on_duty=True,
                own_contact=False,
                skills=[Skill.FIRST_AID, Skill.MEDICAL],
                missing_skills=sorted(needed - {Skill.FIRST_AID, Skill.MEDICAL}),
                reasons=["P1: ambulance always offered", "no ambulance crew registered: call 120"],
            )
    return CandidatesRead(
        incident_id=incident.id,
        origin=Position(lat=origin[0], lon=origin[1]) if origin else None,
        origin_source=origin_source,
        needed_skills=sorted(needed),
        candidates=listed,
        ambulance=ambulance,
    )


async def _audit(
    session: AsyncSession, incident: Incident, assignment: Assignment, *, action: str, actor: str, **detail: Any
) -> None:
    """The assignment's step on its incident's timeline: which assignment, whose, and what else happened."""
    which = {"assignment_id": assignment.id, "responder_id": assignment.responder_id}
    await incidents.append_entry(session, incident, action=action, actor=actor, detail={**which, **detail})


async def _notify(
    session: AsyncSession,
    *,
    incident: Incident,
    responder: Responder,
    actor: str,
    cascade: bool,
    round_: int,
    timeout: timedelta,
    via: str,
) -> Assignment:
    now = utcnow()
    assignment = Assignment(
        id=str(uuid.uuid4()),
        incident_id=incident.id,
        responder_id=responder.id,
        state=AssignmentState.NOTIFIED.value,
        cascade=cascade,
        round=round_,
        assigned_by=actor,
        notified_at=now,
        respond_by=now + timeout,
        updated_at=now,
    )
    session.add(assignment)
    respond_by = assignment.respond_by.isoformat() if assignment.respond_by else None
    await _audit(
        session,
        incident,
        assignment,
        action="responder_assigned",
        actor=actor,
        responder_kind=responder.kind,
        round=round_,
        respond_by=respond_by,
        via=via,
    )
    metrics.ASSIGNMENTS.labels(AssignmentState.NOTIFIED.value).inc()
    return assignment


async def assign(
    session: AsyncSession,
    *,
    incident_id: str,
    responder_ids: list[str],
    actor: str,
    cascade: bool,
    timeout: timedelta,
) -> list[Assignment]:
    """Notify one or more responders for an incident; each assignment has its own state."""
    incident = await incidents.get_incident(session, incident_id=incident_id, for_update=True)
    status = IncidentStatus(incident.status)
    if status not in ASSIGNABLE:
        raise IllegalTransition("assign responders to", status.value, [s.value for s in ASSIGNABLE])
    engaged_here = set(
        await session.scalars(
            select(col(Assignment.responder_id)).where(
                col(Assignment.incident_id) == incident.id,
                col(Assignment.state).in_([s.value for s in ENGAGED_STATES]),
            )
        )
    )
    created = []
    for responder_id in responder_ids:
        responder = await fetch(session, Responder, responder_id, missing=ResponderNotFound)
        if responder_id in engaged_here:
            raise AssignmentConflict(f"responder {responder_id} is already assigned to this incident")
        created.append(
            await _notify(
                session,
                incident=incident,
                responder=responder,
                actor=actor,
                cascade=cascade,
                round_=1,
                timeout=timeout,
                via="dispatcher",
            )
        )
    return created


async def get_assignment(session: AsyncSession, *, assignment_id: str, for_update: bool = False) -> Assignment:
    """One assignment; AssignmentNotFound when the id is unknown."""
    return await fetch(session, Assignment, assignment_id, missing=AssignmentNotFound, for_update=for_update)


async def list_assignments(session: AsyncSession, *, incident_id: str) -> list[Assignment]:
    """The incident's assignments in the order they were made."""
    rows = await session.scalars(
        select(Assignment)
        .where(col(Assignment.incident_id) == incident_id)
        .order_by(col(Assignment.notified_at), col(Assignment.id))
    )
    return list(rows)


async def _follow_incident(session: AsyncSession, incident: Incident, target: AssignmentState, actor: str) -> None:
    """Move the incident along with its first responder: accepted/en route → dispatched, on scene → on_scene."""
    if target in (AssignmentState.ACCEPTED, AssignmentState.EN_ROUTE, AssignmentState.ON_SCENE) and (
        incident.status == IncidentStatus.ACKNOWLEDGED.value
    ):
        await incidents.transition(session, incident_id=incident.id, action="dispatch", actor=actor)
    if target is AssignmentState.ON_SCENE and incident.status == IncidentStatus.DISPATCHED.value:
        await incidents.transition(session, incident_id=incident.id, action="on_scene", actor=actor)


async def respond(
    session: AsyncSession, *, assignment_id: str, action: str, actor: str, policy: Policy, reason: str | None = None
) -> Assignment:
    """Move an assignment on (accept, decline, en_route, on_scene, done, withdraw), with its side effects."""
    allowed_from, target = ASSIGNMENT_TRANSITIONS[action]
    assignment = await get_assignment(session, assignment_id=assignment_id, for_update=True)
    incident = await incidents.get_incident(session, incident_id=assignment.incident_id, for_update=True)
    current = AssignmentState(assignment.state)
    if current not in allowed_from:
        allowed = ", ".join(sorted(s.value for s in allowed_from))
        raise AssignmentConflict(f"cannot {action} an assignment that is {current.value} (allowed from: {allowed})")
    if target not in (AssignmentState.DECLINED, AssignmentState.WITHDRAWN, AssignmentState.DONE) and (
        IncidentStatus(incident.status) not in ACTIVE_STATUSES
    ):
        raise AssignmentConflict(f"the incident is {incident.status}")
    now = utcnow()
    assignment.state = target.value
    assignment.updated_at = now
    assignment.respond_by = None
    if current is AssignmentState.NOTIFIED:
        assignment.responded_at = now
    if target is AssignmentState.EN_ROUTE:
        assignment.en_route_at = now
    elif target is AssignmentState.ON_SCENE:
        assignment.on_scene_at = now
    elif target is AssignmentState.DONE:
        assignment.done_at = now
    if reason:
        assignment.reason = reason
    action = f"assignment_{target.value}"
    await _audit(session, incident, assignment, action=action, actor=actor, from_state=current.value, reason=reason)
    metrics.ASSIGNMENTS.labels(target.value).inc()
    await _follow_incident(session, incident, target, actor)
    if target is AssignmentState.EN_ROUTE:
        await commands.issue_command(
            session,
            incident=incident,
            type=CommandType.MESSAGE,
            actor=actor,
            first_retry_seconds=policy.command_retry_seconds,
            text=commands.EN_ROUTE_MESSAGE,
        )
    if target is AssignmentState.DECLINED and assignment.cascade:
        await cascade(session, incident=incident, after=assignment, reason="declined", policy=policy)
    return assignment


async def cascade(
    session: AsyncSession, *, incident: Incident, after: Assignment, reason: str, policy: Policy
) -> Assignment | None:
    """Notify the best candidate not yet tried on this incident; None (audited) when nobody is left."""
    metrics.CASCADES.labels(reason).inc()
    if IncidentStatus(incident.status) not in ASSIGNABLE:
        return None
    tried = set(
        await session.scalars(select(col(Assignment.responder_id)).where(col(Assignment.incident_id) == incident.id))
    )
    ranked = await candidates(session, incident=incident, policy=policy, exclude=tried)
    if not ranked.candidates:
        await incidents.append_entry(
            session,
            incident,
            action="cascade_exhausted",
            actor=CASCADE_ACTOR,
            detail={"after_assignment_id": after.id, "reason": reason, "tried": len(tried)},
        )
        return None
    best = ranked.candidates[0]
    assert best.responder_id is not None
    responder = await fetch(session, Responder, best.responder_id, missing=ResponderNotFound)
    return await _notify(
        session,
        incident=incident,
        responder=responder,
        actor=CASCADE_ACTOR,
        cascade=True,
        round_=after.round + 1,
        timeout=policy.assignment_timeout,
        via=f"cascade after {reason}",
    )


async def time_out_due(session: AsyncSession, *, now: datetime, policy: Policy, limit: int = 50) -> int:
    """Expire notified assignments nobody answered in time and cascade to the next candidate."""
    notified = col(Assignment.state) == AssignmentState.NOTIFIED.value
    due = await claim_due(session, Assignment, where=notified, due=Assignment.respond_by, until=now, limit=limit)
    for assignment in due:
        incident = await incidents.get_incident(session, incident_id=assignment.incident_id, for_update=True)
        assignment.state = AssignmentState.TIMED_OUT.value
        assignment.updated_at = now
        assignment.respond_by = None
        metrics.ASSIGNMENTS.labels(AssignmentState.TIMED_OUT.value).inc()
        await _audit(
            session, incident, assignment, action="assignment_timed_out", actor=CASCADE_ACTOR, from_state="notified"
        )
        if assignment.cascade:
            await cascade(session, incident=incident, after=assignment, reason="no_answer", policy=policy)
    return len(due)
