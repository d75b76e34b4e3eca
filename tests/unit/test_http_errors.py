"""Shared HTTP error mapping: database refusals of a value are 4xx, outages 503, never 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from eldercare.http import document_error_responses, install_error_handlers, ops_router


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/v1/too-big")
    async def too_big() -> None:
        raise DataError("SELECT … OFFSET $1", {}, OverflowError("value out of int64 range"))

    @app.get("/api/v1/down")
    async def down() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    app.include_router(ops_router(list))
    document_error_responses(app)
    return app


async def test_a_value_the_database_refuses_is_a_422_and_an_outage_a_503() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://api") as client:
        refused = await client.get("/api/v1/too-big")
        assert refused.status_code == 422
        assert refused.json() == {"detail": "a value is out of range or too long"}
        down = await client.get("/api/v1/down")
        assert down.status_code == 503
        assert down.headers["Retry-After"] == "2"


def test_the_openapi_document_names_the_shared_error_responses_and_the_metrics_media_type() -> None:
    schema = _app().openapi()
    responses = schema["paths"]["/api/v1/too-big"]["get"]["responses"]
    assert {"400", "401", "403", "404", "409", "429", "503"} <= set(responses)
    assert set(schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert "401" not in schema["paths"]["/healthz"]["get"]["responses"]


async def test_a_driver_refusal_wrapped_in_a_generic_dbapi_error_is_a_422() -> None:
    class StringDataRightTruncationError(Exception):
        sqlstate = "22001"

    class DriverError(Exception):
        """A driver exception type SQLAlchemy does not know, as asyncpg's are to it."""

    app = _app()

    @app.get("/api/v1/too-long")
    async def too_long() -> None:
        # The shape the asyncpg dialect produces: DBAPIError(orig=dialect Error) caused by asyncpg's error.
        try:
            raise StringDataRightTruncationError("value too long for type character varying(5)")
        except StringDataRightTruncationError as cause:
            orig = DriverError("value too long")
            orig.__cause__ = cause
            raise DBAPIError("INSERT …", {}, orig) from None

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        assert (await client.get("/api/v1/too-long")).status_code == 422


class Shape(BaseModel):
    polygon: list[tuple[float, float]]


def test_fixed_length_tuples_are_valid_openapi_31() -> None:
    app = _app()

    @app.post("/api/v1/shapes")
    async def create(shape: Shape) -> Shape:
        return shape

    polygon = app.openapi()["components"]["schemas"]["Shape"]["properties"]["polygon"]
    pair = polygon["items"]
    assert isinstance(pair["items"], dict)
    assert len(pair["items"]["anyOf"]) == 2 and pair["minItems"] == pair["maxItems"] == 2
