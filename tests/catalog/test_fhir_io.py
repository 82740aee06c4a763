"""catalog.fhir: care units as a FHIR R4B Bundle and back."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from catalog.errors import CatalogImportError
from catalog.fhir import units_bundle, units_from_bundle
from catalog.model import CareUnit
from config.schema import OpeningHours

BASE = "https://vardlinje.example.se"


def sample_units() -> list[CareUnit]:
    weekdays = ("monday", "tuesday", "wednesday", "thursday", "friday")
    return [
        CareUnit(
            id="01-akut-sos", region="01", name="Södersjukhusets akutmottagning", type="akutmottagning",
            hours=OpeningHours(weekly={d: ["00:00-24:00"] for d in (*weekdays, "saturday", "sunday")},
                               holidays="weekly", eves="weekly"),
            access="drop_in", phone="+4686161000", address="Sjukhusbacken 10", postcode="118 83",
            city="Stockholm", municipality="Stockholm", lat=59.3114, lon=18.052,
            note="Ambulansintag via Ringvägen.",
        ),
        CareUnit(
            id="03-vc-luthagen", region="03", name="Vårdcentralen Luthagen", type="vardcentral",
            services=["provtagning", "vaccination"], accessibility=["rullstol", "horslinga"],
            hours=OpeningHours(
                weekly={**{d: ["08:00-12:00", "13:00-17:00"] for d in weekdays},
                        "tuesday": ["08:00-12:00", "13:00-17:00", "17:30-20:00"]},
                holidays="closed", eves="closed",
                exceptions={"2026-12-24": "closed", "2026-12-31": ["08:00-12:00"]},
            ),
            access="both", phone="+4618611000", address="Geijersgatan 20", postcode="752 26", city="Uppsala",
            municipality="Uppsala", lat=59.8652, lon=17.6221, url="https://vc-luthagen.example.se",
        ),
        CareUnit(
            id="12-jc-malmo", region="12", name="Jourcentralen Malmö", type="jourcentral",
            hours=OpeningHours(weekly={"friday": ["18:00-02:00+1"], "saturday": ["10:00-16:00", "18:00-02:00+1"],
                                       "sunday": ["10:00-18:00"]},
                               holidays="sunday", eves="saturday"),
            access="booked", phone="+46406010000", address="Carl Bertil Laurells gata 9", postcode="205 02",
            city="Malmö", municipality="Malmö", lat=55.5899, lon=12.9876,
        ),
        CareUnit(
            id="14-bvc-majorna", region="14", name="BVC Majorna", type="barnavardscentral",
            hours=OpeningHours(weekly={d: ["08:00-16:00"] for d in weekdays[:4]}, holidays="closed"),
            access="booked", phone="+46313421000", city="Göteborg", municipality="Göteborg",
            lat=57.6952, lon=11.9244, age_min=0, age_max=6,
        ),
    ]


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _by_id(resources: list[dict[str, Any]], unit_id: str) -> dict[str, Any]:
    return next(r for r in resources if r["identifier"][0]["value"] == unit_id)


def _problems(data: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(CatalogImportError) as info:
        units_from_bundle(data, **kwargs)
    return info.value.problems


def test_export_is_a_valid_r4b_bundle_with_three_resources_per_unit() -> None:
    """The export re-parses as an R4B Bundle and holds Organization, Location, HealthcareService per unit."""
    units = sample_units()
    data = units_bundle(units, base_url=BASE)
    bundle = Bundle.model_validate(data)
    assert bundle.type == "collection"
    kinds = [e["resource"]["resourceType"] for e in data["entry"]]
    assert kinds == ["Organization", "Location", "HealthcareService"] * len(units)
    urls = [e["fullUrl"] for e in data["entry"]]
    assert len(set(urls)) == len(urls) and all(u.startswith("urn:uuid:") for u in urls)
    for resource in (e["resource"] for e in data["entry"]):
        for key in ("providedBy", "managingOrganization"):
            if key in resource:
                assert resource[key]["reference"] in urls
        for ref in resource.get("location", []):
            assert ref["reference"] in urls


def test_export_is_deterministic() -> None:
    """The same units give the same bundle, fullUrls included (receivers match re-exports by them)."""
    assert units_bundle(sample_units(), base_url=BASE) == units_bundle(sample_units(), base_url=BASE + "/")


def test_export_fields_of_location_and_service() -> None:
    """Position, address, type coding, characteristic, access and age map to the documented FHIR fields."""
    data = units_bundle(sample_units(), base_url=BASE)
    locations, services = _resources(data, "Location"), _resources(data, "HealthcareService")

    vc_loc = _by_id(locations, "03-vc-luthagen")
    assert vc_loc["position"] == {"latitude": 59.8652, "longitude": 17.6221}
    assert vc_loc["address"]["district"] == "Uppsala" and vc_loc["address"]["country"] == "SE"
    assert vc_loc["physicalType"]["coding"][0]["code"] == "bu"

    vc = _by_id(services, "03-vc-luthagen")
    assert vc["type"][0]["coding"][0] == {"system": f"{BASE}/fhir/CodeSystem/care-unit-type",
                                          "code": "vardcentral", "display": "Vårdcentral"}
    assert "appointmentRequired" not in vc  # both
    characteristic = {(c["coding"][0]["system"].rsplit("/", 1)[1], c["coding"][0]["code"])
                      for c in vc["characteristic"]}
    assert characteristic == {("service", "provtagning"), ("service", "vaccination"),
                              ("accessibility", "rullstol"), ("accessibility", "horslinga")}
    extensions = {e["url"]: e["valueString"] for e in vc["extension"]}
    assert extensions[f"{BASE}/fhir/StructureDefinition/region"] == "03"
    assert json.loads(extensions[f"{BASE}/fhir/StructureDefinition/opening-hours"])["exceptions"] == {
        "2026-12-24": "closed", "2026-12-31": ["08:00-12:00"]}

    assert _by_id(services, "01-akut-sos")["appointmentRequired"] is False
    bvc = _by_id(services, "14-bvc-majorna")
    assert bvc["appointmentRequired"] is True
    assert bvc["eligibility"][0]["comment"] == "age 0-6"
    assert bvc["eligibility"][0]["code"]["text"]


def test_export_available_times() -> None:
    """Weekday windows become availableTime; lunch breaks stay gaps, midnight crossings split, 24/7 is allDay."""
    services = _resources(units_bundle(sample_units(), base_url=BASE), "HealthcareService")
    vc = _by_id(services, "03-vc-luthagen")["availableTime"]
    assert {"daysOfWeek": ["mon", "tue", "wed", "thu", "fri"], "availableStartTime": "08:00:00",
            "availableEndTime": "12:00:00"} in vc
    assert {"daysOfWeek": ["mon", "tue", "wed", "thu", "fri"], "availableStartTime": "13:00:00",
            "availableEndTime": "17:00:00"} in vc
    assert {"daysOfWeek": ["tue"], "availableStartTime": "17:30:00", "availableEndTime": "20:00:00"} in vc
    assert _by_id(services, "03-vc-luthagen")["notAvailable"] == [
        {"description": "Stängt", "during": {"start": "2026-12-24", "end": "2026-12-24"}}]

    jc = _by_id(services, "12-jc-malmo")["availableTime"]
    assert {"daysOfWeek": ["fri", "sat"], "availableStartTime": "18:00:00", "availableEndTime": "23:59:59"} in jc
    assert {"daysOfWeek": ["sat", "sun"], "availableStartTime": "00:00:00", "availableEndTime": "02:00:00"} in jc

    akut = _by_id(services, "01-akut-sos")["availableTime"]
    assert akut == [{"daysOfWeek": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "allDay": True}]


def test_round_trip_is_exact() -> None:
    """Export then import gives back the very same units, from the dict and from its JSON text."""
    units = sample_units()
    data = units_bundle(units, base_url=BASE)
    assert units_from_bundle(data) == units
    assert units_from_bundle(json.dumps(data)) == units
    assert units_from_bundle(json.dumps(data).encode()) == units


def test_export_refuses_duplicates_and_a_relative_base_url() -> None:
    """A unit given twice (colliding fullUrls) or a base URL that is not absolute is refused."""
    unit = sample_units()[0]
    with pytest.raises(ValueError, match="twice"):
        units_bundle([unit, unit], base_url=BASE)
    with pytest.raises(ValueError, match="base_url"):
        units_bundle([unit], base_url="vardlinje.se")


def test_unknown_type_and_missing_position_are_both_reported() -> None:
    """An unknown type code and a Location without position are reported together, each naming its entry."""
    data = units_bundle(sample_units(), base_url=BASE)
    data["entry"][5]["resource"]["type"][0]["coding"][0]["code"] = "vardcentrl"
    del data["entry"][10]["resource"]["position"]
    problems = _problems(data)
    assert len(problems) == 2, problems
    assert problems[0].startswith('entry[5] HealthcareService "03-vc-luthagen": type: ')
    assert "'vardcentrl' is not a care-unit type" in problems[0]
    assert problems[1].startswith('entry[10] Location "14-bvc-majorna": position: missing')


def test_pydantic_errors_of_the_bundle_name_entry_and_field() -> None:
    """The R4B validation errors are reported with their entry, resource and path, all of them."""
    data = units_bundle(sample_units(), base_url=BASE)
    data["entry"][1]["resource"]["position"]["latitude"] = "north"
    data["entry"][5]["resource"]["availableTime"][0]["availableStartTime"] = "25:00:00"
    data["entry"][6]["resource"] = {"resourceType": "Nonsense"}
    problems = _problems(data)
    assert any(p.startswith("entry[6] Nonsense: resourceType: 'Nonsense' is not") for p in problems), problems
    assert any(p.startswith('entry[1] Location "01-akut-sos": position.latitude: ') for p in problems), problems
    assert any(p.startswith('entry[5] HealthcareService "03-vc-luthagen": availableTime[0].availableStartTime: '
                          "'25:00:00'") for p in problems), problems
    assert len(problems) == 3


def test_not_json_not_a_bundle_not_an_object() -> None:
    """Input that is not a Bundle at all is one clear problem."""
    assert _problems("{not json") == [_problems("{not json")[0]]
    assert _problems("{not json")[0].startswith("not JSON")
    assert "resourceType 'Patient'" in _problems({"resourceType": "Patient"})[0]
    assert "no resourceType" in _problems({"type": "collection"})[0]
    assert "got list" in _problems("[]")[0]
    with pytest.raises(CatalogImportError) as info:
        units_from_bundle('{"resourceType": "Patient"}')
    assert str(info.value).startswith("FHIR Bundle: 1 problem, nothing imported")


def test_duplicate_unit_ids_name_both_entries() -> None:
    """The same unit twice in a bundle is a problem naming both services' entries."""
    data = units_bundle(sample_units()[:1], base_url=BASE)
    twin = copy.deepcopy(data["entry"][2])
    twin["fullUrl"] = "urn:uuid:00000000-0000-4000-8000-000000000001"
    data["entry"].append(twin)
    problems = _problems(data)
    assert problems == ['entry[3] HealthcareService "01-akut-sos": identifier: unit id \'01-akut-sos\' is also '
                        'in entry[2] HealthcareService "01-akut-sos"']


