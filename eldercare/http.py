"""HTTP pieces every service shares: auth, health, readiness, metrics, error shapes."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import reprlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from eldercare.db import describe_error, sqlstate_class
from eldercare.errors import Conflict, Invalid, NotFound
from eldercare.settings import ApiPrincipal, Role

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]
# A service's browser-session check (app.state.session_auth): the principal and the key its
# requests are rate-limited under, or None when the request carries no session. It raises
# the HTTPException itself for a session that is bad (expired, or a write without its CSRF token).
SessionAuth = Callable[[Request], tuple[ApiPrincipal, str] | None]

API_RATE_LIMITED = Counter(
    "eldercare_api_rate_limited_total", "API requests refused with 429 (per-token rate cap)", ["role"]
)

AUTH_THROTTLED = Counter(
    "eldercare_auth_throttled_total", "sign-ins refused with 429 after too many failures from one address"
)
BODY_REFUSED = Counter("eldercare_http_body_refused_total", "requests refused with 413 (body over the cap)")

_bearer = HTTPBearer(auto_error=False, description="Bearer token from ELDERCARE_API_TOKENS")


Schema = TypeVar("Schema", bound=BaseModel)


def from_row(schema: type[Schema], row: BaseModel, **computed: Any) -> Schema:
    """The API shape of a table row: its columns by name, and `computed` for the fields derived or decoded."""
    return schema.model_validate({**row.model_dump(), **computed})


class RequestModel(BaseModel):
    """Base of every API request body and of the models nested in one.

    Python's JSON parser reads NaN, Infinity and 1e999 as floats; no field of the platform
    means anything by them, and past validation they would reach comparisons that are
    always false, the database and the Kafka events. Refused here, once, as a 422.
    """

    model_config = ConfigDict(allow_inf_nan=False)


def principal_dependency(
    principals_of: Callable[[Request], dict[str, ApiPrincipal]],
) -> Callable[..., Awaitable[ApiPrincipal]]:
    """A dependency resolving the bearer token, or the app's browser session, to a principal (401 when neither)."""

    async def current_principal(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> ApiPrincipal:
        session_auth: SessionAuth | None = getattr(request.app.state, "session_auth", None)
        if credentials is None and session_auth is not None:
            # A browser (the dispatcher console) carries a session cookie instead: an EventSource
            # cannot send an Authorization header. The hook checks CSRF on writes itself.
            found = session_auth(request)
            if found is not None:
                principal, rate_key = found
                _rate_limit(request, rate_key, principal)
                return principal
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        throttle: AuthFailureThrottle | None = getattr(request.app.state, "auth_throttle", None)
        if throttle is not None:
            throttle.check(request)
        known = find_principal(principals_of(request), credentials.credentials)
        if known is None:
            if throttle is not None:
                throttle.failed(request)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        _rate_limit(request, credentials.credentials, known)
        return known

    return current_principal


def find_principal(principals: dict[str, ApiPrincipal], token: str) -> ApiPrincipal | None:
    """The token's principal, compared in constant time against every known token.

    A dict lookup hashes the guess and compares it with `==`, whose time depends on how much
    of it matches; this takes as long for a near miss as for a wild one.
    """
    found: ApiPrincipal | None = None
    guess = token.encode()
    for known, principal in principals.items():
        if hmac.compare_digest(guess, known.encode()):
            found = principal
    return found


class AuthFailureThrottle:
    """Failed sign-ins per client address: past `allowed` within `window_s`, a 429 until the window passes.

    Counted per address, so one client guessing tokens is slowed without locking anyone else
    out (a per-token lock would let a guesser lock out a real dispatcher). Bounded: the oldest
    addresses are forgotten past `max_clients`.
    """

    def __init__(self, *, allowed: int, window_s: float, max_clients: int = 10_000) -> None:
        self.allowed = allowed
        self.window_s = window_s
        self.max_clients = max_clients
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, request: Request, now: float | None) -> tuple[str, list[float], float]:
        """The client's address, its failures still inside the window, and the time now."""
        now = time.monotonic() if now is None else now
        client = request.client.host if request.client is not None else "unknown"
        times = [t for t in self._failures.get(client, []) if now - t < self.window_s]
        if times:
            self._failures[client] = times
        else:
            self._failures.pop(client, None)
        return client, times, now

    def check(self, request: Request, now: float | None = None) -> None:
        """429 with Retry-After while the client has used up its failures."""
        _, times, now = self._recent(request, now)
        if self.allowed > 0 and len(times) >= self.allowed:
            AUTH_THROTTLED.inc()
            wait = self.window_s - (now - times[-self.allowed])
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many failed sign-ins from this address, try again later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    def failed(self, request: Request, now: float | None = None) -> None:
        """Count one failed sign-in (an unknown token) for the client."""
        if self.allowed <= 0:
            return
        client, times, now = self._recent(request, now)
        self._failures[client] = [*times[1 - self.allowed :], now] if self.allowed > 1 else [now]
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, f"request body over {limit} bytes")


