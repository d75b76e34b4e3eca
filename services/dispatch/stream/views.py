"""GET /api/v1/incidents/stream: the dispatcher console's live updates (Server-Sent Events)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from eldercare.runtime import ServiceRuntime
from eldercare.settings import Role
from services.dispatch.config import DispatchSettings
from services.dispatch.deps import PlatformAlertsDep, Reader, RuntimeDep, SettingsDep
from services.dispatch.platform_alert.service import PlatformAlertBoard
from services.dispatch.stream.feed import Feed, follow
from services.dispatch.stream.service import incident_feed

router = APIRouter(prefix="/api/v1/incidents", tags=["live stream"])

# Who sees platform alerts on the stream: the floor's supervisors, admins and ops.
ALERT_AUDIENCE = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.OPS})


def parse_event_id(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "Last-Event-ID must be a non-negative integer")
    return int(raw)


def _resume_from(
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id: Annotated[str | None, Query(description="for clients that cannot set the header")] = None,
) -> int | None:
    return parse_event_id(last_event_id_header if last_event_id_header is not None else last_event_id)


# Where a reconnecting stream resumes: Last-Event-ID, as a header or (for clients that cannot set one) a query.
ResumeFrom = Annotated[int | None, Depends(_resume_from)]


def sse_response(
    request: Request,
    settings: DispatchSettings,
    runtime: ServiceRuntime,
    feed: Feed[Any],
    *,
    resume_from: int | None,
    platform_alerts: PlatformAlertBoard | None = None,
) -> StreamingResponse:
    """A live stream of `feed` with the service's poll, heartbeat and length settings."""
    frames = follow(
        runtime.sessions,
        feed,
        last_event_id=resume_from,
        poll_seconds=settings.stream_poll_seconds,
        heartbeat_seconds=settings.stream_heartbeat_seconds,
        max_seconds=settings.stream_max_seconds,
        disconnected=request.is_disconnected,
        committed=runtime.outbox.committed,
        platform_alerts=platform_alerts,
    )
    return StreamingResponse(
        frames, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.get("/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    settings: SettingsDep,
    runtime: RuntimeDep,
    platform_alerts: PlatformAlertsDep,
    principal: Reader,
    resume_from: ResumeFrom,
) -> StreamingResponse:
    """New incidents, state changes, escalations, assignment changes and commands; resumable with Last-Event-ID.

    Supervisors, admins and ops also get `platform_alert` events: the critical platform alerts firing
    when the stream opens, then each change (they keep coming while the database is unreachable).
    An entry with an elder's personal data (a call's numbers, a note) is audited as a read before
    it is sent, and reaches ops with those fields withheld.
    """
    # Critical platform alerts (Alertmanager's webhook) for those who run the floor, not every console.
    alerts = platform_alerts if principal.role in ALERT_AUDIENCE else None
    feed = incident_feed(runtime.sessions, principal)
    return sse_response(request, settings, runtime, feed, resume_from=resume_from, platform_alerts=alerts)
