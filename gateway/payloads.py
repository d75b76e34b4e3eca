"""Device payload contract (docs/device-contract.md): validation per kind and mapping to the canonical envelope.

Everything here is pure (no I/O) so it can be unit-tested and fuzzed exhaustively.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from eldercare.envelope import device_event_id, timestamp_fields, to_timestamp
from eldercare.topics import ALARMS, COMMAND_ACKS, TELEMETRY
from eldercare.v1 import commands_pb2
from eldercare.v1 import events_pb2 as pb

TOPIC_PREFIX = "eldercare/v1/devices/"
MAX_PAYLOAD_BYTES = 16 * 1024
DEVICE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
ALARM_KINDS = frozenset({"sos", "fall", "alarm"})
TELEMETRY_KINDS = frozenset({"location", "vitals", "heartbeat"})
DEVICE_KINDS = ALARM_KINDS | TELEMETRY_KINDS
# Kinds whose alarm is raised even when the payload is broken: a person pressed a button.
LIFE_SAFETY_KINDS = frozenset({"sos", "fall"})
# Topics under the device tree that devices do not publish events on.
PLATFORM_KINDS = frozenset({"commands"})
# A device acknowledging a downlink command (docs/device-contract.md); relayed to dispatch on its own topic.
ACK_KIND = "ack"
# Plausible device clock range: wider than any real clock error, narrower than garbage.
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)

KNOWN_ALARM_TYPES = {
    "low_battery": pb.DEVICE_ALARM_TYPE_LOW_BATTERY,
    "device_removed": pb.DEVICE_ALARM_TYPE_DEVICE_REMOVED,
    "power_off": pb.DEVICE_ALARM_TYPE_POWER_OFF,
    "tamper": pb.DEVICE_ALARM_TYPE_TAMPER,
    "cancel": pb.DEVICE_ALARM_TYPE_CANCEL,
}
EVENT_KINDS: dict[str, pb.EventKind] = {
    kind: pb.EventKind.Value(f"EVENT_KIND_{kind.upper()}")  # type: ignore[misc]
    for kind in DEVICE_KINDS
}
_SOURCES = {"gps": pb.LOCATION_SOURCE_GPS, "lbs": pb.LOCATION_SOURCE_LBS, "wifi": pb.LOCATION_SOURCE_WIFI}


# RFC 3339 date-time (section 5.6), with the leap second and lower-case T/Z it allows.
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _device_time(value: Any) -> datetime:
    if isinstance(value, bool):
        raise ValueError("must be an RFC 3339 string or epoch milliseconds")
    if isinstance(value, datetime) and value.tzinfo is not None:
        moment = value
    elif isinstance(value, int):
        try:
            moment = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("epoch milliseconds out of range") from None
    elif isinstance(value, str):
        if len(value) > 40:
            raise ValueError("timestamp string too long")
        match = _RFC3339.fullmatch(value)
        if match is None:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?", value):
                raise ValueError("RFC 3339 timestamp needs a UTC offset (e.g. Z or +08:00)")
            raise ValueError("not an RFC 3339 timestamp (e.g. 2026-11-22T08:15:00Z)")
        date, hour_minute, second, fraction, offset = match.groups()
        # A leap second (:60) is valid RFC 3339; Python's datetime has no room for it.
        second = "59" if second == "60" else second
        fraction = (fraction or "")[:7]  # microseconds: the precision datetime keeps
        offset = "+00:00" if offset in ("Z", "z") else offset
        try:
            moment = datetime.fromisoformat(f"{date}T{hour_minute}:{second}{fraction}{offset}")
        except ValueError:
            raise ValueError("not a valid date or time") from None
    else:
        raise ValueError("must be an RFC 3339 string or epoch milliseconds")
    if not _EARLIEST <= moment < _LATEST:
        raise ValueError("timestamp outside 2000-01-01..2100-01-01")
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


# Strict: a number in a string, or a boolean, is a wrong-typed field. JSON cannot carry NaN or
# infinity, but the check is free in pydantic's core (a Python validator here cost ~0.6 µs a field).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
DeviceTime = Annotated[datetime, BeforeValidator(_device_time)]


class LocationFix(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lat: Annotated[Number, Field(ge=-90, le=90)]
    lon: Annotated[Number, Field(ge=-180, le=180)]
    accuracy_m: Annotated[Number, Field(ge=0, le=100_000)] | None = None
    source: Literal["gps", "lbs", "wifi"] | None = None
    speed_kmh: Annotated[Number, Field(ge=0, le=1000)] | None = None


class DevicePayload(BaseModel):
    """Fields common to every kind."""

    model_config = ConfigDict(extra="ignore")

    event_id: Annotated[str, Field(min_length=1, max_length=64)]
    ts: DeviceTime
    battery: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    location: LocationFix | None = None


class SosPayload(DevicePayload):
    pass


class FallPayload(DevicePayload):
    confidence: Annotated[Number, Field(ge=0, le=1)] | None = None
    impact_g: Annotated[Number, Field(ge=0, le=100)] | None = None


class LocationPayload(DevicePayload):
    lat: Annotated[Number, Field(ge=-90, le=90)] | None = None
    lon: Annotated[Number, Field(ge=-180, le=180)] | None = None
    accuracy_m: Annotated[Number, Field(ge=0, le=100_000)] | None = None
    source: Literal["gps", "lbs", "wifi"] | None = None
    speed_kmh: Annotated[Number, Field(ge=0, le=1000)] | None = None

    @model_validator(mode="after")
    def _needs_a_fix(self) -> LocationPayload:
        if (self.lat is None) != (self.lon is None):
            raise PydanticCustomError("missing", "lat and lon go together")
        if self.lat is None and self.location is None:
            raise PydanticCustomError("missing", "location needs lat and lon, at top level or in 'location'")
        return self

    def fix(self) -> dict[str, Any]:
        """The position as `pb.Location` fields, top-level fields winning over the nested object."""
        if self.lat is not None and self.lon is not None:
            # Straight to protobuf fields: a LocationFix built here would validate the same values again.
            return location_fields(self.lat, self.lon, self.accuracy_m, self.source, self.speed_kmh)
        assert self.location is not None
        return _location_of(self.location)


class VitalsPayload(DevicePayload):
    heart_rate: Annotated[Number, Field(ge=0, le=350)] | None = None
    spo2: Annotated[Number, Field(ge=0, le=100)] | None = None
    systolic: Annotated[Number, Field(ge=0, le=400)] | None = None
    diastolic: Annotated[Number, Field(ge=0, le=300)] | None = None
    body_temp: Annotated[Number, Field(ge=20, le=46)] | None = None
    steps: Annotated[StrictInt, Field(ge=0, le=10_000_000)] | None = None

    @model_validator(mode="after")
    def _needs_a_reading(self) -> VitalsPayload:
        readings = (self.heart_rate, self.spo2, self.systolic, self.diastolic, self.body_temp, self.steps)
        if all(value is None for value in readings):
            raise ValueError("vitals need at least one of heart_rate, spo2, systolic, diastolic, body_temp, steps")
        return self


class HeartbeatPayload(DevicePayload):
    signal: Annotated[StrictInt, Field(ge=0, le=100)] | None = None


class AlarmPayload(DevicePayload):
    type: Annotated[str, Field(min_length=1, max_length=64)]
    # For `type: "cancel"` ("I'm OK"): the event_id of the fall being cancelled.
    ref_event_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _cancel_names_its_alarm(self) -> AlarmPayload:
        if self.type == "cancel" and self.ref_event_id is None:
            raise ValueError("a cancel alarm needs ref_event_id, the event_id of the alarm it cancels")
        return self


PAYLOAD_MODELS: dict[str, type[DevicePayload]] = {
    "sos": SosPayload,
    "fall": FallPayload,
    "location": LocationPayload,
    "vitals": VitalsPayload,
    "heartbeat": HeartbeatPayload,
    "alarm": AlarmPayload,
}


@dataclass(frozen=True)
class Rejection:
    """Why a message was refused (or, for a salvaged alarm, what was wrong with it)."""

    reason: str  # bounded set, used as a metric label
    detail: str


@dataclass(frozen=True)
class DeviceMessage:
    """A message that becomes a Kafka event, with any problem found along the way."""

    device_id: str
    kind: str
    envelope: pb.Envelope
    # Set when a life-safety alarm was raised from a broken payload: it is also dead-lettered.
    salvaged: Rejection | None = None

    @property
    def is_alarm(self) -> bool:
        return self.kind in ALARM_KINDS

    @property
    def topic(self) -> str:
        """The Kafka topic this message goes to."""
        if self.kind == ACK_KIND:
            return COMMAND_ACKS
        return ALARMS if self.is_alarm else TELEMETRY


class AckPayload(BaseModel):
    """`{"command_id": …}`, optionally with the device's own event id and time."""

    model_config = ConfigDict(extra="ignore")

    command_id: Annotated[str, Field(min_length=1, max_length=64)]
    event_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    ts: DeviceTime | None = None


