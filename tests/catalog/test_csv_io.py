"""catalog.csv_io: care units as CSV for Swedish Excel and back."""

from __future__ import annotations

import csv
import io

import pytest

from catalog.csv_io import COLUMNS, units_csv, units_from_csv
from catalog.errors import CatalogImportError
from catalog.model import CareUnit
from config.schema import OpeningHours

BOM = "\ufeff"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


def sample_units() -> list[CareUnit]:
    return [
        CareUnit(
            id="01-akut-sos", region="01", name="Södersjukhusets akutmottagning", type="akutmottagning",
            hours=OpeningHours(weekly={d: ["00:00-24:00"] for d in (*WEEKDAYS, "saturday", "sunday")},
                               holidays="weekly", eves="weekly"),
            access="drop_in", phone="+4686161000", address="Sjukhusbacken 10", postcode="118 83",
            city="Stockholm", municipality="Stockholm", lat=59.3114, lon=18.052,
            note="Ambulansintag via Ringvägen; gående: huvudentrén.",
        ),
        CareUnit(
            id="03-vc-luthagen", region="03", name="Vårdcentralen Luthagen", type="vardcentral",
            services=["provtagning", "vaccination"], accessibility=["rullstol", "horslinga"],
            hours=OpeningHours(
                weekly={**{d: ["08:00-12:00", "13:00-17:00"] for d in WEEKDAYS},
                        "tuesday": ["08:00-12:00", "13:00-17:00", "17:30-20:00"]},
                holidays="closed", eves="closed",
                exceptions={"2026-12-24": "closed", "2026-12-31": ["08:00-12:00"]},
            ),
            access="both", phone="+4618611000", address="Geijersgatan 20", postcode="752 26", city="Uppsala",
            municipality="Uppsala", lat=59.8652, lon=17.6221, url="https://vc-luthagen.example.se",
            note='Säg "1177" i receptionen',
        ),
        CareUnit(
            id="12-jc-malmo", region="12", name="Jourcentralen Malmö", type="jourcentral",
            hours=OpeningHours(weekly={"friday": ["18:00-02:00+1"], "saturday": ["10:00-16:00", "18:00-02:00+1"],
                                       "sunday": ["10:00-18:00"]},
                               holidays="sunday", eves=["10:00-14:00"]),
            access="booked", phone="+46406010000", address="Carl Bertil Laurells gata 9", postcode="205 02",
            city="Malmö", municipality="Malmö", lat=55.5899, lon=12.9876,
            note="=HYPERLINK(\"https://example.invalid\")",
        ),
        CareUnit(
            id="14-bvc-majorna", region="14", name="BVC Majorna", type="barnavardscentral",
            hours=OpeningHours(weekly={d: ["08:00-16:00"] for d in WEEKDAYS[:4]}, holidays="closed"),
            access="booked", phone="+46313421000", city="Göteborg", municipality="Göteborg",
            lat=57.6952, lon=11.9244, age_min=0, age_max=6, note="'=already quoted",
        ),
    ]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix(BOM), newline=""), delimiter=";"))


def _write(rows: list[list[str]], delimiter: str = ";") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return BOM + buffer.getvalue()


def _problems(text: str) -> list[str]:
    with pytest.raises(CatalogImportError) as info:
        units_from_csv(text)
    assert info.value.where == "CSV"
    return info.value.problems


def test_csv_has_bom_header_and_opens_with_csv_reader() -> None:
    """The file starts with the BOM, then the header; csv.reader reads one row per unit with ";" cells."""
    text = units_csv(sample_units())
    assert text.startswith(BOM + "id;region;name;type;")
    rows = _rows(text)
    assert rows[0] == list(COLUMNS)
    assert len(rows) == 1 + len(sample_units())
    vc = dict(zip(rows[0], rows[2], strict=True))
    assert vc["tuesday"] == "08:00-12:00,13:00-17:00,17:30-20:00"
    assert vc["saturday"] == "" and vc["holidays"] == "closed"
    assert vc["exceptions"] == "2026-12-24=closed|2026-12-31=08:00-12:00"
    assert vc["services"] == "provtagning,vaccination" and vc["accessibility"] == "rullstol,horslinga"
    assert vc["lat"] == "59.8652" and vc["note"] == 'Säg "1177" i receptionen'
    jc = dict(zip(rows[0], rows[3], strict=True))
    assert jc["friday"] == "18:00-02:00+1" and jc["eves"] == "10:00-14:00" and jc["access"] == "booked"
    bvc = dict(zip(rows[0], rows[4], strict=True))
    assert (bvc["age_min"], bvc["age_max"], bvc["address"]) == ("0", "6", "")


