"""Incident priority: a base level per alarm kind, raised by who the elder is.

The table is data, and `score` is a pure function of it, so the rules can be read,
tested and extended (later issues add more kinds and factors) without touching the
incident code. P1 is the most urgent.

| alarm kind      | base |
|-----------------|------|
| sos             | P2   |
| fall            | P2   |
| device_removed  | P4   |

Each matching factor raises the priority by its step (never above P1):

| factor                                      | step |
|---------------------------------------------|------|
| ability level 3 or 4 (severe / complete)    | 1    |
| lives alone                                 | 1    |
| dementia                                    | 1    |
| aged 80 or over                             | 1    |
| unbound device (the wearer is unknown)      | 1    |

An unknown wearer is raised because nothing rules the risk out; an SOS from an
unbound device is therefore P1, as it was before elders were known to dispatch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from services.dispatch.elder.models import ElderFacts

HIGHEST = 1
LOWEST = 4

BASE_PRIORITY: dict[str, int] = {"sos": 2, "fall": 2, "device_removed": 4}


@dataclass(frozen=True)
class Factor:
    name: str
    step: int
    applies: Callable[[ElderFacts, date], bool]
    reason: str


def _age(facts: ElderFacts, today: date) -> int | None:
    if facts.birth_date is None:
        return None
    born = facts.birth_date
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


FACTORS: tuple[Factor, ...] = (
    Factor(
        "ability_level",
        1,
        lambda f, _: f.ability_level is not None and f.ability_level >= 3,
        "ability level 3+ (severely or completely impaired)",
    ),
    Factor(
        "living_alone",
        1,
        lambda f, _: f.living_situation == "alone" or "living_alone" in f.categories,
        "lives alone",
    ),
    Factor("dementia", 1, lambda f, _: "dementia" in f.categories, "dementia"),
    Factor(
        "very_old",
        1,
        lambda f, today: "very_old" in f.categories or (_age(f, today) or 0) >= 80,
        "aged 80 or over",
    ),
)

UNBOUND_DEVICE_STEP = 1
UNBOUND_DEVICE_REASON = "unbound device: the wearer is unknown"


@dataclass(frozen=True)
class PriorityDecision:
    priority: int
    reasons: list[str]


def score(kind: str, elder: ElderFacts | None, *, today: date) -> PriorityDecision:
    """The priority of an alarm of `kind` for this elder (None: unbound device), with the reasons."""
    base = BASE_PRIORITY[kind]
    reasons = [f"{kind}: base P{base}"]
    if elder is None:
        steps = UNBOUND_DEVICE_STEP
        reasons.append(f"{UNBOUND_DEVICE_REASON} (+{UNBOUND_DEVICE_STEP})")
    else:
        steps = 0
        for factor in FACTORS:
            if factor.applies(elder, today):
                steps += factor.step
                reasons.append(f"{factor.reason} (+{factor.step})")
    return PriorityDecision(priority=max(HIGHEST, min(LOWEST, base - steps)), reasons=reasons)