def _ack(device_id: str, payload: bytes, received_at: datetime) -> DeviceMessage | Rejection:
    document = _decode_object(payload)
    if isinstance(document, Rejection):
        return document
    try:
        ack = AckPayload.model_validate(document)
    except ValidationError as error:
        return _describe(error)
    return ack_message(
        device_id, ack.command_id, acked_at=ack.ts or received_at, received_at=received_at, device_event=ack.event_id
    )


def ack_message(
    device_id: str,
    command_id: str,
    *,
    acked_at: datetime,
    received_at: datetime,
    device_event: str | None = None,
    producer: str = "gateway",
) -> DeviceMessage:
    """A device's ack of a downlink command, whichever protocol it came over."""
    acked = to_timestamp(acked_at)
    envelope = pb.Envelope(
        # One ack per (device, command): a resent ack deduplicates downstream.
        event_id=device_event_id(device_id, f"ack\x1f{command_id}"),
        kind=pb.EVENT_KIND_COMMAND_ACK,
        device_id=device_id,
        device_event_id=device_event or "",
        occurred_at=acked,
        received_at=to_timestamp(received_at),
        producer=producer,
        command_ack=commands_pb2.CommandAck(command_id=command_id, device_id=device_id, acked_at=acked),
    )
    return DeviceMessage(device_id, ACK_KIND, envelope)


