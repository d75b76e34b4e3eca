"""Decoding 3G* watch frames into canonical events: a table of frames per type, quirks included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eldercare.envelope import device_event_id, from_timestamp
from eldercare.topics import ALARMS, TELEMETRY
from eldercare.v1 import events_pb2 as pb
from gateway.watch.decode import alarm_kinds, decode_frame
from gateway.watch.framing import parse_frame

# The position date is DDMMYY: 220414 is 22 April 2014.
NOW = datetime(2014, 4, 22, 13, 50, tzinfo=UTC)
TAIL = "4,1,460,0,9360,4082,131,9360,4092,148,9360,4091,143,9360,4153,141"


def frame(content: str, *, vendor: str = "3G", device: str = "8800000015") -> bytes:
    return f"[{vendor}*{device}*{len(content):04X}*{content}]".encode()


def position(status: str = "00000000", *, lat: str = "22.571707,N", lon: str = "113.8613968,E", fix: str = "A") -> str:
    return f"220414,134652,{fix},{lat},{lon},0.1,12.5,100,7,60,90,1000,50,{status},{TAIL}"


def decode(raw: bytes):  # type: ignore[no-untyped-def]
    return decode_frame(parse_frame(raw), NOW)


def test_lk_is_a_heartbeat_answered_with_lk() -> None:
    uplink = decode(frame("LK"))
    assert uplink.reply == "LK" and not uplink.alarm
    [heartbeat] = uplink.events
    assert heartbeat.kind == "heartbeat" and heartbeat.topic == TELEMETRY
    assert not heartbeat.envelope.HasField("battery")


def test_lk_with_steps_and_battery_carries_both() -> None:
    uplink = decode(frame("LK,5230,3,84"))
    heartbeat, steps = uplink.events
    assert heartbeat.envelope.battery == 84
    assert (steps.kind, steps.envelope.vitals.steps) == ("vitals", 5230)
    assert uplink.problem is None


@pytest.mark.parametrize("kind", ["UD", "UD2", "UD3", "UD_LTE", "UD_WCDMA", "WT"])
def test_every_position_type_is_a_location_without_a_reply(kind: str) -> None:
    uplink = decode(frame(f"{kind},{position()}"))
    [message] = uplink.events
    assert uplink.reply is None and message.kind == "location" and message.topic == TELEMETRY
    envelope = message.envelope
    assert (envelope.location.lat, envelope.location.lon) == (22.571707, 113.8613968)
    assert envelope.location.source == pb.LOCATION_SOURCE_GPS
    assert (envelope.location.speed_kmh, envelope.location.course_deg, envelope.location.altitude_m) == (0.1, 12.5, 100)
    assert envelope.location.satellites == 7
    assert (envelope.location_report.valid, envelope.location_report.signal, envelope.battery) == (True, 60, 90)
    assert from_timestamp(envelope.occurred_at) == datetime(2014, 4, 22, 13, 46, 52, tzinfo=UTC)
    assert envelope.producer == "gateway-watch"


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        ("22.5,N", "113.8,E", (22.5, 113.8)),
        ("22.5,S", "113.8,W", (-22.5, -113.8)),
        ("-22.5,", "-113.8,", (-22.5, -113.8)),  # empty letters: the number's own sign
        ("22.5,", "113.8,", (22.5, 113.8)),
        ("-22.5,S", "-113.8,W", (-22.5, -113.8)),  # a sign and a letter: negative once, not twice
        (" 022.500000,N", "  113.800000,E", (22.5, 113.8)),  # spaces and zero padding
        ("22.5,n", "113.8,w", (22.5, -113.8)),
    ],
)
def test_coordinates_take_hemisphere_letters_and_their_own_signs(
    lat: str, lon: str, expected: tuple[float, float]
) -> None:
    [message] = decode(frame(f"UD,{position(lat=lat, lon=lon)}")).events
    assert (message.envelope.location.lat, message.envelope.location.lon) == expected


def test_no_fix_means_no_location_but_the_report_and_the_networks_stay() -> None:
    [message] = decode(frame(f"UD,{position(fix='V', lat='0.000000,N', lon='0.000000,E')}")).events
    envelope = message.envelope
    assert not envelope.HasField("location")
    assert envelope.location_report.valid is False
    assert (envelope.radio.mcc, envelope.radio.mnc, len(envelope.radio.cells)) == (460, 0, 4)
    assert (envelope.radio.cells[0].lac, envelope.radio.cells[0].cid, envelope.radio.cells[0].signal) == (
        9360,
        4082,
        131,
    )


def test_wifi_networks_are_kept_names_with_brackets_included() -> None:
    body = (
        "UD_LTE,220414,134652,V,0,,0,,0,0,0,0,50,80,0,0,00000000,1,1,460,11,9360,4082,131,"
        "2,My[Home],aa:bb:cc:dd:ee:ff,-60,,00-11-22-33-44-55,-71,25"
    )
    [message] = decode(frame(body)).events
    wifi = message.envelope.radio.wifi
    assert [(w.ssid, w.mac, w.signal) for w in wifi] == [
        ("My[Home]", "aa:bb:cc:dd:ee:ff", -60),
        ("", "00-11-22-33-44-55", -71),
    ]


def test_a_broken_network_tail_keeps_the_position() -> None:
    uplink = decode(frame(f"UD,{position()[: -len(TAIL)]}3,1,460,0,9360,x"))
    [message] = uplink.events
    assert message.envelope.location.lat == 22.571707
    assert uplink.problem == "bad_network"


def test_a_short_position_is_counted_and_still_an_event() -> None:
    uplink = decode(frame("UD,220414,134652,A,22.5,N"))
    assert uplink.problem == "short_position"
    assert not uplink.events[0].envelope.HasField("location")


@pytest.mark.parametrize(
    ("status", "kinds"),
    [
        ("00010000", ["sos"]),
        ("00200000", ["fall"]),
        ("00400000", ["fall"]),
        ("00100000", ["device_removed"]),
        ("00004000", ["power_off"]),
        ("00000002", ["geofence_exit"]),
        ("00040000", ["geofence_exit"]),
        ("00000004", ["geofence_enter"]),
        ("00080000", ["geofence_enter"]),
        ("00000001", ["low_battery"]),
        ("00020000", ["low_battery"]),
        ("00210001", ["sos", "fall", "low_battery"]),  # every set bit, most urgent first
        ("00000010", ["sos"]),  # motion only: no known alarm bit
        ("00000000", ["sos"]),
        ("0001", ["low_battery"]),  # four-digit status words of old models
    ],
)
def test_the_status_word_names_the_alarms(status: str, kinds: list[str]) -> None:
    assert alarm_kinds(int(status, 16)) == kinds


def test_an_sos_frame_is_an_sos_on_the_alarm_topic_with_its_position_and_the_reply_al() -> None:
    uplink = decode(frame(f"AL,{position('00010000')}"))
    assert (uplink.reply, uplink.alarm) == ("AL", True)
    [sos] = uplink.events
    assert (sos.kind, sos.topic, sos.envelope.WhichOneof("body")) == ("sos", ALARMS, "sos")
    assert sos.envelope.location.lat == 22.571707
    assert sos.envelope.battery == 90


def test_al_lte_and_other_al_types_are_alarms_too() -> None:
    for kind in ("AL_LTE", "ALCUSTOMER"):
        assert decode(frame(f"{kind},{position('00200000')}")).events[0].kind == "fall"


def test_device_alarms_carry_their_type() -> None:
    removed, battery = decode(frame(f"AL,{position('00100001')}")).events
    assert (removed.kind, removed.envelope.alarm.type) == ("alarm", pb.DEVICE_ALARM_TYPE_DEVICE_REMOVED)
    assert battery.envelope.alarm.type == pb.DEVICE_ALARM_TYPE_LOW_BATTERY
    assert removed.envelope.event_id != battery.envelope.event_id


def test_an_alarm_with_a_broken_body_still_raises_an_sos() -> None:
    uplink = decode(frame("AL,garbage"))
    assert [message.kind for message in uplink.events] == ["sos"]
    assert uplink.reply == "AL" and uplink.problem is not None


def test_a_resent_alarm_has_the_same_event_id_and_a_new_press_another() -> None:
    first = decode(frame(f"AL,{position('00010000')}")).events[0].envelope
    resent = decode_frame(parse_frame(frame(f"AL,{position('00010000')}")), datetime(2014, 4, 22, 14, tzinfo=UTC))
    later = decode(frame(f"AL,{position('00010000').replace('134652', '134710')}")).events[0].envelope
    assert resent.events[0].envelope.event_id == first.event_id
    assert later.event_id != first.event_id
    assert first.event_id == device_event_id("8800000015", first.device_event_id)


def test_an_alarm_from_a_watch_with_an_unset_clock_is_never_merged_with_a_later_one() -> None:
    unset = f"AL,{position('00010000').replace('220414', '010100')}"
    one = decode_frame(parse_frame(frame(unset)), NOW).events[0].envelope
    two = decode_frame(parse_frame(frame(unset)), datetime(2014, 4, 22, 15, tzinfo=UTC)).events[0].envelope
    assert one.event_id != two.event_id
    assert from_timestamp(one.occurred_at) == datetime(2000, 1, 1, 13, 46, 52, tzinfo=UTC)


def test_heartbeats_at_different_times_are_different_events() -> None:
    one = decode_frame(parse_frame(frame("LK,0,0,80")), NOW).events[0]
    two = decode_frame(parse_frame(frame("LK,0,0,80")), datetime(2014, 4, 22, 13, 55, tzinfo=UTC)).events[0]
    assert one.envelope.event_id != two.envelope.event_id


@pytest.mark.parametrize(
    ("content", "label", "reading"),
    [
        ("PULSE,72", "PULSE", {"heart_rate": 72.0}),
        ("heart,110", "PULSE", {"heart_rate": 110.0}),
        ("bphrt,128,85,70,,,,", "BPHRT", {"systolic": 128.0, "diastolic": 85.0, "heart_rate": 70.0}),
        ("BLOOD,140,90", "BPHRT", {"systolic": 140.0, "diastolic": 90.0}),
        ("TEMP,36.6", "TEMP", {"body_temp": 36.6}),
        ("btemp2,1,37.2", "TEMP", {"body_temp": 37.2}),
        ("oxygen,1,97", "OXYGEN", {"spo2": 97.0}),
    ],
)
def test_vitals(content: str, label: str, reading: dict[str, float]) -> None:
    uplink = decode(frame(content))
    [message] = uplink.events
    assert uplink.label == label and uplink.reply is None
    vitals = message.envelope.vitals
    assert {field.name: value for field, value in vitals.ListFields()} == reading


@pytest.mark.parametrize("content", ["btemp2,0,36.5", "PULSE,0", "PULSE,", "oxygen,1,abc", "TEMP,99"])
def test_vitals_without_a_usable_reading_are_counted_not_sent(content: str) -> None:
    uplink = decode(frame(content))
    assert uplink.events == () and uplink.problem == "no_reading"


@pytest.mark.parametrize(
    ("content", "reply"),
    [
        ("TKQ", "TKQ"),
        ("TKQ2", "TKQ2"),
        ("INIT,13800138000,1,1,0", "INIT,1"),
        ("JXTK,1,2,1,1,\x01\x02", "JXTKR,1"),
        ("TK,#!AMR\n\x00", "TK,1"),
    ],
)
def test_replies_of_the_protocol(content: str, reply: str) -> None:
    uplink = decode(frame(content))
    assert (uplink.reply, uplink.events) == (reply, ())


def test_any_other_type_is_counted_never_an_error() -> None:
    uplink = decode(frame("CONFIG,TY:g36a,UL:60,SY:0"))
    assert (uplink.label, uplink.known, uplink.events, uplink.reply) == ("other", False, (), None)
