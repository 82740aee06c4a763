"""Signed journal notes as a FHIR R4 (4.3.0, "R4B") Bundle for the region's journal follow-up API. Pure: no
database, no network (the contact-reason titles ship with the code and are read once).

Every resource is built with the `fhir.resources.R4B` models, so what `note_bundle` returns has passed their
validation (cardinalities, data types, the required elements). Code values are *not* checked by the library
against value sets: the codes below are chosen deliberately and the tests pin them.

The bundle
    `type` is "collection": the API hands over a set of notes the caller selected (by period, care provider,
    patient…); they are not the result of a FHIR search on one resource type, so "searchset" (which wants
    `entry.search.mode` on every entry and one primary resource type) would promise semantics we do not
    have. No `timestamp`, so the same notes always give the same bundle.

    Every entry's `fullUrl` is `urn:uuid:<uuid5(NOTE_NAMESPACE, "<note id>/<resource type>")>`: the same note
    exports to the same URLs every time, whichever other notes share the bundle and whatever `base_url` is.
    Resources reference each other by those URNs; a reference to something outside the bundle is logical
    (`type` + `identifier`), never an unresolvable URN.

Per note, in this order
    Encounter           the call as this note documents it: status "finished" when the call ended, else
                        "in-progress"; class v3-ActCode "VR" (virtual: a telephone contact); period = call
                        start/end; identifier = the call id (notes of the same call share it); serviceProvider
                        = the care provider (display, organisationsnummer); participant "PPRF" = the nurse
                        for a note of her own call (not for an amendment: its author may not have been on the
                        call); reasonReference = the Condition.
    Condition           the contact reason (only when the note has one): code.text = the Swedish title from
                        advice/contact-reasons.tsv, coding = `{base_url}/fhir/CodeSystem/contact-reason` + id;
                        category "encounter-diagnosis", clinicalStatus "active", verificationStatus
                        "unconfirmed" (a telephone assessment without examination, not a diagnosis).
    ClinicalImpression  the note itself: identifier = the note id; status "completed"; summary = the advice;
                        the urgency (`{base_url}/fhir/CodeSystem/urgency`, `Urgency` code + Swedish name) as
                        the only `prognosisCodeableConcept` (the one coded slot of R4B's ClinicalImpression
                        that holds nothing else, so a reader never has to tell it from a finding); finding =
                        the Condition; note = the free text; protocol = the decision-support document used;
                        assessor = the author; date = when it was signed.
    ServiceRequest      the referral (only when the note has one): status "active", intent "order"; code =
                        the care-unit type (`{base_url}/fhir/CodeSystem/care-unit-type`, code + `name_sv`)
                        when it is one of advice.urgency.CARE_UNIT_TYPES, else the referral code as text only
                        (a catalog id has no code system of its own yet); note = referral_text; priority
                        "112"/"akut" → "stat", "timmar" → "urgent", otherwise "routine".

The patient is a logical reference (`Reference.type` "Patient" + `identifier`, display = the name given on
the call), not a Patient resource: the population register owns the patient's demographics, and the note
knows only the identity the caller gave. The practitioner is likewise a logical reference (our username;
no HSA-id is known here).

Amendments
    An amendment (`amends_note_id` set) is exported like any signed note. Its ClinicalImpression's `previous`
    points to the corrected note's ClinicalImpression: by URN when that note is in the same bundle, and
    always by `identifier` (the corrected note's id), so the link holds when it is exported alone. Its
    `description` says so in words too. (`previous` is an R4/R4B element; R5 dropped it.)

Identifier and code systems
    personnummer          http://electronichealth.se/identifier/personnummer (= OID 1.2.752.129.2.1.3.1)
    samordningsnummer     http://electronichealth.se/identifier/samordningsnummer (= 1.2.752.129.2.1.3.3)
    reservnummer          {base_url}/identifier/reservnummer (issued locally by the care provider)
    organisationsnummer   urn:oid:2.5.4.97 (X.520 organizationIdentifier, as in SITHS certificates)
    call, note, user      {base_url}/identifier/call, …/journal-note, …/user
    contact reason        {base_url}/fhir/CodeSystem/contact-reason
    urgency               {base_url}/fhir/CodeSystem/urgency
    care-unit type        {base_url}/fhir/CodeSystem/care-unit-type
The URL forms of the Swedish national identifiers are the ones HL7 Sweden's base profiles (SEBasePatient)
slice on; the OIDs are given above for receivers that map them.

Datetimes without a zone (SQLite hands those back) are taken as UTC; all are exported in UTC.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.clinicalimpression import ClinicalImpression, ClinicalImpressionFinding
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter, EncounterParticipant
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest

from advice.urgency import CARE_UNIT_TYPES, Urgency

from .records import NoteRecord, NoteStatus, PatientIdKind

#: uuid5 namespace of the entries' fullUrls. Never change it: receivers match re-exports by these URLs.
NOTE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://vardlinje.se/ns/journal-note")

PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER_SYSTEM = "http://electronichealth.se/identifier/samordningsnummer"
ORGANISATIONSNUMMER_SYSTEM = "urn:oid:2.5.4.97"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONDITION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

#: ServiceRequest.priority (request-priority) per urgency; anything else is "routine".
PRIORITY: Mapping[str, str] = MappingProxyType({
    Urgency.CALL_112.value: "stat",
    Urgency.EMERGENCY_NOW.value: "stat",
    Urgency.WITHIN_HOURS.value: "urgent",
})

#: The advice document view (advice/http.py DOCUMENT_PATH), the protocol the nurse followed.
_DOCUMENT_PATH = "/api/v1/advice/documents/"


@dataclass(frozen=True)
class Systems:
    """The local identifier and code systems under the deployment's public base URL."""

    base_url: str

    @classmethod
    def under(cls, base_url: str) -> Systems:
        base = base_url.strip().rstrip("/")
        if not base.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        return cls(base)

    @property
    def reservnummer(self) -> str:
        return f"{self.base_url}/identifier/reservnummer"

    @property
    def call(self) -> str:
        return f"{self.base_url}/identifier/call"

    @property
    def note(self) -> str:
        return f"{self.base_url}/identifier/journal-note"

    @property
    def user(self) -> str:
        return f"{self.base_url}/identifier/user"

    @property
    def contact_reason(self) -> str:
        return f"{self.base_url}/fhir/CodeSystem/contact-reason"

    @property
    def urgency(self) -> str:
        return f"{self.base_url}/fhir/CodeSystem/urgency"

    @property
    def care_unit_type(self) -> str:
        return f"{self.base_url}/fhir/CodeSystem/care-unit-type"

    def document(self, document_id: str) -> str:
        return f"{self.base_url}{_DOCUMENT_PATH}{quote(document_id, safe='')}"


