"""/readyz names what failed to anyone, and the error's text only to a caller with an API token."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from eldercare.http import ops_router
from eldercare.settings import ApiPrincipal, Role


async def _database_down() -> None:
    raise OSError("connection to db-primary.internal:5432 refused")


def app_with(principals: dict[str, ApiPrincipal] | None) -> FastAPI:
    app = FastAPI()
    if principals is not None:
        app.state.principals = principals
    app.include_router(ops_router(lambda: [("database", _database_down)]))
    return app


async def readyz(app: FastAPI, headers: dict[str, str] | None = None) -> tuple[int, str]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/readyz", headers=headers or {})
    return response.status_code, response.json()["checks"]["database"]


async def test_without_a_token_only_the_kind_of_error_shows() -> None:
    app = app_with({"t-ops": ApiPrincipal(name="ops", role=Role.OPS)})
    assert await readyz(app) == (503, "error: OSError")
    assert await readyz(app, {"Authorization": "Bearer wrong"}) == (503, "error: OSError")
    status, text = await readyz(app, {"Authorization": "Bearer t-ops"})
    assert status == 503 and "db-primary.internal" in text


async def test_a_process_without_api_tokens_says_why() -> None:
    # The gateway lanes and the watch adapter: internal ops ports, and the reason is the point.
    status, text = await readyz(app_with(None))
    assert status == 503 and "refused" in text
