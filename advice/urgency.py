"""The urgency scale and the care-unit types: one vocabulary for the decision-support documents, the nurse's
assessment on the call record and (issue 8) the referral catalog, which imports it from here.

Pure data and pure functions; docs/advice.md explains each level and type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Urgency(StrEnum):
    """Five levels, most urgent first. The value is the stable code used in documents and records."""

    CALL_112 = "112"
    EMERGENCY_NOW = "akut"
    WITHIN_HOURS = "timmar"
    WITHIN_DAYS = "dagar"
    SELF_CARE = "egenvard"

    @property
    def rank(self) -> int:
        """0 is the most urgent."""
        return ORDER.index(self)

    @property
    def name_sv(self) -> str:
        return URGENCY_SV[self]

    @property
    def disposition_sv(self) -> str:
        return DISPOSITION_SV[self]


ORDER: tuple[Urgency, ...] = tuple(Urgency)

URGENCY_SV: dict[Urgency, str] = {
    Urgency.CALL_112: "Akut: ring 112",
    Urgency.EMERGENCY_NOW: "Akut: akutmottagning nu",
    Urgency.WITHIN_HOURS: "Inom några timmar",
    Urgency.WITHIN_DAYS: "Inom några dagar",
    Urgency.SELF_CARE: "Egenvård",
}

#: What the nurse tells the caller to do, per level.
DISPOSITION_SV: dict[Urgency, str] = {
    Urgency.CALL_112: "Ring 112 nu (eller sjuksköterskan kopplar samtalet till 112).",
    Urgency.EMERGENCY_NOW: "Åk till en akutmottagning nu; ta inte bilen själv.",
    Urgency.WITHIN_HOURS: "Sök vård i dag, inom några timmar: närakut, jourcentral eller vårdcentral.",
    Urgency.WITHIN_DAYS: "Boka tid hos vårdcentralen (eller motsvarande) inom några dagar.",
    Urgency.SELF_CARE: "Egenvård hemma; ring 1177 igen om det blir sämre eller inte går över.",
}


@dataclass(frozen=True)
class CareUnitType:
    code: str  # stable: stored in records and in the referral catalog
    name_sv: str
    fits: frozenset[Urgency]  # the urgency levels this kind of unit serves


def _unit(code: str, name: str, *fits: Urgency) -> CareUnitType:
    return CareUnitType(code, name, frozenset(fits))


U = Urgency
CARE_UNIT_TYPES: dict[str, CareUnitType] = {t.code: t for t in (
    _unit("ambulans", "Ambulans (112)", U.CALL_112),
    _unit("akutmottagning", "Akutmottagning", U.EMERGENCY_NOW),
    _unit("barnakut", "Barn- och ungdomsakut", U.EMERGENCY_NOW),
    _unit("psykakut", "Psykiatrisk akutmottagning", U.EMERGENCY_NOW, U.WITHIN_HOURS),
    _unit("gynakut", "Gynekologisk akutmottagning", U.EMERGENCY_NOW, U.WITHIN_HOURS),
    _unit("ogonakut", "Ögonakut", U.EMERGENCY_NOW, U.WITHIN_HOURS),
    _unit("narakut", "Närakut", U.WITHIN_HOURS),
    _unit("jourcentral", "Jourcentral", U.WITHIN_HOURS),
    _unit("vardcentral", "Vårdcentral", U.WITHIN_HOURS, U.WITHIN_DAYS),
    _unit("barnavardscentral", "Barnavårdscentral (BVC)", U.WITHIN_DAYS),
    _unit("ungdomsmottagning", "Ungdomsmottagning", U.WITHIN_DAYS),
    _unit("barnmorskemottagning", "Barnmorskemottagning", U.WITHIN_HOURS, U.WITHIN_DAYS),
    _unit("tandvardsjour", "Tandvårdsjour", U.EMERGENCY_NOW, U.WITHIN_HOURS),
    _unit("tandvard", "Tandvårdsklinik", U.WITHIN_DAYS),
    _unit("giftinformation", "Giftinformationscentralen", U.WITHIN_HOURS, U.SELF_CARE),
    _unit("digital", "Digital vårdgivare", U.WITHIN_HOURS, U.WITHIN_DAYS, U.SELF_CARE),
    _unit("apotek", "Apotek", U.SELF_CARE),
)}


def fitting_units(urgency: Urgency) -> list[CareUnitType]:
    """The care-unit types that serve this level, in the vocabulary's order."""
    return [t for t in CARE_UNIT_TYPES.values() if urgency in t.fits]
