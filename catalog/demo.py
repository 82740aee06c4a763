"""A fictional but plausible referral catalog for all 21 regions (`demo_units`, `vardlinje catalog demo`), and
random catalogs of any size for the benchmark (`synthetic_units`). Pure and deterministic: the same units, ids
and coordinates on every call and every machine.

Everything here is made up and marked so: names end in "(demo)", `note` starts with "Demoenhet – fiktiv". Built
from the shipped municipality file (catalog/data/municipalities.tsv), per region:

- a vårdcentral in every municipality (two or three in the largest), some with an evening or exception days;
- an akutmottagning in its 1–3 hospital towns, the first of them the largest town; in the largest also a
  barnakut (0–17 years), a psykakut, a gynakut, an ögonakut, a tandvårdsjour and the region's digital
  vårdcentral (one per region, so that a search limited to the caller's region finds one);
- a närakut or a jourcentral in a few more towns;
- a barnavårdscentral (0–6), an ungdomsmottagning (13–25) and a barnmorskemottagning in each of those towns;
- a tandvårdsklinik and an apotek in every municipality, a second apotek in the towns above;
- and once for the country: a giftinformation (region 01, Stockholm).

That is about 1,600 units. Each lies within 3 km of its municipality's point (units of one hospital share its
site). Phone numbers are fictional: they come from the ranges PTS (Post- och telestyrelsen) sets aside for use
in fiction — 08-465 004 00…99, 031-390 06 00…99, 040-628 04 00…99, 0980-31 92 00…99 and 070-174 06 05…99 —
which pass phonenumbers' validation but reach no one; several units share a number. Postcodes and street
addresses are plausible for the county, not real. Demo units have no url.
"""

from __future__ import annotations

import functools
import math
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from advice.urgency import CARE_UNIT_TYPES
from config.regions import REGIONS
from config.schema import OpeningHours

from .model import LAT_RANGE, LON_RANGE, Access, CareUnit
from .municipalities import Municipality, load

NOTE = "Demoenhet – fiktiv"
SYNTHETIC_NOTE = "Syntetisk testenhet – fiktiv"
JITTER_KM = 3.0
KM_PER_DEGREE_LAT = 111.195

# --- opening hours ---------------------------------------------------------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
ALL_DAYS = (*WEEKDAYS, "saturday", "sunday")


def _hours(description: str, weekly: dict[str, list[str]], holidays: str = "closed", eves: str = "closed",
           exceptions: dict[str, Any] | None = None) -> OpeningHours:
    return OpeningHours.model_validate({"description": description, "weekly": weekly, "holidays": holidays,
                                        "eves": eves, "exceptions": exceptions or {}})


def _days(days: Sequence[str], window: str) -> dict[str, list[str]]:
    return {d: [window] for d in days}


ALWAYS = _hours("dygnet runt", _days(ALL_DAYS, "00:00-24:00"), "weekly", "weekly")
NARAKUT = _hours("alla dagar 08–22", _days(ALL_DAYS, "08:00-22:00"), "weekly", "weekly")
JOUR = _hours("kvällar och helger", {**_days(WEEKDAYS, "17:00-22:00"), **_days(("saturday", "sunday"), "09:00-21:00")},
              "sunday", "sunday")
VC = _hours("vardagar 08–17", _days(WEEKDAYS, "08:00-17:00"))
VC_EVENING = _hours("vardagar 08–17, tisdagar till 19", {**_days(WEEKDAYS, "08:00-17:00"), "tuesday": ["08:00-19:00"]})
VC_EARLY = _hours("vardagar 07:30–16:30", _days(WEEKDAYS, "07:30-16:30"))
# Mellandagarna: closed on Monday 28 December 2026, short days after; a staff training day in the autumn.
VC_EXCEPTIONS = _hours("vardagar 08–17; stängt 28 december, kortare dagar i mellandagarna",
                       _days(WEEKDAYS, "08:00-17:00"),
                       exceptions={"2026-12-28": "closed", "2026-12-29": ["10:00-15:00"],
                                   "2026-12-30": ["10:00-15:00"], "2026-10-15": "closed"})
BVC = _hours("vardagar 08–16", _days(WEEKDAYS, "08:00-16:00"))
UNGDOM = _hours("vardagar eftermiddag", {**_days(("monday", "tuesday", "wednesday", "thursday"), "12:00-18:00"),
                                         "friday": ["12:00-16:00"]})
