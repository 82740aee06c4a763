"""Care units as a FHIR R4 (4.3.0, "R4B") Bundle and back. Pure: no database, no network.

Export builds every resource with the `fhir.resources.R4B` models (so the bundle has passed their validation);
import validates the whole bundle with `Bundle.model_validate` before reading it, and returns units only when
everything is valid (else `CatalogImportError` with every problem, each naming `entry[i] <type> "<id>"` and
the field).

The bundle
    `type` "collection", no `timestamp`: the same units always give the same bundle. Every entry's `fullUrl`
    is `urn:uuid:<uuid5(CARE_UNIT_NAMESPACE, "<unit id>/<resource type>")>`, and the resources reference each
    other by those URNs.

Per unit, in this order (the unit id is the `identifier` of all three, system `{base_url}/identifier/care-unit`)
    Organization       the unit as an organisation: active, type "prov", name, telecom (phone, url), address.
    Location           name, status "active", mode "instance", physicalType "bu" (building), address (line =
                       street address, postalCode, city, district = municipality (kommun), country "SE"),
                       position (latitude/longitude), managingOrganization → the Organization,
                       hoursOfOperation = the plain weekly windows (as in availableTime below),
                       availabilityExceptions = holidays, eves and exception days in Swedish words.
    HealthcareService  active, providedBy → Organization, location → Location, name, telecom, comment = the
                       note for the nurse;
                       type = the care-unit type (`{base_url}/fhir/CodeSystem/care-unit-type`, code, display =
                       Swedish name); characteristic = one CodeableConcept per service tag
                       (`{base_url}/fhir/CodeSystem/service`) then per accessibility tag
                       (`{base_url}/fhir/CodeSystem/accessibility`), in the unit's order;
                       appointmentRequired true for "booked", false for "drop_in", absent for "both";
                       eligibility = the age limits: code.text in Swedish ("Ålder 0–6 år") and comment in a
                       fixed form "age 0-6" / "age 18-" / "age -17" (the comment is what import reads);
                       availableTime = the weekly windows: days with the same window share one entry
                       (daysOfWeek mon … sun); "00:00-24:00" is `allDay`; FHIR times stop at 23:59:59, so a
                       window ending at 24:00 ends "23:59:59"; a window crossing midnight ("18:00-02:00+1" on
                       friday) is split in two (fri 18:00–23:59:59, sat 00:00–02:00);
                       notAvailable = each exception day that is closed (description "Stängt", during.start =
                       during.end = the date); exception days with their own hours, and the holiday/eve
                       rules, only in availabilityExceptions (words) — FHIR has no structure for them;
                       extension `{base_url}/fhir/StructureDefinition/opening-hours` (valueString) = the whole
                       OpeningHours as compact JSON with windows written "HH:MM-HH:MM" ("+1" across midnight),
                       holidays/eves as "closed"/"sunday"/"saturday"/"weekly" or a list of windows, exceptions
                       as date → "closed" or windows, so that nothing is lost;
                       extension `{base_url}/fhir/StructureDefinition/region` (valueString) = county code.

Import (`units_from_bundle`)
    First the input is checked to be a JSON object with resourceType "Bundle" (else one problem), every
    entry's resourceType an R4 one, and the whole Bundle valid for `Bundle.model_validate` (each pydantic
    error named `entry[i] <type> "<id>": <path>`). Only a valid Bundle is read further; then every problem of
    every unit is collected before anything is returned.
    One unit per HealthcareService; Organization and Location are found through its references (providedBy,
    location; else the Location's managingOrganization), resolved by `fullUrl` or by "Type/id". Other resource
    types, and Organizations/Locations no service refers to, are ignored. Our systems and extensions are
    recognised by their path ("…/fhir/StructureDefinition/opening-hours", "…/identifier/care-unit"…),
    whatever the exporting deployment's base URL was.

    - id: the care-unit identifier of the service (else of its Location or Organization), else the service's
      resource id.
    - hours: our opening-hours extension when present. Otherwise (a foreign bundle) built from the service's
      availableTime (else the Location's hoursOfOperation): allDay is 00:00-24:00, a missing end or 23:59:59
      is 24:00, an end before the start crosses midnight; no daysOfWeek means every day. Each date a
      notAvailable period covers (by date, whole days) is a closed exception day. Holidays and eves are
      "sunday" (the schema's default, the Swedish "röd dag" practice: a 24/7 unit stays open, a unit closed
      on Sundays is closed). No hours at all is a problem, not a unit that is never open.
    - region: our region extension, else `default_region`, else a problem.
    - type: the coding in our care-unit-type system, else any coding whose code is a care-unit type.
    - municipality: the address's district, else its city. Address lines are joined with ", ".
    - name, phone, url: the service's, else the Location's/Organization's.
    The model's own validation (CareUnit) runs last; its errors are reported against the FHIR field the value
    came from.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.address import Address
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.contactpoint import ContactPoint
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.healthcareservice import (
    HealthcareService,
    HealthcareServiceAvailableTime,
    HealthcareServiceEligibility,
    HealthcareServiceNotAvailable,
)
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.location import Location, LocationHoursOfOperation, LocationPosition
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from advice.urgency import CARE_UNIT_TYPES
from config.schema import MINUTES_PER_DAY, WEEKDAYS, DayRule, OpeningHours, Window

from .errors import CatalogImportError, describe
from .model import Access, CareUnit

#: uuid5 namespace of the entries' fullUrls. Never change it: receivers match re-exports by these URLs.
CARE_UNIT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://vardlinje.se/ns/care-unit")

IDENTIFIER_PATH = "/identifier/care-unit"
TYPE_PATH = "/fhir/CodeSystem/care-unit-type"
SERVICE_PATH = "/fhir/CodeSystem/service"
ACCESSIBILITY_PATH = "/fhir/CodeSystem/accessibility"
OPENING_HOURS_PATH = "/fhir/StructureDefinition/opening-hours"
REGION_PATH = "/fhir/StructureDefinition/region"

PHYSICAL_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/location-physical-type"
ORGANIZATION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/organization-type"
DAY_CODES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: FHIR `time` has no 24:00: a window that ends at midnight ends at this time.
END_OF_DAY = time(23, 59, 59)
_AGE_COMMENT = re.compile(r"^age (\d{1,3})?-(\d{1,3})?$")
_RULE_SV = {"closed": "stängt", "sunday": "som söndag", "saturday": "som lördag", "weekly": "som vanlig veckodag"}
#: Longest notAvailable period read as closed days (a longer one is a problem, not a year of exceptions).
MAX_CLOSED_DAYS = 366
WHERE = "FHIR Bundle"


# --- export ---------------------------------------------------------------------------------------------


def units_bundle(units: Sequence[CareUnit], *, base_url: str) -> dict[str, Any]:
    """The FHIR JSON (a dict, ready for `json.dumps`) of a "collection" Bundle of these units.

    Raises ValueError for a unit given twice or a `base_url` that is not an absolute http(s) URL."""
    base = _base(base_url)
    seen: set[str] = set()
    for unit in units:
        if unit.id in seen:
            raise ValueError(f"care unit {unit.id} is given twice")
        seen.add(unit.id)
    entries: list[BundleEntry] = []
    for unit in units:
        entries.extend(BundleEntry(fullUrl=full_url(unit.id, r.get_resource_type()), resource=r)
                       for r in unit_resources(unit, base_url=base))
    bundle = Bundle(type="collection", entry=entries or None)
    return bundle.model_dump(mode="json", by_alias=True, exclude_none=True)


def full_url(unit_id: str, resource_type: str) -> str:
    """The deterministic `urn:uuid:` of one of a unit's resources."""
    return f"urn:uuid:{uuid.uuid5(CARE_UNIT_NAMESPACE, f'{unit_id}/{resource_type}')}"


