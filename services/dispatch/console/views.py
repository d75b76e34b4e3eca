"""The console's page, its assets, sign-in and sign-out, and the few reads the plain API lacks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, RedirectResponse

from eldercare.deps import SessionDep
from eldercare.envelope import utcnow
from eldercare.http import find_principal, require_roles
from eldercare.settings import ApiPrincipal, Role
from services.dispatch.config import DispatchSettings
from services.dispatch.console import service
from services.dispatch.console.models import ConsoleConfig, DeviceView, QueueRow, SessionRead, SignIn
from services.dispatch.console.session import CSRF_COOKIE, SESSION_COOKIE, ConsoleSession, CookieAuth
from services.dispatch.deps import AuthThrottleDep, CookieAuthDep, PrincipalsDep, SettingsDep
from services.dispatch.incident.views import parse_statuses
from services.dispatch.stream.service import latest_entry_id

STATIC = Path(__file__).parent / "static"
CONSOLE_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.OPS})

router = APIRouter(tags=["console"])
Reader = Annotated[ApiPrincipal, Depends(require_roles(*CONSOLE_ROLES))]


def _security_headers(settings: DispatchSettings) -> dict[str, str]:
    tiles = settings.console_tile_url
    tile_origin = ""
    if tiles.startswith(("http://", "https://")):
        scheme, _, rest = tiles.partition("://")
        tile_origin = f" {scheme}://{rest.split('/', 1)[0]}"
    # Everything is ours (no CDN); tiles are the one outside origin a production map may load.
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; img-src 'self' data:{tile_origin}; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; media-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


@router.get("/console", include_in_schema=False)
async def console_redirect() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=status.HTTP_308_PERMANENT_REDIRECT)


@router.get("/console/", include_in_schema=False)
async def console_page(settings: SettingsDep) -> FileResponse:
    """The single page; its scripts and styles come from /console/assets/."""
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_security_headers(settings))


@router.get("/api/v1/console/config", response_model=ConsoleConfig)
async def console_config(settings: SettingsDep) -> ConsoleConfig:
    """Time zone, map tiles and mute length: what the page needs before sign-in (nothing personal)."""
    return ConsoleConfig(
        timezone=settings.local_timezone, tile_url=settings.console_tile_url, mute_seconds=settings.console_mute_seconds
    )


def _session_read(auth: CookieAuth, session: ConsoleSession, principal: ApiPrincipal) -> SessionRead:
    return SessionRead(
        name=principal.name,
        role=principal.role.value,
        csrf_token=auth.signer.csrf_token(session),
        expires_at=session.expires_at,
    )


@router.post("/api/v1/console/session", response_model=SessionRead, status_code=status.HTTP_201_CREATED)
async def sign_in(
    request: Request,
    body: SignIn,
    settings: SettingsDep,
    principals: PrincipalsDep,
    auth: CookieAuthDep,
    throttle: AuthThrottleDep,
    response: Response,
) -> SessionRead:
    """Sign in with an API token: sets the HttpOnly session cookie and the CSRF cookie.

    JSON only: a cross-site HTML form cannot send it, so nobody can sign a browser in as someone else.
    Too many unknown tokens from one address: 429 with Retry-After, the right token included.
    """
    throttle.check(request)
    principal = find_principal(principals, body.token)
    if principal is None:
        throttle.failed(request)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token")
    if principal.role not in CONSOLE_ROLES:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role.value} has no console")
    lifetime = timedelta(hours=settings.console_session_hours)
    cookie, session = auth.signer.issue(token=body.token, now=utcnow(), lifetime=lifetime)
    secure, max_age = settings.cookie_secure(), int(lifetime.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/"
    )
    response.set_cookie(
        CSRF_COOKIE,
        auth.signer.csrf_token(session),
        max_age=max_age,
        httponly=False,  # the console's script reads it and sends it back as X-CSRF-Token
        samesite="strict",
        secure=secure,
        path="/",
    )
    return _session_read(auth, session, principal)


@router.get("/api/v1/console/session", response_model=SessionRead)
async def current_session(request: Request, auth: CookieAuthDep) -> SessionRead:
    """The signed-in console's principal and CSRF token (401 when not signed in)."""
    session = auth.session_of(request)
    found = auth.principal_of(session) if session is not None else None
    if session is None or found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not signed in")
    return _session_read(auth, session, found[1])


@router.delete("/api/v1/console/session", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(settings: SettingsDep) -> Response:
    """Sign out: both cookies go. Needs no CSRF token; at worst someone signs a console out."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    secure = settings.cookie_secure()
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, httponly=name == SESSION_COOKIE, samesite="strict")
    return response


@router.get("/api/v1/console/queue", response_model=list[QueueRow])
async def queue(
    session: SessionDep,
    principal: Reader,
    response: Response,
    status_filter: Annotated[list[str] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> list[QueueRow]:
    """Queue rows with the elder's name (the live stream then keeps them current); ops see no names.

    X-Last-Event-ID is the newest timeline entry before the rows were read: the console follows
    the stream from there, so whatever happens in between reaches it.
    """
    response.headers["X-Last-Event-ID"] = str(await latest_entry_id(session))
    rows = await service.queue_rows(session, statuses=parse_statuses(status_filter), limit=limit)
    return [_for(principal, row) for row in rows]


@router.get("/api/v1/console/queue/{incident_id}", response_model=QueueRow)
async def queue_row(incident_id: str, session: SessionDep, principal: Reader) -> QueueRow:
    """One queue row, for an incident the stream has just announced."""
    return _for(principal, await service.queue_row(session, incident_id=incident_id))


def _for(principal: ApiPrincipal, row: QueueRow) -> QueueRow:
    # Ops see incidents without personal data, as in the incident API.
    return row.model_copy(update={"elder_name": None}) if principal.role is Role.OPS else row


@router.get("/api/v1/console/incidents/{incident_id}/device", response_model=DeviceView)
async def device(incident_id: str, session: SessionDep, _: Reader) -> DeviceView:
    """The incident's device: battery, last contact, SIM number."""
    return await service.device_view(session, incident_id=incident_id)
