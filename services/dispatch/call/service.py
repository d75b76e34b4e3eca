"""Recording the telephony system's call events: match the caller once, note the call on the incident.

The caller's number is matched to a device SIM, an elder's own phone, or a contact's phone,
in that order (numbers.MATCH_ORDER): a call from the watch is the wearer for certain, a call
from a landline is probably the elder, a contact may be calling about one of several elders.
Among elders matched equally well, one with an open incident wins, the most urgent one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from eldercare.envelope import utcnow
from services.dispatch.call.models import CallEventIn, CallEventRow, CallEventType, CallRead, PhoneCall
from services.dispatch.elder import service as elders
from services.dispatch.elder.models import ElderPhone
from services.dispatch.elder.phones import MATCH_ORDER, PhoneKind, normalize_phone
from services.dispatch.errors import CallConflict
from services.dispatch.incident import service as incidents
from services.dispatch.incident.models import ACTIVE_STATUSES, Incident
from services.dispatch.stream.feed import Feed

TELEPHONY_ACTOR = "telephony"

# Which event may follow which: a call rings, may be answered, and ends (a missed call ends unanswered).
_ALLOWED_AFTER: dict[CallEventType, frozenset[str]] = {
    CallEventType.RINGING: frozenset(),
    CallEventType.ANSWERED: frozenset({CallEventType.RINGING.value}),
    CallEventType.ENDED: frozenset({CallEventType.RINGING.value, CallEventType.ANSWERED.value}),
}


@dataclass(frozen=True)
class CallerMatch:
    kind: PhoneKind
    elder_id: str
    device_id: str | None
    label: str | None


def best_match(rows: Sequence[ElderPhone], *, elders_with_incidents: dict[str, int]) -> CallerMatch | None:
    """The index row that says most surely who calls: by kind first, then an elder with the most urgent incident.

    `elders_with_incidents` maps elder id -> priority of their most urgent active incident.
    """
    for kind in MATCH_ORDER:
        of_kind = [row for row in rows if row.kind == kind.value]
        if not of_kind:
            continue
        # A stable order among equals: the row indexed first (the snapshot's own order).
        chosen = min(of_kind, key=lambda row: (elders_with_incidents.get(row.elder_id, 99), row.id or 0))
        return CallerMatch(kind=kind, elder_id=chosen.elder_id, device_id=chosen.device_id, label=chosen.label)
    return None


async def _active_incidents(session: AsyncSession, *, elder_ids: Sequence[str]) -> list[Incident]:
    if not elder_ids:
        return []
    rows = await session.scalars(
        select(Incident)
        .where(
            col(Incident.elder_id).in_(list(elder_ids)),
            col(Incident.status).in_([s.value for s in ACTIVE_STATUSES]),
        )
        .order_by(col(Incident.priority), col(Incident.opened_at).desc())
    )
    return list(rows)


async def match_caller(session: AsyncSession, *, caller: str) -> tuple[CallerMatch | None, Incident | None]:
    """Who is calling, and the open incident the call belongs to (None, None for an unknown number)."""
    phone = normalize_phone(caller)
    if phone is None:
        return None, None
    rows = await elders.phones_matching(session, phone=phone)
    open_incidents = await _active_incidents(session, elder_ids=sorted({row.elder_id for row in rows}))
    urgency: dict[str, int] = {}
    for incident in open_incidents:
        assert incident.elder_id is not None
        urgency.setdefault(incident.elder_id, incident.priority)
    match = best_match(rows, elders_with_incidents=urgency)
    if match is None:
        return None, None
    mine = [i for i in open_incidents if i.elder_id == match.elder_id]
    # A call from the watch belongs with that watch's own alarm when it has one.
    same_device = [i for i in mine if match.device_id is not None and i.device_id == match.device_id]
    chosen = same_device or mine
    return match, chosen[0] if chosen else None


async def record_event(session: AsyncSession, *, event: CallEventIn) -> tuple[PhoneCall, bool]:
    """Apply one call event; (call, False) for a repeat of an event already recorded.

    CallConflict when the event cannot follow the call's history. The first event of a call
    matches the caller; later ones keep that match, so the incident a call is noted on does
    not change in the middle of it.
    """
    at = event.at or utcnow()
    call = await session.get(PhoneCall, event.call_id, with_for_update=True)
    if call is not None:
        repeat = await session.scalar(
            select(CallEventRow).where(
                col(CallEventRow.call_id) == event.call_id, col(CallEventRow.event) == event.event.value
            )
        )
        if repeat is not None:
            return call, False
        if call.state not in _ALLOWED_AFTER[event.event]:
            raise CallConflict(f"call {event.call_id} is {call.state}; it cannot be {event.event.value} now")
    else:
        # Any event may be a call's first: a telephony system that lost "ringing" still reports the call.
        match, incident = await match_caller(session, caller=event.caller)
        call = PhoneCall(
            call_id=event.call_id,
            state=event.event.value,
            caller=event.caller,
            callee=event.callee,
            agent=event.agent,
            match_kind=match.kind.value if match else None,
            caller_label=match.label if match else None,
            elder_id=match.elder_id if match else None,
            device_id=match.device_id if match else None,
            incident_id=incident.id if incident else None,
            started_at=at,
            updated_at=at,
        )
        session.add(call)
    call.state = event.event.value
    call.updated_at = at
    call.agent = event.agent or call.agent
    if event.event is CallEventType.ANSWERED:
        call.answered_at = at
    elif event.event is CallEventType.ENDED:
        call.ended_at = at
    session.add(CallEventRow(call_id=event.call_id, event=event.event.value, at=at, agent=event.agent))
    try:
        await session.flush()
    except IntegrityError:
        # The same event posted twice at once: the other request recorded it.
        raise CallConflict(f"call {event.call_id}: {event.event.value} is being recorded already") from None
    if call.incident_id is not None:
        await _note_on_incident(session, call=call, event=event.event)
    return call, True


async def _note_on_incident(session: AsyncSession, *, call: PhoneCall, event: CallEventType) -> None:
    incident = await incidents.get_incident(session, incident_id=call.incident_id or "", for_update=True)
    detail: dict[str, Any] = {
        "call_id": call.call_id,
        "caller": call.caller,
        "callee": call.callee,
        "agent": call.agent,
        "matched_by": call.match_kind,
    }
    if call.caller_label:
        detail["caller_label"] = call.caller_label
    if event is CallEventType.ENDED and call.answered_at is not None and call.ended_at is not None:
        detail["talk_seconds"] = round((call.ended_at - call.answered_at).total_seconds())
    await incidents.append_entry(
        session, incident, action=f"call_{event.value}", actor=call.agent or TELEPHONY_ACTOR, detail=detail
    )


async def to_read(session: AsyncSession, call: PhoneCall) -> CallRead:
    """The call with the matched elder's name from the read model."""
    name = None
    if call.elder_id is not None:
        snapshot = await elders.snapshot_of_elder(session, elder_id=call.elder_id)
        name = snapshot.name if snapshot is not None else None
    return CallRead.model_validate(call).model_copy(update={"elder_name": name})


async def recent_calls(session: AsyncSession, *, limit: int) -> list[PhoneCall]:
    rows = await session.scalars(select(PhoneCall).order_by(col(PhoneCall.updated_at).desc()).limit(limit))
    return list(rows)


async def _frame(session: AsyncSession, row: tuple[CallEventRow, PhoneCall]) -> bytes:
    event, call = row
    data = (await to_read(session, call)).model_dump(mode="json") | {"event": event.event}
    return f"id: {event.id}\nevent: call\ndata: {orjson.dumps(data).decode()}\n\n".encode()


# Call events as Server-Sent Events (`event: call`), resumable by id like the incident stream.
# Calls are short-lived, so a console that was away gets what it missed, but a gap in the id
# sequence is not waited for: a pop-up a second late is worth less than one now.
_CALL_OF_EVENT = col(PhoneCall.call_id) == col(CallEventRow.call_id)
CALL_FEED = Feed("call event", CallEventRow, PhoneCall, _CALL_OF_EVENT, _frame, batch=200, gap_grace_seconds=0)
