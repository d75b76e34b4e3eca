"""The visit policy: which elders need visits and how often, and the slots of a reporting period.

A policy is an ordered list of rules; the first rule an elder matches gives the
frequency. A rule matches when, for every group in `all_of`, the elder has at least
one of the group's categories. "very_old" (80+) and "living_alone" are also derived
from the birth date and the living situation, so they need not be ticked by hand.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from services.care_record.elder.models import Category, Elder, LivingSituation, age_on, decode_categories


class Frequency(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"


# How long after the last visit an elder counts as overdue in lists (the report uses slots).
OVERDUE_AFTER = {Frequency.WEEKLY: timedelta(days=7), Frequency.MONTHLY: timedelta(days=31)}


class VisitRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    frequency: Frequency
    all_of: list[list[Category]] = Field(min_length=1)


class VisitPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[VisitRule]


DEFAULT_VISIT_POLICY = VisitPolicy(
    rules=[
        # Weekly: special-hardship or living-alone elders who are 80+ or disabled.
        VisitRule(
            frequency=Frequency.WEEKLY,
            all_of=[
                [Category.SPECIAL_HARDSHIP, Category.LIVING_ALONE],
                [Category.VERY_OLD, Category.DISABLED],
            ],
        ),
        # Monthly: every other special-hardship elder.
        VisitRule(frequency=Frequency.MONTHLY, all_of=[[Category.SPECIAL_HARDSHIP]]),
    ]
)


def effective_categories(elder: Elder, today: date) -> set[str]:
    """The elder's categories plus those implied by age and living situation."""
    categories = set(decode_categories(elder.categories))
    if age_on(elder.birth_date, today) >= 80:
        categories.add(Category.VERY_OLD.value)
    if elder.living_situation == LivingSituation.ALONE.value:
        categories.add(Category.LIVING_ALONE.value)
    return categories


def required_frequency(elder: Elder, policy: VisitPolicy, today: date) -> Frequency | None:
    """How often the policy requires this elder to be visited; None when it does not (or the
    elder is deactivated: moved away or deceased, out of compliance reports and overdue lists)."""
    if elder.deactivated_at is not None:
        return None
    categories = effective_categories(elder, today)
    for rule in policy.rules:
        if all(categories & {c.value for c in group} for group in rule.all_of):
            return rule.frequency
    return None


def is_overdue(elder: Elder, policy: VisitPolicy, now: datetime) -> bool:
    """True when visits are required and the last one is older than the frequency allows."""
    frequency = required_frequency(elder, policy, now.date())
    if frequency is None:
        return False
    return elder.last_visit_at is None or elder.last_visit_at < now - OVERDUE_AFTER[frequency]


# ---- reporting periods ---------------------------------------------------------------------

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
# Civil-affairs months are China Standard Time months.
CHINA_TIME = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True)
class Slot:
    """A stretch of time in which one visit is required."""

    start: datetime
    end: datetime  # exclusive

    def label(self) -> str:
        first = self.start.astimezone(CHINA_TIME).date()
        last = (self.end - timedelta(days=1)).astimezone(CHINA_TIME).date()
        return f"{first.isoformat()}..{last.isoformat()}"


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime
    end: datetime

    def slots(self, frequency: Frequency) -> list[Slot]:
        """Monthly: the whole month. Weekly: days 1-7, 8-14, 15-21 and 22 to the month's end."""
        if frequency is Frequency.MONTHLY:
            return [Slot(self.start, self.end)]
        starts = [self.start + timedelta(days=d) for d in (0, 7, 14, 21)]
        return [Slot(s, e) for s, e in zip(starts, [*starts[1:], self.end], strict=True)]


def parse_period(raw: str) -> Period:
    """`YYYY-MM`, a calendar month in China Standard Time -> Period; ValueError otherwise."""
    match = _MONTH.match(raw.strip())
    if not match:
        raise ValueError("period must look like YYYY-MM")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise ValueError("period names no valid month")
    start = datetime(year, month, 1, tzinfo=CHINA_TIME)
    days = calendar.monthrange(year, month)[1]
    end = start + timedelta(days=days)
    return Period(label=f"{year:04d}-{month:02d}", start=start.astimezone(UTC), end=end.astimezone(UTC))


def missed_slots(frequency: Frequency, period: Period, visits: list[datetime], evaluated_until: datetime) -> list[Slot]:
    """The period's slots that have ended by `evaluated_until` and hold no visit."""
    missed = []
    for slot in period.slots(frequency):
        if slot.end > evaluated_until:
            continue  # not yet due
        if not any(slot.start <= at < slot.end for at in visits):
            missed.append(slot)
    return missed
