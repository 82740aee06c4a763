"""Writing and reading journal notes in SQL. Decisions are in `policy`; this module applies them and keeps
the versions and the access log. Every function takes the session of one transaction (Database.run)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from agents.models import Nurse
from calls import service as calls
from calls.models import Call
from identity.models import CareProvider, User

from .models import JournalAccess, JournalNote, JournalNoteVersion
from .policy import (
    Purpose,
    Reader,
    Refusal,
    check_amendment_changes,
    check_content,
    may_read_notes,
    merge_save,
    missing_to_sign,
    normalise_changes,
    read_purpose,
)
from .records import NoteContent, NoteRecord, NoteStatus


class NotFound(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass(frozen=True)
class Actor:
    """Who reads: staff (a user), a citizen (their personnummer) or a follow-up token."""

    kind: str  # staff | citizen | token
    user_id: int | None = None
    care_provider_id: int | None = None
    citizen_id: str = ""
    token_id: int | None = None


# --- writing --------------------------------------------------------------------------------


def took_part(s: Session, call_id: str, user_id: int, kinds: Iterable[str]) -> bool:
    """Whether the record has one of these offer events (offer.answered, …) for this user's phone."""
    nurse = s.exec(select(Nurse).where(Nurse.user_id == user_id)).first()
    wanted = set(kinds)
    return nurse is not None and any(e.kind in wanted and e.data.get("nurse") == nurse.endpoint
                                     for e in calls.events(s, call_id))


def answered_by(s: Session, call_id: str, user_id: int) -> bool:
    return took_part(s, call_id, user_id, ("offer.answered",))


def _latest_assessment(s: Session, call_id: str) -> dict[str, Any]:
    found = [e for e in calls.events(s, call_id) if e.kind == "advice.assessed"]
    if not found:
        return {}
    data = found[-1].data
    return {"contact_reason": data.get("contact_reason", ""), "document_id": data.get("document", ""),
            "urgency": data.get("urgency", "")}


def _version(s: Session, note: JournalNote, user_id: int, at: datetime) -> None:
    s.add(JournalNoteVersion(note_id=note.id, revision=note.revision, status=note.status,
                             content=dict(note.content), saved_by_user_id=user_id, saved_at=at))


