"""The alarm lane's per-device coalescing: the first alarm at once, repeats as one counted event per window."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from gateway.coalesce import AlarmCoalescer
from gateway.payloads import DeviceMessage, parse_device_message

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def alarm(device: str, event_id: str, kind: str = "sos", **fields: object) -> DeviceMessage:
    payload = orjson.dumps({"event_id": event_id, "ts": "2026-12-02T03:00:00Z", **fields})
    message = parse_device_message(f"eldercare/v1/devices/{device}/{kind}", payload, NOW)
    assert isinstance(message, DeviceMessage), message
    return message


def test_the_first_alarm_goes_through_and_repeats_become_one_event_with_their_count() -> None:
    coalescer = AlarmCoalescer(10.0)
    assert coalescer.admit(alarm("D1", "e0"), now=0.0)
    repeats = [alarm("D1", f"e{n}", battery=n % 100) for n in range(1, 1001)]
    assert not any(coalescer.admit(message, now=0.001 * n) for n, message in enumerate(repeats, 1))
    assert coalescer.due(now=9.9) == []  # the window is still open
    [summary] = coalescer.due(now=10.0)
    # The newest repeat stands for the whole window: its battery, and the 999 others in `repeats`.
    assert summary.envelope.device_event_id == "e1000"
    assert summary.envelope.repeats == 999
    assert summary.envelope.battery == 1000 % 100


def test_other_devices_and_other_kinds_are_never_held_back() -> None:
    coalescer = AlarmCoalescer(10.0)
    assert coalescer.admit(alarm("D1", "e0"), now=0.0)
    for n in range(100):
        coalescer.admit(alarm("D1", f"r{n}"), now=0.01 * n)
    assert all(coalescer.admit(alarm(f"other-{n}", "x"), now=0.5) for n in range(50))
    assert coalescer.admit(alarm("D1", "f0", kind="fall"), now=0.6)  # a fall is news after an SOS


def test_a_steady_stream_costs_one_event_per_window_and_a_quiet_window_closes() -> None:
    coalescer = AlarmCoalescer(1.0)
    forwarded = summaries = 0
    now = 0.0
    for n in range(1000):  # 10 s of a press every 10 ms
        now = n * 0.01
        forwarded += coalescer.admit(alarm("D1", f"e{n}"), now=now)
        summaries += len(coalescer.due(now))
    assert forwarded == 1
    assert 9 <= summaries <= 10
    # Then silence: the last window's count goes out, the next one closes without an event, and a
    # later press goes straight through again.
    summaries += len(coalescer.due(now + 1.0))
    assert coalescer.due(now + 2.0) == []
    assert coalescer.admit(alarm("D1", "later"), now=now + 3.0)


def test_a_summary_that_could_not_be_sent_keeps_its_count() -> None:
    coalescer = AlarmCoalescer(1.0)
    coalescer.admit(alarm("D1", "e0"), now=0.0)
    for n in range(1, 6):
        coalescer.admit(alarm("D1", f"e{n}"), now=0.1 * n)
    [summary] = coalescer.due(now=1.0)
    assert summary.envelope.repeats == 4
    coalescer.requeue(summary, now=1.0)
    coalescer.admit(alarm("D1", "e6"), now=1.5)
    [again] = coalescer.due(now=2.0)
    assert again.envelope.device_event_id == "e6"
    assert again.envelope.repeats == 5  # the five from before and itself


def test_a_cancel_is_not_a_repeat_of_another_device_alarm() -> None:
    coalescer = AlarmCoalescer(10.0)
    assert coalescer.admit(alarm("D1", "a0", kind="alarm", type="low_battery"), now=0.0)
    assert coalescer.admit(alarm("D1", "a1", kind="alarm", type="cancel", ref_event_id="f0"), now=0.1)


def test_zero_turns_it_off() -> None:
    coalescer = AlarmCoalescer(0)
    assert all(coalescer.admit(alarm("D1", f"e{n}"), now=0.0) for n in range(10))
    assert coalescer.due(now=100.0) == []


def test_repeats_are_counted_from_the_topic_and_one_in_a_hundred_is_parsed() -> None:
    coalescer = AlarmCoalescer(10.0)
    assert not coalescer.repeat_without_parsing("D1", "sos", now=0.0)  # nothing open yet: parse it
    assert coalescer.admit(alarm("D1", "e0"), now=0.0)
    assert not coalescer.repeat_without_parsing("D1", "sos", now=0.1)  # the first repeat is parsed
    assert not coalescer.admit(alarm("D1", "e1"), now=0.1)
    parsed = 0
    for n in range(2, 1001):
        if not coalescer.repeat_without_parsing("D1", "sos", now=0.1):
            parsed += 1
            assert not coalescer.admit(alarm("D1", f"e{n}"), now=0.1)
    assert 9 <= parsed <= 11
    assert not coalescer.repeat_without_parsing("D2", "sos", now=0.1)  # another device: its own window
    assert not coalescer.repeat_without_parsing("D1", "alarm", now=0.1)  # device alarms are always parsed
    [summary] = coalescer.due(now=10.0)
    assert summary.envelope.repeats == 999  # 1,000 repeats: the summary and 999 more