def test_model_errors_are_reported_against_the_fhir_field() -> None:
    """A value the CareUnit model refuses is named by the FHIR field it came from (lat out of Sweden here)."""
    data = units_bundle(sample_units()[:1], base_url=BASE)
    data["entry"][1]["resource"]["position"]["latitude"] = 95.1
    assert _problems(data) == ['entry[1] Location "01-akut-sos": position.latitude: 95.1 is above 69.2']


def _foreign_bundle() -> dict[str, Any]:
    return {
        "resourceType": "Bundle", "type": "searchset",
        "entry": [
            {"fullUrl": "https://fhir.region.example/HealthcareService/vc-centrum",
             "resource": {
                 "resourceType": "HealthcareService", "id": "vc-centrum", "name": "Vårdcentralen Centrum",
                 "type": [{"coding": [{"system": "https://catalog.region.example/unit-type", "code": "vardcentral"}]}],
                 "location": [{"reference": "Location/loc-centrum"}],
                 "telecom": [{"system": "phone", "value": "013-10 10 10"}],
                 "availableTime": [
                     {"daysOfWeek": ["mon", "tue", "wed", "thu", "fri"], "availableStartTime": "08:00:00",
                      "availableEndTime": "17:00:00"},
                     {"daysOfWeek": ["sat"], "availableStartTime": "22:00:00", "availableEndTime": "02:00:00"},
                     {"daysOfWeek": ["sun"], "allDay": True},
                 ],
                 "notAvailable": [{"description": "Midsommar", "during": {"start": "2026-06-19",
                                                                          "end": "2026-06-20"}}],
             }},
            {"fullUrl": "https://fhir.region.example/Location/loc-centrum",
             "resource": {
                 "resourceType": "Location", "id": "loc-centrum", "name": "Centrum",
                 "address": {"line": ["Storgatan 1"], "postalCode": "58223", "city": "Linköping"},
                 "position": {"latitude": 58.4108, "longitude": 15.6214},
             }},
        ],
    }