def test_formula_cells_are_guarded() -> None:
    """Cells Excel would evaluate (a phone "+46…", a note "=…") start with an apostrophe."""
    rows = _rows(units_csv(sample_units()))
    jc = dict(zip(rows[0], rows[3], strict=True))
    assert jc["phone"] == "'+46406010000"
    assert jc["note"] == "'=HYPERLINK(\"https://example.invalid\")"


def test_round_trip_is_exact() -> None:
    """Export then import gives back the very same units, guarded and quoted cells included."""
    units = sample_units()
    assert units_from_csv(units_csv(units)) == units


def test_comma_delimited_file_without_bom_from_a_spreadsheet() -> None:
    """A ","-separated file without BOM, region "1" and a decimal comma in lat imports (the delimiter is sniffed)."""
    rows = _rows(units_csv(sample_units()[:1]))
    rows[1][COLUMNS.index("region")] = "1"
    rows[1][COLUMNS.index("lat")] = "59,3114"
    [unit] = units_from_csv(_write(rows, delimiter=",").removeprefix(BOM))
    assert unit == sample_units()[0]


def test_bad_type_and_bad_lat_are_both_reported_with_row_and_column() -> None:
    """Every problem is reported at once, named by spreadsheet row (header = row 1) and column."""
    rows = _rows(units_csv(sample_units()))
    rows[2][COLUMNS.index("type")] = "vardcentrl"  # row 3
    rows[4][COLUMNS.index("lat")] = "95.1"  # row 5
    problems = _problems(_write(rows))
    assert len(problems) == 2, problems
    assert problems[0].startswith("row 3, column type: 'vardcentrl' is not a care-unit type")
    assert problems[1] == "row 5, column lat: 95.1 is above 69.2"


def test_hours_problems_name_the_hours_column() -> None:
    """A bad window, a bad exception day and inverted ages point to their own columns."""
    rows = _rows(units_csv(sample_units()))
    rows[2][COLUMNS.index("tuesday")] = "08:00-12:00,17:00-13:00"
    rows[2][COLUMNS.index("exceptions")] = "2026-12-24=closed|2026-13-01=closed|nyårsafton"
    rows[3][COLUMNS.index("holidays")] = "stängt"
    rows[4][COLUMNS.index("age_min")] = "7"
    problems = _problems(_write(rows))
    assert [p.split(":", 1)[0] for p in problems] == [
        "row 3, column exceptions", "row 3, column tuesday", "row 3, column exceptions",
        "row 4, column holidays", "row 5, column age_min"], problems
    assert "'17:00-13:00'" in problems[1] and "inverted" in problems[1]
    assert "'nyårsafton' is not date=closed" in problems[0]
    assert "2026-13-01" in problems[2]
    assert "age_min 7 is above age_max 6" in problems[4]


def test_missing_and_unknown_columns_are_one_problem() -> None:
    """A header without "lat" and with a stray column is one problem naming both."""
    rows = _rows(units_csv(sample_units()))
    rows[0][COLUMNS.index("lat")] = "latitud"
    problems = _problems(_write(rows))
    assert len(problems) == 1
    assert "unknown column(s) 'latitud'" in problems[0] and "missing column(s) lat" in problems[0]
    assert problems[0].startswith("row 1 (header)")


def test_duplicate_id_names_both_rows() -> None:
    """The same id on two rows is a problem naming both."""
    rows = _rows(units_csv(sample_units()))
    rows[4][0] = rows[2][0]
    assert _problems(_write(rows)) == ["row 5, column id: '03-vc-luthagen' is also in row 3"]


def test_ragged_row_and_empty_file() -> None:
    """A row with a cell too many, and an empty file, are clear problems."""
    rows = _rows(units_csv(sample_units()))
    rows[3].append("extra")
    assert _problems(_write(rows)) == [f"row 4: {len(COLUMNS) + 1} cells, the header has {len(COLUMNS)} "
                                       "(a stray ';' or a missing one?)"]
    assert _problems(BOM) == ["row 1: no header row (the file is empty)"]


def test_error_text_shows_a_summary_and_at_most_twenty_problems() -> None:
    """str() is a summary line and the first 20 problems; `problems` keeps all of them."""
    rows = _rows(units_csv(sample_units()[:1]))
    for n in range(25):
        row = list(rows[1])
        row[0], row[COLUMNS.index("type")] = f"01-x-{n}", "nope"
        rows.append(row)
    with pytest.raises(CatalogImportError) as info:
        units_from_csv(_write(rows))
    assert len(info.value.problems) == 25
    lines = str(info.value).splitlines()
    assert lines[0] == "CSV: 25 problems, nothing imported"
    assert len(lines) == 1 + 20 + 1 and lines[-1].strip() == "… and 5 more"
