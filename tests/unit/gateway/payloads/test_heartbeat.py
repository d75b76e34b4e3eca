"""heartbeat: the signal strength."""

from __future__ import annotations

from typing import Any

import pytest

from eldercare.v1 import events_pb2 as pb
from tests.unit.gateway.payloads.contract import (
    doc,
    mapped,
    reject,
)


@pytest.mark.parametrize(
    ("fields", "body"),
    [
        pytest.param({}, pb.Heartbeat(), id="heartbeat-bare"),
        pytest.param({"signal": 0}, pb.Heartbeat(signal=0), id="heartbeat-sig0"),
        pytest.param({"signal": 57}, pb.Heartbeat(signal=57), id="heartbeat-sig"),
        pytest.param({"signal": 100}, pb.Heartbeat(signal=100), id="heartbeat-sig100"),
    ],
)
def test_fields_are_mapped(fields: dict[str, Any], body: Any) -> None:
    assert mapped("heartbeat", fields) == body


@pytest.mark.parametrize(
    "signal",
    [
        pytest.param(-1, id="negative"),
        pytest.param(101, id="over-100"),
        pytest.param(50.0, id="float"),
        pytest.param(50.5, id="fraction"),
        pytest.param("50", id="string"),
        pytest.param(True, id="bool"),
    ],
)
def test_invalid_heartbeat_signal_is_rejected(signal: Any) -> None:
    reject("heartbeat", doc("heartbeat", battery=80, signal=signal), "invalid_field", "signal")
