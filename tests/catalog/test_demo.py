"""The demo catalog (all 21 regions, fictional) and the synthetic catalogs of the benchmark."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import phonenumbers

from advice.urgency import CARE_UNIT_TYPES
from catalog import demo
from catalog.demo import NOTE, demo_units, synthetic_units
from catalog.hours import open_state
from catalog.model import CareUnit
from catalog.municipalities import haversine_km, load
from config.hours import windows_on
from config.regions import REGIONS

SE = ZoneInfo("Europe/Stockholm")
UNITS = demo_units()
PLACES = load()


def of_type(type_: str) -> list[CareUnit]:
    return [u for u in UNITS if u.type == type_]


def test_demo_size_and_unique_ids() -> None:
    """Roughly 1,000–2,000 units, each id once."""
    assert 1000 <= len(UNITS) <= 2000
    assert len({u.id for u in UNITS}) == len(UNITS)


def test_every_unit_validates_again() -> None:
    """Every unit survives a round trip through the model (JSON out, validated back in, equal)."""
    for u in UNITS:
        assert CareUnit.model_validate_json(u.model_dump_json()) == u


def test_all_regions_have_emergency_and_primary_care() -> None:
    """All 21 regions are there, each with an akutmottagning, a barnakut, a psykakut and a tandvårdsjour."""
    assert {u.region for u in UNITS} == set(REGIONS)
    for type_ in ("akutmottagning", "barnakut", "psykakut", "gynakut", "ogonakut", "tandvardsjour", "digital"):
        assert {u.region for u in of_type(type_)} == set(REGIONS), type_
    per_region = Counter(u.region for u in of_type("akutmottagning"))
    assert all(1 <= n <= 3 for n in per_region.values())
    assert sum(1 for u in UNITS if u.type in ("narakut", "jourcentral")) >= 30


def test_a_vardcentral_in_every_municipality() -> None:
    """Every one of the 290 municipalities has a vårdcentral; the largest cities more than one."""
    vc = Counter(u.municipality for u in of_type("vardcentral"))
    assert set(vc) == {m.name for m in PLACES.all()}
    assert vc["Stockholm"] >= 2 and vc["Göteborg"] >= 2 and vc["Malmö"] >= 2


def test_national_units() -> None:
    """One giftinformation (region 01, Stockholm, round the clock) and one digital provider per region."""
    gift = of_type("giftinformation")
    assert len(gift) == 1 and gift[0].region == "01" and gift[0].municipality == "Stockholm"
    assert len(of_type("digital")) == len(REGIONS)


def test_every_type_but_ambulans_is_used() -> None:
    """The demo covers the vocabulary's care-unit types (an ambulance is 112, not a referral)."""
    assert {u.type for u in UNITS} == set(CARE_UNIT_TYPES) - {"ambulans"}


def test_units_lie_in_their_municipality_and_region() -> None:
    """Each unit's municipality is in the file, in the unit's region, and the unit within ~5 km of its point."""
    for u in UNITS:
        m = PLACES.by_name(u.municipality)
        assert m is not None and m.name == u.municipality, u.id
        assert m.region == u.region, u.id
        assert haversine_km(m.lat, m.lon, u.lat, u.lon) <= 5.0, u.id


def test_marked_as_fictional() -> None:
    """Names end in "(demo)", the note says it is fictional, there is no link, phone numbers are valid."""
    for u in UNITS:
        assert u.name.endswith("(demo)"), u.id
        assert u.note.startswith(NOTE), u.id
        assert u.url == ""
        assert u.phone and phonenumbers.is_valid_number(phonenumbers.parse(u.phone)), u.id
        assert u.postcode and u.address and u.city


def test_age_limits() -> None:
    """Barnakut 0–17, BVC 0–6, ungdomsmottagning 13–25; the others have no age limits."""
    expected = {"barnakut": (0, 17), "barnavardscentral": (0, 6), "ungdomsmottagning": (13, 25)}
    for u in UNITS:
        assert (u.age_min, u.age_max) == expected.get(u.type, (None, None)), u.id


def test_typical_opening_hours() -> None:
    """Akut round the clock even on juldagen; vårdcentral closed on Sundays and holidays; jour open evenings."""
    christmas_night = datetime(2026, 12, 25, 3, 0, tzinfo=SE)
    sunday_noon = datetime(2026, 11, 29, 12, 0, tzinfo=SE)
    tuesday_10, tuesday_20 = datetime(2026, 11, 24, 10, 0, tzinfo=SE), datetime(2026, 11, 24, 20, 0, tzinfo=SE)
    for u in of_type("akutmottagning") + of_type("barnakut") + of_type("psykakut") + of_type("giftinformation"):
        assert open_state(u.hours, christmas_night).open, u.id
    for u in of_type("vardcentral"):
        assert open_state(u.hours, tuesday_10).open, u.id
        assert not open_state(u.hours, sunday_noon).open, u.id
        assert windows_on(u.hours, date(2026, 12, 25)) == [], u.id
    for u in of_type("jourcentral"):
        assert open_state(u.hours, tuesday_20).open and not open_state(u.hours, tuesday_10).open, u.id
    assert sum(1 for u in of_type("vardcentral") if u.hours.exceptions) >= 5
    assert any(open_state(u.hours, sunday_noon).open for u in of_type("apotek"))


def test_access_per_type() -> None:
    """Emergency units take drop-ins, BVC is by appointment, a vårdcentral both."""
    assert all(u.access == "drop_in" for u in of_type("akutmottagning"))
    assert all(u.access == "booked" for u in of_type("barnavardscentral"))
    assert all(u.access == "both" for u in of_type("vardcentral"))


def test_demo_is_deterministic() -> None:
    """Two calls give equal catalogs, and the list returned is the caller's own."""
    again = demo_units()
    assert again == UNITS and again is not UNITS
    assert [u.model_dump(mode="json") for u in again] == [u.model_dump(mode="json") for u in UNITS]


def test_synthetic_10000_unique_and_deterministic() -> None:
    """synthetic_units(10_000) has 10,000 unique ids, every type, and is the same for the same seed."""
    first = synthetic_units(10_000, seed=7)
    assert len(first) == 10_000 and len({u.id for u in first}) == 10_000
    assert {u.type for u in first} == set(CARE_UNIT_TYPES)
    assert len({u.municipality for u in first}) > 250
    assert synthetic_units(10_000, seed=7) == first
    assert synthetic_units(50, seed=8) != synthetic_units(50, seed=7)


def test_synthetic_shares_opening_hours() -> None:
    """Synthetic units draw from a limited set of opening hours (the search computes each set once)."""
    units = synthetic_units(2000, seed=1)
    distinct = {json.dumps(u.hours.model_dump(mode="json"), sort_keys=True) for u in units}
    assert 10 <= len(distinct) <= 200
    assert synthetic_units(0) == []


def test_synthetic_types_and_services_tables_cover_the_vocabulary() -> None:
    """The tables that drive the generators know every care-unit type of advice.urgency."""
    assert set(demo.SERVICES) == set(demo.ACCESS) == set(demo.ABBR) == set(CARE_UNIT_TYPES)
    assert set(demo.SYNTHETIC_HOURS) == set(demo.SYNTHETIC_WEIGHTS) == set(CARE_UNIT_TYPES)
