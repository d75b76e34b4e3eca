"""HTTP pieces every service shares: auth, health, readiness, metrics, error shapes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError, OperationalError

from eldercare.settings import ApiPrincipal, Role

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]

_bearer = HTTPBearer(auto_error=False, description="Bearer token from ELDERCARE_API_TOKENS")


def principal_dependency(
    principals_of: Callable[[Request], dict[str, ApiPrincipal]],
) -> Callable[..., Awaitable[ApiPrincipal]]:
    """A dependency resolving the bearer token to a principal (401 when missing or unknown)."""

    async def current_principal(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> ApiPrincipal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        principal = principals_of(request).get(credentials.credentials)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        return principal

    return current_principal


def _principals_from_app(request: Request) -> dict[str, ApiPrincipal]:
    return request.app.state.principals  # type: ignore[no-any-return]


current_principal = principal_dependency(_principals_from_app)


def require_roles(*roles: Role) -> Callable[..., Awaitable[ApiPrincipal]]:
    """A dependency that admits only the given roles (403 otherwise)."""
    allowed = frozenset(roles)

    async def check(principal: Annotated[ApiPrincipal, Depends(current_principal)]) -> ApiPrincipal:
        if principal.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role.value} may not do this (needs one of: {', '.join(sorted(allowed))})",
            )
        return principal

    return check


def ops_router(checks: Callable[[], Iterable[tuple[str, ReadinessCheck]]]) -> APIRouter:
    """/healthz, /readyz and /metrics."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: every dependency (database, brokers) answers."""
        results: dict[str, str] = {}
        ready = True
        for name, check in checks():
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except Exception as exc:
                ready = False
                results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics")
    async def prometheus_metrics() -> Response:
        """Prometheus exposition."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def install_error_handlers(app: FastAPI) -> None:
    """A database outage is a 503 with a reason, not a 500."""

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database error on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "database unavailable, try again"}, status_code=503, headers={"Retry-After": "2"}
        )

    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(DBAPIError, database_unavailable)
    app.add_exception_handler(OSError, database_unavailable)
