"""Care units as CSV for the region's catalog editors (Excel, LibreOffice) and back. Pure: text in, text out.

Format (the same choices as journal/csv_export.py)
    - Delimiter ";" (Swedish Excel's list separator), UTF-8 with a byte-order mark, CRLF, RFC 4180 quoting.
    - Header row first, with the COLUMNS names; one unit per row.
    - Lists (services, accessibility) are comma-separated tags: "provtagning,vaccination".
    - Weekday cells (monday … sunday): the windows comma-separated, "08:00-12:00,13:00-17:00"; "18:00-02:00+1"
      crosses midnight; empty = closed that day.
    - holidays, eves: "closed", "sunday", "saturday", "weekly" or windows as in a weekday cell.
    - exceptions: "date=closed" or "date=windows", "|" between days:
      "2026-12-24=closed|2026-12-31=08:00-12:00".
    - lat, lon: decimal point ("59.3293"); age_min, age_max: whole years, empty = no limit.

Formula injection
    A cell that Excel would evaluate (it starts with "=", "+", "-", "@", tab or CR: a phone number "+46…"
    does) gets a leading apostrophe, as journal/csv_export.py does. So that import gives back exactly what was
    exported, a value that already starts with apostrophes followed by such a character gets one more, and
    import takes one off wherever apostrophes are followed by such a character.

Import (`units_from_csv`) is lenient where spreadsheets are known to change things and strict elsewhere
    - a BOM is dropped; the delimiter is ";" or "," as the header row uses; cells are stripped of surrounding
      blanks; rows with every cell empty are skipped;
    - a one-digit region ("1", Excel dropped the zero) is read as "01"; lat/lon may have a decimal comma;
    - an empty holidays/eves cell is "sunday" (the schema's default);
    - an empty weekday cell leaves the day out of `weekly` (a day missing is closed, as is an empty list);
    - the columns must be exactly COLUMNS (in any order): unknown, missing or repeated ones are one problem;
    - every other problem is reported with its row (as the spreadsheet shows it: the header is row 1) and its
      column, all of them at once; nothing is returned unless every row is valid; an id twice is a problem.

Not in the CSV: `OpeningHours.description` (units do not use it; it is exported nowhere here and imported "").
What the cells cannot tell apart is written by its meaning (config.hours treats both forms alike): a
holiday/eve rule that is an empty list of windows is written "closed"; one with neither `use` nor windows
(it behaves as "weekly") is written "weekly"; a weekday given as an empty list is an empty cell (read back
as a missing day).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from config.schema import WEEKDAYS, DayRule

from .errors import CatalogImportError, describe
from .model import CareUnit

COLUMNS: tuple[str, ...] = (
    "id", "region", "name", "type", "services", "access", "phone", "address", "postcode", "city", "municipality",
    "lat", "lon", "age_min", "age_max", "accessibility", "url", "note", *WEEKDAYS, "holidays", "eves",
    "exceptions",
)
HOURS_COLUMNS = frozenset({*WEEKDAYS, "holidays", "eves", "exceptions"})
WHERE = "CSV"
# As journal/csv_export.py (not imported from there: the catalog does not depend on the journal).
BOM = "\ufeff"
DELIMITER = ";"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_GUARDED = re.compile("^'*[" + re.escape("".join(FORMULA_START)) + "]")
_ESCAPED = re.compile("^'+[" + re.escape("".join(FORMULA_START)) + "]")
_RULES = ("closed", "sunday", "saturday", "weekly")


# --- export ---------------------------------------------------------------------------------------------


def units_csv(units: Iterable[CareUnit]) -> str:
    """The CSV file's text: the BOM, the header row, one row per unit. Encode as UTF-8 to write it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=DELIMITER, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for unit in units:
        writer.writerow([guard(cell) for cell in unit_row(unit)])
    return BOM + buffer.getvalue()


def unit_row(unit: CareUnit) -> list[str]:
    """One unit's cells in COLUMNS order, before the formula guard."""
    hours = unit.hours
    cells: dict[str, str] = {
        "id": unit.id, "region": unit.region, "name": unit.name, "type": unit.type,
        "services": ",".join(unit.services), "access": unit.access.value, "phone": unit.phone,
        "address": unit.address, "postcode": unit.postcode, "city": unit.city, "municipality": unit.municipality,
        "lat": repr(unit.lat), "lon": repr(unit.lon),
        "age_min": "" if unit.age_min is None else str(unit.age_min),
        "age_max": "" if unit.age_max is None else str(unit.age_max),
        "accessibility": ",".join(unit.accessibility), "url": unit.url, "note": unit.note,
        "holidays": _rule_cell(hours.holidays), "eves": _rule_cell(hours.eves),
        "exceptions": "|".join(f"{day.isoformat()}={','.join(str(w) for w in o.windows) or 'closed'}"
                               for day, o in sorted(hours.exceptions.items())),
    }
    for day in WEEKDAYS:
        cells[day] = ",".join(str(w) for w in hours.weekly.get(day, []))
    return [cells[c] for c in COLUMNS]


def _rule_cell(rule: DayRule) -> str:
    if rule.windows is not None:
        return ",".join(str(w) for w in rule.windows) or "closed"
    return rule.use or "weekly"


def guard(value: str) -> str:
    """The cell as Excel should show it (a leading apostrophe before a formula start), reversibly."""
    return "'" + value if _GUARDED.match(value) else value