def unit_resources(unit: CareUnit, *, base_url: str) -> list[Resource]:
    """A unit's resources in bundle order: Organization, Location, HealthcareService."""
    base = _base(base_url)
    return [organization(unit, base), location(unit, base), healthcare_service(unit, base)]


def organization(unit: CareUnit, base: str) -> Organization:
    return Organization(
        identifier=[_identifier(unit, base)],
        active=True,
        type=[CodeableConcept(coding=[Coding(system=ORGANIZATION_TYPE_SYSTEM, code="prov",
                                             display="Healthcare Provider")])],
        name=unit.name,
        telecom=_telecom(unit),
        address=[_address(unit)],
    )


def location(unit: CareUnit, base: str) -> Location:
    hours = [LocationHoursOfOperation(daysOfWeek=days, allDay=all_day, openingTime=start, closingTime=end)
             for days, all_day, start, end in _weekly_fhir(unit.hours)]
    return Location(
        identifier=[_identifier(unit, base)],
        status="active",
        name=unit.name,
        mode="instance",
        physicalType=CodeableConcept(coding=[Coding(system=PHYSICAL_TYPE_SYSTEM, code="bu", display="Building")]),
        address=_address(unit),
        position=LocationPosition(latitude=Decimal(repr(unit.lat)), longitude=Decimal(repr(unit.lon))),
        managingOrganization=_ref(unit.id, "Organization"),
        hoursOfOperation=hours or None,
        availabilityExceptions=_exceptions_sv(unit.hours),
    )


