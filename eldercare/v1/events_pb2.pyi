import datetime

from eldercare.v1 import alerts_pb2 as _alerts_pb2
from eldercare.v1 import commands_pb2 as _commands_pb2
from eldercare.v1 import elders_pb2 as _elders_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_SOS: _ClassVar[EventKind]
    EVENT_KIND_FALL: _ClassVar[EventKind]
    EVENT_KIND_LOCATION: _ClassVar[EventKind]
    EVENT_KIND_VITALS: _ClassVar[EventKind]
    EVENT_KIND_HEARTBEAT: _ClassVar[EventKind]
    EVENT_KIND_ALARM: _ClassVar[EventKind]
    EVENT_KIND_INCIDENT: _ClassVar[EventKind]
    EVENT_KIND_ELDER: _ClassVar[EventKind]
    EVENT_KIND_COMMAND: _ClassVar[EventKind]
    EVENT_KIND_ALERT: _ClassVar[EventKind]
    EVENT_KIND_COMMAND_ACK: _ClassVar[EventKind]

class LocationSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOCATION_SOURCE_UNSPECIFIED: _ClassVar[LocationSource]
    LOCATION_SOURCE_GPS: _ClassVar[LocationSource]
    LOCATION_SOURCE_LBS: _ClassVar[LocationSource]
    LOCATION_SOURCE_WIFI: _ClassVar[LocationSource]

class DeviceAlarmType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_ALARM_TYPE_UNSPECIFIED: _ClassVar[DeviceAlarmType]
    DEVICE_ALARM_TYPE_LOW_BATTERY: _ClassVar[DeviceAlarmType]
    DEVICE_ALARM_TYPE_DEVICE_REMOVED: _ClassVar[DeviceAlarmType]
    DEVICE_ALARM_TYPE_POWER_OFF: _ClassVar[DeviceAlarmType]
    DEVICE_ALARM_TYPE_TAMPER: _ClassVar[DeviceAlarmType]
    DEVICE_ALARM_TYPE_OTHER: _ClassVar[DeviceAlarmType]
    DEVICE_ALARM_TYPE_CANCEL: _ClassVar[DeviceAlarmType]
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_SOS: EventKind
EVENT_KIND_FALL: EventKind
EVENT_KIND_LOCATION: EventKind
EVENT_KIND_VITALS: EventKind
EVENT_KIND_HEARTBEAT: EventKind
EVENT_KIND_ALARM: EventKind
EVENT_KIND_INCIDENT: EventKind
EVENT_KIND_ELDER: EventKind
EVENT_KIND_COMMAND: EventKind
EVENT_KIND_ALERT: EventKind
EVENT_KIND_COMMAND_ACK: EventKind
LOCATION_SOURCE_UNSPECIFIED: LocationSource
LOCATION_SOURCE_GPS: LocationSource
LOCATION_SOURCE_LBS: LocationSource
LOCATION_SOURCE_WIFI: LocationSource
DEVICE_ALARM_TYPE_UNSPECIFIED: DeviceAlarmType
DEVICE_ALARM_TYPE_LOW_BATTERY: DeviceAlarmType
DEVICE_ALARM_TYPE_DEVICE_REMOVED: DeviceAlarmType
DEVICE_ALARM_TYPE_POWER_OFF: DeviceAlarmType
DEVICE_ALARM_TYPE_TAMPER: DeviceAlarmType
DEVICE_ALARM_TYPE_OTHER: DeviceAlarmType
DEVICE_ALARM_TYPE_CANCEL: DeviceAlarmType

