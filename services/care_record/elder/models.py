"""Elder and contact tables, the rules of their fields, and the API schemas around them."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import JSON, BigInteger, Boolean, Column, Date, Float, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from eldercare.db import BigIntPK, UTCDateTime
from eldercare.http import RequestModel


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class LivingSituation(StrEnum):
    ALONE = "alone"
    WITH_SPOUSE = "with_spouse"
    WITH_FAMILY = "with_family"
    INSTITUTION = "institution"


class Category(StrEnum):
    """Risk categories used by civil-affairs policy."""

    SPECIAL_HARDSHIP = "special_hardship"  # 特困
    SUBSISTENCE_ALLOWANCE = "subsistence_allowance"  # 低保
    CHILDLESS_WIDOWED = "childless_widowed"  # 孤寡
    VERY_OLD = "very_old"  # 80+
    LIVING_ALONE = "living_alone"  # 独居
    LEFT_BEHIND = "left_behind"  # 留守
    DISABLED = "disabled"  # 残疾
    DEMENTIA = "dementia"  # 失智
    FAMILY_PLANNING_SPECIAL = "family_planning_special"  # 计生特殊家庭


class AreaType(StrEnum):
    URBAN = "urban"
    RURAL = "rural"
    PASTORAL = "pastoral"


AREA_LEVELS = ("province", "city", "district", "street", "community")

# ---- resident ID numbers (GB 11643) --------------------------------------------------------

_ID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
_ID_PATTERN = re.compile(r"^\d{17}[\dX]$")


def id_check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def validate_id_number(raw: str) -> str:
    """A normalised 18-character resident ID number; ValueError with the reason otherwise."""
    value = raw.strip().upper()
    if not _ID_PATTERN.match(value):
        raise ValueError("ID number must be 17 digits followed by a digit or X")
    if id_check_digit(value[:17]) != value[17]:
        raise ValueError("ID number check digit is wrong (ISO 7064 MOD 11-2)")
    try:
        id_birth_date(value)
    except ValueError:
        raise ValueError("ID number holds no valid birth date") from None
    return value


def id_birth_date(id_number: str) -> date:
    """The birth date encoded in digits 7-14 of an ID number."""
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def mask_id_number(id_number: str) -> str:
    """The last four only (what a caller is asked to confirm), e.g. **************123X.

    Not the region prefix as well: with the birth date (digits 7-14) and the address (which
    names the region) beside it, prefix and last four would give back every digit. A masked
    reader gets the age, not the birth date, so what stays hidden is the whole birth date.
    """
    return f"{'*' * 14}{id_number[-4:]}"


def mask_phone(phone: str | None) -> str | None:
    """A phone number in a list: the first three and last four digits of a mobile, else the last four."""
    if not phone:
        return phone
    digits = [index for index, char in enumerate(phone) if char.isdigit()]
    number = "".join(phone[index] for index in digits)
    country = digits[:2] if len(digits) == 13 and number.startswith("86") else []  # +86: not identifying
    national = digits[len(country) :]
    keep = set(country) | set(national[-4:]) | (set(national[:3]) if len(national) == 11 else set())
    return "".join(char if index in keep or not char.isdigit() else "*" for index, char in enumerate(phone))


def age_on(birth_date: date, today: date) -> int:
    """Age in whole years on `today`."""
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def encode_categories(categories: list[str] | set[str]) -> str:
    """Stored as ',a,b,' so a category filter is a LIKE that works on PostgreSQL and SQLite."""
    return "," + ",".join(sorted(set(categories))) + "," if categories else ""


def decode_categories(stored: str) -> list[str]:
    return [c for c in stored.split(",") if c]


# ---- tables --------------------------------------------------------------------------------


class Elder(SQLModel, table=True):
    """One person in the registry: profile, area, categories and health archive."""

    __tablename__ = "elders"
    __table_args__ = (Index("ix_elders_area_path", "area_path"), Index("ix_elders_name", "name"))

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    sex: str = Field(sa_column=Column(String(8), nullable=False))
    birth_date: date = Field(sa_column=Column(Date, nullable=False))
    id_number: str = Field(sa_column=Column(String(18), nullable=False, unique=True))
    phone: str | None = Field(default=None, sa_column=Column(String(32), nullable=True, index=True))
    address: str = Field(sa_column=Column(String(255), nullable=False))
    home_lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    home_lon: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    province: str = Field(sa_column=Column(String(64), nullable=False))
    city: str = Field(sa_column=Column(String(64), nullable=False))
    district: str = Field(sa_column=Column(String(64), nullable=False))
    street: str = Field(sa_column=Column(String(64), nullable=False))
    community: str = Field(default="", sa_column=Column(String(64), nullable=False))
    area_type: str = Field(sa_column=Column(String(16), nullable=False))
    area_path: str = Field(sa_column=Column(String(340), nullable=False))
    living_situation: str = Field(sa_column=Column(String(16), nullable=False))
    categories: str = Field(default="", sa_column=Column(String(255), nullable=False))
    language: str = Field(default="", sa_column=Column(String(64), nullable=False))
    notes: str = Field(default="", sa_column=Column(Text, nullable=False))
    conditions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    medications: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    allergies: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    blood_type: str = Field(default="", sa_column=Column(String(8), nullable=False))
    primary_doctor: str = Field(default="", sa_column=Column(String(128), nullable=False))
    family_doctor_contract: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    hospital_preference: str = Field(default="", sa_column=Column(String(128), nullable=False))
    # Denormalised from assessments and visits so that list filters stay in SQL.
    ability_level: int | None = Field(default=None, sa_column=Column(Integer, nullable=True, index=True))
    last_visit_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    snapshot_version: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    # Moved away or deceased: the record stays (history), other services get a tombstone, and
    # the elder no longer counts for visits.
    deactivated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    deactivation_reason: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Contact(SQLModel, table=True):
    """An emergency contact; `position` is the calling order."""

    __tablename__ = "elder_contacts"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    elder_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    position: int = Field(sa_column=Column(Integer, nullable=False))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    relation: str = Field(sa_column=Column(String(32), nullable=False))
    phone: str = Field(sa_column=Column(String(32), nullable=False))
    has_key: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    distance_km: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    lon: float | None = Field(default=None, sa_column=Column(Float, nullable=True))


# ---- API schemas ---------------------------------------------------------------------------

PHONE = r"^\+?[0-9][0-9 -]{4,30}$"


class AreaIn(RequestModel):
    """Administrative area; pastoral areas put banner / sumu / gacha in district / street / community."""

    model_config = ConfigDict(extra="forbid")
    province: str = PydanticField(min_length=1, max_length=64)
    city: str = PydanticField(min_length=1, max_length=64)
    district: str = PydanticField(min_length=1, max_length=64)
    street: str = PydanticField(min_length=1, max_length=64)
    community: str = PydanticField("", max_length=64)
    area_type: AreaType

    @field_validator("province", "city", "district", "street", "community")
    @classmethod
    def _no_separator(cls, value: str) -> str:
        if "/" in value:
            raise ValueError("area names may not contain '/'")
        return value.strip()

    def path(self) -> str:
        return "/".join(getattr(self, level) for level in AREA_LEVELS if getattr(self, level))


ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class HealthArchive(RequestModel):
    model_config = ConfigDict(extra="forbid")
    conditions: list[ShortText] = PydanticField(default_factory=list, max_length=50)
    medications: list[ShortText] = PydanticField(default_factory=list, max_length=50)
    allergies: list[ShortText] = PydanticField(default_factory=list, max_length=50)
    blood_type: str = PydanticField("", pattern=r"^((A|B|AB|O)[+-]?)?$")
    primary_doctor: str = PydanticField("", max_length=128)
    family_doctor_contract: bool = False
    hospital_preference: str = PydanticField("", max_length=128)


class HomeLocation(RequestModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = PydanticField(ge=-90, le=90)
    lon: float = PydanticField(ge=-180, le=180)


class ElderCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: str = PydanticField(min_length=1, max_length=64)
    sex: Sex
    birth_date: date
    id_number: str = PydanticField(min_length=15, max_length=18, description="resident ID number (18 characters)")
    phone: str | None = PydanticField(None, pattern=PHONE)
    address: str = PydanticField(min_length=1, max_length=255)
    home_location: HomeLocation | None = None
    area: AreaIn
    living_situation: LivingSituation
    categories: list[Category] = PydanticField(default_factory=list, max_length=16)
    language: str = PydanticField("", max_length=64, description="language or dialect, e.g. 普通话, 蒙古语")
    notes: str = PydanticField("", max_length=4000)
    health: HealthArchive = PydanticField(default_factory=HealthArchive)

    @field_validator("id_number")
    @classmethod
    def _valid_id_number(cls, value: str) -> str:
        return validate_id_number(value)

    @model_validator(mode="after")
    def _birth_date_matches_id(self) -> ElderCreate:
        if id_birth_date(self.id_number) != self.birth_date:
            raise ValueError("birth_date does not match the birth date in the ID number")
        if self.birth_date > date.today():
            raise ValueError("birth_date is in the future")
        return self


class ElderUpdate(RequestModel):
    """Fields to change; the ID number and birth date are fixed once registered."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = PydanticField(None, min_length=1, max_length=64)
    sex: Sex | None = None
    phone: str | None = PydanticField(None, pattern=PHONE)
    address: str | None = PydanticField(None, min_length=1, max_length=255)
    home_location: HomeLocation | None = None
    area: AreaIn | None = None
    living_situation: LivingSituation | None = None
    categories: list[Category] | None = PydanticField(None, max_length=16)
    language: str | None = PydanticField(None, max_length=64)
    notes: str | None = PydanticField(None, max_length=4000)
    health: HealthArchive | None = None


class ContactIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: str = PydanticField(min_length=1, max_length=64)
    relation: str = PydanticField(min_length=1, max_length=32, description="e.g. daughter, son, neighbour")
    phone: str = PydanticField(pattern=PHONE)
    has_key: bool = False
    distance_km: float | None = PydanticField(None, ge=0, le=20000)
    lat: float | None = PydanticField(None, ge=-90, le=90)
    lon: float | None = PydanticField(None, ge=-180, le=180)

    @model_validator(mode="after")
    def _lat_lon_together(self) -> ContactIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    relation: str
    phone: str
    has_key: bool
    distance_km: float | None
    lat: float | None
    lon: float | None


class AreaRead(BaseModel):
    province: str
    city: str
    district: str
    street: str
    community: str
    area_type: str
    path: str


class ElderSummary(BaseModel):
    """An elder as lists show it: the ID number masked."""

    id: str
    name: str
    sex: str
    age: int
    id_number: str = PydanticField(description="masked in lists")
    phone: str | None
    area: AreaRead
    living_situation: str
    categories: list[str]
    ability_level: int | None
    visit_frequency: str | None = PydanticField(description="weekly, monthly or null (no visits required)")
    last_visit_at: datetime | None
    visit_overdue: bool


class ElderRead(ElderSummary):
    """One elder with the whole record; the ID number and the birth date for admins only."""

    birth_date: date | None
    address: str
    home_location: HomeLocation | None
    language: str
    notes: str
    health: HealthArchive
    contacts: list[ContactRead]
    device_ids: list[str]
    current_assessment: dict[str, Any] | None
    snapshot_version: int
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None = None
    deactivation_reason: str | None = PydanticField(None, description="moved or deceased, once deactivated")


