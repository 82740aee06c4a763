"""A care unit as the catalog keeps it: pure data with its validation. Opening hours are the same model as the
regions' menus use (config.schema.OpeningHours: weekly windows, public holidays and eves, exception days),
evaluated by config.hours in Swedish time."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from advice.urgency import CARE_UNIT_TYPES
from config.regions import REGIONS
from config.schema import DayRule, OpeningHours, Window

UNIT_ID = r"^[a-z0-9][a-z0-9-]{1,63}$"
TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# Sweden's extent with a margin: a unit outside it is a typo (swapped coordinates, a missing minus sign…).
LAT_RANGE = (55.0, 69.2)
LON_RANGE = (10.5, 24.3)

Tag = Annotated[str, Field(pattern=TAG.pattern, description="lower-case tag, e.g. provtagning")]


class Access(StrEnum):
    DROP_IN = "drop_in"  # walk in without an appointment
    BOOKED = "booked"  # by appointment (call first)
    BOTH = "both"


ACCESS_SV = {Access.DROP_IN: "drop-in", Access.BOOKED: "tidsbokning", Access.BOTH: "drop-in och tidsbokning"}


class CareUnit(BaseModel):
    """One care unit of one region."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=UNIT_ID, description="stable id, e.g. 01-vc-hjorthagen")
    region: str = Field(pattern=r"^[0-9]{2}$", description="county code of the region whose catalog it is in")
    name: str = Field(min_length=2, max_length=200)
    type: str = Field(description="care-unit type code (advice.urgency.CARE_UNIT_TYPES)")
    services: list[Tag] = Field(default_factory=list, description="what it offers beyond its type")
    hours: OpeningHours
    access: Access = Access.BOTH
    phone: str = Field("", description="E.164, e.g. +4686001000")
    address: str = Field("", max_length=200)
    postcode: str = Field("", pattern=r"^$|^[0-9]{3} ?[0-9]{2}$")
    city: str = Field("", max_length=100)
    municipality: str = Field(min_length=2, max_length=60, description="kommun, e.g. Stockholm")
    lat: float = Field(ge=LAT_RANGE[0], le=LAT_RANGE[1])
    lon: float = Field(ge=LON_RANGE[0], le=LON_RANGE[1])
    age_min: int | None = Field(None, ge=0, le=130, description="youngest patient served (years)")
    age_max: int | None = Field(None, ge=0, le=130, description="oldest patient served (years)")
    accessibility: list[Tag] = Field(default_factory=list, description="e.g. rullstol, horslinga, parkering")
    url: str = Field("", max_length=300)
    note: str = Field("", max_length=500, description="what the nurse should know, in Swedish")

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in REGIONS:
            raise ValueError(f"{value!r} is not a Swedish region code (01, 03 … 25)")
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in CARE_UNIT_TYPES:
            raise ValueError(f"{value!r} is not a care-unit type (one of {', '.join(CARE_UNIT_TYPES)})")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not value:
            return value
        try:
            number = phonenumbers.parse(value, "SE")
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"{value!r} is not a phone number") from exc
        if not phonenumbers.is_valid_number(number):
            raise ValueError(f"{value!r} is not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        if value and not value.startswith("https://"):
            raise ValueError(f"{value!r}: a link is https://…")
        return value

    @model_validator(mode="after")
    def _ages(self) -> CareUnit:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError(f"age_min {self.age_min} is above age_max {self.age_max}")
        return self

    def serves_age(self, age: int) -> bool:
        return (self.age_min is None or age >= self.age_min) and (self.age_max is None or age <= self.age_max)


def hours_data(hours: OpeningHours) -> dict[str, Any]:
    """Opening hours as people write them ("08:00-17:00", "closed", "sunday"): the API's and the files' form,
    which the model reads back unchanged."""

    def windows(ws: Iterable[Window]) -> list[str]:
        return [str(w) for w in ws]

    def rule(r: DayRule) -> str | list[str]:
        return windows(r.windows) if r.windows is not None else str(r.use)

    return {"description": hours.description, "weekly": {day: windows(ws) for day, ws in hours.weekly.items()},
            "holidays": rule(hours.holidays), "eves": rule(hours.eves),
            "exceptions": {day.isoformat(): windows(o.windows) if o.windows else "closed"
                           for day, o in sorted(hours.exceptions.items())}}


def unit_data(unit: CareUnit) -> dict[str, Any]:
    """The unit as JSON data with readable opening hours."""
    data = unit.model_dump(mode="json")
    data["hours"] = hours_data(unit.hours)
    return data
