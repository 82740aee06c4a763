"""The journal's decisions, pure: who may read a note and why, how an autosave from a stale tab merges, and
whether a note is complete enough to sign.

Reading follows the care provider (patientdatalagen): staff read notes of their own care provider; another
care provider's note only through emergency access (nödåtkomst) with a stated reason, which is logged and
reported. A citizen reads only their own signed notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from advice.urgency import Urgency

from .patient import PatientIdError, check_patient_id
from .records import REQUIRED_TO_SIGN, NoteContent, PatientIdKind

MIN_REASON = 10
MAX_REASON = 500
CLINICAL_ROLES = frozenset({"nurse", "supervisor"})


class Purpose(StrEnum):
    CARE = "care"  # her own care provider's note, in the care of the patient
    EMERGENCY = "emergency"  # another care provider's note: nödåtkomst, reason stated
    CITIZEN = "citizen"  # the patient reads their own note
    FOLLOWUP = "followup"  # the region's follow-up through a scoped API token


class Refusal(Exception):
    """Why a read or a save is refused; `code` is the API's error code, `extra` more fields for the answer."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.extra = extra


@dataclass(frozen=True)
class Reader:
    user_id: int
    care_provider_id: int | None
    roles: frozenset[str]


def may_read_notes(reader: Reader) -> None:
    """Refusal unless the reader is clinical staff of a care provider."""
    if not reader.roles & CLINICAL_ROLES:
        raise Refusal("forbidden", "Bara vårdpersonal läser journalanteckningar / only clinical staff read notes")
    if reader.care_provider_id is None:
        raise Refusal("no_care_provider", "Ditt konto hör inte till någon vårdgivare / your account belongs to "
                                          "no care provider")


def read_purpose(reader: Reader, note_care_provider_id: int, emergency_reason: str | None) -> Purpose:
    """The purpose a staff read is logged under, or Refusal."""
    may_read_notes(reader)
    if reader.care_provider_id == note_care_provider_id:
        return Purpose.CARE
    reason = (emergency_reason or "").strip()
    if not reason:
        raise Refusal("other_care_provider", "Anteckningen hör till en annan vårdgivare; nödåtkomst kräver ett "
                                             "angivet skäl / the note belongs to another care provider; emergency "
                                             "access needs a stated reason")
    if not MIN_REASON <= len(reason) <= MAX_REASON:
        raise Refusal("bad_reason", f"Skälet för nödåtkomst ska vara {MIN_REASON}–{MAX_REASON} tecken / the "
                                    f"emergency reason must be {MIN_REASON}–{MAX_REASON} characters")
    return Purpose.EMERGENCY


@dataclass(frozen=True)
class Merge:
    content: dict[str, Any]
    changed: tuple[str, ...]  # the fields this save changed


def merge_save(base: Mapping[str, Any], current: Mapping[str, Any], changes: Mapping[str, Any]) -> Merge:
    """Apply a save made on top of `base` to `current` (which other tabs may have saved meanwhile).

    Each field a tab changed is its own: two tabs editing different fields both keep their text. When the
    same field changed since `base` both here and in another tab, the save is refused (`edit_conflict`)
    rather than silently overwriting: the server keeps what was saved, the tab keeps what she typed (and a
    copy in the browser's storage) and sends it again on the new revision.
    """
    unknown = sorted(set(changes) - set(NoteContent.model_fields))
    if unknown:
        shown = ", ".join(name[:40] for name in unknown[:10])
        raise Refusal("bad_request", f"Okända fält / unknown fields: {shown}{' …' if len(unknown) > 10 else ''}")
    conflicts = sorted(f for f, value in changes.items()
                       if current.get(f) != base.get(f) and current.get(f) != value)
    if conflicts:
        raise Refusal("edit_conflict", "Anteckningen har ändrats i en annan flik eller av någon annan: "
                                       f"{', '.join(conflicts)} / changed elsewhere meanwhile")
    merged = {**current, **changes}
    return Merge(merged, tuple(sorted(f for f in changes if current.get(f) != changes[f])))


def check_content(raw: Mapping[str, Any], *, today: date) -> NoteContent:
    """Validate a saved note's fields (a draft may be incomplete, but what is there must be well-formed);
    the patient's identity is normalised. Raises Refusal."""
    try:
        content = NoteContent.model_validate(dict(raw))
    except ValueError as exc:
        raise Refusal("bad_request", f"Fel i anteckningen / invalid note: {exc}"[:600]) from exc
    if content.urgency and content.urgency not in {u.value for u in Urgency}:
        raise Refusal("bad_urgency", f"Okänd brådskandegrad {content.urgency!r} (finns: "
                                     f"{', '.join(u.value for u in Urgency)}) / unknown urgency")
    if content.patient_id and content.patient_id_kind is None:
        raise Refusal("bad_patient_id", "Välj typ av identitet (personnummer, samordningsnummer eller "
                                        "reservnummer) / choose the kind of identity")
    if content.patient_id and content.patient_id_kind is not None:
        try:
            normalised = check_patient_id(content.patient_id_kind, content.patient_id, today=today)
        except PatientIdError as exc:
            raise Refusal("bad_patient_id", str(exc)) from exc
        content = content.model_copy(update={"patient_id": normalised})
    return content


PATIENT_FIELDS = ("patient_id_kind", "patient_id", "patient_name")


def normalise_changes(changes: Mapping[str, Any], current: Mapping[str, Any], *, today: date) -> dict[str, Any]:
    """A tab may type the same personnummer in another form (19121212-1212 vs 191212121212): normalise it
    before comparing, so it is neither a change nor a conflict."""
    out = dict(changes)
    raw, kind = out.get("patient_id"), out.get("patient_id_kind", current.get("patient_id_kind"))
    if not (isinstance(raw, str) and raw.strip() and kind in {k.value for k in PatientIdKind}):
        return out  # nothing to normalise, or a bad kind that check_content names
    try:
        out["patient_id"] = check_patient_id(PatientIdKind(kind), raw, today=today)
    except PatientIdError as exc:
        raise Refusal("bad_patient_id", str(exc)) from exc
    return out


def check_amendment_changes(changes: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """An amendment corrects a note about the same patient: its identity is the original's, not editable."""
    moved = [f for f in PATIENT_FIELDS if f in changes and changes[f] != current.get(f)]
    if moved:
        raise Refusal("amendment_patient", "Ett tillägg gäller samma patient som anteckningen; fel patient rättas "
                                           "i en ny anteckning / an amendment is about the note's patient")


def missing_to_sign(content: NoteContent, *, amendment: bool = False) -> list[str]:
    """The fields a note needs before it can be signed (empty: ready). An amendment needs its text."""
    if amendment:
        return [] if content.text.strip() else ["text"]
    data = content.model_dump()
    missing = [f for f in REQUIRED_TO_SIGN if data.get(f) in (None, "")]
    if not (content.advice.strip() or content.text.strip()):
        missing.append("advice")
    return sorted(set(missing))