class Location(_message.Message):
    __slots__ = ("lat", "lon", "accuracy_m", "source", "speed_kmh", "course_deg", "altitude_m", "satellites")
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_M_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    COURSE_DEG_FIELD_NUMBER: _ClassVar[int]
    ALTITUDE_M_FIELD_NUMBER: _ClassVar[int]
    SATELLITES_FIELD_NUMBER: _ClassVar[int]
    lat: float
    lon: float
    accuracy_m: float
    source: LocationSource
    speed_kmh: float
    course_deg: float
    altitude_m: float
    satellites: int
    def __init__(self, lat: _Optional[float] = ..., lon: _Optional[float] = ..., accuracy_m: _Optional[float] = ..., source: _Optional[_Union[LocationSource, str]] = ..., speed_kmh: _Optional[float] = ..., course_deg: _Optional[float] = ..., altitude_m: _Optional[float] = ..., satellites: _Optional[int] = ...) -> None: ...

class CellTower(_message.Message):
    __slots__ = ("lac", "cid", "signal")
    LAC_FIELD_NUMBER: _ClassVar[int]
    CID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    lac: int
    cid: int
    signal: int
    def __init__(self, lac: _Optional[int] = ..., cid: _Optional[int] = ..., signal: _Optional[int] = ...) -> None: ...

class WifiAccessPoint(_message.Message):
    __slots__ = ("ssid", "mac", "signal")
    SSID_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    ssid: str
    mac: str
    signal: int
    def __init__(self, ssid: _Optional[str] = ..., mac: _Optional[str] = ..., signal: _Optional[int] = ...) -> None: ...

class RadioEnvironment(_message.Message):
    __slots__ = ("mcc", "mnc", "cells", "wifi")
    MCC_FIELD_NUMBER: _ClassVar[int]
    MNC_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    WIFI_FIELD_NUMBER: _ClassVar[int]
    mcc: int
    mnc: int
    cells: _containers.RepeatedCompositeFieldContainer[CellTower]
    wifi: _containers.RepeatedCompositeFieldContainer[WifiAccessPoint]
    def __init__(self, mcc: _Optional[int] = ..., mnc: _Optional[int] = ..., cells: _Optional[_Iterable[_Union[CellTower, _Mapping]]] = ..., wifi: _Optional[_Iterable[_Union[WifiAccessPoint, _Mapping]]] = ...) -> None: ...

