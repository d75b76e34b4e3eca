"""GET /api/v1/incidents/stream: the dispatcher console's live updates (Server-Sent Events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from services.dispatch.deps import Reader, RuntimeDep, SettingsDep
from services.dispatch.stream.service import sse_events

router = APIRouter(prefix="/api/v1/incidents", tags=["live stream"])


def parse_event_id(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "Last-Event-ID must be a non-negative integer")
    return int(raw)


@router.get("/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    settings: SettingsDep,
    runtime: RuntimeDep,
    _: Reader,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id: Annotated[str | None, Query(description="for clients that cannot set the header")] = None,
) -> StreamingResponse:
    """New incidents, state changes, escalations, assignment changes and commands; resumable with Last-Event-ID."""
    resume_from = parse_event_id(last_event_id_header if last_event_id_header is not None else last_event_id)
    return StreamingResponse(
        sse_events(
            runtime.sessions,
            last_event_id=resume_from,
            poll_seconds=settings.stream_poll_seconds,
            heartbeat_seconds=settings.stream_heartbeat_seconds,
            max_seconds=settings.stream_max_seconds,
            disconnected=request.is_disconnected,
            committed=runtime.outbox.committed,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