def healthcare_service(unit: CareUnit, base: str) -> HealthcareService:
    kind = CARE_UNIT_TYPES[unit.type]
    characteristic = [_tag(f"{base}{SERVICE_PATH}", tag) for tag in unit.services]
    characteristic += [_tag(f"{base}{ACCESSIBILITY_PATH}", tag) for tag in unit.accessibility]
    available = [HealthcareServiceAvailableTime(daysOfWeek=days, allDay=all_day, availableStartTime=start,
                                                availableEndTime=end)
                 for days, all_day, start, end in _weekly_fhir(unit.hours)]
    closed = [HealthcareServiceNotAvailable(description="Stängt", during=Period(start=day, end=day))
              for day, override in sorted(unit.hours.exceptions.items()) if not override.windows]
    return HealthcareService(
        extension=[
            Extension(url=f"{base}{OPENING_HOURS_PATH}", valueString=opening_hours_json(unit.hours)),
            Extension(url=f"{base}{REGION_PATH}", valueString=unit.region),
        ],
        identifier=[_identifier(unit, base)],
        active=True,
        providedBy=_ref(unit.id, "Organization"),
        type=[CodeableConcept(coding=[Coding(system=f"{base}{TYPE_PATH}", code=kind.code, display=kind.name_sv)],
                              text=kind.name_sv)],
        location=[_ref(unit.id, "Location")],
        name=unit.name,
        comment=_text(unit.note),
        telecom=_telecom(unit),
        eligibility=_eligibility(unit),
        characteristic=characteristic or None,
        appointmentRequired={Access.BOOKED: True, Access.DROP_IN: False}.get(unit.access),
        availableTime=available or None,
        notAvailable=closed or None,
        availabilityExceptions=_exceptions_sv(unit.hours),
    )


def opening_hours_json(hours: OpeningHours) -> str:
    """The opening hours as compact JSON in the files' own notation (what `OpeningHours` parses back)."""
    data: dict[str, Any] = {}
    if hours.description:
        data["description"] = hours.description
    data["weekly"] = {day: [str(w) for w in hours.weekly[day]] for day in WEEKDAYS if day in hours.weekly}
    data["holidays"] = _rule_json(hours.holidays)
    data["eves"] = _rule_json(hours.eves)
    if hours.exceptions:
        data["exceptions"] = {day.isoformat(): [str(w) for w in o.windows] if o.windows else "closed"
                              for day, o in sorted(hours.exceptions.items())}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _rule_json(rule: DayRule) -> Any:
    windows = [str(w) for w in rule.windows] if rule.windows is not None else None
    if windows is None and rule.use is not None:
        return rule.use
    if windows is not None and rule.use is None:
        return windows
    return {k: v for k, v in (("use", rule.use), ("windows", windows)) if v is not None}


def _base(base_url: str) -> str:
    base = base_url.strip().rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    return base


def _identifier(unit: CareUnit, base: str) -> Identifier:
    return Identifier(system=f"{base}{IDENTIFIER_PATH}", value=unit.id)


def _ref(unit_id: str, resource_type: str) -> Reference:
    return Reference(reference=full_url(unit_id, resource_type), type=resource_type)


def _tag(system: str, tag: str) -> CodeableConcept:
    return CodeableConcept(coding=[Coding(system=system, code=tag)], text=tag)