BMM = _hours("vardagar 08–16:30", {**_days(WEEKDAYS, "08:00-16:30"), "friday": ["08:00-15:00"]})
TANDVARDSJOUR = _hours("kvällar och helger", {**_days(WEEKDAYS, "17:00-21:00"),
                                              **_days(("saturday", "sunday"), "09:00-15:00")}, "sunday", "sunday")
TANDVARD = _hours("vardagar 07:30–16:30", {**_days(WEEKDAYS, "07:30-16:30"), "friday": ["07:30-15:00"]})
APOTEK = _hours("vardagar 09–19, lördag 10–15", {**_days(WEEKDAYS, "09:00-19:00"), "saturday": ["10:00-15:00"]})
APOTEK_SUNDAY = _hours("vardagar 09–19, helger 11–16", {**_days(WEEKDAYS, "09:00-19:00"),
                                                       **_days(("saturday", "sunday"), "11:00-16:00")},
                       "sunday", "saturday")
APOTEK_LATE = _hours("alla dagar 08–22", _days(ALL_DAYS, "08:00-22:00"), "weekly", "weekly")
DAYTIME = _hours("vardagar 08–16, övrig tid akutmottagningen", _days(WEEKDAYS, "08:00-16:00"))
DIGITAL = _hours("alla dagar 07–22", _days(ALL_DAYS, "07:00-22:00"), "weekly", "weekly")

# --- where ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    hospitals: tuple[str, ...]  # towns with an akutmottagning; the first is the largest town
    urgent: tuple[str, ...]  # towns with a närakut or jourcentral
    full_day: bool = False  # gynakut and ögonakut round the clock (university hospital)


PLANS: dict[str, _Plan] = {
    "01": _Plan(("Stockholm", "Huddinge", "Danderyd"),
                ("Solna", "Nacka", "Södertälje", "Norrtälje", "Järfälla", "Haninge", "Täby"), True),
    "03": _Plan(("Uppsala", "Enköping"), ("Tierp", "Östhammar"), True),
    "04": _Plan(("Eskilstuna", "Nyköping", "Katrineholm"), ("Strängnäs", "Flen")),
    "05": _Plan(("Linköping", "Norrköping", "Motala"), ("Mjölby", "Finspång"), True),
    "06": _Plan(("Jönköping", "Värnamo", "Eksjö"), ("Nässjö", "Gislaved", "Tranås")),
    "07": _Plan(("Växjö", "Ljungby"), ("Älmhult", "Alvesta")),
    "08": _Plan(("Kalmar", "Västervik"), ("Oskarshamn", "Nybro", "Borgholm")),
    "09": _Plan(("Gotland",), ()),
    "10": _Plan(("Karlskrona", "Karlshamn"), ("Ronneby", "Sölvesborg")),
    "12": _Plan(("Malmö", "Lund", "Helsingborg"),
                ("Kristianstad", "Ystad", "Trelleborg", "Landskrona", "Hässleholm", "Ängelholm"), True),
    "13": _Plan(("Halmstad", "Varberg"), ("Kungsbacka", "Falkenberg")),
    "14": _Plan(("Göteborg", "Borås", "Trollhättan"),
                ("Skövde", "Uddevalla", "Mölndal", "Kungälv", "Alingsås", "Lidköping"), True),
    "17": _Plan(("Karlstad", "Arvika"), ("Torsby", "Kristinehamn")),
    "18": _Plan(("Örebro", "Karlskoga", "Lindesberg"), ("Kumla", "Hallsberg"), True),
    "19": _Plan(("Västerås", "Köping"), ("Sala", "Fagersta")),
    "20": _Plan(("Falun", "Mora"), ("Borlänge", "Ludvika", "Avesta")),
    "21": _Plan(("Gävle", "Hudiksvall", "Bollnäs"), ("Sandviken", "Söderhamn", "Ljusdal")),
    "22": _Plan(("Sundsvall", "Härnösand", "Örnsköldsvik"), ("Sollefteå", "Kramfors")),
    "23": _Plan(("Östersund",), ("Åre", "Härjedalen", "Strömsund")),
    "24": _Plan(("Umeå", "Skellefteå", "Lycksele"), ("Vilhelmina", "Storuman"), True),
    "25": _Plan(("Luleå", "Gällivare", "Kiruna"), ("Piteå", "Kalix", "Boden")),
}
VARDCENTRALER = {"Stockholm": 3, "Göteborg": 3, "Malmö": 3, "Uppsala": 2, "Linköping": 2, "Örebro": 2,
                 "Västerås": 2, "Helsingborg": 2, "Norrköping": 2, "Jönköping": 2, "Umeå": 2, "Lund": 2}