@dataclass(frozen=True)
class Ignored:
    """A message on the device tree that is not device input (our own downlink commands)."""

    kind: str


def parse_topic(topic: str) -> tuple[str, str] | Rejection:
    """`eldercare/v1/devices/{id}/{kind}` -> (id, kind), or why not."""
    if not topic.startswith(TOPIC_PREFIX):
        return Rejection("invalid_topic", "topic is not under eldercare/v1/devices/")
    parts = topic[len(TOPIC_PREFIX) :].split("/")
    if len(parts) != 2:
        return Rejection("invalid_topic", "topic must be eldercare/v1/devices/{device_id}/{kind}")
    device_id, kind = parts
    if not kind:
        return Rejection("invalid_topic", "topic has an empty kind level")
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        return Rejection("invalid_device_id", "device id must match [A-Za-z0-9_-]{1,64}")
    return device_id, kind


def _describe(error: ValidationError) -> Rejection:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    reason = "missing_field" if first["type"] == "missing" else "invalid_field"
    message = first["msg"].removeprefix("Value error, ")
    extra = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return Rejection(reason, f"{where}: {message}{extra}")


def _decode_object(payload: bytes) -> dict[str, Any] | Rejection:
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejection("payload_too_large", f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            return Rejection("invalid_utf8", "payload is not UTF-8")
        return Rejection("invalid_json", f"payload is not JSON: {exc}"[:300])
    if not isinstance(document, dict):
        return Rejection("not_an_object", f"payload must be a JSON object, got {type(document).__name__}")
    return document


def _envelope(device_id: str, kind: str, model: DevicePayload, received_at: datetime) -> pb.Envelope:
    # The whole message is built from one tree of fields in a single constructor call: upb makes
    # that about half the cost of building sub-messages and copying or setting them one by one.
    fields: dict[str, Any] = {
        "event_id": device_event_id(device_id, model.event_id),
        "kind": EVENT_KINDS[kind],
        "device_id": device_id,
        "device_event_id": model.event_id,
        "occurred_at": timestamp_fields(model.ts),
        "received_at": timestamp_fields(received_at),
        "producer": "gateway",
    }
    if model.battery is not None:
        fields["battery"] = model.battery
    if isinstance(model, LocationPayload):
        fields["location"] = model.fix()
        fields["location_report"] = {}
    else:
        if model.location is not None:
            fields["location"] = _location_of(model.location)
        if isinstance(model, SosPayload):
            fields["sos"] = {}
        elif isinstance(model, FallPayload):
            fields["fall"] = present_fields(confidence=model.confidence, impact_g=model.impact_g)
        elif isinstance(model, VitalsPayload):
            fields["vitals"] = present_fields(
                heart_rate=model.heart_rate,
                spo2=model.spo2,
                systolic=model.systolic,
                diastolic=model.diastolic,
                body_temp=model.body_temp,
                steps=model.steps,
            )
        elif isinstance(model, HeartbeatPayload):
            fields["heartbeat"] = present_fields(signal=model.signal)
        elif isinstance(model, AlarmPayload):
            fields["alarm"] = {
                "type": KNOWN_ALARM_TYPES.get(model.type, pb.DEVICE_ALARM_TYPE_OTHER),
                "raw_type": model.type,
                "ref_event_id": model.ref_event_id or "",
            }
    return pb.Envelope(**fields)


def present_fields(**values: Any) -> dict[str, Any]:
    """The fields that were given: an absent optional field stays unset (no presence) in protobuf."""
    return {name: value for name, value in values.items() if value is not None}


def _location_of(fix: LocationFix) -> dict[str, Any]:
    return location_fields(fix.lat, fix.lon, fix.accuracy_m, fix.source, fix.speed_kmh)


def location_fields(
    lat: float, lon: float, accuracy_m: float | None, source: str | None, speed_kmh: float | None
) -> dict[str, Any]:
    location = {"lat": lat, "lon": lon, "source": _SOURCES.get(source or "", pb.LOCATION_SOURCE_UNSPECIFIED)}
    if accuracy_m is not None:
        location["accuracy_m"] = accuracy_m
    if speed_kmh is not None:
        location["speed_kmh"] = speed_kmh
    return location


def _salvage(
    device_id: str, kind: str, payload: bytes, document: dict[str, Any] | None, received_at: datetime
) -> pb.Envelope:
    """Build the alarm from whatever of a broken life-safety payload is usable."""
    fields: dict[str, Any] = {}
    raw_id = (document or {}).get("event_id")
    # Without a usable id, the payload's hash keeps identical resends idempotent.
    fields["event_id"] = (
        raw_id
        if isinstance(raw_id, str) and 0 < len(raw_id) <= 64
        else ("sha256-" + hashlib.sha256(payload).hexdigest()[:32])
    )
    try:
        fields["ts"] = _device_time((document or {}).get("ts"))
    except ValueError:
        fields["ts"] = received_at
    model_type = PAYLOAD_MODELS[kind]
    for name in model_type.model_fields:
        if name in fields or document is None or name not in document:
            continue
        try:
            model_type.model_validate({**fields, name: document[name]})
        except ValidationError:
            continue  # drop just the broken optional field
        fields[name] = document[name]
    return _envelope(device_id, kind, model_type.model_validate(fields), received_at)


def parse_device_message(topic: str, payload: bytes, received_at: datetime) -> DeviceMessage | Rejection | Ignored:
    """Validate one MQTT message against the device contract and build its envelope."""
    parsed = parse_topic(topic)
    if isinstance(parsed, Rejection):
        return parsed
    device_id, kind = parsed
    if kind in PLATFORM_KINDS:
        return Ignored(kind)
    if kind == ACK_KIND:
        return _ack(device_id, payload, received_at)
    if kind not in DEVICE_KINDS:
        return Rejection("unknown_kind", f"kind {kind[:32]!r} is not one of {', '.join(sorted(DEVICE_KINDS))}")
    document = _decode_object(payload)
    problem: Rejection | None = document if isinstance(document, Rejection) else None
    if problem is None:
        assert isinstance(document, dict)
        try:
            model = PAYLOAD_MODELS[kind].model_validate(document)
        except ValidationError as error:
            problem = _describe(error)
        else:
            return DeviceMessage(device_id, kind, _envelope(device_id, kind, model, received_at))
    if kind in LIFE_SAFETY_KINDS:
        salvaged = _salvage(device_id, kind, payload, document if isinstance(document, dict) else None, received_at)
        return DeviceMessage(device_id, kind, salvaged, salvaged=problem)
    return problem