def _text(value: str) -> str | None:
    """FHIR strings are never empty: "" and blanks become absent."""
    return value if value.strip() else None


def _telecom(unit: CareUnit) -> list[ContactPoint] | None:
    out = []
    if unit.phone:
        out.append(ContactPoint(system="phone", value=unit.phone, use="work"))
    if unit.url:
        out.append(ContactPoint(system="url", value=unit.url, use="work"))
    return out or None


def _address(unit: CareUnit) -> Address:
    return Address(use="work", type="physical", line=[unit.address] if _text(unit.address) else None,
                   postalCode=_text(unit.postcode), city=_text(unit.city), district=unit.municipality,
                   country="SE")


def _eligibility(unit: CareUnit) -> list[HealthcareServiceEligibility] | None:
    low, high = unit.age_min, unit.age_max
    if low is None and high is None:
        return None
    if low is not None and high is not None:
        words = f"Ålder {low}–{high} år"
    elif low is not None:
        words = f"Från {low} år"
    else:
        words = f"Till och med {high} år"
    comment = f"age {'' if low is None else low}-{'' if high is None else high}"
    return [HealthcareServiceEligibility(code=CodeableConcept(text=words), comment=comment)]


def _weekly_fhir(hours: OpeningHours) -> list[tuple[list[str], bool | None, time | None, time | None]]:
    """The weekly windows as FHIR (daysOfWeek, allDay, start, end), days with the same window together."""
    days_of: dict[tuple[int, int], set[int]] = {}
    for index, day in enumerate(WEEKDAYS):
        for w in hours.weekly.get(day, []):
            if w.end <= MINUTES_PER_DAY:
                days_of.setdefault((w.start, w.end), set()).add(index)
            else:
                days_of.setdefault((w.start, MINUTES_PER_DAY), set()).add(index)
                days_of.setdefault((0, w.end - MINUTES_PER_DAY), set()).add((index + 1) % 7)
    out: list[tuple[list[str], bool | None, time | None, time | None]] = []
    for (start, end), days in sorted(days_of.items(), key=lambda kv: (min(kv[1]), kv[0])):
        codes = [DAY_CODES[i] for i in sorted(days)]
        if start == 0 and end == MINUTES_PER_DAY:
            out.append((codes, True, None, None))
        else:
            out.append((codes, None, _time(start), _time(end)))
    return out


def _time(minutes: int) -> time:
    return END_OF_DAY if minutes >= MINUTES_PER_DAY else time(minutes // 60, minutes % 60)


def _exceptions_sv(hours: OpeningHours) -> str:
    """Holidays, eves and exception days in Swedish words, for readers without our extension."""
    parts = [f"Helgdagar: {_rule_sv(hours.holidays)}.", f"Helgdagsaftnar: {_rule_sv(hours.eves)}."]
    for day, override in sorted(hours.exceptions.items()):
        parts.append(f"{day.isoformat()}: {', '.join(str(w) for w in override.windows) or 'stängt'}.")
    return " ".join(parts)


def _rule_sv(rule: DayRule) -> str:
    if rule.windows is not None:
        return ", ".join(str(w) for w in rule.windows) or "stängt"
    return _RULE_SV.get(rule.use or "weekly", "som vanlig veckodag")


# --- import ---------------------------------------------------------------------------------------------


def units_from_bundle(data: Any, *, default_region: str | None = None) -> list[CareUnit]:
    """The care units of a Bundle (a dict, or its JSON as str/bytes), in the order of their services.

    Raises CatalogImportError with every problem found; nothing is returned unless all is valid."""
    raw = _load(data)
    entries = raw.get("entry")
    entry_list: list[Any] = entries if isinstance(entries, list) else []
    problems: list[str] = []
    clean = dict(raw)
    if isinstance(entries, list):
        clean["entry"] = []
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict):
                kind = resource.get("resourceType")
                if not _known_resource_type(kind):
                    problems.append(f"{_label(i, entry_list)}: resourceType: {kind!r} is not an R4 resource type")
                    entry = {k: v for k, v in entry.items() if k != "resource"}
            clean["entry"].append(entry)
    try:
        bundle = Bundle.model_validate(clean)
    except ValidationError as exc:
        problems.extend(_fhir_problem(err, entry_list) for err in exc.errors())
        raise CatalogImportError(WHERE, problems) from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # fhir-core's own, outside pydantic
        raise CatalogImportError(WHERE, [*problems, f"Bundle: not a valid R4 Bundle: {exc}"]) from None
    if problems:
        raise CatalogImportError(WHERE, problems)
    if bundle.type not in ("collection", "searchset", "transaction", "batch", "document", "message"):
        problems.append(f"Bundle: type: {bundle.type!r} holds no resources to import")
    reader = _Reader(bundle, entry_list, default_region)
    units = reader.read()
    problems.extend(reader.problems)
    if problems:
        raise CatalogImportError(WHERE, problems)
    return units