# The main town, where it is not named as the municipality.
CITY = {
    "Österåker": "Åkersberga", "Värmdö": "Gustavsberg", "Järfälla": "Jakobsberg", "Botkyrka": "Tumba",
    "Salem": "Rönninge", "Haninge": "Handen", "Upplands-Bro": "Kungsängen", "Danderyd": "Djursholm",
    "Sigtuna": "Märsta", "Håbo": "Bålsta", "Älvkarleby": "Skutskär", "Gotland": "Visby", "Östra Göinge": "Broby",
    "Burlöv": "Arlöv", "Härryda": "Mölnlycke", "Tjörn": "Skärhamn", "Orust": "Henån", "Sotenäs": "Kungshamn",
    "Tanum": "Tanumshede", "Dals-Ed": "Ed", "Mark": "Kinna", "Ale": "Nödinge", "Essunga": "Nossebro",
    "Gullspång": "Hova", "Ydre": "Österbymo", "Kinda": "Kisa", "Uppvidinge": "Åseda", "Hammarö": "Skoghall",
    "Lekeberg": "Fjugesta", "Ljusnarsberg": "Kopparberg", "Malung-Sälen": "Malung", "Nordanstig": "Bergsjö",
    "Ovanåker": "Edsbyn", "Härjedalen": "Sveg", "Berg": "Svenstavik", "Åre": "Järpen", "Ragunda": "Hammarstrand",
    "Gagnef": "Djurås", "Eda": "Charlottenberg", "Hylte": "Hyltebruk",
}

# Postcodes: the first three digits by county (plausible, not exact), a few large towns their own.
POSTCODE_RANGES = {
    "01": (130, 199), "03": (740, 759), "04": (610, 649), "05": (580, 609), "06": (550, 579), "07": (340, 369),
    "08": (380, 399), "09": (620, 624), "10": (370, 379), "12": (230, 299), "13": (300, 319), "14": (420, 549),
    "17": (650, 689), "18": (690, 719), "19": (720, 739), "20": (770, 799), "21": (800, 829), "22": (850, 899),
    "23": (830, 849), "24": (900, 939), "25": (940, 984),
}
POSTCODES = {
    "Stockholm": 113, "Göteborg": 413, "Malmö": 214, "Uppsala": 753, "Linköping": 582, "Örebro": 703,
    "Västerås": 722, "Helsingborg": 252, "Norrköping": 602, "Jönköping": 553, "Umeå": 903, "Lund": 222,
    "Luleå": 972, "Gävle": 802, "Sundsvall": 852, "Karlstad": 652, "Växjö": 352, "Halmstad": 302,
    "Eskilstuna": 632, "Kalmar": 392, "Falun": 791, "Östersund": 831, "Karlskrona": 371, "Gotland": 621,
    "Kiruna": 981, "Skellefteå": 931, "Borås": 503, "Södertälje": 151,
}

# Fictional numbers (PTS's ranges for fiction): prefix, first and last two-digit suffix.
PHONE_RANGES = {
    "08": ("+468465004", 0, 99), "031": ("+463139006", 0, 99), "040": ("+464062804", 0, 99),
    "0980": ("+469803192", 0, 99), "070": ("+467017406", 5, 99),
}
PHONE_AREA = {
    **dict.fromkeys(("01", "03", "04", "05", "09", "18", "19", "20", "21"), "08"),
    **dict.fromkeys(("06", "13", "14", "17"), "031"),
    **dict.fromkeys(("07", "08", "10", "12"), "040"),
    **dict.fromkeys(("22", "23", "24", "25"), "0980"),
}