class BodySizeLimit:
    """ASGI middleware: a request body over `max_bytes` is a 413 with a reason.

    By Content-Length before anything is read, and by counting what arrives for a chunked
    body, which has none: no handler ever holds more than the cap in memory.
    """

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            # Raised where no exception handler sat between the read and here (a middleware's read).
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Any, receive: Any, send: Any) -> None:
        BODY_REFUSED.inc()
        response = JSONResponse(
            {"detail": f"request body over {self.max_bytes} bytes"},
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _rate_limit(request: Request, key: str, principal: ApiPrincipal) -> None:
    limiter: TokenRateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None:
        wait = limiter.acquire(key, time.monotonic())
        if wait > 0:
            API_RATE_LIMITED.labels(principal.role.value).inc()
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many requests for this token, slow down",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )


class TokenRateLimiter:
    """Request-rate cap per API token: a token bucket of `burst` requests refilled at `rate_per_s`.

    Checked after authentication, so the key is a known token (the set is bounded by
    ELDERCARE_API_TOKENS); unknown tokens get their 401 without touching it.
    """

    def __init__(self, *, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # token -> (tokens, updated)

    def acquire(self, key: str, now: float) -> float:
        """Take a request slot; 0 when admitted, else the seconds until one is free."""
        if self.rate_per_s <= 0:
            return 0.0
        tokens, updated = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(now - updated, 0.0) * self.rate_per_s)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate_per_s


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


def _may_see_error_text(request: Request) -> bool:
    """A readiness caller sees error text when it shows an API token, or the process has none.

    Processes without an API (the gateway lanes, the watch adapter) expose only ops endpoints
    on an internal port, and their reasons (a refused subscription) are what an operator needs.
    """
    principals: dict[str, ApiPrincipal] | None = getattr(request.app.state, "principals", None)
    if not principals:
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Not a way around the sign-in throttle: a throttled address sees no text, and a wrong
    # token counts as a failure here too (the probe itself still gets its status).
    throttle: AuthFailureThrottle | None = getattr(request.app.state, "auth_throttle", None)
    if throttle is not None:
        try:
            throttle.check(request)
        except HTTPException:
            return False
    if find_principal(principals, token) is not None:
        return True
    if throttle is not None:
        throttle.failed(request)
    return False


def ops_app(
    *, title: str, lifespan: Any, checks: Callable[[], Iterable[tuple[str, ReadinessCheck]]], **state: Any
) -> FastAPI:
    """An app with only the operations endpoints and the error handlers (the gateways' HTTP face)."""
    app = FastAPI(title=title, version="1.0.0", lifespan=lifespan)
    for name, value in state.items():
        setattr(app.state, name, value)
    app.include_router(ops_router(checks))
    install_error_handlers(app)
    return app


def ops_router(checks: Callable[[], Iterable[tuple[str, ReadinessCheck]]]) -> APIRouter:
    """/healthz, /readyz and /metrics."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: every dependency (database, brokers) answers.

        What failed is named to anyone (the kind of error); its text (host names, driver
        messages) only to a caller with an API token, in a service that has them.
        """
        detailed = _may_see_error_text(request)
        results: dict[str, str] = {}
        ready = True
        for name, check in checks():
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except Exception as exc:
                ready = False
                text = f": {exc}" if detailed else ""
                results[name] = f"error: {type(exc).__name__}{text}"[:300]
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "exposition"}},
    )
    async def prometheus_metrics() -> Response:
        """Prometheus exposition."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def refused_value(exc: BaseException) -> bool:
    """True when the database (or its driver) refused a value: SQLSTATE class 22, or a driver DataError."""
    return sqlstate_class(exc) == "22"


# A 422 echoes the refused input, but only so much of it: a 10 MB body must not come back as a
# 20 MB answer, and a value JSON cannot carry (NaN, inf) must not turn the answer into a 500.
MAX_ECHOED_ERRORS = 20
MAX_ECHOED_CHARS = 200
_MAX_MESSAGE_CHARS = 1000
_echo_repr = reprlib.Repr()
_echo_repr.maxstring = _echo_repr.maxlong = _echo_repr.maxother = MAX_ECHOED_CHARS


def _echo(value: Any) -> Any:
    """The value if JSON carries it as it is and it is short, else a bounded repr of it."""
    if value is None or isinstance(value, bool):
        return value
    # Past 2**53 a JSON reader rounds an integer; the repr keeps its digits (a prefix of them).
    if isinstance(value, int) and -(2**53) < value < 2**53:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, BaseException):
        value = str(value)
    try:
        text = value if isinstance(value, str) else _echo_repr.repr(value)
    except Exception:  # a repr that raises must not turn the 422 into a 500
        text = f"<{type(value).__name__}>"
    # A small object or list (the `{}` of a missing field) stays JSON; the repr cut nothing ("..."),
    # so it is small enough to serialise.
    if isinstance(value, dict | list) and "..." not in text and len(text) <= MAX_ECHOED_CHARS:
        with contextlib.suppress(TypeError, ValueError):
            if len(json.dumps(value, allow_nan=False)) <= MAX_ECHOED_CHARS:
                return value
    return text if len(text) <= MAX_ECHOED_CHARS else text[:MAX_ECHOED_CHARS] + "…"


def validation_errors(errors: Iterable[Any]) -> list[dict[str, Any]]:
    """Pydantic's error list as JSON-safe, bounded items (at most MAX_ECHOED_ERRORS)."""
    rendered: list[dict[str, Any]] = []
    for error in errors:
        if len(rendered) == MAX_ECHOED_ERRORS:
            break
        item: dict[str, Any] = {
            "type": str(error.get("type", ""))[:MAX_ECHOED_CHARS],
            # Keys of a refused object are the caller's text too (an unknown field's name).
            "loc": [part if isinstance(part, int) else str(part)[:MAX_ECHOED_CHARS] for part in error.get("loc", ())],
            "msg": str(error.get("msg", ""))[:_MAX_MESSAGE_CHARS],
        }
        if "input" in error:
            item["input"] = _echo(error["input"])
        ctx = error.get("ctx")
        if isinstance(ctx, dict):
            item["ctx"] = {str(key)[:MAX_ECHOED_CHARS]: _echo(value) for key, value in list(ctx.items())[:10]}
        rendered.append(item)
    return rendered