class DeactivationReason(StrEnum):
    MOVED = "moved"
    DECEASED = "deceased"


class Deactivation(RequestModel):
    model_config = ConfigDict(extra="forbid")
    reason: DeactivationReason


def area_fields(elder: Elder) -> dict[str, str]:
    """The elder's administrative area, level by level, as the read model and the snapshot both carry it."""
    return {level: getattr(elder, level) for level in (*AREA_LEVELS, "area_type")}


def make_id_number(region: str, birth_date: date, serial: int, sex: Sex) -> str:
    """A well-formed ID number (for seeding and tests): 6-digit region, birth date, serial, check digit."""
    # The 17th digit is odd for men and even for women.
    order = (serial % 50) * 2 + (1 if sex is Sex.MALE else 0)
    first17 = f"{region}{birth_date:%Y%m%d}{serial // 50 % 10}{order:02d}"
    return first17 + id_check_digit(first17)


class RecordRead(SQLModel, table=True):
    """Audit entry: someone opened an elder's whole record (who, as which role, when, for which incident)."""

    __tablename__ = "record_reads"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    elder_id: str = Field(sa_column=Column(String(36), nullable=False, index=True))
    actor: str = Field(sa_column=Column(String(128), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The reason the reader gave: the incident being worked (None for a read outside any incident).
    incident_id: str | None = Field(default=None, sa_column=Column(String(36), nullable=True))


class RecordReadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    actor: str
    role: str
    at: datetime
    incident_id: str | None = None
