"""Candidate ranking as pure functions: distance, duty, skills, the elder's own contacts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from services.dispatch.responder.models import Skill

EARTH_RADIUS_KM = 6371.0088


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lon) points in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass
class Option:
    """A responder as the ranking sees it."""

    responder_id: str
    position: tuple[float, float] | None
    skills: set[Skill]
    own_contact: bool
    coverage_radius_km: float | None = None
    distance_km: float | None = None
    missing_skills: list[Skill] = field(default_factory=list)
    close_contact: bool = False


def rank(
    options: list[Option], *, origin: tuple[float, float] | None, needed: set[Skill], contact_close_km: float
) -> list[Option]:
    """Drop those out of their coverage; order: close own contacts, fewest missing skills, nearest."""
    ranked: list[Option] = []
    for option in options:
        if origin is not None and option.position is not None:
            option.distance_km = round(haversine_km(origin, option.position), 3)
        if (
            option.coverage_radius_km is not None
            and option.distance_km is not None
            and option.distance_km > option.coverage_radius_km
        ):
            continue
        option.missing_skills = sorted(needed - option.skills)
        option.close_contact = option.own_contact and (
            (option.distance_km is None and origin is None) or (option.distance_km or math.inf) <= contact_close_km
        )
        ranked.append(option)
    ranked.sort(
        key=lambda o: (
            not o.close_contact,
            len(o.missing_skills),
            o.distance_km if o.distance_km is not None else math.inf,
            o.responder_id,
        )
    )
    return ranked
