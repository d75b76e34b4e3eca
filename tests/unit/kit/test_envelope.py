"""The hand-written fast paths of the envelope helpers agree with the library functions they replace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from eldercare.envelope import _DEVICE_EVENT_NAMESPACE, device_event_id, from_timestamp, to_timestamp

moments = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
) | st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 31), timezones=st.timezones())


@given(device=st.text(max_size=80), event=st.text(max_size=80))
def test_device_event_id_is_uuid5_of_device_and_event(device: str, event: str) -> None:
    assert device_event_id(device, event) == str(uuid.uuid5(_DEVICE_EVENT_NAMESPACE, f"{device}\x1f{event}"))


def test_device_event_id_is_a_known_value() -> None:
    # Pinned: event ids already on the topics and in inboxes must keep mapping to the same key.
    assert device_event_id("W1", "e1") == str(uuid.uuid5(_DEVICE_EVENT_NAMESPACE, "W1\x1fe1"))
    assert uuid.UUID(device_event_id("W1", "e1")).version == 5


@given(moment=moments)
def test_to_timestamp_matches_protobuf(moment: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(moment.astimezone(UTC))
    assert to_timestamp(moment) == expected


@given(moment=moments)
def test_from_timestamp_round_trips_and_matches_protobuf(moment: datetime) -> None:
    stamp = to_timestamp(moment)
    # Compared in UTC: aware datetimes in a fold (a clock set back) never compare equal across zones.
    assert from_timestamp(stamp) == moment.astimezone(UTC)
    assert from_timestamp(stamp) == stamp.ToDatetime(tzinfo=UTC)
    assert from_timestamp(stamp).tzinfo is UTC


def test_a_naive_moment_is_local_time_and_offsets_are_honoured() -> None:
    naive = datetime(2026, 11, 24, 3, 0, 0)
    assert from_timestamp(to_timestamp(naive)) == naive.astimezone(UTC)
    beijing = datetime(2026, 11, 24, 8, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    assert to_timestamp(beijing).seconds == int(datetime(2026, 11, 24, 0, 0, tzinfo=UTC).timestamp())
