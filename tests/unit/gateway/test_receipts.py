"""Alarm receipts: what the device is sent, and which coalesced repeats may be receipted at once."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from gateway.coalesce import AlarmCoalescer
from gateway.receipts import event_id_in, receipt_payload
from tests.unit.gateway.test_alarm_coalescer import alarm


def test_a_receipt_names_the_devices_event_id_and_when_the_platform_took_it() -> None:
    payload = orjson.loads(receipt_payload("a1b2", datetime(2026, 12, 2, 3, 0, 1, 250000, tzinfo=UTC)))
    assert payload == {"type": "receipt", "event_id": "a1b2", "received_at": "2026-12-02T03:00:01.250Z"}


def test_the_event_id_of_a_raw_payload_is_found_without_parsing_it() -> None:
    assert event_id_in(b'{"ts": 1, "event_id" : "e-7"}') == "e-7"
    assert event_id_in(b'{"event_id": 7}') is None  # not a string: the contract has no id there
    assert event_id_in(b'{"event_id": "' + b"x" * 65 + b'"}') is None
    assert event_id_in(b"not json") is None


def test_repeats_are_receipted_at_once_but_a_resend_of_the_opener_waits_for_kafka() -> None:
    coalescer = AlarmCoalescer(10.0)
    opener = alarm("D1", "e0")
    assert coalescer.admit(opener, now=0.0)
    # Another press counts into the incident the opener raises: receipted now.
    assert not coalescer.admit(alarm("D1", "e1"), now=1.0)
    assert coalescer.receipt_now("D1", "sos", "e1")
    # The opener resent (no receipt yet) before it is on Kafka: a receipt would claim what is not true.
    assert not coalescer.admit(alarm("D1", "e0"), now=2.0)
    assert not coalescer.receipt_now("D1", "sos", "e0")
    coalescer.on_kafka(opener)
    assert coalescer.receipt_now("D1", "sos", "e0")


def test_an_opener_stuck_on_its_way_to_kafka_outlasts_its_window() -> None:
    coalescer = AlarmCoalescer(1.0)
    opener = alarm("D1", "e0")
    assert coalescer.admit(opener, now=0.0)
    assert not coalescer.admit(alarm("D1", "e0"), now=0.5)  # resent during a Kafka outage
    [summary] = coalescer.due(now=1.0)
    assert summary.envelope.device_event_id == "e0"
    # The next window still knows its opener is not on Kafka.
    assert not coalescer.admit(alarm("D1", "e0"), now=1.5)
    assert not coalescer.receipt_now("D1", "sos", "e0")
    coalescer.on_kafka(summary)
    assert coalescer.receipt_now("D1", "sos", "e0")


def test_a_device_alarm_is_keyed_by_its_type() -> None:
    coalescer = AlarmCoalescer(10.0)
    assert coalescer.admit(alarm("D1", "b0", kind="alarm", type="low_battery"), now=0.0)
    subtype = alarm("D1", "b0", kind="alarm", type="low_battery").envelope.alarm.type
    assert not coalescer.receipt_now("D1", "alarm", "b0", subtype)
    assert coalescer.receipt_now("D1", "alarm", "b0")  # no open window for subtype 0
