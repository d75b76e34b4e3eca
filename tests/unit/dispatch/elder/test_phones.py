"""Caller ids and care-record numbers made comparable, and which index row says who calls."""

from __future__ import annotations

import pytest

from eldercare.v1 import elders_pb2
from services.dispatch.call.service import best_match
from services.dispatch.elder.models import ElderPhone
from services.dispatch.elder.phones import PhoneKind, normalize_phone
from services.dispatch.elder.service import phone_rows


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0086-138-0013-8000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("025-8888-1234", "02588881234"),
        ("+86 25 8888 1234", "02588881234"),
        ("(025) 8888 1234", "02588881234"),
        ("12349", "12349"),
        ("+1 415 555 0100", "14155550100"),
    ],
)
def test_one_phone_written_many_ways_is_one_number(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "  ", "12", "anonymous", "138-0013-800x", "1" * 21])
def test_what_is_no_phone_number_matches_nothing(raw: str) -> None:
    assert normalize_phone(raw) is None


def _snapshot() -> elders_pb2.ElderSnapshot:
    return elders_pb2.ElderSnapshot(
        elder_id="e1",
        version=1,
        phone="025-8888-1234",
        bindings=[elders_pb2.DeviceBinding(device_id="D1", binding_seq=1, sim_number="+86 144 0000 0001")],
        contacts=[
            elders_pb2.ElderContact(name="张伟", relation="儿子", phone="13900001111"),
            elders_pb2.ElderContact(name="李娜", relation="", phone="not a number"),
        ],
    )


def test_a_snapshot_indexes_the_sim_the_elders_phone_and_each_contact() -> None:
    rows = phone_rows(_snapshot())
    assert [(r.phone, r.kind, r.device_id, r.label) for r in rows] == [
        ("14400000001", "sim", "D1", None),
        ("02588881234", "elder", None, None),
        ("13900001111", "contact", None, "张伟 (儿子)"),
    ]


def test_a_tombstone_indexes_nothing() -> None:
    snapshot = _snapshot()
    snapshot.deleted = True
    assert phone_rows(snapshot) == []


def _row(row_id: int, elder: str, kind: PhoneKind, device: str | None = None) -> ElderPhone:
    return ElderPhone(id=row_id, phone="13900001111", elder_id=elder, kind=kind.value, device_id=device)


def test_a_sim_beats_an_elders_phone_beats_a_contact() -> None:
    rows = [
        _row(1, "contact-of", PhoneKind.CONTACT),
        _row(2, "own", PhoneKind.ELDER),
        _row(3, "wearer", PhoneKind.SIM, "D"),
    ]
    match = best_match(rows, elders_with_incidents={"contact-of": 1})
    assert match is not None and (match.elder_id, match.kind, match.device_id) == ("wearer", PhoneKind.SIM, "D")


def test_a_contact_of_two_elders_leads_to_the_one_with_the_most_urgent_incident() -> None:
    rows = [
        _row(1, "mother", PhoneKind.CONTACT),
        _row(2, "father", PhoneKind.CONTACT),
        _row(3, "aunt", PhoneKind.CONTACT),
    ]
    assert best_match(rows, elders_with_incidents={"aunt": 3, "father": 1}).elder_id == "father"  # type: ignore[union-attr]
    assert best_match(rows, elders_with_incidents={}).elder_id == "mother"  # type: ignore[union-attr]


def test_an_unknown_number_matches_nobody() -> None:
    assert best_match([], elders_with_incidents={}) is None
