"""Shared HTTP error mapping: database refusals of a value are 4xx, outages 503, bounded 422s, never 500."""

from __future__ import annotations

import json
import math

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from eldercare.http import (
    MAX_ECHOED_CHARS,
    MAX_ECHOED_ERRORS,
    RequestModel,
    document_error_responses,
    install_error_handlers,
    ops_router,
    validation_errors,
)


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


class Reading(RequestModel):
    value: float
    note: str = Field("", max_length=10)


def _readings_app() -> FastAPI:
    app = _app()

    @app.post("/api/v1/readings")
    async def create(readings: list[Reading]) -> int:
        return len(readings)

    return app


async def test_a_non_finite_number_is_a_422_naming_the_field_not_a_500() -> None:
    transport = httpx.ASGITransport(app=_readings_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for literal in ("NaN", "Infinity", "-Infinity", "1e999"):
            response = await client.post(
                "/api/v1/readings", content=f'[{{"value": {literal}}}]', headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 422, response.text
            [error] = response.json()["detail"]
            assert error["loc"] == ["body", 0, "value"] and error["type"] == "finite_number"
            assert error["input"] in ("nan", "inf", "-inf")


async def test_a_422_echoes_a_bounded_prefix_of_a_huge_body_and_at_most_twenty_errors() -> None:
    huge = "x" * (10 * 1024 * 1024)
    many = json.dumps([{"value": "not a number"}] * 1000)
    transport = httpx.ASGITransport(app=_readings_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.post("/api/v1/readings", json=[{"value": 1, "note": huge}])
        assert response.status_code == 422
        assert len(response.content) < 4000
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", 0, "note"] and error["input"] == "x" * MAX_ECHOED_CHARS + "…"

        response = await client.post("/api/v1/readings", content=many, headers={"Content-Type": "application/json"})
        assert response.status_code == 422
        assert len(response.json()["detail"]) == MAX_ECHOED_ERRORS


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_rendered_errors_are_json_safe_and_bounded_whatever_the_input() -> None:
    inputs = [
        math.nan,
        -math.inf,
        2**80,
        b"\x00" * 10_000,
        {"lat": math.nan},
        {"k": [math.nan] * 10_000},
        [0] * 1_000_000,
        Unprintable(),
        "é" * 1000,
    ]
    errors = [
        {"type": "t", "loc": ("body", "k" * 1000, 3), "msg": "m", "input": value, "ctx": {"error": ValueError("v")}}
        for value in inputs
    ]
    rendered = validation_errors(errors)
    json.dumps(rendered, allow_nan=False)
    for item in rendered:
        assert len(item["loc"][1]) == MAX_ECHOED_CHARS and item["loc"][2] == 3
        assert isinstance(item["input"], str) and len(item["input"]) <= MAX_ECHOED_CHARS + 1
        assert item["ctx"] == {"error": "v"}
    # What JSON carries as it is, and is short, is echoed as it came (a missing field's `{}` included).
    for value in (1.5, 7, None, {}, {"lat": 1.0, "tags": ["a"]}):
        assert validation_errors([{"type": "t", "loc": ("body",), "msg": "m", "input": value}])[0]["input"] == value
