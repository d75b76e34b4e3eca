"""Helpers of the dispatch-operations tests."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from tests.platform import DISPATCHER, Platform, eventually, new_device_id

# Each test works on its own patch of the map, far from the others, so responders
# registered by one test never show up as candidates in another.
_places = itertools.count()


def new_place() -> tuple[float, float]:
    """A point about 110 km north of the previous one."""
    return 20.0 + next(_places), 110.0


def offset(place: tuple[float, float], *, north_km: float = 0.0, east_km: float = 0.0) -> dict[str, float]:
    """A point so many km from `place` (small distances; 1° lat ≈ 111.2 km)."""
    import math

    lat = place[0] + north_km / 111.195
    lon = place[1] + east_km / (111.195 * math.cos(math.radians(place[0])))
    return {"lat": lat, "lon": lon}


async def api(platform: Platform, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
    """Call the dispatch API (as a dispatcher unless headers are given) and check the status code."""
    kwargs.setdefault("headers", DISPATCHER)
    response = await platform.http.request(method, platform.url("dispatch", path), **kwargs)
    assert response.status_code == expect, (method, path, response.status_code, response.text)
    return response.json() if response.content else None


async def open_incident(
    platform: Platform, place: tuple[float, float] | None, *, kind: str = "sos", device_id: str | None = None
) -> dict[str, Any]:
    """An alarm from a fresh device at `place`, through MQTT and the gateway; returns the incident."""
    device_id = device_id or new_device_id()
    payload: dict[str, Any] = {"event_id": uuid.uuid4().hex[:12], "ts": "2026-11-22T08:15:00Z"}
    if place is not None:
        payload["location"] = {"lat": place[0], "lon": place[1], "source": "gps"}
    await platform.publish(device_id, kind, payload)
    incidents = await eventually(lambda: platform.incidents_for(device_id))
    return incidents[0]


async def responder(platform: Platform, **fields: Any) -> dict[str, Any]:
    """Register a responder (phone and coverage defaulted)."""
    body = {"phone": "13800000000", "coverage_radius_km": 30, **fields}
    return await api(platform, "POST", "/api/v1/responders", json=body, expect=201)  # type: ignore[no-any-return]


async def timeline(platform: Platform, incident_id: str) -> list[dict[str, Any]]:
    return (await platform.incident(incident_id))["timeline"]  # type: ignore[no-any-return]