STREETS = ("Storgatan", "Kyrkogatan", "Drottninggatan", "Kungsgatan", "Järnvägsgatan", "Skolgatan", "Torggatan",
           "Parkvägen", "Nygatan", "Västra vägen", "Östra Långgatan", "Vårdvägen", "Hälsovägen", "Brogatan",
           "Ågatan", "Stationsgatan", "Köpmangatan", "Lasarettsvägen", "Bangårdsgatan", "Tullgatan")
PREFIXES = ("Björk", "Ek", "Gran", "Lind", "Tall", "Asp", "Al", "Rönn", "Hassel", "Lönn", "Sjö", "Berg", "Äng",
            "Dal", "Hag", "Sol", "Strand", "Skog", "Bäck", "Kvarn", "Kyrk", "Norr", "Söder", "Väster", "Öster", "Ljung")
SUFFIXES = ("hagen", "backen", "lunden", "dalen", "viken", "åsen", "berga", "torp", "gården", "udden", "höjden",
            "ängen", "staden", "holmen", "slätten")
DISTRICTS = tuple(p + s for p in PREFIXES for s in SUFFIXES if p.lower()[:3] != s[:3] and p.lower() not in s)
PHARMACIES = ("Svanen", "Ugglan", "Tranan", "Lärkan", "Ekorren", "Näckrosen", "Linnéan", "Enhörningen", "Hjorten",
              "Vågen", "Pelikanen", "Falken", "Gripen", "Kronhjorten", "Blåklockan", "Kaprifolen", "Vitsippan",
              "Liljan", "Fenix", "Morianen")
ACCESSIBILITY = ("rullstol", "horslinga", "parkering", "hiss", "ledstrak")

# Services per type: what every unit of the type offers, and what some offer.
SERVICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "akutmottagning": (("lakarbesok", "provtagning", "rontgen"), ("datortomografi",)),
    "barnakut": (("lakarbesok", "provtagning"), ("rontgen",)),
    "psykakut": (("lakarbesok",), ("samtal",)),
    "gynakut": (("lakarbesok",), ("ultraljud",)),
    "ogonakut": (("lakarbesok",), ()),
    "narakut": (("lakarbesok",), ("provtagning", "rontgen", "gipsning", "sarbehandling")),
    "jourcentral": (("lakarbesok",), ("provtagning", "sarbehandling")),
    "vardcentral": (("lakarbesok", "sjukskoterskemottagning", "provtagning"),
                    ("vaccination", "fysioterapi", "psykolog", "diabetesmottagning", "rontgen")),
    "barnavardscentral": (("vaccination", "halsokontroll"), ("foraldragrupp",)),
    "ungdomsmottagning": (("samtal",), ("preventivmedel", "klamydiatest", "graviditetstest")),
    "barnmorskemottagning": (("preventivmedel",), ("cellprov", "graviditet", "samtal")),
    "tandvardsjour": (("akut_tandvard",), ()),
    "tandvard": ((), ("akuttider", "barntandvard", "tandhygienist")),
    "apotek": (("receptexpedition",), ("egenvardsrad", "vaccination", "blodtryck")),
    "digital": (("videobesok",), ("chatt", "recept")),
    "giftinformation": (("radgivning",), ()),
    "ambulans": (("ambulanssjukvard",), ()),
}
ACCESS = {
    "akutmottagning": Access.DROP_IN, "barnakut": Access.DROP_IN, "psykakut": Access.DROP_IN,
    "gynakut": Access.BOTH, "ogonakut": Access.BOTH, "narakut": Access.DROP_IN, "jourcentral": Access.BOTH,
    "vardcentral": Access.BOTH, "barnavardscentral": Access.BOOKED, "ungdomsmottagning": Access.BOTH,
    "barnmorskemottagning": Access.BOOKED, "tandvardsjour": Access.BOOKED, "tandvard": Access.BOOKED,
    "apotek": Access.DROP_IN, "digital": Access.BOOKED, "giftinformation": Access.BOOKED,
    "ambulans": Access.DROP_IN,
}
AGES: dict[str, tuple[int, int]] = {"barnakut": (0, 17), "barnavardscentral": (0, 6), "ungdomsmottagning": (13, 25)}
ABBR = {
    "akutmottagning": "akut", "barnakut": "barnakut", "psykakut": "psyk", "gynakut": "gyn", "ogonakut": "ogon",
    "narakut": "narakut", "jourcentral": "jour", "vardcentral": "vc", "barnavardscentral": "bvc",
    "ungdomsmottagning": "um", "barnmorskemottagning": "bmm", "tandvardsjour": "tandjour", "tandvard": "tand",
    "apotek": "apotek", "digital": "digital", "giftinformation": "gift", "ambulans": "ambulans",
}

