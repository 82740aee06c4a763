"""The shipped municipality file (catalog/data/municipalities.tsv) and its lookups."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from catalog.municipalities import COLUMNS, DEFAULT, Municipality, haversine_km, load, read
from config.regions import REGIONS

M = load()


def named(name: str) -> Municipality:
    m = M.by_name(name)
    assert m is not None, name
    return m


def test_file_has_290_rows_with_unique_codes_and_names() -> None:
    """Sweden has 290 municipalities: one row each, no code or name twice."""
    all_ = M.all()
    assert len(all_) == len(M) == 290
    assert len({m.code for m in all_}) == 290
    assert len({m.name for m in all_}) == 290


def test_file_format_header_sorted_utf8() -> None:
    """The file is UTF-8 with the documented header, four-digit codes, sorted by code."""
    lines = DEFAULT.read_text(encoding="utf-8").splitlines()
    assert tuple(lines[0].split("\t")) == COLUMNS
    codes = [line.split("\t")[0] for line in lines[1:]]
    assert codes == sorted(codes)
    assert all(len(c) == 4 and c.isdigit() for c in codes)
    assert all(int(line.split("\t")[5]) >= 1 for line in lines[1:])  # every point rests on at least one place


def test_every_region_has_municipalities_and_codes_start_with_the_region() -> None:
    """Each of the 21 regions has municipalities, and a municipality's code begins with its county code."""
    assert sorted(M.regions()) == sorted(REGIONS)
    for region in REGIONS:
        assert M.in_region(region), region
    assert all(m.code[:2] == m.region for m in M.all())
    counts = Counter(m.region for m in M.all())
    assert counts["01"] == 26 and counts["14"] == 49 and counts["12"] == 33 and counts["09"] == 1


def test_known_codes_and_proper_names() -> None:
    """SCB's codes and the proper Swedish names (å, ä, ö, hyphens) are those of the table."""
    assert named("Stockholm").code == "0180"
    assert named("Umeå").code == "2480"
    assert named("Göteborg").code == "1480"
    assert named("Malmö").code == "1280"
    assert named("Kiruna").code == "2584"
    assert M.by_code("0305") == named("Håbo") and M.by_code("0643") == named("Habo")
    names = {m.name for m in M.all()}
    assert {"Upplands Väsby", "Malung-Sälen", "Jönköping", "Östra Göinge", "Dals-Ed", "Örnsköldsvik"} <= names


def test_points_are_where_the_towns_are() -> None:
    """Sanity of the points: the far north, the far south and the two largest cities."""
    kiruna = named("Kiruna")
    assert kiruna.lat > 67
    assert kiruna.lat >= max(m.lat for m in M.all()) - 0.5  # northernmost, or nearly
    assert named("Trelleborg").lat < 56 and named("Ystad").lat < 56
    stockholm, goteborg = named("Stockholm"), named("Göteborg")
    assert abs(stockholm.lat - 59.33) < 0.2 and abs(stockholm.lon - 18.06) < 0.2
    assert abs(goteborg.lat - 57.70) < 0.1 and abs(goteborg.lon - 11.97) < 0.1
    assert all(55.0 < m.lat < 69.2 and 10.5 < m.lon < 24.3 for m in M.all())


@pytest.mark.parametrize(("asked", "expected"), [
    ("Umeå", "Umeå"), ("umeå", "Umeå"), ("UMEÅ", "Umeå"), ("umea", "Umeå"), ("  Umea  ", "Umeå"),
    ("Goteborg", "Göteborg"), ("Goeteborg", "Göteborg"), ("Göteborgs kommun", "Göteborg"),
    ("Umeå kommun", "Umeå"), ("Stockholms kommun", "Stockholm"), ("Borås kommun", "Borås"), ("Falu kommun", "Falun"),
    ("Jarfalla", "Järfälla"), ("upplands vasby", "Upplands Väsby"), ("Malung-Salen", "Malung-Sälen"),
    ("Habo", "Habo"), ("Håbo", "Håbo"), ("HÅBO kommun", "Håbo"), ("Are", "Åre"),
])
def test_lookup_tolerates_case_diacritics_and_kommun(asked: str, expected: str) -> None:
    """by_name finds a municipality whatever the case, without å/ä/ö and with a trailing "kommun"."""
    assert named(asked).name == expected


def test_lookup_unknown_is_none() -> None:
    """An unknown name, or one that only a fold could make ambiguous, is None rather than a guess."""
    assert M.by_name("Atlantis") is None
    assert M.by_name("") is None
    assert M.by_name("Stockholms län") is None


def test_every_name_is_found_without_diacritics() -> None:
    """Every municipality is found by its name typed in plain ASCII, except Habo/Håbo where plain is Habo."""
    table = str.maketrans("åäöéÅÄÖÉ", "aaoeAAOE")
    for m in M.all():
        found = named(m.name.translate(table))
        assert found == (named("Habo") if m.name == "Håbo" else m), m.name


def test_in_region_and_unknown_region() -> None:
    """in_region lists the county's municipalities by code; an unknown region has none."""
    uppsala = M.in_region("03")
    assert [m.name for m in uppsala][:3] == ["Håbo", "Älvkarleby", "Knivsta"]
    assert M.in_region("02") == [] and M.in_region("99") == []


def test_haversine_stockholm_goteborg() -> None:
    """Stockholm–Göteborg is about 397 km as the crow flies; a point is 0 km from itself."""
    s, g = named("Stockholm"), named("Göteborg")
    assert haversine_km(s.lat, s.lon, g.lat, g.lon) == pytest.approx(397, abs=10)
    assert haversine_km(s.lat, s.lon, s.lat, s.lon) == 0
    assert haversine_km(59.0, 18.0, 60.0, 18.0) == pytest.approx(111.2, abs=0.2)  # one degree of latitude


def test_default_load_is_cached_and_other_files_are_read(tmp_path: Path) -> None:
    """load() reads the shipped file once; another file is read as it is, and a wrong header is refused."""
    assert load() is load() is load(DEFAULT)
    other = tmp_path / "m.tsv"
    other.write_text("\t".join(COLUMNS) + "\n0180\tStockholm\t01\t59.3\t18.0\t1\n", encoding="utf-8")
    assert load(other).all() == [Municipality("0180", "Stockholm", "01", 59.3, 18.0)]
    other.write_text("code\tname\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        read(other)
