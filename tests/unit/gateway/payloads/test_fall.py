"""fall: confidence and impact; a bad one is dropped and the alarm kept."""

from __future__ import annotations

from typing import Any

import pytest

from eldercare.v1 import events_pb2 as pb
from tests.unit.gateway.payloads.contract import (
    EVENT,
    TS_UTC,
    at,
    doc,
    mapped,
    salvage,
)


@pytest.mark.parametrize(
    ("fields", "body"),
    [
        pytest.param({}, pb.Fall(), id="fall-bare"),
        pytest.param({"confidence": 0.87}, pb.Fall(confidence=0.87), id="fall-conf"),
        pytest.param({"impact_g": 3.2}, pb.Fall(impact_g=3.2), id="fall-impact"),
        pytest.param(
            {"confidence": 0, "impact_g": 0},
            pb.Fall(confidence=0.0, impact_g=0.0),
            id="fall-zeros-are-kept",
        ),
        pytest.param(
            {"confidence": 1, "impact_g": 100},
            pb.Fall(confidence=1.0, impact_g=100.0),
            id="fall-upper-bounds",
        ),
    ],
)
def test_fields_are_mapped(fields: dict[str, Any], body: Any) -> None:
    assert mapped("fall", fields) == body


INVALID_FALL_FIELDS = [
    pytest.param("confidence", -0.01, id="confidence<0"),
    pytest.param("confidence", 1.01, id="confidence>1"),
    pytest.param("confidence", 87, id="confidence-percent"),
    pytest.param("confidence", True, id="confidence-bool"),
    pytest.param("confidence", "high", id="confidence-word"),
    pytest.param("confidence", [0.5], id="confidence-list"),
    pytest.param("impact_g", -0.1, id="impact<0"),
    pytest.param("impact_g", 100.1, id="impact>100"),
    pytest.param("impact_g", False, id="impact-bool"),
    pytest.param("impact_g", "3g", id="impact-word"),
]


@pytest.mark.parametrize(("field", "value"), INVALID_FALL_FIELDS)
def test_invalid_fall_field_is_dropped_and_the_rest_kept(field: str, value: Any) -> None:
    valid = {"confidence": 0.9, "impact_g": 3.5}
    fields = {**valid, field: value}
    envelope = salvage("fall", doc("fall", battery=30, **fields), "invalid_field", field)
    kept = {name: number for name, number in valid.items() if name != field}
    assert envelope.fall == pb.Fall(**kept)
    assert envelope.battery == 30
    assert envelope.device_event_id == EVENT
    assert at(envelope.occurred_at) == TS_UTC
