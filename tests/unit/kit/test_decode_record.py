"""Every consumer's first step: a record is an envelope, or poison with the reason why."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord

from eldercare.kafka import PoisonRecord, decode_record
from eldercare.v1 import elders_pb2
from eldercare.v1 import events_pb2 as pb
from tests.platform import elder_envelope


def _record(value: bytes | None) -> ConsumerRecord[Any, Any]:
    return cast(ConsumerRecord, SimpleNamespace(value=value))  # decode_record reads only the value


def test_an_envelope_decodes() -> None:
    envelope = decode_record(_record(elder_envelope(elders_pb2.ElderSnapshot(elder_id="e-1"))))
    assert envelope.WhichOneof("body") == "elder" and envelope.elder.elder_id == "e-1"


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (None, "empty message value"),
        (b"", "empty message value"),
        (b"\xff\xff not protobuf", "not an Envelope protobuf"),
        (pb.Envelope(kind=pb.EVENT_KIND_ELDER).SerializeToString(), "envelope has no event_id"),
    ],
)
def test_anything_else_is_poison_with_its_reason(value: bytes | None, detail: str) -> None:
    with pytest.raises(PoisonRecord) as raised:
        decode_record(_record(value))
    assert raised.value.reason == "undecodable_envelope"
    assert raised.value.detail.startswith(detail)
