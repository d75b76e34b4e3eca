"""The telephony system's call events in, the consoles' call pop-ups out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from eldercare.deps import SessionDep, TransactionDep
from services.dispatch.call import service
from services.dispatch.call.models import CallEventIn, CallRead
from services.dispatch.deps import PersonalDataReader, RuntimeDep, SettingsDep, Telephony
from services.dispatch.stream.views import ResumeFrom, sse_response

router = APIRouter(prefix="/api/v1/calls", tags=["calls"])


@router.post(
    "/events",
    response_model=CallRead,
    status_code=status.HTTP_201_CREATED,
    responses={status.HTTP_200_OK: {"model": CallRead, "description": "a repeat of an event already recorded"}},
)
async def post_call_event(body: CallEventIn, session: TransactionDep, _: Telephony, response: Response) -> CallRead:
    """A call rang, was answered or ended: matched to an elder and noted on their open incident (200 for a repeat)."""
    call, new = await service.record_event(session, event=body)
    read = await service.to_read(session, call)
    await session.commit()
    if not new:
        response.status_code = status.HTTP_200_OK
    return read


@router.get("", response_model=list[CallRead])
async def list_calls(
    session: SessionDep, _: PersonalDataReader, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[CallRead]:
    """Recent calls, newest first, with whom they were matched to."""
    return [await service.to_read(session, call) for call in await service.recent_calls(session, limit=limit)]


@router.get("/stream", response_class=StreamingResponse)
async def call_stream(
    request: Request, settings: SettingsDep, runtime: RuntimeDep, _: PersonalDataReader, resume_from: ResumeFrom
) -> StreamingResponse:
    """Call events as Server-Sent Events (`event: call`) for the console's pop-up; resumable with Last-Event-ID."""
    return sse_response(request, settings, runtime, service.CALL_FEED, resume_from=resume_from)