def unguard(cell: str) -> str:
    """The value of a guarded cell (the inverse of `guard`)."""
    return cell[1:] if _ESCAPED.match(cell) else cell


# --- import ---------------------------------------------------------------------------------------------


def units_from_csv(text: str) -> list[CareUnit]:
    """The units of a CSV file's text, in row order. Raises CatalogImportError with every problem found."""
    text = text.removeprefix(BOM)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first_line or "," not in first_line else ","
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise CatalogImportError(WHERE, [f"not readable as CSV: {exc}"]) from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise CatalogImportError(WHERE, ["row 1: no header row (the file is empty)"])
    header = [cell.strip() for cell in rows[0]]
    header_problem = _header_problem(header)
    if header_problem:
        raise CatalogImportError(WHERE, [header_problem])

    problems: list[str] = []
    units: list[CareUnit] = []
    first_row: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(f"row {number}: {len(row)} cells, the header has {len(header)} (a stray "
                            f"{delimiter!r} or a missing one?)")
            continue
        cells = {name: unguard(cell.strip()) for name, cell in zip(header, row, strict=True)}
        unit_id = cells["id"]
        if unit_id:
            if unit_id in first_row:
                problems.append(f"row {number}, column id: {unit_id!r} is also in row {first_row[unit_id]}")
            else:
                first_row[unit_id] = number
        row_problems: list[str] = []
        fields = _fields(cells, number, row_problems)  # a cell it cannot shape is left out, and named
        problems.extend(row_problems)
        try:
            unit = CareUnit.model_validate(fields)
        except ValidationError as exc:
            problems.extend(_row_problem(number, err) for err in exc.errors())
        else:
            units.append(unit)
    if problems:
        raise CatalogImportError(WHERE, problems)
    return units


def _header_problem(header: list[str]) -> str | None:
    unknown = [c for c in header if c not in COLUMNS]
    missing = [c for c in COLUMNS if c not in header]
    twice = sorted({c for c in header if header.count(c) > 1})
    parts = []
    if unknown:
        parts.append(f"unknown column(s) {', '.join(repr(c) for c in unknown)}")
    if missing:
        parts.append(f"missing column(s) {', '.join(missing)}")
    if twice:
        parts.append(f"column(s) given twice: {', '.join(twice)}")
    if not parts:
        return None
    return f"row 1 (header): {'; '.join(parts)}. The columns are: {DELIMITER.join(COLUMNS)}"


def _fields(cells: dict[str, str], number: int, problems: list[str]) -> dict[str, Any]:
    """The CareUnit fields of one row's cells; what cannot even be shaped is added to `problems`."""
    fields: dict[str, Any] = {
        name: cells[name] for name in ("id", "name", "type", "phone", "address", "postcode", "city",
                                       "municipality", "url", "note")
    }
    region = cells["region"]
    fields["region"] = f"0{region}" if len(region) == 1 and region.isdigit() else region
    fields["access"] = cells["access"] or "both"
    for name in ("services", "accessibility"):
        fields[name] = [tag.strip() for tag in cells[name].split(",") if tag.strip()]
    for name in ("lat", "lon"):
        fields[name] = _number(cells[name], float)
    for name in ("age_min", "age_max"):
        fields[name] = _number(cells[name], int) if cells[name] else None

    weekly = {day: _windows(cells[day]) for day in WEEKDAYS if cells[day]}
    hours: dict[str, Any] = {"weekly": weekly, "holidays": _rule(cells["holidays"]), "eves": _rule(cells["eves"])}
    exceptions: dict[str, Any] = {}
    for part in (p.strip() for p in cells["exceptions"].split("|")):
        if not part:
            continue
        day, sep, value = part.partition("=")
        day, value = day.strip(), value.strip()
        if not sep or not day or not value:
            problems.append(f"row {number}, column exceptions: {part!r} is not date=closed or date=windows "
                            '(e.g. "2026-12-24=closed|2026-12-31=08:00-12:00")')
        elif day in exceptions:
            problems.append(f"row {number}, column exceptions: {day} is given twice")
        else:
            exceptions[day] = "closed" if value == "closed" else _windows(value)
    hours["exceptions"] = exceptions
    fields["hours"] = hours
    return fields


def _number(cell: str, kind: type[float] | type[int]) -> Any:
    """The cell as a number when it is one (a decimal comma is fine), else the text for pydantic to name."""
    try:
        return kind(cell.replace(",", ".") if kind is float else cell)
    except ValueError:
        return cell


def _windows(cell: str) -> list[str]:
    return [w.strip() for w in cell.split(",") if w.strip()]


def _rule(cell: str) -> str | list[str]:
    if not cell:
        return "sunday"
    return cell if cell in _RULES or not re.match(r"^\d", cell) else _windows(cell)


def _row_problem(number: int, error: Any) -> str:
    loc = list(error.get("loc", ()))
    message = describe(error)
    if not loc:  # the model's own check across fields: the ages
        column = "age_min"
    elif loc[0] == "hours" and len(loc) >= 2:
        section = str(loc[1])
        if section == "weekly" and len(loc) >= 3:
            column = str(loc[2])
        elif section == "exceptions" and len(loc) >= 3:
            column = "exceptions"
            if not (len(loc) >= 4 and loc[3] == "[key]"):  # a bad date names itself already
                message = f"{loc[2]}: {message}"
        else:
            column = section
    else:
        column = str(loc[0])
    return f"row {number}, column {column}: {message}"
