"""The console's session cookie and CSRF token, through the API's real auth dependency."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from eldercare.http import require_roles
from eldercare.settings import ApiPrincipal, Role, parse_api_tokens
from services.dispatch.console.session import (
    CSRF_HEADER,
    SESSION_COOKIE,
    CookieAuth,
    SessionInvalid,
    SessionSigner,
    token_fingerprint,
)

TOKENS = "tok-dispatcher-1:dispatcher:alice,tok-ops-000001:ops"
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
Reader = Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER, Role.OPS))]
Writer = Annotated[ApiPrincipal, Depends(require_roles(Role.DISPATCHER))]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _app(clock: Clock, tokens: str = TOKENS) -> FastAPI:
    app = FastAPI()
    app.state.principals = parse_api_tokens(tokens)
    app.state.session_auth = CookieAuth(signer=SessionSigner("s" * 32), principals=app.state.principals, now=clock)

    @app.get("/read")
    async def read(principal: Reader) -> dict[str, str]:
        return {"name": principal.name}

    @app.post("/write")
    async def write(principal: Writer) -> dict[str, str]:
        return {"name": principal.name}

    return app


@pytest.fixture
def client(clock: Clock) -> Iterator[TestClient]:
    with TestClient(_app(clock)) as test_client:
        yield test_client


def _sign_in(client: TestClient, token: str = "tok-dispatcher-1") -> str:
    """Set a session cookie for `token`; returns its CSRF token."""
    auth: CookieAuth = client.app.state.session_auth  # type: ignore[attr-defined]
    cookie, session = auth.signer.issue(token=token, now=NOW, lifetime=timedelta(hours=12))
    client.cookies.set(SESSION_COOKIE, cookie)
    return auth.signer.csrf_token(session)


def test_a_cookie_reads_as_its_tokens_principal(client: TestClient) -> None:
    _sign_in(client)
    response = client.get("/read")
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "alice"}


def test_no_cookie_and_no_bearer_is_401(client: TestClient) -> None:
    assert client.get("/read").status_code == 401


def test_a_write_with_the_cookie_needs_the_sessions_csrf_token(client: TestClient) -> None:
    csrf = _sign_in(client)
    refused = client.post("/write")
    assert refused.status_code == 403 and CSRF_HEADER in refused.json()["detail"]
    assert client.post("/write", headers={CSRF_HEADER: "not-it"}).status_code == 403
    assert client.post("/write", headers={CSRF_HEADER: csrf}).status_code == 200


def test_another_sessions_csrf_token_does_not_do(client: TestClient) -> None:
    other = _sign_in(client)
    _sign_in(client)  # a new session replaces the cookie: the old token is bound to the old session id
    assert client.post("/write", headers={CSRF_HEADER: other}).status_code == 403


def test_bearer_writes_need_no_csrf_token(client: TestClient) -> None:
    _sign_in(client)  # a cookie beside the header changes nothing: the header wins
    response = client.post("/write", headers={"Authorization": "Bearer tok-dispatcher-1"})
    assert response.status_code == 200


def test_an_altered_cookie_is_401(client: TestClient) -> None:
    _sign_in(client)
    cookie = client.cookies[SESSION_COOKIE]
    body, mac = cookie.split(".")
    client.cookies.set(SESSION_COOKIE, body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac)
    response = client.get("/read")
    assert response.status_code == 401 and "sign in again" in response.json()["detail"]


def test_an_expired_cookie_is_401(client: TestClient, clock: Clock) -> None:
    _sign_in(client)
    clock.now = NOW + timedelta(hours=12, seconds=1)
    response = client.get("/read")
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_a_removed_token_ends_its_sessions(clock: Clock) -> None:
    with TestClient(_app(clock)) as first:
        _sign_in(first)
        cookie = first.cookies[SESSION_COOKIE]
    with TestClient(_app(clock, tokens="tok-ops-000001:ops")) as restarted:
        restarted.cookies.set(SESSION_COOKIE, cookie)
        response = restarted.get("/read")
    assert response.status_code == 401 and "no longer valid" in response.json()["detail"]


def test_the_role_is_the_tokens_current_role(client: TestClient) -> None:
    csrf = _sign_in(client, token="tok-ops-000001")
    assert client.get("/read").status_code == 200
    assert client.post("/write", headers={CSRF_HEADER: csrf}).status_code == 403  # ops may not write


def test_a_cookie_signed_with_another_secret_is_refused() -> None:
    cookie, _ = SessionSigner("a" * 32).issue(token="tok-dispatcher-1", now=NOW, lifetime=timedelta(hours=1))
    with pytest.raises(SessionInvalid, match="signature"):
        SessionSigner("b" * 32).read(cookie, now=NOW)


@pytest.mark.parametrize("cookie", ["", "no-dot", ".", "x.y", "a" * 2000])
def test_garbage_cookies_are_refused(cookie: str) -> None:
    with pytest.raises(SessionInvalid):
        SessionSigner("a" * 32).read(cookie, now=NOW)


def test_the_cookie_carries_no_token() -> None:
    cookie, session = SessionSigner("a" * 32).issue(token="tok-dispatcher-1", now=NOW, lifetime=timedelta(hours=1))
    assert "tok-dispatcher-1" not in cookie
    assert session.fingerprint == token_fingerprint("tok-dispatcher-1")
    assert SessionSigner("a" * 32).read(cookie, now=NOW) == session
