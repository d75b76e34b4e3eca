"""API checks run by tests/unit/test_api_input.py, each in an interpreter of its own.

The services' table models share SQLModel's metadata, and monitoring's `device_bindings`
would clash with care-record's in one process. Each run builds one service's app on a
SQLite file and drives it through ASGI without its lifespan (no brokers): validation
happens before any handler, and the lookups checked here need only the database.

    python -m tests.unit.api_scenarios non-finite SERVICE DIRECTORY
    python -m tests.unit.api_scenarios unknown-elder DIRECTORY

Each prints one JSON line with what it found.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from eldercare.settings import ServiceSettings

# As Python's json module reads them: NaN, ±inf, and a literal too large for a double.
NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e999")
# Write endpoints admit different roles; the first token not refused with 403 is used.
TOKENS = ("dev-admin-token", "dev-supervisor-token", "dev-dispatcher-token")
_SLOT = "__non_finite__"
_SETTINGS = {
    "dispatch": "services.dispatch.config:DispatchSettings",
    "care_record": "services.care_record.config:CareRecordSettings",
    "monitoring": "services.monitoring.config:MonitoringSettings",
}

Location = tuple[str | int, ...]


def build_app(service: str, directory: Path) -> FastAPI:
    module, name = _SETTINGS[service].split(":")
    settings_type: type[ServiceSettings] = getattr(importlib.import_module(module), name)
    settings = settings_type(env="test", database_url=f"sqlite+aiosqlite:///{directory / service}.db", api_rate_per_s=0)
    app: FastAPI = importlib.import_module(f"services.{service}.app").create_app(settings)
    return app


def numeric_slots(node: Any, components: dict[str, Any], depth: int = 0) -> Iterator[tuple[Location, Any]]:
    """Every number or integer the schema admits: its location, and a body holding _SLOT there."""
    if depth > 12 or not isinstance(node, dict):
        return
    if "$ref" in node:
        yield from numeric_slots(components[node["$ref"].rsplit("/", 1)[-1]], components, depth + 1)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in node.get(key, ()):
            yield from numeric_slots(branch, components, depth + 1)
    kind = node.get("type")
    if kind in ("number", "integer"):
        yield (), _SLOT
    elif kind == "object" or "properties" in node:
        for name, field in node.get("properties", {}).items():
            for location, value in numeric_slots(field, components, depth + 1):
                yield (name, *location), {name: value}
    elif kind == "array" and isinstance(node.get("items"), dict):
        for location, value in numeric_slots(node["items"], components, depth + 1):
            yield (0, *location), [value]


def _path_with(path: str, parameters: list[dict[str, Any]]) -> str:
    values = {p["name"]: (p.get("schema", {}).get("enum") or ["x"])[0] for p in parameters if p.get("in") == "path"}
    return re.sub(r"\{([^}]+)\}", lambda match: str(values.get(match.group(1), "x")), path)


async def non_finite(service: str, directory: Path) -> dict[str, Any]:
    """NaN, ±Infinity and 1e999 at every numeric location of every write body: each a 422 naming it."""
    app = build_app(service, directory)
    document = app.openapi()
    components = document.get("components", {}).get("schemas", {})
    probed: list[str] = []
    failures: list[str] = []
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                if schema is None:
                    continue
                url = _path_with(path, operation.get("parameters", []))
                seen: set[Location] = set()
                for location, body in numeric_slots(schema, components):
                    if location in seen:
                        continue
                    seen.add(location)
                    where = f"{method.upper()} {path} {'.'.join(map(str, location))}"
                    probed.append(where)
                    for literal in NON_FINITE:
                        # Built as text: json.dumps would write NaN and Infinity itself, but not 1e999.
                        content = json.dumps(body).replace(json.dumps(_SLOT), literal)
                        response = await _send(client, method, url, content)
                        failure = _refusal_problem(response, ("body", *location))
                        if failure is not None:
                            failures.append(f"{where} = {literal}: {failure}")
    await app.state.runtime.engine.dispose()
    return {"probed": probed, "failures": failures}


async def _send(client: httpx.AsyncClient, method: str, url: str, content: str) -> httpx.Response:
    response: httpx.Response | None = None
    for token in TOKENS:
        response = await client.request(
            method,
            url,
            content=content,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        if response.status_code != 403:
            break
    assert response is not None
    return response


def _refusal_problem(response: httpx.Response, location: Location) -> str | None:
    if response.status_code != 422:
        return f"answered {response.status_code}: {response.text[:300]}"
    errors = response.json().get("detail", [])
    if not any(tuple(e.get("loc", ())) == location and e.get("type") == "finite_number" for e in errors):
        return f"422 without a finite_number error at {list(location)}: {response.text[:300]}"
    return None


async def unknown_elder(directory: Path) -> dict[str, Any]:
    """Monitoring's writes keyed by an elder its read model does not hold are 404s; a known elder's succeed."""
    # Imported here: a care-record run must never load monitoring's tables.
    from eldercare import db
    from eldercare.envelope import utcnow
    from services.monitoring.app import MIGRATIONS
    from services.monitoring.elder.models import ElderProfile

    app = build_app("monitoring", directory)
    runtime = app.state.runtime
    await db.run_migrations(runtime.engine, MIGRATIONS)
    async with runtime.sessions() as session, session.begin():
        session.add(ElderProfile(elder_id="E-known", updated_at=utcnow()))
    fence = {"name": "home", "shape": "circle", "center_lat": 32.06, "center_lon": 118.77, "radius_m": 200}
    headers = {"Authorization": "Bearer dev-dispatcher-token"}
    answers: dict[str, Any] = {}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as client:
        for elder_id in ("E-unknown", "E-known"):
            thresholds = await client.put(f"/api/v1/elders/{elder_id}/vitals/thresholds", json={"spo2_low": 88})
            created = await client.post("/api/v1/geofences", json={**fence, "elder_id": elder_id})
            answers[elder_id] = {
                "thresholds": [thresholds.status_code, thresholds.json()],
                "geofence": [created.status_code, created.json()],
            }
    await runtime.engine.dispose()
    return answers


def main(argv: list[str]) -> None:
    if argv[0] == "non-finite":
        result = asyncio.run(non_finite(argv[1], Path(argv[2])))
    elif argv[0] == "unknown-elder":
        result = asyncio.run(unknown_elder(Path(argv[1])))
    else:
        raise SystemExit(f"unknown scenario {argv[0]!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