# --- vocabularies ---------------------------------------------------------------------------------------


@cache
def contact_reason_titles() -> Mapping[str, str]:
    """id → Swedish title of the contact reasons (advice/contact-reasons.tsv, shipped with the code)."""
    text = resources.files("advice").joinpath("contact-reasons.tsv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text), delimiter="\t")
    return MappingProxyType({row["id"]: row["title_sv"] for row in rows if row.get("id")})


def urgency_name_sv(code: str) -> str:
    """The Swedish name of an urgency code; "" for an empty or unknown code."""
    try:
        return Urgency(code).name_sv
    except ValueError:
        return ""


def referral_name_sv(code: str) -> str:
    """The Swedish name of a care-unit type code; "" for anything else (a catalog id, nothing)."""
    unit = CARE_UNIT_TYPES.get(code)
    return unit.name_sv if unit is not None else ""


# --- the bundle -----------------------------------------------------------------------------------------


def note_bundle(notes: Sequence[NoteRecord], *, base_url: str) -> dict[str, Any]:
    """The FHIR JSON (a dict, ready for `json.dumps`) of a "collection" Bundle of these signed notes.

    Raises ValueError for a draft (the caller exports signed notes only), a note without the patient's
    identity, a note given twice, or a `base_url` that is not an absolute http(s) URL.
    """
    systems = Systems.under(base_url)
    seen: set[str] = set()
    for note in notes:
        if note.status != NoteStatus.SIGNED:
            raise ValueError(f"note {note.id} is a {note.status.value}: only signed notes are exported")
        if note.id in seen:
            raise ValueError(f"note {note.id} is given twice")
        seen.add(note.id)
    entries: list[BundleEntry] = []
    for note in notes:
        entries.extend(BundleEntry(fullUrl=full_url(note.id, r.get_resource_type()), resource=r)
                       for r in note_resources(note, systems, in_bundle=seen))
    bundle = Bundle(type="collection", entry=entries or None)
    return bundle.model_dump(mode="json", by_alias=True, exclude_none=True)


def full_url(note_id: str, resource_type: str) -> str:
    """The deterministic `urn:uuid:` of one of a note's resources."""
    return f"urn:uuid:{uuid.uuid5(NOTE_NAMESPACE, f'{note_id}/{resource_type}')}"


def note_resources(note: NoteRecord, systems: Systems, *, in_bundle: frozenset[str] | set[str]) -> list[Resource]:
    """A signed note's resources in bundle order: Encounter, [Condition], ClinicalImpression,
    [ServiceRequest]. `in_bundle`: the ids of the notes exported alongside (for the amendment link)."""
    content = note.content
    condition = contact_reason(note, systems) if content.contact_reason else None
    out: list[Resource] = [encounter(note, systems, has_condition=condition is not None)]
    if condition is not None:
        out.append(condition)
    out.append(clinical_impression(note, systems, has_condition=condition is not None, in_bundle=in_bundle))
    if content.referral:
        out.append(service_request(note, systems, has_condition=condition is not None))
    return out


# --- one function per resource --------------------------------------------------------------------------


def encounter(note: NoteRecord, systems: Systems, *, has_condition: bool) -> Encounter:
    period = Period(start=_utc(note.call_started_at),
                    end=_utc(note.call_ended_at) if note.call_ended_at is not None else None)
    participant = None
    if note.amends_note_id is None:
        primary = CodeableConcept(coding=[Coding(system=PARTICIPATION_TYPE_SYSTEM, code="PPRF",
                                                 display="primary performer")])
        participant = [EncounterParticipant(type=[primary], individual=_practitioner(note, systems))]
    return Encounter(
        identifier=[Identifier(system=systems.call, value=note.call_id)],
        status="finished" if note.call_ended_at is not None else "in-progress",
        class_fhir=Coding(system=ACT_CODE_SYSTEM, code="VR", display="virtual"),
        subject=_patient(note, systems),
        participant=participant,
        period=period,
        reasonReference=[_ref(note.id, "Condition")] if has_condition else None,
        serviceProvider=_care_provider(note),
    )


def contact_reason(note: NoteRecord, systems: Systems) -> Condition:
    reason = note.content.contact_reason
    title = contact_reason_titles().get(reason) or reason
    return Condition(
        clinicalStatus=_concept(CONDITION_CLINICAL_SYSTEM, "active", "Active"),
        verificationStatus=_concept(CONDITION_VERIFICATION_SYSTEM, "unconfirmed", "Unconfirmed"),
        category=[_concept(CONDITION_CATEGORY_SYSTEM, "encounter-diagnosis", "Encounter Diagnosis")],
        code=CodeableConcept(coding=[Coding(system=systems.contact_reason, code=reason, display=title)],
                             text=title),
        subject=_patient(note, systems),
        encounter=_ref(note.id, "Encounter"),
        recordedDate=_utc(_signed_at(note)),
        recorder=_practitioner(note, systems),
    )


def clinical_impression(note: NoteRecord, systems: Systems, *, has_condition: bool,
                        in_bundle: frozenset[str] | set[str]) -> ClinicalImpression:
    content = note.content
    return ClinicalImpression(
        identifier=[Identifier(system=systems.note, value=note.id)],
        status="completed",
        description=_description(note),
        subject=_patient(note, systems),
        encounter=_ref(note.id, "Encounter"),
        date=_utc(_signed_at(note)),
        assessor=_practitioner(note, systems),
        previous=_corrected(note.amends_note_id, systems, in_bundle) if note.amends_note_id else None,
        protocol=[systems.document(content.document_id)] if content.document_id else None,
        summary=_text(content.advice),
        finding=[ClinicalImpressionFinding(itemReference=_ref(note.id, "Condition"))] if has_condition else None,
        prognosisCodeableConcept=[_urgency(content.urgency, systems)] if content.urgency else None,
        note=[Annotation(text=content.text, time=_utc(_signed_at(note)))] if _text(content.text) else None,
    )


def service_request(note: NoteRecord, systems: Systems, *, has_condition: bool) -> ServiceRequest:
    content = note.content
    unit = CARE_UNIT_TYPES.get(content.referral)
    if unit is not None:
        code = CodeableConcept(coding=[Coding(system=systems.care_unit_type, code=unit.code,
                                              display=unit.name_sv)], text=unit.name_sv)
    else:
        code = CodeableConcept(text=content.referral)
    return ServiceRequest(
        status="active",
        intent="order",
        priority=PRIORITY.get(content.urgency, "routine"),
        code=code,
        subject=_patient(note, systems),
        encounter=_ref(note.id, "Encounter"),
        authoredOn=_utc(_signed_at(note)),
        requester=_practitioner(note, systems),
        reasonReference=[_ref(note.id, "Condition")] if has_condition else None,
        note=[Annotation(text=content.referral_text)] if _text(content.referral_text) else None,
    )


# --- pieces ---------------------------------------------------------------------------------------------


def _ref(note_id: str, resource_type: str) -> Reference:
    """A reference to one of a note's own resources in the bundle."""
    return Reference(reference=full_url(note_id, resource_type), type=resource_type)


def _patient(note: NoteRecord, systems: Systems) -> Reference:
    content = note.content
    kind, value = content.patient_id_kind, content.patient_id.strip()
    if kind is None or not value:
        raise ValueError(f"note {note.id} has no patient identity to export")
    system = {PatientIdKind.PERSONNUMMER: PERSONNUMMER_SYSTEM,
              PatientIdKind.SAMORDNINGSNUMMER: SAMORDNINGSNUMMER_SYSTEM,
              PatientIdKind.RESERVE: systems.reservnummer}[kind]
    use = "temp" if kind == PatientIdKind.RESERVE else "official"
    return Reference(type="Patient", identifier=Identifier(use=use, system=system, value=value),
                     display=_text(content.patient_name))


def _practitioner(note: NoteRecord, systems: Systems) -> Reference:
    identifier = Identifier(system=systems.user, value=note.author_username) if note.author_username else None
    return Reference(type="Practitioner", identifier=identifier,
                     display=_text(note.author_name) or _text(note.author_username))


def _care_provider(note: NoteRecord) -> Reference | None:
    org_number = note.care_provider_org_number.strip()
    name = _text(note.care_provider_name)
    if not (org_number or name):
        return None
    identifier = Identifier(system=ORGANISATIONSNUMMER_SYSTEM, value=org_number) if org_number else None
    return Reference(type="Organization", identifier=identifier, display=name)


def _corrected(amends_note_id: str, systems: Systems, in_bundle: frozenset[str] | set[str]) -> Reference:
    """The corrected note's ClinicalImpression: by URN when it is in the bundle, always by identifier."""
    reference = full_url(amends_note_id, "ClinicalImpression") if amends_note_id in in_bundle else None
    return Reference(reference=reference, type="ClinicalImpression",
                     identifier=Identifier(system=systems.note, value=amends_note_id))


def _urgency(code: str, systems: Systems) -> CodeableConcept:
    name = urgency_name_sv(code)
    if not name:  # not an Urgency: keep what was written, claim no code
        return CodeableConcept(text=code)
    return CodeableConcept(coding=[Coding(system=systems.urgency, code=code, display=name)], text=name)


def _description(note: NoteRecord) -> str:
    content = note.content
    parts = ["Sjukvårdsrådgivning per telefon"]
    if content.caller_relation is not None:
        caller = f"uppringare: {content.caller_relation.value}"
        if content.caller_name.strip():
            caller += f" ({content.caller_name.strip()})"
        parts.append(caller)
    if note.amends_note_id:
        parts.append(f"tillägg till journalanteckning {note.amends_note_id}")
    return "; ".join(parts)


def _concept(system: str, code: str, display: str) -> CodeableConcept:
    return CodeableConcept(coding=[Coding(system=system, code=code, display=display)])


def _text(value: str) -> str | None:
    """FHIR strings are never empty: "" and blanks become absent."""
    return value if value.strip() else None


def _signed_at(note: NoteRecord) -> datetime:
    if note.signed_at is None:
        raise ValueError(f"note {note.id} is signed but has no signed_at")
    return note.signed_at


def _utc(value: datetime) -> datetime:
    """In UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