def install_error_handlers(app: FastAPI) -> None:
    """A database outage is a 503 with a reason, not a 500; a refused body is a bounded 422."""

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        return JSONResponse({"detail": validation_errors(errors)}, status_code=422)

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database error on %s %s: %s", request.method, request.url.path, describe_error(exc))
        return JSONResponse(
            {"detail": "database unavailable, try again"}, status_code=503, headers={"Retry-After": "2"}
        )

    async def value_refused(request: Request, exc: Exception) -> JSONResponse:
        # The database refused a value (out of range, too long for its column): the caller's
        # input, not an outage. Validation should have caught it; this keeps it a 4xx anyway.
        log.info("database refused a value on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return JSONResponse({"detail": "a value is out of range or too long"}, status_code=422)

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if refused_value(exc):
            return await value_refused(request, exc)
        if sqlstate_class(exc) == "23":
            # A constraint refused the write (two requests racing to create the same thing): the
            # caller's to resolve. Named generically: the driver's text quotes the row's values.
            log.info("constraint refused a write on %s %s: %s", request.method, request.url.path, type(exc).__name__)
            return JSONResponse({"detail": "conflicts with data already stored"}, status_code=409)
        return await database_unavailable(request, exc)

    def refusal(code: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def respond(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=code)

        return respond

    # Every service's domain errors subclass these (eldercare/errors.py): one mapping for all.
    app.add_exception_handler(NotFound, refusal(404))
    app.add_exception_handler(Conflict, refusal(409))
    app.add_exception_handler(Invalid, refusal(422))
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(DataError, value_refused)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(OSError, database_unavailable)


# Every API operation can answer these (docs/services.md, "Errors:"); the OpenAPI document says so.
_ERROR_RESPONSES = {
    "400": "the body could not be parsed",
    "401": "missing or unknown bearer token",
    "403": "the token's role may not do this",
    "404": "no such resource",
    "409": "not allowed in the resource's current state",
    "413": "the request body is over the size cap",
    "429": "too many requests for this token (see Retry-After)",
    "503": "database unavailable, try again (see Retry-After)",
}


def document_error_responses(app: FastAPI, prefix: str = "/api/") -> None:
    """Add the shared error responses to every operation under `prefix` in the app's OpenAPI schema."""
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build_schema()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(
            "ErrorDetail",
            {
                "title": "ErrorDetail",
                "type": "object",
                "properties": {"detail": {"title": "Detail"}},
                "required": ["detail"],
            },
        )
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}}
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith(prefix):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for code, description in _ERROR_RESPONSES.items():
                    responses.setdefault(code, {"description": description, "content": content})
                # Some checks are made by hand and answer 422 with a sentence, not FastAPI's list.
                invalid = responses.get("422", {}).get("content", {}).get("application/json")
                if invalid is not None and "$ref" in invalid.get("schema", {}):
                    invalid["schema"] = {"anyOf": [invalid["schema"], {"$ref": "#/components/schemas/ErrorDetail"}]}
        _fix_tuple_items(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _fix_tuple_items(node: Any) -> None:
    """Fixed-length tuples (`prefixItems`, or the older `items: [a, b]`) as n items each matching a position.

    `prefixItems` is exact, but common tooling (schemathesis) does not take it; an array
    of exactly n items, each matching one of the positions' schemas, is valid everywhere
    and only a little looser (the server still validates each position).
    """
    if isinstance(node, dict):
        items = node.pop("prefixItems", None) or node.get("items")
        if isinstance(items, list):
            node["items"] = {"anyOf": items} if len(items) > 1 else items[0]
            node.setdefault("minItems", len(items))
            node.setdefault("maxItems", len(items))
        for value in node.values():
            _fix_tuple_items(value)
    elif isinstance(node, list):
        for value in node:
            _fix_tuple_items(value)
