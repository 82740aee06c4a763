"""The journal's tables.

- `journal_note`: one note (a call's note or an amendment of a signed one). The current content is a JSON
  column; the few columns the follow-up API filters on are copied out of it when the note is signed.
  The database refuses to change a signed note (triggers in migration 0007).
- `journal_note_version`: every save (autosave, sign) as it was, with who and when. Append-only.
- `journal_access`: every read of a note — by staff, a citizen or a follow-up token — with the purpose.
  Append-only: the audit report is built from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class JournalNote(SQLModel, table=True):
    __tablename__ = "journal_note"
    # One note per nurse and call (amendments aside): two tabs opening the call at once get the same draft.
    __table_args__ = (Index("uq_journal_note_one_per_author", "call_id", "author_user_id", unique=True,
                            sqlite_where=text("amends_note_id IS NULL"),
                            postgresql_where=text("amends_note_id IS NULL")),)

    id: str = Field(primary_key=True, max_length=32)
    call_id: str = Field(foreign_key="call.id", index=True, max_length=32)
    amends_note_id: str | None = Field(default=None, foreign_key="journal_note.id", index=True, max_length=32)
    care_provider_id: int = Field(foreign_key="care_provider.id", index=True,
                                  description="the care provider of the nurse who wrote it: who may read it")
    region_id: str | None = Field(default=None, max_length=16, index=True, description="the call's region")
    author_user_id: int = Field(foreign_key="user_account.id", index=True)
    status: str = Field(default="draft", max_length=16, index=True)
    revision: int = Field(default=1, description="bumped by every save; the client sends the one it saw")
    content: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    signed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), index=True))
    # Copied from content for filtering (patient's notes, follow-up by reason/urgency).
    patient_id: str = Field(default="", max_length=20, index=True)
    contact_reason: str = Field(default="", max_length=64, index=True)
    urgency: str = Field(default="", max_length=16, index=True)


class JournalNoteVersion(SQLModel, table=True):
    __tablename__ = "journal_note_version"
    __table_args__ = (UniqueConstraint("note_id", "revision"),)

    id: int | None = Field(default=None, primary_key=True)
    note_id: str = Field(foreign_key="journal_note.id", index=True, max_length=32)
    revision: int
    status: str = Field(max_length=16)
    content: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    saved_by_user_id: int = Field(foreign_key="user_account.id")
    saved_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class JournalAccess(SQLModel, table=True):
    __tablename__ = "journal_access"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    note_id: str = Field(foreign_key="journal_note.id", index=True, max_length=32)
    patient_id: str = Field(default="", max_length=20, index=True)
    note_care_provider_id: int = Field(foreign_key="care_provider.id")
    actor: str = Field(max_length=16, description="staff, citizen or token")
    user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    actor_care_provider_id: int | None = Field(default=None)
    citizen_id: str = Field(default="", max_length=20, description="the citizen's personnummer (citizen reads)")
    token_id: int | None = Field(default=None)
    purpose: str = Field(max_length=16, description="care, emergency, citizen, followup (policy.Purpose)")
    reason: str = Field(default="", max_length=500, description="stated reason (emergency access)")
    path: str = Field(default="", max_length=200, description="the API route that read it")
