"""Watch frames -> the platform's canonical events (the same envelope, topics and id rules as MQTT).

Pure (no I/O). A frame whose body cannot be used is still answered and counted: the reply is
what keeps a watch from resending or reconnecting, and an alarm frame raises its alarm even
when its position part is broken, because a person pressed a button.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eldercare.envelope import device_event_id, timestamp_fields
from eldercare.v1 import events_pb2 as pb
from gateway.payloads import EVENT_KINDS, DeviceMessage, location_fields, present_fields
from gateway.watch.framing import Frame

PRODUCER = "gateway-watch"
POSITION_TYPES = frozenset({"UD", "UD2", "UD3", "UD_LTE", "UD_WCDMA", "WT"})
VOICE_TYPES = frozenset({"TK", "JXTK"})
# Device clocks further off than this are not trusted to tell two presses apart (see _device_event).
_PAST_SLACK = timedelta(days=7)
_FUTURE_SLACK = timedelta(days=1)
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}")

# Status word bits, in the order the common implementations test them; every set bit counts.
# (bit, alarm) where alarm is the canonical kind and, for kind "alarm", the device alarm type.
_STATUS_BITS: tuple[tuple[int, str], ...] = (
    (16, "sos"),
    (21, "fall"),
    (22, "fall"),
    (20, "device_removed"),
    (14, "power_off"),
    (1, "geofence_exit"),
    (18, "geofence_exit"),
    (2, "geofence_enter"),
    (19, "geofence_enter"),
    (0, "low_battery"),
    (17, "low_battery"),
)
_ALARM_TYPES = {
    "device_removed": pb.DEVICE_ALARM_TYPE_DEVICE_REMOVED,
    "power_off": pb.DEVICE_ALARM_TYPE_POWER_OFF,
    "low_battery": pb.DEVICE_ALARM_TYPE_LOW_BATTERY,
    "geofence_exit": pb.DEVICE_ALARM_TYPE_OTHER,
    "geofence_enter": pb.DEVICE_ALARM_TYPE_OTHER,
}


@dataclass(frozen=True)
class Uplink:
    """What one frame means: its events, its reply, and how to count it."""

    label: str  # the frame's type as a metric label (known types by name; see metrics.type_label)
    events: tuple[DeviceMessage, ...] = ()
    reply: str | None = None
    # Alarm frames: the events go on the alarm lane, and the reply waits until Kafka has them all.
    alarm: bool = False
    problem: str | None = None  # why (part of) the body was unusable; a metric label
    known: bool = True  # False: a type we do not decode (a vendor extension, or a command's echo)


@dataclass(frozen=True)
class Position:
    occurred_at: datetime | None  # None when the date or time field is unusable
    valid: bool
    location: dict[str, Any] | None  # pb.Location fields; None when there is no usable fix
    battery: int | None
    signal: int | None
    steps: int | None
    status: int | None
    radio: dict[str, Any] | None
    problem: str | None


def decode_frame(frame: Frame, received_at: datetime) -> Uplink:
    """The meaning of one frame. Never raises: a body we cannot read is a counted problem."""
    kind = frame.type
    upper = kind.upper()
    if upper == "LK":
        return _heartbeat(frame, received_at)
    if upper in POSITION_TYPES:
        return _location_report(frame, received_at)
    if upper.startswith("AL"):
        return _alarm(frame, received_at)
    if upper in ("PULSE", "HEART", "BPHRT", "BLOOD", "TEMP", "BTEMP2", "OXYGEN"):
        return _vitals(frame, received_at)
    if upper in ("TKQ", "TKQ2"):
        return Uplink(upper, reply=kind)
    if upper.startswith("INIT"):
        return Uplink("INIT", reply="INIT,1")
    if upper == "JXTK":
        return Uplink("JXTK", reply="JXTKR,1")
    if upper == "TK":
        return Uplink("TK", reply="TK,1")
    return Uplink("other", known=False)


def _number(text: str, cast: type = float) -> Any:
    """A numeric field as watches write it: padded with spaces or zeros, sometimes signed; None if not one."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if cast is int else value


def _in(value: Any, low: float, high: float) -> Any:
    return value if value is not None and low <= value <= high else None