# --- helpers ----------------------------------------------------------------------------------------


def slug(text: str) -> str:
    """"Malung-Sälen" → "malung-salen"."""
    ascii_ = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")


def jitter(lat: float, lon: float, rng: random.Random, km: float = JITTER_KM) -> tuple[float, float]:
    """A point at most `km` from (lat, lon), uniform over the disc, inside the model's ranges."""
    distance = km * math.sqrt(rng.random())
    angle = rng.uniform(0, 2 * math.pi)
    dlat = distance * math.cos(angle) / KM_PER_DEGREE_LAT
    dlon = distance * math.sin(angle) / (KM_PER_DEGREE_LAT * math.cos(math.radians(lat)))
    new_lat = min(max(lat + dlat, LAT_RANGE[0]), LAT_RANGE[1])
    new_lon = min(max(lon + dlon, LON_RANGE[0]), LON_RANGE[1])
    return round(new_lat, 5), round(new_lon, 5)


def phone(region: str, rng: random.Random, area: str | None = None) -> str:
    prefix, low, high = PHONE_RANGES[area or PHONE_AREA[region]]
    return f"{prefix}{rng.randint(low, high):02d}"


def postcode(m: Municipality, rng: random.Random) -> str:
    first = POSTCODES.get(m.name)
    if first is None:
        low, high = POSTCODE_RANGES[m.region]
        first = random.Random(f"postcode:{m.code}").randint(low, high)
    return f"{first} {rng.randint(10, 99)}"


def street(rng: random.Random) -> str:
    return f"{rng.choice(STREETS)} {rng.randint(1, 60)}"


def pick(pool: Sequence[str], rng: random.Random, low: int = 0) -> list[str]:
    """Some of the pool (at least `low`), in the pool's order."""
    count = rng.randint(min(low, len(pool)), len(pool))
    chosen = set(rng.sample(range(len(pool)), count))
    return [tag for i, tag in enumerate(pool) if i in chosen]


def services(type_: str, rng: random.Random) -> list[str]:
    always, some = SERVICES[type_]
    return [*always, *pick(some, rng)]


def city(m: Municipality) -> str:
    return CITY.get(m.name, m.name)


@dataclass(frozen=True)
class _Site:
    lat: float
    lon: float
    address: str
    postcode: str


class _Builder:
    """Collects the demo units; ids are unique (a clash is a bug here, so it raises)."""

    def __init__(self) -> None:
        self.units: list[CareUnit] = []
        self.ids: set[str] = set()
        self.districts: dict[str, list[str]] = {}  # municipality code → district names not yet used

    def district(self, m: Municipality) -> str:
        left = self.districts.get(m.code)
        if left is None:
            left = list(DISTRICTS)
            random.Random(f"districts:{m.code}").shuffle(left)
            self.districts[m.code] = left
        return left.pop()

    def site(self, m: Municipality, key: str) -> _Site:
        rng = random.Random(f"site:{key}")
        lat, lon = jitter(m.lat, m.lon, rng)
        return _Site(lat, lon, street(rng), postcode(m, rng))

    def add(self, m: Municipality, type_: str, name: str, hours: OpeningHours, *, key: str = "",
            site: _Site | None = None, note: str = "", area: str | None = None) -> None:
        region = m.region
        uid = f"demo-{region}-{ABBR[type_]}-{slug(m.name)}" + (f"-{key}" if key else "")
        if uid in self.ids:
            raise ValueError(f"demo catalog: id {uid} twice")
        self.ids.add(uid)
        rng = random.Random(f"unit:{uid}")
        site = site or self.site(m, uid)
        ages = AGES.get(type_)
        self.units.append(CareUnit(
            id=uid, region=region, name=f"{name} (demo)", type=type_, services=services(type_, rng),
            hours=hours, access=ACCESS[type_], phone=phone(region, rng, area), address=site.address,
            postcode=site.postcode, city=city(m), municipality=m.name, lat=site.lat, lon=site.lon,
            age_min=ages[0] if ages else None, age_max=ages[1] if ages else None,
            accessibility=pick(ACCESSIBILITY, rng), note=NOTE + (f". {note}" if note else "")))