def _load(data: Any) -> dict[str, Any]:
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CatalogImportError(WHERE, [f"not UTF-8 text: {exc}"]) from None
    if isinstance(data, str):
        try:
            data = json.loads(data.removeprefix("\ufeff"))
        except json.JSONDecodeError as exc:
            raise CatalogImportError(WHERE, [f"not JSON: {exc}"]) from None
    if not isinstance(data, dict):
        raise CatalogImportError(WHERE, [f"not a FHIR Bundle: a JSON object is expected, got {type(data).__name__}"])
    kind = data.get("resourceType")
    if kind != "Bundle":
        found = "no resourceType" if kind is None else f"resourceType {kind!r}"
        raise CatalogImportError(WHERE, [f"not a FHIR Bundle: {found} (expected 'Bundle')"])
    return data


def _known_resource_type(kind: object) -> bool:
    if not isinstance(kind, str) or not kind:
        return False
    try:
        get_fhir_model_class(kind)
    except (ValueError, KeyError, AttributeError, ImportError):
        return False
    return True


def _fhir_problem(error: Any, entries: list[Any]) -> str:
    loc = list(error.get("loc", ()))
    if len(loc) >= 3 and loc[0] == "entry" and isinstance(loc[1], int) and loc[2] == "resource":
        where, rest = _label(loc[1], entries), loc[3:]
    elif len(loc) >= 2 and loc[0] == "entry" and isinstance(loc[1], int):
        where, rest = f"entry[{loc[1]}]", loc[2:]
    else:
        where, rest = "Bundle", loc
    path = _path(rest)
    return f"{where}: {path}: {describe(error)}" if path else f"{where}: {describe(error)}"


