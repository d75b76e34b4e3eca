"""vitals: each reading alone, their bounds, and a payload without any reading."""

from __future__ import annotations

from typing import Any

import pytest

from eldercare.v1 import events_pb2 as pb
from tests.unit.gateway.payloads.contract import (
    MISSING,
    doc,
    mapped,
    reject,
)


@pytest.mark.parametrize(
    ("fields", "body"),
    [
        pytest.param({"heart_rate": 72}, pb.Vitals(heart_rate=72), id="vitals-hr"),
        pytest.param(
            {"heart_rate": MISSING, "spo2": 97.5},
            pb.Vitals(spo2=97.5),
            id="vitals-spo2-only",
        ),
        pytest.param(
            {"heart_rate": MISSING, "systolic": 128, "diastolic": 82},
            pb.Vitals(systolic=128, diastolic=82),
            id="vitals-bp-only",
        ),
        pytest.param(
            {"heart_rate": MISSING, "body_temp": 36.6},
            pb.Vitals(body_temp=36.6),
            id="vitals-temp-only",
        ),
        pytest.param(
            {"heart_rate": MISSING, "steps": 0},
            pb.Vitals(steps=0),
            id="vitals-zero-steps-is-a-reading",
        ),
        pytest.param(
            {
                "heart_rate": 58.5,
                "spo2": 99,
                "systolic": 140,
                "diastolic": 90,
                "body_temp": 37.2,
                "steps": 4321,
            },
            pb.Vitals(heart_rate=58.5, spo2=99, systolic=140, diastolic=90, body_temp=37.2, steps=4321),
            id="vitals-all",
        ),
        pytest.param(
            {
                "heart_rate": 0,
                "spo2": 0,
                "systolic": 0,
                "diastolic": 0,
                "body_temp": 20,
                "steps": 0,
            },
            pb.Vitals(heart_rate=0, spo2=0, systolic=0, diastolic=0, body_temp=20, steps=0),
            id="vitals-lower-bounds",
        ),
        pytest.param(
            {
                "heart_rate": 350,
                "spo2": 100,
                "systolic": 400,
                "diastolic": 300,
                "body_temp": 46,
                "steps": 10_000_000,
            },
            pb.Vitals(heart_rate=350, spo2=100, systolic=400, diastolic=300, body_temp=46, steps=10**7),
            id="vitals-upper-bounds",
        ),
        pytest.param(
            {"heart_rate": 72, "spo2": None},
            pb.Vitals(heart_rate=72),
            id="vitals-null-reading-is-absent",
        ),
    ],
)
def test_fields_are_mapped(fields: dict[str, Any], body: Any) -> None:
    assert mapped("vitals", fields) == body


INVALID_VITALS = [
    pytest.param({"heart_rate": -1}, "heart_rate", id="hr<0"),
    pytest.param({"heart_rate": 350.5}, "heart_rate", id="hr>350"),
    pytest.param({"heart_rate": True}, "heart_rate", id="hr-bool"),
    pytest.param({"heart_rate": [72]}, "heart_rate", id="hr-list"),
    pytest.param({"spo2": -0.1}, "spo2", id="spo2<0"),
    pytest.param({"spo2": 100.1}, "spo2", id="spo2>100"),
    pytest.param({"spo2": False}, "spo2", id="spo2-bool"),
    pytest.param({"systolic": -1}, "systolic", id="systolic<0"),
    pytest.param({"systolic": 400.1}, "systolic", id="systolic>400"),
    pytest.param({"diastolic": -1}, "diastolic", id="diastolic<0"),
    pytest.param({"diastolic": 300.1}, "diastolic", id="diastolic>300"),
    pytest.param({"body_temp": 19.9}, "body_temp", id="temp<20"),
    pytest.param({"body_temp": 46.1}, "body_temp", id="temp>46"),
    pytest.param({"body_temp": 98.6}, "body_temp", id="temp-fahrenheit"),
    pytest.param({"steps": -1}, "steps", id="steps<0"),
    pytest.param({"steps": 10_000_001}, "steps", id="steps-huge"),
    pytest.param({"steps": 5.0}, "steps", id="steps-float"),
    pytest.param({"steps": 5.5}, "steps", id="steps-fraction"),
    pytest.param({"steps": "5"}, "steps", id="steps-string"),
    pytest.param({"steps": True}, "steps", id="steps-bool"),
    pytest.param({"heart_rate": MISSING}, "heart_rate", id="no-reading"),
    pytest.param(
        {
            "heart_rate": None,
            "spo2": None,
            "systolic": None,
            "diastolic": None,
            "body_temp": None,
            "steps": None,
        },
        "steps",
        id="all-readings-null",
    ),
    pytest.param(
        {"heart_rate": MISSING, "pulse": 72, "temperature": 36.6},
        "heart_rate",
        id="only-unknown-readings",
    ),
]


@pytest.mark.parametrize(("fields", "mentions"), INVALID_VITALS)
def test_invalid_vitals_are_rejected(fields: dict[str, Any], mentions: str) -> None:
    reject("vitals", doc("vitals", **fields), "invalid_field", mentions)