def _vardcentral_hours(n: int) -> OpeningHours:
    return (VC, VC, VC_EVENING, VC, VC_EARLY, VC, VC_EXCEPTIONS)[n % 7]


# --- the demo catalog -------------------------------------------------------------------------------


@functools.cache
def _demo() -> tuple[CareUnit, ...]:
    places = load()
    b = _Builder()

    def town(name: str) -> Municipality:
        m = places.by_name(name)
        if m is None or m.name != name:
            raise ValueError(f"demo catalog: no municipality {name!r}")
        return m

    vc_count = 0
    for region in REGIONS:
        plan = PLANS[region]
        hospital_towns = [town(n) for n in plan.hospitals]
        urgent_towns = [town(n) for n in plan.urgent]
        for m in hospital_towns + urgent_towns:
            if m.region != region:
                raise ValueError(f"demo catalog: {m.name} is not in region {region}")
        largest = hospital_towns[0]
        bigger = {m.code for m in hospital_towns + urgent_towns}

        # Hospitals: the akutmottagning; in the largest town the specialised emergency units too.
        for i, m in enumerate(hospital_towns):
            hospital = b.site(m, f"hospital:{m.code}")
            where = f"Sjukhuset i {city(m)}"
            b.add(m, "akutmottagning", f"Akutmottagningen, {where}", ALWAYS, site=hospital)
            if i == 0:
                b.add(m, "barnakut", f"Barn- och ungdomsakuten, {where}", ALWAYS, site=hospital)
                b.add(m, "psykakut", f"Psykiatriska akutmottagningen, {where}", ALWAYS, site=hospital)
                day_or_night = ALWAYS if plan.full_day else DAYTIME
                b.add(m, "gynakut", f"Gynekologiska akutmottagningen, {where}", day_or_night, site=hospital,
                      note="" if plan.full_day else "Övrig tid: akutmottagningen")
                b.add(m, "ogonakut", f"Ögonakuten, {where}", day_or_night, site=hospital,
                      note="Ring före besök" if not plan.full_day else "")

        for i, m in enumerate(urgent_towns):
            if i % 2 == 0:
                b.add(m, "narakut", f"Närakuten {city(m)}", NARAKUT)
            else:
                b.add(m, "jourcentral", f"Jourcentralen {city(m)}", JOUR)

        b.add(largest, "tandvardsjour", f"Tandvårdsjouren {city(largest)}", TANDVARDSJOUR,
              note="Ring före besök")
        b.add(largest, "digital", f"Digitala vårdcentralen, {REGIONS[region]}", DIGITAL, area="070",
              note="Videobesök och chatt i appen")

        for m in places.in_region(region):
            for n in range(VARDCENTRALER.get(m.name, 1)):
                b.add(m, "vardcentral", f"Vårdcentralen {b.district(m)}", _vardcentral_hours(vc_count),
                      key=str(n + 1))
                vc_count += 1
            b.add(m, "tandvard", f"Tandkliniken {b.district(m)}", TANDVARD)
            pharmacies = random.Random(f"pharmacies:{m.code}").sample(PHARMACIES, 2)
            b.add(m, "apotek", f"Apoteket {pharmacies[0]}", APOTEK if m.code not in bigger else APOTEK_SUNDAY,
                  key="1")
            if m.code in bigger:
                b.add(m, "apotek", f"Apoteket {pharmacies[1]}", APOTEK_LATE if m == largest else APOTEK, key="2")
                b.add(m, "barnavardscentral", f"Barnavårdscentralen {b.district(m)}", BVC)
                b.add(m, "ungdomsmottagning", f"Ungdomsmottagningen {city(m)}", UNGDOM)
                b.add(m, "barnmorskemottagning", f"Barnmorskemottagningen {b.district(m)}", BMM)

    stockholm = town("Stockholm")
    b.add(stockholm, "giftinformation", "Giftinformation", ALWAYS, area="08",
          note="Nationell rådgivning vid förgiftning, dygnet runt")
    return tuple(b.units)


def demo_units() -> list[CareUnit]:
    """The fictional catalog of all 21 regions (about 1,600 units), the same on every call."""
    return list(_demo())


# --- synthetic catalogs for the benchmark -------------------------------------------------------------