class Sos(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Fall(_message.Message):
    __slots__ = ("confidence", "impact_g")
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    IMPACT_G_FIELD_NUMBER: _ClassVar[int]
    confidence: float
    impact_g: float
    def __init__(self, confidence: _Optional[float] = ..., impact_g: _Optional[float] = ...) -> None: ...

class LocationReport(_message.Message):
    __slots__ = ("valid", "signal")
    VALID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    signal: int
    def __init__(self, valid: _Optional[bool] = ..., signal: _Optional[int] = ...) -> None: ...

class Vitals(_message.Message):
    __slots__ = ("heart_rate", "spo2", "systolic", "diastolic", "body_temp", "steps")
    HEART_RATE_FIELD_NUMBER: _ClassVar[int]
    SPO2_FIELD_NUMBER: _ClassVar[int]
    SYSTOLIC_FIELD_NUMBER: _ClassVar[int]
    DIASTOLIC_FIELD_NUMBER: _ClassVar[int]
    BODY_TEMP_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    heart_rate: float
    spo2: float
    systolic: float
    diastolic: float
    body_temp: float
    steps: int
    def __init__(self, heart_rate: _Optional[float] = ..., spo2: _Optional[float] = ..., systolic: _Optional[float] = ..., diastolic: _Optional[float] = ..., body_temp: _Optional[float] = ..., steps: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("signal",)
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    signal: int
    def __init__(self, signal: _Optional[int] = ...) -> None: ...

class DeviceAlarm(_message.Message):
    __slots__ = ("type", "raw_type", "ref_event_id")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    RAW_TYPE_FIELD_NUMBER: _ClassVar[int]
    REF_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    type: DeviceAlarmType
    raw_type: str
    ref_event_id: str
    def __init__(self, type: _Optional[_Union[DeviceAlarmType, str]] = ..., raw_type: _Optional[str] = ..., ref_event_id: _Optional[str] = ...) -> None: ...

class IncidentEvent(_message.Message):
    __slots__ = ("incident_id", "action", "status", "previous_status", "priority", "incident_kind", "actor", "device_id", "elder_id", "detail_json")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ELDER_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    incident_id: str
    action: str
    status: str
    previous_status: str
    priority: str
    incident_kind: str
    actor: str
    device_id: str
    elder_id: str
    detail_json: str
    def __init__(self, incident_id: _Optional[str] = ..., action: _Optional[str] = ..., status: _Optional[str] = ..., previous_status: _Optional[str] = ..., priority: _Optional[str] = ..., incident_kind: _Optional[str] = ..., actor: _Optional[str] = ..., device_id: _Optional[str] = ..., elder_id: _Optional[str] = ..., detail_json: _Optional[str] = ...) -> None: ...

class Envelope(_message.Message):
    __slots__ = ("event_id", "kind", "device_id", "device_event_id", "occurred_at", "received_at", "producer", "battery", "location", "repeats", "radio", "sos", "fall", "location_report", "vitals", "heartbeat", "alarm", "incident", "elder", "alert", "command", "command_ack")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    BATTERY_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    REPEATS_FIELD_NUMBER: _ClassVar[int]
    RADIO_FIELD_NUMBER: _ClassVar[int]
    SOS_FIELD_NUMBER: _ClassVar[int]
    FALL_FIELD_NUMBER: _ClassVar[int]
    LOCATION_REPORT_FIELD_NUMBER: _ClassVar[int]
    VITALS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    ALARM_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    ELDER_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ACK_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    kind: EventKind
    device_id: str
    device_event_id: str
    occurred_at: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    producer: str
    battery: int
    location: Location
    repeats: int
    radio: RadioEnvironment
    sos: Sos
    fall: Fall
    location_report: LocationReport
    vitals: Vitals
    heartbeat: Heartbeat
    alarm: DeviceAlarm
    incident: IncidentEvent
    elder: _elders_pb2.ElderSnapshot
    alert: _alerts_pb2.Alert
    command: _commands_pb2.DeviceCommand
    command_ack: _commands_pb2.CommandAck
    def __init__(self, event_id: _Optional[str] = ..., kind: _Optional[_Union[EventKind, str]] = ..., device_id: _Optional[str] = ..., device_event_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., producer: _Optional[str] = ..., battery: _Optional[int] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., repeats: _Optional[int] = ..., radio: _Optional[_Union[RadioEnvironment, _Mapping]] = ..., sos: _Optional[_Union[Sos, _Mapping]] = ..., fall: _Optional[_Union[Fall, _Mapping]] = ..., location_report: _Optional[_Union[LocationReport, _Mapping]] = ..., vitals: _Optional[_Union[Vitals, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., alarm: _Optional[_Union[DeviceAlarm, _Mapping]] = ..., incident: _Optional[_Union[IncidentEvent, _Mapping]] = ..., elder: _Optional[_Union[_elders_pb2.ElderSnapshot, _Mapping]] = ..., alert: _Optional[_Union[_alerts_pb2.Alert, _Mapping]] = ..., command: _Optional[_Union[_commands_pb2.DeviceCommand, _Mapping]] = ..., command_ack: _Optional[_Union[_commands_pb2.CommandAck, _Mapping]] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("reason", "detail", "source", "raw", "producer", "rejected_at", "raw_sha256", "raw_size")
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    REJECTED_AT_FIELD_NUMBER: _ClassVar[int]
    RAW_SHA256_FIELD_NUMBER: _ClassVar[int]
    RAW_SIZE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    detail: str
    source: str
    raw: bytes
    producer: str
    rejected_at: _timestamp_pb2.Timestamp
    raw_sha256: str
    raw_size: int
    def __init__(self, reason: _Optional[str] = ..., detail: _Optional[str] = ..., source: _Optional[str] = ..., raw: _Optional[bytes] = ..., producer: _Optional[str] = ..., rejected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., raw_sha256: _Optional[str] = ..., raw_size: _Optional[int] = ...) -> None: ...
