"""The nurse's filters over the catalog — region, type, service, urgency, open at T / within X, distance,
age — and the order of the hits: fit, open state, distance."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from advice.urgency import Urgency
from catalog.model import CareUnit
from catalog.municipalities import haversine_km
from catalog.search import CatalogIndex, Query

SE = ZoneInfo("Europe/Stockholm")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
ALL_DAYS = (*WEEKDAYS, "saturday", "sunday")
OFFICE = {"weekly": {d: ["08:00-17:00"] for d in WEEKDAYS}, "holidays": "closed", "eves": "closed"}
ALWAYS = {"weekly": {d: ["00:00-24:00"] for d in ALL_DAYS}, "holidays": "weekly", "eves": "weekly"}
EVENINGS = {"weekly": {d: ["17:00-22:00"] for d in ALL_DAYS}, "holidays": "weekly", "eves": "weekly"}
STOCKHOLM = (59.3293, 18.0686)
# Points east/west/north of central Stockholm (about 1.1 km per 0.01° of latitude).
NEAR, MID, FAR = (59.3393, 18.0686), (59.3793, 18.0686), (59.8586, 17.6389)  # FAR: Uppsala


def unit(uid: str, type_: str, point: tuple[float, float] = NEAR, hours: dict[str, Any] | None = None,
         region: str = "01", **extra: Any) -> CareUnit:
    return CareUnit.model_validate({"id": uid, "region": region, "name": extra.pop("name", uid), "type": type_,
                                    "hours": hours or OFFICE, "municipality": "Stockholm", "lat": point[0],
                                    "lon": point[1], **extra})


UNITS = [
    unit("akut-sos", "akutmottagning", MID, ALWAYS, name="Akuten Mitt"),
    unit("akut-near", "akutmottagning", NEAR, ALWAYS, name="Akuten Nära"),
    unit("barnakut", "barnakut", FAR, ALWAYS, region="03", age_min=0, age_max=17, municipality="Uppsala"),
    unit("vc-near", "vardcentral", NEAR, OFFICE, services=["provtagning"]),
    unit("vc-mid", "vardcentral", MID, OFFICE),
    unit("jour", "jourcentral", MID, EVENINGS),
    unit("bvc", "barnavardscentral", NEAR, OFFICE, age_min=0, age_max=6, access="booked"),
    unit("upp-vc", "vardcentral", FAR, OFFICE, region="03", municipality="Uppsala"),
]
INDEX = CatalogIndex.build(UNITS)


def ids(q: Query) -> list[str]:
    return [h.unit.id for h in INDEX.search(q)]


def test_region_type_and_service_filters() -> None:
    """Only the regions, types and services asked for (every service named must be offered)."""
    assert ids(Query(regions=frozenset({"03"}))) == ["barnakut", "upp-vc"]
    assert set(ids(Query(types=frozenset({"vardcentral"})))) == {"vc-near", "vc-mid", "upp-vc"}
    assert ids(Query(services=frozenset({"provtagning"}))) == ["vc-near"]
    assert ids(Query(services=frozenset({"provtagning", "rontgen"}))) == []


def test_urgency_keeps_the_types_that_serve_it() -> None:
    """'akut' finds the emergency departments (and the barnakut), not a vårdcentral; 'dagar' finds vårdcentraler
    and the BVC."""
    assert set(ids(Query(urgency=Urgency.EMERGENCY_NOW))) == {"akut-sos", "akut-near", "barnakut"}
    assert set(ids(Query(urgency=Urgency.WITHIN_DAYS))) == {"vc-near", "vc-mid", "upp-vc", "bvc"}


def test_nearest_first_and_within_a_radius() -> None:
    """Sorted by distance from the point; max_km drops what is farther; the distance shown is the great circle."""
    hits = INDEX.search(Query(urgency=Urgency.EMERGENCY_NOW, near=STOCKHOLM))
    assert [h.unit.id for h in hits] == ["akut-near", "akut-sos", "barnakut"]
    assert hits[0].distance_km == pytest.approx(1.11, abs=0.05)
    assert hits[2].distance_km == pytest.approx(haversine_km(*STOCKHOLM, *FAR))
    assert ids(Query(urgency=Urgency.EMERGENCY_NOW, near=STOCKHOLM, max_km=10)) == ["akut-near", "akut-sos"]


def test_open_at_a_time_and_opening_within_a_span() -> None:
    """At 19:00 on a weekday only the round-the-clock units and the evening jourcentral are open; 'within 14 h'
    adds the vårdcentraler that open at 08:00, after the open ones and soonest first."""
    evening = datetime(2026, 11, 26, 19, 0, tzinfo=SE)
    assert set(ids(Query(at=evening))) == {"akut-sos", "akut-near", "barnakut", "jour"}
    soon = INDEX.search(Query(urgency=Urgency.WITHIN_HOURS, at=evening, within=timedelta(hours=14), near=STOCKHOLM))
    assert [(h.unit.id, h.state.open if h.state else None) for h in soon] == [
        ("jour", True), ("vc-near", False), ("vc-mid", False), ("upp-vc", False)]
    assert soon[1].state is not None and soon[1].state.opens_at == datetime(2026, 11, 27, 8, 0, tzinfo=SE)
    assert ids(Query(urgency=Urgency.WITHIN_HOURS, at=evening, within=timedelta(hours=2))) == ["jour"]


def test_age_limits_and_fit_first() -> None:
    """A 4-year-old: units whose limits include her come first (BVC, barnakut), a 30-year-old never gets
    them."""
    child = ids(Query(age=4, near=STOCKHOLM, regions=frozenset({"01", "03"})))
    assert child[:2] == ["bvc", "barnakut"] and "bvc" in child
    adult = ids(Query(age=30))
    assert "bvc" not in adult and "barnakut" not in adult and "vc-near" in adult
    assert ids(Query(age=10, urgency=Urgency.EMERGENCY_NOW, near=STOCKHOLM))[0] == "barnakut"


def test_the_question_the_issue_asks() -> None:
    """'Which units fit urgency timmar, open at Friday 20:00, nearest to central Stockholm': the evening
    jourcentral only; on a holiday afternoon the same."""
    q = Query(urgency=Urgency.WITHIN_HOURS, at=datetime(2026, 11, 27, 20, 0, tzinfo=SE), near=STOCKHOLM)
    assert ids(q) == ["jour"]
    assert ids(Query(urgency=Urgency.WITHIN_HOURS, at=datetime(2026, 12, 25, 18, 0, tzinfo=SE))) == ["jour"]


def test_bad_queries_are_refused() -> None:
    """`within` without a time, `max_km` without a point, a naive time: ValueError naming the problem."""
    with pytest.raises(ValueError, match="within"):
        Query(within=timedelta(hours=1))
    with pytest.raises(ValueError, match="max_km"):
        Query(max_km=5)
    with pytest.raises(ValueError, match="time zone"):
        Query(at=datetime(2026, 11, 26, 12, 0))


def test_units_made_for_the_urgency_come_before_those_that_also_serve_it() -> None:
    """For 'within hours' a närakut (made for it) ranks before a psychiatric emergency unit (made for 'akut',
    serving 'within hours' too) even when the latter is nearer."""
    index = CatalogIndex.build([unit("psyk", "psykakut", NEAR, ALWAYS), unit("narakut", "narakut", MID, ALWAYS)])
    hits = index.search(Query(urgency=Urgency.WITHIN_HOURS, near=STOCKHOLM))
    assert [(h.unit.id, h.fit) for h in hits] == [("narakut", 1), ("psyk", 2)]
