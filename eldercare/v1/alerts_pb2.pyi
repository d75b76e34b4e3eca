import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AlertSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_SEVERITY_UNSPECIFIED: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_HIGH: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_MEDIUM: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_LOW: _ClassVar[AlertSeverity]
    ALERT_SEVERITY_INFO: _ClassVar[AlertSeverity]
ALERT_SEVERITY_UNSPECIFIED: AlertSeverity
ALERT_SEVERITY_HIGH: AlertSeverity
ALERT_SEVERITY_MEDIUM: AlertSeverity
ALERT_SEVERITY_LOW: AlertSeverity
ALERT_SEVERITY_INFO: AlertSeverity

class AlertLocation(_message.Message):
    __slots__ = ("lat", "lon", "accuracy_m", "source")
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_M_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    lat: float
    lon: float
    accuracy_m: float
    source: str
    def __init__(self, lat: _Optional[float] = ..., lon: _Optional[float] = ..., accuracy_m: _Optional[float] = ..., source: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("alert_id", "type", "severity", "suggested_priority", "device_id", "elder_id", "detail_json", "location", "raised_at", "source_event_ids", "resolves_alert_id", "geofence_id")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    ELDER_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    RESOLVES_ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    GEOFENCE_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    type: str
    severity: AlertSeverity
    suggested_priority: str
    device_id: str
    elder_id: str
    detail_json: str
    location: AlertLocation
    raised_at: _timestamp_pb2.Timestamp
    source_event_ids: _containers.RepeatedScalarFieldContainer[str]
    resolves_alert_id: str
    geofence_id: str
    def __init__(self, alert_id: _Optional[str] = ..., type: _Optional[str] = ..., severity: _Optional[_Union[AlertSeverity, str]] = ..., suggested_priority: _Optional[str] = ..., device_id: _Optional[str] = ..., elder_id: _Optional[str] = ..., detail_json: _Optional[str] = ..., location: _Optional[_Union[AlertLocation, _Mapping]] = ..., raised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source_event_ids: _Optional[_Iterable[str]] = ..., resolves_alert_id: _Optional[str] = ..., geofence_id: _Optional[str] = ...) -> None: ...
