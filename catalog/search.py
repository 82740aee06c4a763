"""The nurse's filtering of the catalog, pure: which units fit the call, and in what order.

Filters: region(s), type(s), services (all of them), fit for an urgency level (the type serves it:
advice.urgency), open at T / opening within X of T, within D km of a point (a municipality is its point),
the patient's age. Order: fit, then open state, then distance, then name —
- fit: a unit whose age limits include the patient (a barnakut for a child) first; then, for an urgency, the
  types made for that level (its most urgent level: a närakut for "within hours") before those that serve it
  besides more urgent needs (a psychiatric emergency unit); then the rest;
- open state: open at T, then opening within the window asked for (soonest first), then the rest;
- distance: straight-line km from the point.

The index keeps per unit what the filters need in plain fields and computes opening per distinct opening
hours (units share them), so a query over 10,000 units stays within a few milliseconds (bench/).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from advice.urgency import CARE_UNIT_TYPES, Urgency

from .hours import OpenState, open_state
from .model import CareUnit
from .municipalities import EARTH_KM, haversine_km

KM_PER_DEGREE = math.pi * EARTH_KM / 180


@dataclass(frozen=True)
class Query:
    regions: frozenset[str] | None = None
    types: frozenset[str] | None = None
    services: frozenset[str] = frozenset()
    urgency: Urgency | None = None
    at: datetime | None = None  # open at this time (aware); with `within`, or opening before at + within
    within: timedelta | None = None
    near: tuple[float, float] | None = None  # (lat, lon)
    max_km: float | None = None
    age: int | None = None
    limit: int = 20

    def __post_init__(self) -> None:
        if self.within is not None and self.at is None:
            raise ValueError("`within` needs `at`: opening within X of which time?")
        if self.max_km is not None and self.near is None:
            raise ValueError("`max_km` needs `near`: within X km of which point?")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("`at` must have a time zone")


@dataclass(frozen=True)
class Hit:
    unit: CareUnit
    fit: int  # 0: made for this patient (age limits include her age); 1: made for the urgency; 2: also serves it
    state: OpenState | None  # None: no time asked
    distance_km: float | None

    @property
    def open_rank(self) -> int:
        if self.state is None:
            return 0
        return 0 if self.state.open else 1 if self.state.opens_at is not None else 2


@dataclass(frozen=True)
class _Entry:
    unit: CareUnit
    region: str
    type: str
    services: frozenset[str]
    fits: frozenset[Urgency]
    primary: Urgency  # the most urgent level the type serves: what it is made for
    age_min: int
    age_max: int
    limited: bool
    lat: float
    lon: float
    hours_key: int  # index into the index's distinct opening hours


@dataclass
class CatalogIndex:
    """An immutable snapshot of the catalog for searching; build a new one when units change."""

    entries: list[_Entry] = field(default_factory=list)
    hours: list[CareUnit] = field(default_factory=list)  # one unit per distinct opening hours

    @classmethod
    def build(cls, units: Iterable[CareUnit]) -> CatalogIndex:
        index = cls()
        keys: dict[str, int] = {}
        for u in units:
            canonical = json.dumps(u.hours.model_dump(mode="json"), sort_keys=True)
            key = keys.setdefault(canonical, len(keys))
            if key == len(index.hours):
                index.hours.append(u)
            index.entries.append(_Entry(
                unit=u, region=u.region, type=u.type, services=frozenset(u.services),
                fits=CARE_UNIT_TYPES[u.type].fits, primary=min(CARE_UNIT_TYPES[u.type].fits, key=lambda v: v.rank),
                age_min=u.age_min if u.age_min is not None else 0,
                age_max=u.age_max if u.age_max is not None else 200,
                limited=u.age_min is not None or u.age_max is not None, lat=u.lat, lon=u.lon, hours_key=key))
        return index

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, q: Query) -> list[Hit]:
        states: dict[int, OpenState] = {}
        near = q.near
        # Ranking by an equirectangular distance (a multiply and a square root per unit) is exact enough
        # over Sweden; the hits shown get the great-circle distance.
        cos_lat = math.cos(math.radians(near[0])) if near else 1.0
        max_deg2 = (q.max_km / KM_PER_DEGREE) ** 2 if q.max_km is not None else None
        ranked: list[tuple[int, int, float, float, str, _Entry, OpenState | None]] = []
        for e in self.entries:
            if q.regions is not None and e.region not in q.regions:
                continue
            if q.types is not None and e.type not in q.types:
                continue
            if q.urgency is not None and q.urgency not in e.fits:
                continue
            if q.services and not q.services <= e.services:
                continue
            if q.age is not None and not e.age_min <= q.age <= e.age_max:
                continue
            d2 = 0.0
            if near is not None:
                dx = (e.lon - near[1]) * cos_lat
                dy = e.lat - near[0]
                d2 = dx * dx + dy * dy
                if max_deg2 is not None and d2 > max_deg2 * 1.01:  # 1 % margin for the approximation
                    continue
            state: OpenState | None = None
            soon = 0.0
            if q.at is not None:
                state = states.get(e.hours_key)
                if state is None:
                    state = states[e.hours_key] = open_state(self.hours[e.hours_key].hours, q.at)
                if q.within is not None and not state.open_within(q.at, q.within):
                    continue
                if q.within is None and not state.open:
                    continue
                soon = (state.opens_at - q.at).total_seconds() if state.opens_at is not None else 0.0
            fit = 0 if (q.age is not None and e.limited) else 1 if (q.urgency is None or e.primary == q.urgency) else 2
            open_rank = 0 if state is None or state.open else 1 if state.opens_at is not None else 2
            ranked.append((fit, open_rank, soon, d2, e.unit.name, e, state))
        ranked.sort(key=lambda r: r[:5])
        hits: list[Hit] = []
        for fit, _, _, _, _, e, state in ranked[: q.limit]:
            km = haversine_km(near[0], near[1], e.lat, e.lon) if near is not None else None
            if km is not None and q.max_km is not None and km > q.max_km:
                continue
            hits.append(Hit(e.unit, fit, state, km))
        return hits


def search(units: Sequence[CareUnit], q: Query) -> list[Hit]:
    """One-off search (builds an index): for tests and the CLI."""
    return CatalogIndex.build(units).search(q)
