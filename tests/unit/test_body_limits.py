"""Client-controlled sizes in API bodies are bounded: a huge list or string is a 422, not a load."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.care_record.elder.models import ElderUpdate, HealthArchive
from services.dispatch.incident.models import NoteCreate
from services.dispatch.responder.models import ResponderCreate, ResponderUpdate, Shift

RESPONDER = {"kind": "neighbour_helper", "name": "王阿姨", "phone": "13900000000"}


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (ResponderCreate, {**RESPONDER, "skills": ["first_aid"] * 17}, "skills"),
        (ResponderCreate, {**RESPONDER, "schedule": [{"start": "08:00", "end": "18:00"}] * 29}, "schedule"),
        (ResponderUpdate, {"skills": ["first_aid"] * 17}, "skills"),
        (Shift, {"start": "08:00" + " " * 10_000, "end": "18:00"}, "start"),
        (HealthArchive, {"conditions": ["x" * 201]}, "conditions"),
        (HealthArchive, {"medications": ["aspirin"] * 51}, "medications"),
        (ElderUpdate, {"categories": ["dementia"] * 17}, "categories"),
        (NoteCreate, {"text": "x" * 4001}, "text"),
    ],
)
def test_oversized_bodies_are_refused_with_the_field(model: type[BaseModel], body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        model.model_validate(body)
    assert field in str(error.value)


def test_sizes_within_the_limits_are_accepted() -> None:
    ResponderCreate.model_validate(
        {**RESPONDER, "skills": ["first_aid"], "schedule": [{"start": "08:00", "end": "18:00"}]}
    )
    HealthArchive.model_validate({"conditions": ["高血压"] * 50})
