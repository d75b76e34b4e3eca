"""Abuse at the HTTP door, on the real dispatch and care-record apps (no lifespan: nothing here reaches a
database): body size cap, failed sign-ins throttled per client address, tokens compared in constant time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from eldercare.http import AuthFailureThrottle, find_principal
from eldercare.settings import ApiPrincipal, Role
from services.care_record.app import create_app as care_record_app
from services.care_record.config import CareRecordSettings
from services.dispatch.app import create_app as dispatch_app
from services.dispatch.config import DispatchSettings

LIMIT = 4096


def _dispatch(tmp_path: Path, **overrides: object) -> FastAPI:
    return dispatch_app(
        DispatchSettings(var_dir=tmp_path, http_max_body_bytes=LIMIT, auth_failures_allowed=3, **overrides)  # type: ignore[arg-type]
    )


async def _client(app: FastAPI, host: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def dispatch(tmp_path: Path) -> AsyncIterator[FastAPI]:
    yield _dispatch(tmp_path)


@pytest.mark.parametrize("build", ["dispatch", "care_record"])
async def test_a_body_over_the_cap_is_a_413_with_the_reason_before_any_handler(tmp_path: Path, build: str) -> None:
    app = (
        _dispatch(tmp_path)
        if build == "dispatch"
        else care_record_app(CareRecordSettings(var_dir=tmp_path, http_max_body_bytes=LIMIT))  # type: ignore[call-arg]
    )
    async with await _client(app) as client:
        # Unauthenticated on purpose: the cap stands before authentication and parsing.
        response = await client.post("/api/v1/elders", content=b"{" + b" " * LIMIT + b"}")
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body over {LIMIT} bytes"}


async def test_a_chunked_body_without_content_length_is_counted_as_it_arrives(dispatch: FastAPI) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    async with await _client(dispatch) as client:
        response = await client.post(
            "/api/v1/console/session", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert "request body over 4096 bytes" in response.text


async def test_a_body_under_the_cap_reaches_its_handler(dispatch: FastAPI) -> None:
    async with await _client(dispatch) as client:
        response = await client.post("/api/v1/console/session", json={"token": "x" * 100})
    assert response.status_code == 401  # the handler's own answer: the body was read and parsed


async def test_failed_console_sign_ins_are_throttled_per_address_even_for_the_right_token(dispatch: FastAPI) -> None:
    async with await _client(dispatch, "10.0.0.1") as guesser, await _client(dispatch, "10.0.0.2") as colleague:
        for _ in range(3):
            assert (await guesser.post("/api/v1/console/session", json={"token": "guess"})).status_code == 401
        refused = await guesser.post("/api/v1/console/session", json={"token": "dev-dispatcher-token"})
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 300
        # Another address is not locked out by the guesser.
        signed_in = await colleague.post("/api/v1/console/session", json={"token": "dev-dispatcher-token"})
        assert signed_in.status_code == 201, signed_in.text


async def test_unknown_bearer_tokens_count_as_failed_sign_ins_too(dispatch: FastAPI) -> None:
    async with await _client(dispatch) as client:
        for _ in range(3):
            response = await client.get("/api/v1/incidents", headers={"Authorization": "Bearer guess"})
            assert response.status_code == 401
        response = await client.get("/api/v1/incidents", headers={"Authorization": "Bearer dev-dispatcher-token"})
        assert response.status_code == 429 and "Retry-After" in response.headers
        # Its console sign-in shares the count.
        assert (await client.post("/api/v1/console/session", json={"token": "guess"})).status_code == 429


def test_the_throttle_forgets_failures_once_the_window_has_passed() -> None:
    throttle = AuthFailureThrottle(allowed=2, window_s=60)

    class Client:
        host = "10.0.0.9"

    class Req:
        client = Client()

    request = Req()
    throttle.failed(request, now=0.0)  # type: ignore[arg-type]
    throttle.failed(request, now=10.0)  # type: ignore[arg-type]
    with pytest.raises(HTTPException) as refused:
        throttle.check(request, now=30.0)  # type: ignore[arg-type]
    assert refused.value.headers == {"Retry-After": "30"}
    throttle.check(request, now=61.0)  # type: ignore[arg-type]  # the first failure has aged out: one left


def test_the_throttle_keeps_a_bounded_number_of_addresses() -> None:
    throttle = AuthFailureThrottle(allowed=5, window_s=60, max_clients=100)

    class Req:
        def __init__(self, host: str) -> None:
            self.client = type("C", (), {"host": host})()

    for n in range(1000):
        throttle.failed(Req(f"10.1.{n // 256}.{n % 256}"), now=float(n) / 100)  # type: ignore[arg-type]
    assert len(throttle._failures) == 100


def test_tokens_are_found_by_constant_time_comparison_of_each() -> None:
    principals = {"tok-a": ApiPrincipal(role=Role.ADMIN, name="a"), "tok-b": ApiPrincipal(role=Role.OPS, name="b")}
    assert find_principal(principals, "tok-b") == principals["tok-b"]
    assert find_principal(principals, "tok-") is None
    assert find_principal(principals, "tok-bb") is None
    assert find_principal({}, "tok-a") is None


async def test_readyz_is_no_way_around_the_sign_in_throttle(dispatch: FastAPI) -> None:
    async with await _client(dispatch) as client:
        for _ in range(3):
            response = await client.get("/readyz", headers={"Authorization": "Bearer guess"})
            assert response.status_code == 503  # nothing is started: the probe still answers
        # The guesses counted: the address is throttled on the API, and /readyz shows it no text.
        assert (await client.get("/api/v1/incidents", headers={"Authorization": "Bearer guess"})).status_code == 429
        checks = (await client.get("/readyz", headers={"Authorization": "Bearer dev-ops-token"})).json()["checks"]
        assert checks["kafka"] == "error: AssertionError", checks  # the kind, not its text
    async with await _client(dispatch, "10.0.0.2") as colleague:
        checks = (await colleague.get("/readyz", headers={"Authorization": "Bearer dev-ops-token"})).json()["checks"]
        assert checks["kafka"] == "error: AssertionError: runtime not started", checks


async def test_wrong_alertmanager_tokens_count_as_failed_sign_ins(tmp_path: Path) -> None:
    app = _dispatch(tmp_path, alertmanager_token="a-long-alertmanager-secret")
    body = {"version": "4", "status": "firing", "alerts": []}
    async with await _client(app) as client:
        for _ in range(3):
            response = await client.post(
                "/api/v1/platform-alerts/alertmanager", json=body, headers={"Authorization": "Bearer guess"}
            )
            assert response.status_code == 401, response.text
        response = await client.post(
            "/api/v1/platform-alerts/alertmanager",
            json=body,
            headers={"Authorization": "Bearer a-long-alertmanager-secret"},
        )
        assert response.status_code == 429