@functools.cache
def _office(opens: str, closes: str, evening: str | None, exceptions: bool) -> OpeningHours:
    weekly = _days(WEEKDAYS, f"{opens}-{closes}")
    if evening:
        weekly[evening] = [f"{opens}-19:00"]
    extra = {"2026-12-28": "closed", "2026-12-30": ["10:00-15:00"]} if exceptions else None
    return _hours("kontorstid", weekly, exceptions=extra)


def _office_hours(rng: random.Random) -> OpeningHours:
    return _office(rng.choice(("07:00", "07:30", "08:00", "08:30")), rng.choice(("16:00", "16:30", "17:00", "18:00")),
                   rng.choice((None, None, "tuesday", "thursday")), rng.random() < 0.15)


SYNTHETIC_HOURS: dict[str, Callable[[random.Random], OpeningHours]] = {
    "ambulans": lambda rng: ALWAYS,
    "akutmottagning": lambda rng: ALWAYS,
    "barnakut": lambda rng: rng.choice((ALWAYS, ALWAYS, NARAKUT)),
    "psykakut": lambda rng: ALWAYS,
    "gynakut": lambda rng: rng.choice((ALWAYS, DAYTIME)),
    "ogonakut": lambda rng: rng.choice((ALWAYS, DAYTIME)),
    "narakut": lambda rng: rng.choice((NARAKUT, NARAKUT, JOUR)),
    "jourcentral": lambda rng: rng.choice((JOUR, JOUR, NARAKUT)),
    "vardcentral": _office_hours,
    "barnavardscentral": lambda rng: rng.choice((BVC, _office_hours(rng))),
    "ungdomsmottagning": lambda rng: UNGDOM,
    "barnmorskemottagning": lambda rng: rng.choice((BMM, _office_hours(rng))),
    "tandvardsjour": lambda rng: TANDVARDSJOUR,
    "tandvard": lambda rng: rng.choice((TANDVARD, _office_hours(rng))),
    "apotek": lambda rng: rng.choice((APOTEK, APOTEK, APOTEK_SUNDAY, APOTEK_LATE)),
    "digital": lambda rng: DIGITAL,
    "giftinformation": lambda rng: ALWAYS,
}
# How common each type is in a synthetic catalog (relative).
SYNTHETIC_WEIGHTS = {
    "ambulans": 0.2, "akutmottagning": 3, "barnakut": 1, "psykakut": 1, "gynakut": 1, "ogonakut": 1, "narakut": 4,
    "jourcentral": 4, "vardcentral": 30, "barnavardscentral": 6, "ungdomsmottagning": 4, "barnmorskemottagning": 5,
    "tandvardsjour": 1, "tandvard": 12, "apotek": 20, "digital": 1, "giftinformation": 0.2,
}


def synthetic_units(n: int, seed: int = 0) -> list[CareUnit]:
    """`n` random units of every type spread over all 290 municipalities, with varied opening hours (drawn from
    a few dozen shared sets), services, access and age limits. The same for the same n and seed."""
    if n < 0:
        raise ValueError("n must not be negative")
    rng = random.Random(seed)
    places = load().all()
    types = list(SYNTHETIC_WEIGHTS)
    weights = [SYNTHETIC_WEIGHTS[t] for t in types]
    width = max(5, len(str(n)))
    units = []
    for i in range(n):
        m = rng.choice(places)
        type_ = rng.choices(types, weights)[0]
        lat, lon = jitter(m.lat, m.lon, rng)
        ages = AGES.get(type_)
        units.append(CareUnit(
            id=f"syn-{seed}-{i:0{width}d}", region=m.region,
            name=f"{CARE_UNIT_TYPES[type_].name_sv} {rng.choice(DISTRICTS)} (syntetisk)", type=type_,
            services=services(type_, rng), hours=SYNTHETIC_HOURS[type_](rng),
            access=rng.choice((ACCESS[type_], ACCESS[type_], Access.BOTH)), phone=phone(m.region, rng),
            address=street(rng), postcode=postcode(m, rng), city=city(m), municipality=m.name, lat=lat, lon=lon,
            age_min=ages[0] if ages else None, age_max=ages[1] if ages else None,
            accessibility=pick(ACCESSIBILITY, rng), note=SYNTHETIC_NOTE))
    return units