def test_foreign_bundle_hours_from_available_time() -> None:
    """A bundle without our extensions imports: hours from availableTime/notAvailable, region from the caller."""
    [unit] = units_from_bundle(_foreign_bundle(), default_region="05")
    assert unit.id == "vc-centrum" and unit.region == "05" and unit.type == "vardcentral"
    assert unit.municipality == "Linköping" and unit.phone == "+4613101010" and unit.access == "both"
    expected = OpeningHours.model_validate({
        "weekly": {**{d: ["08:00-17:00"] for d in ("monday", "tuesday", "wednesday", "thursday", "friday")},
                   "saturday": ["22:00-02:00+1"], "sunday": ["00:00-24:00"]},
        "holidays": "sunday", "eves": "sunday",
        "exceptions": {"2026-06-19": "closed", "2026-06-20": "closed"},
    })
    assert unit.hours == expected


def test_foreign_bundle_without_region_or_hours_is_refused() -> None:
    """Without a region (extension or default_region) and without any hours, both are named."""
    data = _foreign_bundle()
    del data["entry"][0]["resource"]["availableTime"]
    problems = _problems(data)
    assert len(problems) == 2, problems
    assert problems[0].startswith('entry[0] HealthcareService "vc-centrum": extension[region]: missing')
    assert problems[1].startswith('entry[0] HealthcareService "vc-centrum": availableTime: no opening hours')
