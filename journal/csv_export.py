"""Journal notes as CSV for the region's follow-up, made to open correctly in Swedish Excel. Pure: no I/O.

Format
    - Delimiter ";" : Excel with Swedish regional settings uses "," as the decimal separator and so expects
      ";" between fields; a ","-separated file opens as one column.
    - UTF-8 with a byte-order mark ("\\ufeff") at the start of the first chunk: without it Excel reads the
      file as Windows-1252 and "å", "ä", "ö" come out garbled. Strip it if you feed the text to a parser
      that does not (Python: `encoding="utf-8-sig"`).
    - RFC 4180 quoting by the `csv` module: a cell with ";", a quote or a line break is quoted, so the
      nurse's multi-line free text stays in one cell; lines end with CRLF.
    - The header row comes first; its names are stable snake_case (scripts read them), one row per note.
    - Datetimes are ISO 8601 in UTC with a "Z" (a datetime without a zone is taken as UTC already).

Formula injection
    Excel evaluates a cell that starts with "=", "+", "-" or "@" as a formula (and a leading tab or CR can
    hide one), so a caller's name or a nurse's text like `=HYPERLINK("http://…")` would run in the region
    staff's Excel. Such a cell gets a leading apostrophe ("'"), which Excel shows as text; the value is
    otherwise unchanged (see OWASP "CSV Injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from .fhir import contact_reason_titles, referral_name_sv, urgency_name_sv
from .records import NoteRecord

BOM = "\ufeff"
DELIMITER = ";"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

COLUMNS: tuple[str, ...] = (
    "note_id", "call_id", "status", "amends_note_id", "care_provider", "care_provider_org_number", "region",
    "author_username", "call_started_at", "call_ended_at", "signed_at", "patient_id_kind", "patient_id",
    "caller_relation", "contact_reason", "contact_reason_sv", "urgency", "urgency_sv", "referral",
    "referral_sv", "advice", "referral_text", "text",
)


def notes_csv(notes: Iterable[NoteRecord]) -> Iterator[str]:
    """CSV text in chunks: the BOM and the header row first, then one chunk (one row) per note. Join the
    chunks and encode as UTF-8 to get the file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=DELIMITER, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")

    def chunk(cells: Iterable[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(c) for c in cells])
        return buffer.getvalue()

    yield BOM + chunk(COLUMNS)
    for note in notes:
        yield chunk(note_row(note))


def note_row(note: NoteRecord) -> list[str]:
    """One note's cells, in COLUMNS order, before the formula guard."""
    c = note.content
    return [
        note.id, note.call_id, note.status.value, note.amends_note_id or "", note.care_provider_name,
        note.care_provider_org_number, note.region_id or "", note.author_username,
        iso_utc(note.call_started_at), iso_utc(note.call_ended_at), iso_utc(note.signed_at),
        c.patient_id_kind.value if c.patient_id_kind is not None else "", c.patient_id,
        c.caller_relation.value if c.caller_relation is not None else "",
        c.contact_reason, contact_reason_titles().get(c.contact_reason, "") if c.contact_reason else "",
        c.urgency, urgency_name_sv(c.urgency), c.referral, referral_name_sv(c.referral),
        c.advice, c.referral_text, c.text,
    ]


def safe_cell(value: str) -> str:
    """The cell as Excel should show it: a leading apostrophe when it would start a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def iso_utc(value: datetime | None) -> str:
    """ISO 8601 in UTC to the second ("2024-03-01T09:15:00Z"); "" for none."""
    if value is None:
        return ""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