def _path(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _label(index: int, entries: list[Any]) -> str:
    """`entry[3] HealthcareService "01-vc-x"`, from the raw entry (also when it did not validate)."""
    entry = entries[index] if 0 <= index < len(entries) else None
    resource = entry.get("resource") if isinstance(entry, dict) else None
    if not isinstance(resource, dict):
        return f"entry[{index}]"
    kind = resource.get("resourceType")
    name = f"entry[{index}] {kind}" if isinstance(kind, str) else f"entry[{index}]"
    ident: object = None
    identifiers = resource.get("identifier")
    if isinstance(identifiers, list):
        values = [(i.get("system"), i.get("value")) for i in identifiers if isinstance(i, dict)]
        ours = [v for s, v in values if isinstance(s, str) and s.endswith(IDENTIFIER_PATH) and v]
        ident = ours[0] if ours else next((v for _, v in values if v), None)
    if not ident:
        ident = resource.get("id")
    return f'{name} "{ident}"' if isinstance(ident, str) and ident else name


class _Reader:
    """Reads the units out of a validated bundle, collecting problems instead of stopping at the first."""

    def __init__(self, bundle: Bundle, raw_entries: list[Any], default_region: str | None) -> None:
        self.entries = bundle.entry or []
        self.raw = raw_entries
        self.default_region = default_region
        self.problems: list[str] = []
        self.by_ref: dict[str, int] = {}
        for i, entry in enumerate(self.entries):
            if entry.resource is None:
                continue
            if entry.fullUrl:
                self.by_ref[entry.fullUrl] = i
            rid = getattr(entry.resource, "id", None)
            if rid:
                self.by_ref[f"{entry.resource.get_resource_type()}/{rid}"] = i

    def read(self) -> list[CareUnit]:
        units: list[CareUnit] = []
        first_entry: dict[str, int] = {}
        for i, entry in enumerate(self.entries):
            if not isinstance(entry.resource, HealthcareService):
                continue
            unit = self._unit(i, entry.resource)
            if unit is None:
                continue
            if unit.id in first_entry:
                self.problems.append(f"{_label(i, self.raw)}: identifier: unit id {unit.id!r} is also in "
                                     f"{_label(first_entry[unit.id], self.raw)}")
                continue
            first_entry[unit.id] = i
            units.append(unit)
        return units

    # -- references --

    def _resolve(self, ref: Reference | None, kind: type[Resource]) -> int | None:
        """The entry index a reference points to, when it is in the bundle and of that type."""
        if ref is None or not ref.reference:
            return None
        target = ref.reference
        index = self.by_ref.get(target)
        if index is None and "/" in target and not target.startswith("urn:"):
            parts = target.rstrip("/").split("/")
            index = self.by_ref.get("/".join(parts[-2:]))
        if index is None or not isinstance(self.entries[index].resource, kind):
            return None
        return index

    # -- one unit --

    def _unit(self, i: int, hs: HealthcareService) -> CareUnit | None:
        label = _label(i, self.raw)
        problems: list[str] = []
        fields: dict[str, Any] = {}
        where: dict[str, str] = {}

        loc_index: int | None = None
        loc: Location | None = None
        refs = hs.location or []
        resolved = [self._resolve(r, Location) for r in refs]
        for ref, index in zip(refs, resolved, strict=True):
            if index is None:
                problems.append(f"{label}: location: {ref.reference or ref.display or 'a reference'!r} is not a "
                                "Location in the bundle")
        found = [x for x in resolved if x is not None]
        if not refs:
            problems.append(f"{label}: location: missing; a care unit needs a Location (its place, position "
                            "and municipality)")
        elif len(found) > 1:
            problems.append(f"{label}: location: {len(found)} Locations; a care unit has one place (give each "
                            "place its own HealthcareService)")
        elif found:
            loc_index = found[0]
            resource = self.entries[loc_index].resource
            assert isinstance(resource, Location)
            loc = resource
        loc_label = _label(loc_index, self.raw) if loc_index is not None else label

        org: Organization | None = None
        org_index = self._resolve(hs.providedBy, Organization)
        if org_index is None and loc is not None:
            org_index = self._resolve(loc.managingOrganization, Organization)
        if org_index is not None:
            resource = self.entries[org_index].resource
            assert isinstance(resource, Organization)
            org = resource
        org_label = _label(org_index, self.raw) if org_index is not None else label

        # id
        unit_id = _our_identifier(hs.identifier) or (loc and _our_identifier(loc.identifier)) or \
            (org and _our_identifier(org.identifier)) or hs.id
        if unit_id:
            fields["id"] = unit_id
        where["id"] = f"{label}: identifier"

        # region
        region = _extension(hs, REGION_PATH)
        if region is not None:
            fields["region"] = region
            where["region"] = f"{label}: extension[region]"
        elif self.default_region is not None:
            fields["region"] = self.default_region
            where["region"] = f"{label}: region (default_region)"
        else:
            problems.append(f"{label}: extension[region]: missing, and no default_region was given")

        # name
        name = hs.name or (loc.name if loc else None) or (org.name if org else None)
        if name:
            fields["name"] = name
        where["name"] = f"{label}: name"

        # type
        where["type"] = f"{label}: type"
        codings = [c for concept in hs.type or [] for c in concept.coding or []]
        ours = [c.code for c in codings if c.system and c.system.endswith(TYPE_PATH) and c.code]
        known = [c.code for c in codings if c.code in CARE_UNIT_TYPES]
        chosen = list(dict.fromkeys(ours or known))
        if not chosen:
            problems.append(f"{label}: type: no care-unit type (a coding in …{TYPE_PATH})")
        elif len(chosen) > 1:
            problems.append(f"{label}: type: {len(chosen)} care-unit types ({', '.join(map(str, chosen))}); a unit "
                            "has one")
        else:
            fields["type"] = chosen[0]

        # services, accessibility
        fields["services"] = _characteristic(hs, SERVICE_PATH)
        where["services"] = f"{label}: characteristic ({SERVICE_PATH.rsplit('/', 1)[1]})"
        fields["accessibility"] = _characteristic(hs, ACCESSIBILITY_PATH)
        where["accessibility"] = f"{label}: characteristic ({ACCESSIBILITY_PATH.rsplit('/', 1)[1]})"

        # access
        required = hs.appointmentRequired
        fields["access"] = Access.BOTH if required is None else (Access.BOOKED if required else Access.DROP_IN)
        where["access"] = f"{label}: appointmentRequired"

        # telecom
        for system, field in (("phone", "phone"), ("url", "url")):
            for index, resource, res_label in ((i, hs, label), (loc_index, loc, loc_label),
                                               (org_index, org, org_label)):
                value = _contact(resource, system)
                if index is not None and value:
                    fields[field] = value
                    where[field] = f"{res_label}: telecom ({system})"
                    break

        # address and position
        address = (loc.address if loc else None) or (org.address[0] if org and org.address else None)
        addr_label = loc_label if loc and loc.address else org_label
        if address is not None:
            lines = [line for line in address.line or [] if line]
            if lines:
                fields["address"] = ", ".join(lines)
            if address.postalCode:
                fields["postcode"] = address.postalCode
            if address.city:
                fields["city"] = address.city
            municipality = address.district or address.city
            if municipality:
                fields["municipality"] = municipality
        for field, path in (("address", "address.line"), ("postcode", "address.postalCode"),
                            ("city", "address.city"), ("municipality", "address.district")):
            where[field] = f"{addr_label if address is not None else loc_label}: {path}"
        if loc is not None and "municipality" not in fields:
            problems.append(f"{loc_label}: address.district: missing; a care unit needs its municipality "
                            "(kommun), or at least a city")
        if loc is not None:
            position = loc.position
            if position is None or position.latitude is None or position.longitude is None:
                problems.append(f"{loc_label}: position: missing; a care unit needs latitude and longitude")
            else:
                fields["lat"], fields["lon"] = float(position.latitude), float(position.longitude)
        where["lat"] = f"{loc_label}: position.latitude"
        where["lon"] = f"{loc_label}: position.longitude"

        # ages
        for k, eligibility in enumerate(hs.eligibility or []):
            m = _AGE_COMMENT.match((eligibility.comment or "").strip())
            if m:
                fields["age_min"] = int(m.group(1)) if m.group(1) else None
                fields["age_max"] = int(m.group(2)) if m.group(2) else None
                where["age_min"] = where["age_max"] = where[""] = f"{label}: eligibility[{k}].comment"

        # note
        if hs.comment:
            fields["note"] = hs.comment
        where["note"] = f"{label}: comment"

        # hours
        hours = self._hours(label, hs, loc, loc_label, problems)
        if hours is not None:
            fields["hours"] = hours
        where["hours"] = f"{label}: availableTime"

        if problems:
            self.problems.extend(problems)
            return None
        try:
            return CareUnit.model_validate(fields)
        except ValidationError as exc:
            for err in exc.errors():
                loc_ = err.get("loc", ())
                field = str(loc_[0]) if loc_ else ""
                prefix = where.get(field, f"{label}: {field or 'HealthcareService'}")
                rest = _path(loc_[1:])
                self.problems.append(f"{prefix}{' ' + rest if rest else ''}: {describe(err)}")
            return None

    def _hours(self, label: str, hs: HealthcareService, loc: Location | None, loc_label: str,
               problems: list[str]) -> OpeningHours | None:
        text = _extension(hs, OPENING_HOURS_PATH)
        if text is not None:
            try:
                return OpeningHours.model_validate_json(text)
            except ValidationError as exc:
                for err in exc.errors():
                    if err.get("type") == "json_invalid":
                        problems.append(f"{label}: extension[opening-hours]: not JSON: {err.get('msg')}")
                    else:
                        path = _path(err.get("loc", ()))
                        problems.append(f"{label}: extension[opening-hours]{' ' + path if path else ''}: "
                                        f"{describe(err)}")
                return None
        weekly: dict[str, list[dict[str, int]]] = {}
        if hs.availableTime:
            rows = [(f"{label}: availableTime[{k}]", t.daysOfWeek, t.allDay, t.availableStartTime,
                     t.availableEndTime) for k, t in enumerate(hs.availableTime)]
        elif loc is not None and loc.hoursOfOperation:
            rows = [(f"{loc_label}: hoursOfOperation[{k}]", t.daysOfWeek, t.allDay, t.openingTime, t.closingTime)
                    for k, t in enumerate(loc.hoursOfOperation)]
        else:
            problems.append(f"{label}: availableTime: no opening hours (neither availableTime, the Location's "
                            f"hoursOfOperation nor the …{OPENING_HOURS_PATH} extension)")
            return None
        for where, days, all_day, start, end in rows:
            window = _window(all_day, start, end)
            if isinstance(window, str):
                problems.append(f"{where}: {window}")
                continue
            for code in days or DAY_CODES:
                if code not in DAY_CODES:
                    problems.append(f"{where}: daysOfWeek: {code!r} is not a day (mon … sun)")
                    continue
                weekly.setdefault(WEEKDAYS[DAY_CODES.index(code)], []).append(window)
        exceptions: dict[str, str] = {}
        for k, gap in enumerate(hs.notAvailable or []):
            days_or_problem = _closed_days(gap.during)
            if isinstance(days_or_problem, str):
                problems.append(f"{label}: notAvailable[{k}].during: {days_or_problem}")
                continue
            for day in days_or_problem:
                exceptions[day.isoformat()] = "closed"
        ordered = {day: sorted(weekly[day], key=lambda w: (w["start"], w["end"])) for day in WEEKDAYS
                   if day in weekly}
        try:
            return OpeningHours.model_validate({"weekly": ordered, "holidays": "sunday", "eves": "sunday",
                                                "exceptions": exceptions})
        except ValidationError as exc:
            problems.extend(f"{label}: availableTime {_path(err.get('loc', ()))}: {describe(err)}"
                            for err in exc.errors())
            return None


def _window(all_day: bool | None, start: time | None, end: time | None) -> dict[str, int] | str:
    """A FHIR available time as a window (minutes), or a problem."""
    if all_day:
        return {"start": 0, "end": MINUTES_PER_DAY}
    begin = start.hour * 60 + start.minute if start is not None else 0
    if end is None or (end.hour, end.minute) == (23, 59) and end.second == 59:
        finish = MINUTES_PER_DAY
    else:
        finish = end.hour * 60 + end.minute
    if finish == begin:
        return f"availableEndTime: {end} is the start time: an empty window"
    if finish < begin:  # ends the next day
        finish += MINUTES_PER_DAY
    try:
        Window.model_validate({"start": begin, "end": finish})
    except ValidationError as exc:
        return "; ".join(describe(e) for e in exc.errors())
    return {"start": begin, "end": finish}


def _closed_days(during: Period | None) -> list[date] | str:
    if during is None or during.start is None:
        return "missing start: a closed period needs its dates"
    first = _day(during.start)
    last = _day(during.end) if during.end is not None else first
    if last < first:
        return f"ends ({last}) before it starts ({first})"
    count = (last - first).days + 1
    if count > MAX_CLOSED_DAYS:
        return f"{count} days; at most {MAX_CLOSED_DAYS} closed days are read from one period"
    return [first + timedelta(days=n) for n in range(count)]


def _day(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _our_identifier(identifiers: Sequence[Identifier] | None) -> str | None:
    for ident in identifiers or []:
        if ident.system and ident.system.endswith(IDENTIFIER_PATH) and ident.value:
            return str(ident.value)
    return None


def _extension(resource: HealthcareService, path: str) -> str | None:
    for ext in resource.extension or []:
        if ext.url and ext.url.endswith(path):
            return str(ext.valueString) if ext.valueString is not None else ""
    return None


def _characteristic(hs: HealthcareService, path: str) -> list[str]:
    return [str(c.code) for concept in hs.characteristic or [] for c in concept.coding or []
            if c.system and c.system.endswith(path) and c.code]


def _contact(resource: HealthcareService | Location | Organization | None, system: str) -> str | None:
    if resource is None:
        return None
    for point in resource.telecom or []:
        if point.system == system and point.value:
            return str(point.value)
    return None