def _device_time(date: str, time: str) -> datetime | None:
    try:
        return datetime.strptime(date.strip() + time.strip(), "%d%m%y%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _coordinate(value: str, letter: str, limit: float) -> float | None:
    number = _number(value)
    if number is None or abs(number) > limit:
        return None
    # S and W make it negative; N, E or no letter at all leave the number's own sign alone.
    return -abs(number) if letter.strip().upper() in ("S", "W") else number


def parse_position(fields: list[str]) -> Position:
    """The position body shared by UD…, WT and AL… frames (see docs/watch-protocol.md)."""

    def get(index: int) -> str:
        return fields[index] if index < len(fields) else ""

    problem: str | None = "short_position" if len(fields) < 16 else None
    occurred = _device_time(get(0), get(1))
    valid = get(2).strip().upper() == "A"
    lat, lon = _coordinate(get(3), get(4), 90), _coordinate(get(5), get(6), 180)
    location = None
    if valid and lat is not None and lon is not None and (lat, lon) != (0.0, 0.0):
        location = location_fields(lat, lon, None, "gps", _in(_number(get(7)), 0, 1000))
        for name, value in (
            ("course_deg", _in(_number(get(8)), 0, 360)),
            ("altitude_m", _in(_number(get(9)), -1000, 20000)),
            ("satellites", _in(_number(get(10), int), 0, 99)),
        ):
            if value is not None:
                location[name] = value
    elif valid:
        problem = problem or "bad_coordinates"
    status_text = get(15).strip()
    try:
        status = int(status_text, 16) if status_text else None
    except ValueError:
        status, problem = None, problem or "bad_status"
    radio, radio_problem = parse_radio(fields[16:])
    return Position(
        occurred_at=occurred,
        valid=valid,
        location=location,
        battery=_in(_number(get(12), int), 0, 100),
        signal=_in(_number(get(11), int), 0, 100),
        steps=_in(_number(get(13), int), 0, 10_000_000),
        status=status,
        radio=radio,
        problem=problem or radio_problem,
    )


def parse_radio(tail: list[str]) -> tuple[dict[str, Any] | None, str | None]:
    """Cell count, timing advance, [MCC, MNC, (LAC, CID, signal)...], Wi-Fi count, (SSID, MAC, signal)...

    Whatever parsed before a field that does not fit is kept: a position is never refused for
    its network tail (a network name with a comma in it shifts everything after it).
    """
    if not tail or not tail[0].strip():
        return None, None
    radio: dict[str, Any] = {"cells": [], "wifi": []}
    index = 0
    try:
        cells = int(tail[index])
        index += 2  # the count and the timing advance
        if cells:
            radio["mcc"], radio["mnc"] = int(tail[index] or 0), int(tail[index + 1] or 0)
            index += 2
            for _ in range(min(cells, 16)):
                cell: dict[str, Any] = {"lac": int(tail[index]), "cid": int(tail[index + 1])}
                signal = _number(tail[index + 2], int)
                if signal is not None:
                    cell["signal"] = signal
                radio["cells"].append(cell)
                index += 3
        if index < len(tail) and tail[index].strip():
            networks = int(tail[index])
            index += 1
            for _ in range(min(networks, 32)):
                ssid, mac = tail[index], tail[index + 1].strip()
                if not _MAC.fullmatch(mac):
                    return _radio_or_none(radio), "bad_wifi"
                network: dict[str, Any] = {"ssid": ssid[:64], "mac": mac.lower()}
                signal = _number(tail[index + 2], int)
                if signal is not None:
                    network["signal"] = signal
                radio["wifi"].append(network)
                index += 3
    except (ValueError, IndexError):
        return _radio_or_none(radio), "bad_network"
    return _radio_or_none(radio), None


def _radio_or_none(radio: dict[str, Any]) -> dict[str, Any] | None:
    return radio if radio["cells"] or radio["wifi"] else None


def _device_event(frame: Frame, occurred: datetime | None, received_at: datetime) -> str:
    """The watch's event id, which the protocol does not have: derived so that a resend maps to it.

    A watch resends an unanswered frame as it was, so the content's hash identifies the event as
    long as the content carries a device time that moves. Without one (heartbeats, vitals), or
    when the clock is implausible (unset clocks repeat the same time), the receive time is part
    of the id: two presses must never become one event, while a resend becoming a second event
    only adds a press to the same incident.
    """
    digest = hashlib.sha256(frame.type.encode() + b"," + frame.body).hexdigest()[:20]
    plausible = occurred is not None and received_at - _PAST_SLACK <= occurred <= received_at + _FUTURE_SLACK
    if plausible:
        return f"3g:{frame.type}:{digest}"
    return f"3g:{frame.type}:{digest}:{int(received_at.timestamp() * 1000)}"


def _message(
    frame: Frame,
    kind: str,
    device_event: str,
    occurred: datetime,
    received_at: datetime,
    body: dict[str, Any],
    *,
    battery: int | None = None,
    location: dict[str, Any] | None = None,
    radio: dict[str, Any] | None = None,
) -> DeviceMessage:
    """An envelope built as gateway/payloads.py builds one, the event id by the same rule."""
    fields: dict[str, Any] = {
        "event_id": device_event_id(frame.device_id, device_event),
        "kind": EVENT_KINDS[kind],
        "device_id": frame.device_id,
        "device_event_id": device_event,
        "occurred_at": timestamp_fields(occurred),
        "received_at": timestamp_fields(received_at),
        "producer": PRODUCER,
        **body,
    }
    if battery is not None:
        fields["battery"] = battery
    if location is not None:
        fields["location"] = location
    if radio is not None:
        fields["radio"] = radio
    return DeviceMessage(frame.device_id, kind, pb.Envelope(**fields))


def _heartbeat(frame: Frame, received_at: datetime) -> Uplink:
    # LK alone, or LK,steps,rolls,battery.
    fields = frame.fields()
    event = _device_event(frame, None, received_at)
    steps = _in(_number(fields[0], int), 0, 10_000_000) if fields else None
    battery = _in(_number(fields[2], int), 0, 100) if len(fields) >= 3 else None
    events = [_message(frame, "heartbeat", event, received_at, received_at, {"heartbeat": {}}, battery=battery)]
    if steps is not None:
        # Steps go where monitoring's inactivity rule reads them: a vitals reading.
        events.append(
            _message(frame, "vitals", event + ":steps", received_at, received_at, {"vitals": {"steps": steps}})
        )
    problem = "bad_heartbeat" if fields and (battery is None or steps is None) else None
    return Uplink("LK", tuple(events), reply="LK", problem=problem)


def _positioned(
    frame: Frame, position: Position, kind: str, device_event: str, body: dict[str, Any], received_at: datetime
) -> DeviceMessage:
    """An event that carries what a position body says: device time, fix, battery, networks."""
    return _message(
        frame,
        kind,
        device_event,
        position.occurred_at or received_at,
        received_at,
        body,
        battery=position.battery,
        location=position.location,
        radio=position.radio,
    )


def _location_report(frame: Frame, received_at: datetime) -> Uplink:
    position = parse_position(frame.fields())
    body = {"location_report": present_fields(valid=position.valid, signal=position.signal)}
    event = _device_event(frame, position.occurred_at, received_at)
    message = _positioned(frame, position, "location", event, body, received_at)
    return Uplink(frame.type.upper(), (message,), problem=position.problem)


def alarm_kinds(status: int | None) -> list[str]:
    """Every alarm the status word reports, most urgent first; an alarm frame without one is an SOS.

    Why SOS and not a "general" alarm that opens nothing: an alarm frame is the watch saying
    someone needs attention, and models differ in which bit they set for the button. A dispatcher
    closing a false P1 costs a minute; a press that opens nothing can cost a life.
    """
    found: list[str] = []
    for bit, kind in _STATUS_BITS:
        if status is not None and status >> bit & 1 and kind not in found:
            found.append(kind)
    return found or ["sos"]


def _alarm(frame: Frame, received_at: datetime) -> Uplink:
    position = parse_position(frame.fields())
    base = _device_event(frame, position.occurred_at, received_at)
    events = []
    for alarm in alarm_kinds(position.status):
        body: dict[str, Any]
        if alarm in ("sos", "fall"):
            kind, body = alarm, {alarm: {}}
        else:
            kind, body = "alarm", {"alarm": {"type": _ALARM_TYPES[alarm], "raw_type": alarm}}
        events.append(_positioned(frame, position, kind, f"{base}:{alarm}", body, received_at))
    return Uplink("AL", tuple(events), reply="AL", alarm=True, problem=position.problem)


def _vitals(frame: Frame, received_at: datetime) -> Uplink:
    upper = frame.type.upper()
    fields = [_number(value) for value in frame.fields()]

    def at(index: int) -> float | None:
        return fields[index] if index < len(fields) else None

    reading: dict[str, Any] = {}
    if upper in ("PULSE", "HEART"):
        reading["heart_rate"] = at(0)
    elif upper in ("BPHRT", "BLOOD"):
        reading.update(systolic=at(0), diastolic=at(1), heart_rate=at(2))
    elif upper == "TEMP":
        reading["body_temp"] = at(0)
    elif upper == "BTEMP2":
        # btemp2,flag,celsius: the reading counts only when the flag says it is one.
        flag = at(0)
        reading["body_temp"] = at(1) if flag is not None and flag > 0 else None
    else:  # oxygen,x,spo2
        reading["spo2"] = at(1)
    limits = {"heart_rate": (1, 350), "systolic": (1, 400), "diastolic": (1, 300), "body_temp": (20, 46)}
    limits["spo2"] = (1, 100)
    # Zero is what watches send for "no reading": it is not a heart rate of zero.
    kept = {name: _in(value, *limits[name]) for name, value in reading.items()}
    label = {"HEART": "PULSE", "BLOOD": "BPHRT", "BTEMP2": "TEMP"}.get(upper, upper)
    if all(value is None for value in kept.values()):
        return Uplink(label, problem="no_reading")
    message = _message(
        frame,
        "vitals",
        _device_event(frame, None, received_at),
        received_at,
        received_at,
        {"vitals": present_fields(**kept)},
    )
    return Uplink(label, (message,))
