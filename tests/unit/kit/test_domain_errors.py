"""Every service's domain errors reach HTTP through one mapping: 404, 409, 422 with the error's text."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from eldercare.errors import Conflict, Invalid, NotFound
from eldercare.http import install_error_handlers
from services.dispatch.incident.service import IllegalTransition, IncidentNotFound


class ElderNotFound(NotFound):
    # As monitoring's (whose models cannot be imported beside care-record's in one process).
    what = "elder"
    hint = " (monitoring knows the elders care-record has registered)"


def app_raising(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/")
    async def fail() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (NotFound("no reminder r1 for elder e1"), 404, "no reminder r1 for elder e1"),
        (IncidentNotFound("i-7"), 404, "no incident with id i-7"),
        (ElderNotFound("E1"), 404, "no elder with id E1 (monitoring knows the elders care-record has registered)"),
        (Conflict("a device already bound"), 409, "a device already bound"),
        (
            IllegalTransition(action="resolve", status="cancelled", allowed_from=["open"]),
            409,
            "cannot resolve an incident that is cancelled (allowed from: open)",
        ),
        (Invalid("due_at needs a UTC offset"), 422, "due_at needs a UTC offset"),
    ],
)
async def test_a_domain_error_becomes_its_status_with_its_text(error: Exception, status: int, detail: str) -> None:
    transport = httpx.ASGITransport(app=app_raising(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/")
    assert (response.status_code, response.json()) == (status, {"detail": detail})