def _writer(s: Session, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None or user.care_provider_id is None:
        raise Refusal("no_care_provider", "Ditt konto hör inte till någon vårdgivare; be en administratör lägga "
                                          "till det / your account belongs to no care provider")
    return user


def open_note(s: Session, call_id: str, user_id: int, at: datetime) -> tuple[JournalNote, bool]:
    """Her note of a call she answered: the draft she already has, else a new one (prefilled with her
    decision-support assessment). Returns (note, created)."""
    call = s.get(Call, call_id)
    if call is None:
        raise NotFound("call")
    user = _writer(s, user_id)
    if not answered_by(s, call_id, user_id):
        raise Refusal("not_your_call", "Du har inte tagit det här samtalet / you did not answer this call")
    existing = s.exec(select(JournalNote).where(JournalNote.call_id == call_id, JournalNote.author_user_id == user_id,
                                                col(JournalNote.amends_note_id).is_(None))).first()
    if existing is not None:
        return existing, False
    assert user.care_provider_id is not None
    content = NoteContent.model_validate(_latest_assessment(s, call_id)).model_dump(mode="json")
    note = JournalNote(id=uuid.uuid4().hex, call_id=call_id, care_provider_id=user.care_provider_id,
                       region_id=call.region_id, author_user_id=user_id, content=content, created_at=at,
                       updated_at=at)
    s.add(note)
    s.flush()
    _version(s, note, user_id, at)
    calls.append(s, call_id, "journal.opened", at, data={"note": note.id, "by": user.username})
    return note, True


def _own_draft(s: Session, note_id: str, user_id: int, *, for_update: bool = True) -> JournalNote:
    stmt = select(JournalNote).where(JournalNote.id == note_id)
    if for_update:
        stmt = stmt.with_for_update()  # PostgreSQL: two tabs' saves queue up instead of interleaving
    note = s.exec(stmt).first()
    if note is None:
        raise NotFound("note")
    if note.author_user_id != user_id:
        raise Refusal("not_your_note", "Bara den som skrev anteckningen ändrar den; skriv ett tillägg / only its "
                                       "author edits a draft; write an amendment")
    if note.status == NoteStatus.SIGNED:
        raise Refusal("note_signed", "Anteckningen är signerad och kan inte ändras; skriv ett tillägg / the note "
                                     "is signed and cannot be changed; write an amendment")
    return note


def save(s: Session, note_id: str, user_id: int, base_revision: int, changes: Mapping[str, Any], at: datetime,
         *, today: Any) -> tuple[JournalNote, tuple[str, ...]]:
    """An autosave: `changes` are the fields the tab changed since it saw `base_revision`."""
    note = _own_draft(s, note_id, user_id)
    if base_revision > note.revision or base_revision < 1:
        raise Refusal("bad_revision", f"Okänd version {base_revision} (senaste: {note.revision}) / unknown revision")
    changes = normalise_changes(changes, note.content, today=today)
    if note.amends_note_id is not None:
        check_amendment_changes(changes, note.content)
    base = note.content if base_revision == note.revision else _content_at(s, note.id, base_revision)
    merged = merge_save(base, note.content, changes)
    if not merged.changed:
        return note, ()
    content = check_content(merged.content, today=today)
    note.content = content.model_dump(mode="json")
    note.revision += 1
    note.updated_at = at
    s.add(note)
    s.flush()
    _version(s, note, user_id, at)
    return note, merged.changed


def _content_at(s: Session, note_id: str, revision: int) -> dict[str, Any]:
    version = s.exec(select(JournalNoteVersion).where(JournalNoteVersion.note_id == note_id,
                                                      JournalNoteVersion.revision == revision)).first()
    if version is None:
        raise Refusal("bad_revision", f"Version {revision} finns inte / no such revision")
    return dict(version.content)


def sign(s: Session, note_id: str, user_id: int, revision: int, at: datetime, *, today: Any) -> JournalNote:
    """Sign what she saw (`revision`); from then on the note is read-only."""
    note = _own_draft(s, note_id, user_id)
    if revision != note.revision:
        raise Refusal("edit_conflict", f"Anteckningen har sparats igen (version {note.revision}); läs den och "
                                       "signera på nytt / saved again meanwhile; review and sign again")
    content = check_content(note.content, today=today)
    missing = missing_to_sign(content, amendment=note.amends_note_id is not None)
    if missing:
        raise Refusal("incomplete", f"Fyll i före signering / fill in before signing: {', '.join(missing)}",
                      missing=missing)
    # Looked up before the note changes: a query autoflushes, and a signed row takes no second UPDATE.
    root = s.get(JournalNote, note.amends_note_id) if note.amends_note_id else None
    note.content = content.model_dump(mode="json")
    note.status = NoteStatus.SIGNED
    note.signed_at = at
    note.updated_at = at
    note.revision += 1
    # An amendment files under its note's patient, whatever its content says.
    note.patient_id = root.patient_id if root is not None else content.patient_id
    note.contact_reason = content.contact_reason
    note.urgency = content.urgency
    s.add(note)
    s.flush()
    _version(s, note, user_id, at)
    user = s.get(User, user_id)
    calls.append(s, note.call_id, "journal.signed", at,
                 data={"note": note.id, "by": user.username if user else str(user_id),
                       "amends": note.amends_note_id})
    return note


def amend(s: Session, note_id: str, user_id: int, at: datetime) -> tuple[JournalNote, bool]:
    """Her draft amendment of a signed note of her care provider: the one she has begun (a reloaded page finds
    it), else a new one; the original is never touched. It carries the patient's identity so that it files with
    the original. Returns (amendment, created)."""
    original = s.get(JournalNote, note_id)
    if original is None:
        raise NotFound("note")
    user = _writer(s, user_id)
    if original.care_provider_id != user.care_provider_id:
        raise Refusal("other_care_provider", "Bara vårdgivaren som skrev anteckningen kan göra tillägg / only the "
                                             "note's care provider can amend it")
    if original.status != NoteStatus.SIGNED:
        raise Refusal("not_signed", "Ett utkast ändras direkt; tillägg görs till signerade anteckningar / edit the "
                                    "draft itself; amendments are for signed notes")
    root = original.amends_note_id or original.id  # amendments of an amendment file under the first note
    begun = s.exec(select(JournalNote).where(JournalNote.amends_note_id == root, JournalNote.author_user_id == user_id,
                                             JournalNote.status == NoteStatus.DRAFT)).first()
    if begun is not None:
        return begun, False
    keep = {k: original.content.get(k) for k in ("caller_relation", "patient_id_kind", "patient_id", "patient_name",
                                                 "contact_reason", "urgency")}
    assert user.care_provider_id is not None
    note = JournalNote(id=uuid.uuid4().hex, call_id=original.call_id, amends_note_id=root,
                       care_provider_id=user.care_provider_id, region_id=original.region_id, author_user_id=user_id,
                       content=NoteContent.model_validate(keep).model_dump(mode="json"), created_at=at,
                       updated_at=at)
    s.add(note)
    s.flush()
    _version(s, note, user_id, at)
    return note, True


# --- reading --------------------------------------------------------------------------------


def log_read(s: Session, note: JournalNote, actor: Actor, purpose: Purpose, at: datetime, *, reason: str = "",
             path: str = "") -> None:
    s.add(JournalAccess(at=at, note_id=note.id, patient_id=note.patient_id or str(note.content.get("patient_id", "")),
                        note_care_provider_id=note.care_provider_id, actor=actor.kind, user_id=actor.user_id,
                        actor_care_provider_id=actor.care_provider_id, citizen_id=actor.citizen_id,
                        token_id=actor.token_id, purpose=purpose.value, reason=reason, path=path[:200]))


def read_note(s: Session, note_id: str, reader: Reader, at: datetime, *, emergency_reason: str | None,
              path: str) -> tuple[JournalNote, Purpose]:
    """One note for staff, logged. A draft is only for its author (it is not yet part of the record)."""
    note = s.get(JournalNote, note_id)
    if note is None:
        raise NotFound("note")
    if note.status == NoteStatus.DRAFT and note.author_user_id != reader.user_id:
        raise NotFound("note")
    purpose = read_purpose(reader, note.care_provider_id, emergency_reason)
    log_read(s, note, Actor("staff", reader.user_id, reader.care_provider_id), purpose, at,
             reason=(emergency_reason or "").strip() if purpose == Purpose.EMERGENCY else "", path=path)
    return note, purpose


def patient_notes(s: Session, patient_id: str, reader: Reader, at: datetime, *, emergency_reason: str | None,
                  path: str) -> list[tuple[JournalNote, Purpose]]:
    """A patient's signed notes that this reader may see (own care provider; all with emergency access), each
    read logged. Without emergency access other care providers' notes are left out, not refused."""
    notes = s.exec(select(JournalNote).where(JournalNote.patient_id == patient_id,
                                             JournalNote.status == NoteStatus.SIGNED)
                   .order_by(col(JournalNote.signed_at))).all()
    may_read_notes(reader)
    out: list[tuple[JournalNote, Purpose]] = []
    for note in notes:
        if note.care_provider_id != reader.care_provider_id and not emergency_reason:
            continue
        purpose = read_purpose(reader, note.care_provider_id, emergency_reason)
        log_read(s, note, Actor("staff", reader.user_id, reader.care_provider_id), purpose, at,
                 reason=(emergency_reason or "").strip() if purpose == Purpose.EMERGENCY else "", path=path)
        out.append((note, purpose))
    return out


def call_notes(s: Session, call_id: str) -> list[JournalNote]:
    return list(s.exec(select(JournalNote).where(JournalNote.call_id == call_id).order_by(col(JournalNote.created_at))))


def citizen_notes(s: Session, citizen_id: str, token_actor: Actor, at: datetime, path: str) -> list[JournalNote]:
    """The citizen's own signed notes, each read logged. Only ever filtered by their own identity."""
    if not citizen_id:
        return []
    notes = list(s.exec(select(JournalNote).where(JournalNote.patient_id == citizen_id,
                                                  JournalNote.status == NoteStatus.SIGNED)
                        .order_by(col(JournalNote.signed_at))))
    for note in notes:
        log_read(s, note, token_actor, Purpose.CITIZEN, at, path=path)
    return notes


@dataclass(frozen=True)
class FollowupFilter:
    care_provider_id: int
    regions: tuple[str, ...] | None  # None: all of the care provider's
    since: datetime | None = None
    until: datetime | None = None
    contact_reason: str | None = None
    urgency: str | None = None
    author_user_id: int | None = None
    after: tuple[datetime, str] | None = None  # the cursor: (signed_at, id) of the last row of the previous page


def followup(s: Session, f: FollowupFilter, limit: int, actor: Actor, at: datetime, path: str) -> list[JournalNote]:
    """Signed notes of the care provider, oldest first, keyset-paged; each read logged (purpose followup)."""
    stmt = select(JournalNote).where(JournalNote.care_provider_id == f.care_provider_id,
                                     JournalNote.status == NoteStatus.SIGNED)
    if f.regions is not None:
        stmt = stmt.where(col(JournalNote.region_id).in_(f.regions))
    if f.since is not None:
        stmt = stmt.where(col(JournalNote.signed_at) >= f.since)
    if f.until is not None:
        stmt = stmt.where(col(JournalNote.signed_at) < f.until)
    if f.contact_reason:
        stmt = stmt.where(JournalNote.contact_reason == f.contact_reason)
    if f.urgency:
        stmt = stmt.where(JournalNote.urgency == f.urgency)
    if f.author_user_id is not None:
        stmt = stmt.where(JournalNote.author_user_id == f.author_user_id)
    if f.after is not None:
        t, last = f.after
        stmt = stmt.where((col(JournalNote.signed_at) > t) | ((col(JournalNote.signed_at) == t) & (col(JournalNote.id) > last)))
    notes = list(s.exec(stmt.order_by(col(JournalNote.signed_at), col(JournalNote.id)).limit(limit)))
    for note in notes:
        log_read(s, note, actor, Purpose.FOLLOWUP, at, path=path)
    return notes


def versions(s: Session, note_id: str) -> list[JournalNoteVersion]:
    return list(s.exec(select(JournalNoteVersion).where(JournalNoteVersion.note_id == note_id)
                       .order_by(col(JournalNoteVersion.revision))))


def amendments(s: Session, note_id: str) -> list[JournalNote]:
    return list(s.exec(select(JournalNote).where(JournalNote.amends_note_id == note_id,
                                                 JournalNote.status == NoteStatus.SIGNED)
                       .order_by(col(JournalNote.signed_at))))


# --- records for exports and the API ------------------------------------------------------


def to_records(s: Session, notes: Iterable[JournalNote]) -> list[NoteRecord]:
    out = []
    providers: dict[int, CareProvider | None] = {}
    users: dict[int, User | None] = {}
    for n in notes:
        cp = providers.setdefault(n.care_provider_id, s.get(CareProvider, n.care_provider_id))
        author = users.setdefault(n.author_user_id, s.get(User, n.author_user_id))
        call = s.get(Call, n.call_id)
        assert call is not None  # foreign key
        out.append(NoteRecord(
            id=n.id, call_id=n.call_id, status=NoteStatus(n.status), revision=n.revision,
            amends_note_id=n.amends_note_id, care_provider_id=n.care_provider_id,
            care_provider_name=cp.name if cp else "", care_provider_org_number=cp.org_number if cp else "",
            region_id=n.region_id, author_username=author.username if author else "",
            author_name=(author.display_name or author.username) if author else "", created_at=n.created_at,
            updated_at=n.updated_at, signed_at=n.signed_at, call_started_at=call.started_at,
            call_ended_at=call.ended_at, content=NoteContent.model_validate(n.content)))
    return out


# --- audit ----------------------------------------------------------------------------------


def audit(s: Session, *, patient_id: str | None = None, user_id: int | None = None, since: datetime | None = None,
          until: datetime | None = None, purpose: str | None = None, care_provider_id: int | None = None,
          limit: int = 1000) -> Sequence[JournalAccess]:
    """Accesses to notes, newest first: per patient, per user, emergency accesses (purpose=emergency)."""
    stmt = select(JournalAccess)
    if patient_id:
        stmt = stmt.where(JournalAccess.patient_id == patient_id)
    if user_id is not None:
        stmt = stmt.where(JournalAccess.user_id == user_id)
    if since is not None:
        stmt = stmt.where(col(JournalAccess.at) >= since)
    if until is not None:
        stmt = stmt.where(col(JournalAccess.at) < until)
    if purpose:
        stmt = stmt.where(JournalAccess.purpose == purpose)
    if care_provider_id is not None:
        # A care provider audits reads of its own notes, and what its own staff read elsewhere.
        stmt = stmt.where((JournalAccess.note_care_provider_id == care_provider_id)
                          | (JournalAccess.actor_care_provider_id == care_provider_id))
    return s.exec(stmt.order_by(col(JournalAccess.at).desc(), col(JournalAccess.id).desc()).limit(limit)).all()
