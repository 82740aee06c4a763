"""The shapes a journal note takes outside the database: what the nurse edits (`NoteContent`) and the whole
note as exports and the API see it (`NoteRecord`). Pure data; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class PatientIdKind(StrEnum):
    PERSONNUMMER = "personnummer"
    SAMORDNINGSNUMMER = "samordningsnummer"
    RESERVE = "reserv"  # identity unknown: a reserve number the care provider issues (see identity_check)


class CallerRelation(StrEnum):
    SELF = "själv"
    PARENT = "förälder"
    RELATIVE = "anhörig"
    CARE_STAFF = "vårdpersonal"
    OTHER = "annan"


#: The fields the nurse writes, in the order the note shows them. All optional while a draft; `sign` demands
#: the ones in REQUIRED_TO_SIGN.
class NoteContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    caller_relation: CallerRelation | None = Field(default=None, description="who calls, relative to the patient")
    caller_name: str = Field(default="", max_length=200)
    patient_id_kind: PatientIdKind | None = None
    patient_id: str = Field(default="", max_length=20,
                            description="normalised: 12 digits for personnummer/samordningsnummer; reserve as issued")
    patient_name: str = Field(default="", max_length=200)
    consent: bool | None = Field(default=None, description="the caller agreed to the call being documented/shared")
    contact_reason: str = Field(default="", max_length=64, description="id from advice/contact-reasons.tsv")
    document_id: str = Field(default="", max_length=64, description="the decision-support document used")
    urgency: str = Field(default="", max_length=16, description="advice.urgency.Urgency value")
    advice: str = Field(default="", max_length=8000, description="advice given to the caller")
    referral: str = Field(default="", max_length=64, description="care-unit type code (advice.urgency) or catalog id")
    referral_text: str = Field(default="", max_length=2000, description="where and when, in words")
    text: str = Field(default="", max_length=20000, description="free text (the note proper)")


REQUIRED_TO_SIGN: tuple[str, ...] = ("caller_relation", "patient_id_kind", "patient_id", "urgency")


class NoteStatus(StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"


@dataclass(frozen=True)
class NoteRecord:
    """One note with what exports need around it (care provider, author, the call)."""

    id: str
    call_id: str
    status: NoteStatus
    revision: int
    amends_note_id: str | None  # set on an amendment: the signed note it corrects
    care_provider_id: int
    care_provider_name: str
    care_provider_org_number: str  # organisationsnummer, may be ""
    region_id: str | None
    author_username: str
    author_name: str
    created_at: datetime
    updated_at: datetime
    signed_at: datetime | None
    call_started_at: datetime
    call_ended_at: datetime | None
    content: NoteContent
