"""location: a location report's top-level fix (the location object any kind may carry: test_every_kind.py)."""

from __future__ import annotations

from typing import Any

import pytest

from eldercare.v1 import events_pb2 as pb
from tests.unit.gateway.payloads.contract import (
    MISSING,
    accept,
    doc,
    mapped,
    reject,
)


def test_the_body_is_an_empty_location_report() -> None:
    assert mapped("location", {}) == pb.LocationReport()


INVALID_LOCATION_KIND = [
    pytest.param({"lat": MISSING, "lon": MISSING}, "missing_field", "lat", id="no-fix-at-all"),
    pytest.param({"lat": None, "lon": None}, "missing_field", "lat", id="null-fix"),
    pytest.param({"lon": MISSING}, "missing_field", "lon", id="lat-without-lon"),
    pytest.param({"lat": MISSING}, "missing_field", "lat", id="lon-without-lat"),
    pytest.param({"lat": None}, "missing_field", "lat", id="lat-null-lon-set"),
    pytest.param({"lon": MISSING, "location": {"lat": 1, "lon": 2}}, "missing_field", "lon", id="half-top-level-fix"),
    pytest.param({"lat": 90.5}, "invalid_field", "lat", id="lat>90"),
    pytest.param({"lat": -90.5}, "invalid_field", "lat", id="lat<-90"),
    pytest.param({"lon": 180.5}, "invalid_field", "lon", id="lon>180"),
    pytest.param({"lon": -180.5}, "invalid_field", "lon", id="lon<-180"),
    pytest.param({"lat": True}, "invalid_field", "lat", id="lat-bool"),
    pytest.param({"lon": "east"}, "invalid_field", "lon", id="lon-word"),
    pytest.param({"accuracy_m": -0.1}, "invalid_field", "accuracy_m", id="accuracy<0"),
    pytest.param({"accuracy_m": False}, "invalid_field", "accuracy_m", id="accuracy-bool"),
    pytest.param({"source": "satellite"}, "invalid_field", "source", id="source-unknown"),
    pytest.param({"source": "Wifi"}, "invalid_field", "source", id="source-case"),
    pytest.param({"speed_kmh": -0.1}, "invalid_field", "speed_kmh", id="speed<0"),
    pytest.param({"speed_kmh": 1000.1}, "invalid_field", "speed_kmh", id="speed>1000"),
    pytest.param({"speed_kmh": True}, "invalid_field", "speed_kmh", id="speed-bool"),
]


@pytest.mark.parametrize(("fields", "reason", "mentions"), INVALID_LOCATION_KIND)
def test_invalid_location_report_is_rejected(fields: dict[str, Any], reason: str, mentions: str) -> None:
    # No fix (or half a fix) is a missing required field; a bad value is an invalid one.
    reject("location", doc("location", **fields), reason, mentions)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"accuracy_m": 8, "source": "gps", "speed_kmh": 3.6},
            pb.Location(lat=31.95, lon=118.75, accuracy_m=8, source=pb.LOCATION_SOURCE_GPS, speed_kmh=3.6),
            id="top-level-full",
        ),
        pytest.param(
            {"lat": 90, "lon": -180, "accuracy_m": 0, "speed_kmh": 0, "source": "lbs"},
            pb.Location(lat=90, lon=-180, accuracy_m=0, speed_kmh=0, source=pb.LOCATION_SOURCE_LBS),
            id="top-level-bounds",
        ),
        pytest.param(
            {"accuracy_m": 100_000, "speed_kmh": 1000},
            pb.Location(lat=31.95, lon=118.75, accuracy_m=100_000, speed_kmh=1000),
            id="top-level-upper-bounds",
        ),
        pytest.param(
            {
                "lat": 1.5,
                "lon": 2.5,
                "accuracy_m": 3,
                "source": "wifi",
                "location": {"lat": 10, "lon": 20, "accuracy_m": 30, "source": "gps"},
            },
            pb.Location(lat=1.5, lon=2.5, accuracy_m=3, source=pb.LOCATION_SOURCE_WIFI),
            id="top-level-wins-over-object",
        ),
        pytest.param(
            {
                "lat": MISSING,
                "lon": MISSING,
                "location": {"lat": 10, "lon": 20, "accuracy_m": 30, "source": "gps"},
            },
            pb.Location(lat=10, lon=20, accuracy_m=30, source=pb.LOCATION_SOURCE_GPS),
            id="object-only",
        ),
        pytest.param(
            {"lat": None, "lon": None, "location": {"lat": 10, "lon": 20}},
            pb.Location(lat=10, lon=20),
            id="null-top-level-uses-object",
        ),
    ],
)
def test_location_report_fix(fields: dict[str, Any], expected: pb.Location) -> None:
    envelope = accept("location", doc("location", **fields))
    assert envelope.location_report == pb.LocationReport()
    assert envelope.location == expected
