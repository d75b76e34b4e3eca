import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AdministrativeArea(_message.Message):
    __slots__ = ("province", "city", "district", "street", "community", "area_type")
    PROVINCE_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    DISTRICT_FIELD_NUMBER: _ClassVar[int]
    STREET_FIELD_NUMBER: _ClassVar[int]
    COMMUNITY_FIELD_NUMBER: _ClassVar[int]
    AREA_TYPE_FIELD_NUMBER: _ClassVar[int]
    province: str
    city: str
    district: str
    street: str
    community: str
    area_type: str
    def __init__(self, province: _Optional[str] = ..., city: _Optional[str] = ..., district: _Optional[str] = ..., street: _Optional[str] = ..., community: _Optional[str] = ..., area_type: _Optional[str] = ...) -> None: ...

class ElderContact(_message.Message):
    __slots__ = ("name", "relation", "phone", "has_key", "distance_km", "lat", "lon")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    HAS_KEY_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_KM_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    name: str
    relation: str
    phone: str
    has_key: bool
    distance_km: float
    lat: float
    lon: float
    def __init__(self, name: _Optional[str] = ..., relation: _Optional[str] = ..., phone: _Optional[str] = ..., has_key: _Optional[bool] = ..., distance_km: _Optional[float] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ...) -> None: ...

class DeviceBinding(_message.Message):
    __slots__ = ("device_id", "binding_seq", "bound_at", "sim_number")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    BINDING_SEQ_FIELD_NUMBER: _ClassVar[int]
    BOUND_AT_FIELD_NUMBER: _ClassVar[int]
    SIM_NUMBER_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    binding_seq: int
    bound_at: _timestamp_pb2.Timestamp
    sim_number: str
    def __init__(self, device_id: _Optional[str] = ..., binding_seq: _Optional[int] = ..., bound_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sim_number: _Optional[str] = ...) -> None: ...

class ElderSnapshot(_message.Message):
    __slots__ = ("elder_id", "deleted", "version", "updated_at", "name", "sex", "birth_date", "phone", "address", "home_lat", "home_lon", "area", "living_situation", "categories", "language", "ability_level", "conditions", "medications", "allergies", "blood_type", "primary_doctor", "hospital_preference", "contacts", "device_ids", "bindings", "notes")
    ELDER_ID_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEX_FIELD_NUMBER: _ClassVar[int]
    BIRTH_DATE_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HOME_LAT_FIELD_NUMBER: _ClassVar[int]
    HOME_LON_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    LIVING_SITUATION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ABILITY_LEVEL_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    MEDICATIONS_FIELD_NUMBER: _ClassVar[int]
    ALLERGIES_FIELD_NUMBER: _ClassVar[int]
    BLOOD_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_DOCTOR_FIELD_NUMBER: _ClassVar[int]
    HOSPITAL_PREFERENCE_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    BINDINGS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    elder_id: str
    deleted: bool
    version: int
    updated_at: _timestamp_pb2.Timestamp
    name: str
    sex: str
    birth_date: str
    phone: str
    address: str
    home_lat: float
    home_lon: float
    area: AdministrativeArea
    living_situation: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    language: str
    ability_level: int
    conditions: _containers.RepeatedScalarFieldContainer[str]
    medications: _containers.RepeatedScalarFieldContainer[str]
    allergies: _containers.RepeatedScalarFieldContainer[str]
    blood_type: str
    primary_doctor: str
    hospital_preference: str
    contacts: _containers.RepeatedCompositeFieldContainer[ElderContact]
    device_ids: _containers.RepeatedScalarFieldContainer[str]
    bindings: _containers.RepeatedCompositeFieldContainer[DeviceBinding]
    notes: str
    def __init__(self, elder_id: _Optional[str] = ..., deleted: _Optional[bool] = ..., version: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., name: _Optional[str] = ..., sex: _Optional[str] = ..., birth_date: _Optional[str] = ..., phone: _Optional[str] = ..., address: _Optional[str] = ..., home_lat: _Optional[float] = ..., home_lon: _Optional[float] = ..., area: _Optional[_Union[AdministrativeArea, _Mapping]] = ..., living_situation: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., language: _Optional[str] = ..., ability_level: _Optional[int] = ..., conditions: _Optional[_Iterable[str]] = ..., medications: _Optional[_Iterable[str]] = ..., allergies: _Optional[_Iterable[str]] = ..., blood_type: _Optional[str] = ..., primary_doctor: _Optional[str] = ..., hospital_preference: _Optional[str] = ..., contacts: _Optional[_Iterable[_Union[ElderContact, _Mapping]]] = ..., device_ids: _Optional[_Iterable[str]] = ..., bindings: _Optional[_Iterable[_Union[DeviceBinding, _Mapping]]] = ..., notes: _Optional[str] = ...) -> None: ...
